// The upload page's script (kept out of the page: the CSP allows no inline script).
(function () {
  var drop = document.getElementById('drop'), input = document.getElementById('file');
  var form = document.getElementById('upload-form');
  ['dragenter', 'dragover'].forEach(function (e) {
    drop.addEventListener(e, function (ev) { ev.preventDefault(); drop.classList.add('over'); });
  });
  ['dragleave', 'drop'].forEach(function (e) {
    drop.addEventListener(e, function (ev) { ev.preventDefault(); drop.classList.remove('over'); });
  });
  drop.addEventListener('drop', function (ev) {
    if (!ev.dataTransfer || !ev.dataTransfer.files.length) return;
    input.files = ev.dataTransfer.files;
    form.requestSubmit();
  });
  input.addEventListener('change', function () { if (input.files.length) form.requestSubmit(); });
  form.addEventListener('submit', function () { document.getElementById('sending').hidden = false; });
})();

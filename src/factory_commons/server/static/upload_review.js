// The upload_review page's script (kept out of the page: the CSP allows no inline script).
(function () {
  var sheet = document.getElementById('sheet');
  if (sheet) sheet.addEventListener('change', function () { sheet.form.requestSubmit(); });
  var form = document.getElementById('roles-form');
  if (!form) return;
  form.querySelectorAll('select.role').forEach(function (s) {
    s.addEventListener('change', function () { form.requestSubmit(); });
  });
})();

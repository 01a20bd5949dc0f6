// Refresh the live machine states of the plant overview every few seconds (no libraries);
// the period comes from the script tag's data-refresh-ms (default 10 s).
(function () {
  "use strict";
  const period = Number(document.currentScript.dataset.refreshMs) || 10000;
  async function refresh() {
    try {
      const r = await fetch("/live.json", { credentials: "same-origin" });
      if (!r.ok) return;
      const states = await r.json();
      document.querySelectorAll(".machine[data-path]").forEach(function (el) {
        const s = states[el.dataset.path];
        if (!s) return;
        el.className = el.className.replace(/state-\S+/, "state-" + s.state);
        const st = el.querySelector(".mstate");
        st.textContent = s.label;
        st.dataset.state = s.state;
        el.querySelector(".msince").textContent = s.since;
      });
    } catch (e) { /* offline for a moment: try again next time */ }
  }
  setInterval(refresh, period);
})();

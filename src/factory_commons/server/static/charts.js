// Interactive trends of the dashboard, drawn with uPlot (vendor/uplot/, served by this server):
// the value of every series under the pointer in the legend, drag across to zoom in,
// double-click to zoom out. Each chart is an element with data-chart (JSON from
// dashboard_data.chart_data: x in epoch seconds, series of values, the plant's time zone,
// percent or a unit); times are shown in the plant's zone, not the browser's.
(function () {
  "use strict";
  var PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777"];

  function valueText(d) {
    return function (u, v) {
      if (v == null || v !== v) return "–";
      if (d.percent) return (v * 100).toFixed(1) + "%";
      var text = Math.abs(v) >= 1000 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toPrecision(3);
      return d.unit ? text + " " + d.unit : text;
    };
  }

  // tick labels in 24-hour plant time: days as MM-DD, hours as HH:mm (with the day at midnight)
  function timeTicks(tz) {
    var md = uPlot.fmtDate("{MM}-{DD}"), hm = uPlot.fmtDate("{HH}:{mm}"), mdhm = uPlot.fmtDate("{MM}-{DD} {HH}:{mm}");
    return function (u, splits, axisIdx, space, incr) {
      return splits.map(function (ts) {
        var dt = tz(ts);
        if (incr >= 86400) return md(dt);
        return dt.getHours() === 0 && dt.getMinutes() === 0 ? mdhm(dt) : hm(dt);
      });
    };
  }

  function draw(el) {
    var d = JSON.parse(el.dataset.chart);
    if (!d.x.length) {
      var p = document.createElement("p");
      p.className = "note";
      p.textContent = el.dataset.empty || "";
      el.appendChild(p);
      el.dataset.drawn = "empty";
      return;
    }
    var height = d.days ? 260 : 220;
    var tz = function (ts) { return uPlot.tzDate(new Date(ts * 1e3), d.tz); };
    var opts = {
      width: Math.max(el.clientWidth, 280),
      height: height,
      tzDate: tz,
      cursor: { drag: { x: true, y: false } },
      legend: { live: true },
      scales: {
        x: { time: true },
        y: d.percent ? { range: function (u, lo, hi) { return [0, Math.max(1, hi || 0)]; } } : {}
      },
      axes: [
        { values: timeTicks(tz), space: 70 },
        { values: function (u, vals) { return vals.map(function (v) { return d.percent ? Math.round(v * 100) + "%" : v; }); }, size: 56 }
      ],
      series: [{ value: d.days ? "{YYYY}-{MM}-{DD}" : "{YYYY}-{MM}-{DD} {HH}:{mm}:{ss}" }].concat(
        d.series.map(function (s, i) {
          return {
            label: s.label,
            stroke: PALETTE[i % PALETTE.length],
            width: 2,
            value: valueText(d),
            points: { show: d.x.length <= 62 }
          };
        })
      )
    };
    var data = [d.x].concat(d.series.map(function (s) { return s.values; }));
    var plot = new uPlot(opts, data, el);
    el.uplot = plot; // the page (and the browser test) can read its scales
    el.dataset.drawn = "1";
    window.addEventListener("resize", function () {
      plot.setSize({ width: Math.max(el.clientWidth, 280), height: height });
    });
  }

  document.querySelectorAll(".uplot-chart[data-chart]").forEach(function (el) {
    try { draw(el); } catch (e) { el.dataset.drawn = "error"; el.textContent = String(e); }
  });
})();

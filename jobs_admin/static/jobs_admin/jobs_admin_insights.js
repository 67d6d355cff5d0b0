/* The Insights charts (jobs_admin/templates/jobs_admin/insights.html), drawn with uPlot.
 *
 * "Jobs finished" stacks the ends per interval by status (bars; each status's band is drawn
 * from the cumulative sums, the legend and the tooltip show each status's own count); "Failure
 * rate" is the share of ends that failed. A click on a bar opens the jobs list filtered to that
 * interval, that status (and the type picked). While the page is open the figures are asked
 * again, so the current interval grows without a reload.
 */
(function () {
  "use strict";
  var holder = document.getElementById("jobs-admin-insights-data");
  if (!holder || typeof uPlot === "undefined") { return; }
  var cfg = JSON.parse(holder.textContent);
  var data = cfg.data;
  var COLORS = { completed: "#28a745", partial: "#e0a800", failed: "#dc3545", cancelled: "#8a939b" };
  var ORDER = cfg.statuses.slice().reverse(); // drawn tallest first: cancelled band on top
  var REFRESH = { "1h": 5000, "24h": 15000 }[cfg.range] || 60000;
  var ink = window.getComputedStyle(document.body).color || "#333";
  var grid = "rgba(128, 128, 128, 0.22)";

  var typeSelect = document.getElementById("jobs-admin-insights-type");
  if (typeSelect) {
    typeSelect.addEventListener("change", function () { typeSelect.form.submit(); });
    var button = typeSelect.form.querySelector(".jobs-admin-noscript");
    if (button) { button.classList.add("d-none"); }
  }

  function stacked(d) {
    var sums = d.times.map(function () { return 0; });
    var bands = {};
    cfg.statuses.forEach(function (s) {
      bands[s] = d.counts[s].map(function (n, i) { sums[i] += n; return sums[i]; });
    });
    return [d.times].concat(ORDER.map(function (s) { return bands[s]; }));
  }

  // Half an interval of room on each side: the first and last bars are whole.
  function halfStep(u, min, max) { return [min - data.step / 2, max + data.step / 2]; }

  function width(el) { return Math.max(el.clientWidth, 280); }

  function axes(yLabel) {
    return [
      { stroke: ink, grid: { stroke: grid }, ticks: { stroke: grid } },
      { stroke: ink, grid: { stroke: grid }, ticks: { stroke: grid }, label: yLabel, size: 56 },
    ];
  }

  var bars = uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.8, 64] }) : null;
  var endsEl = document.getElementById("jobs-admin-chart-ends");
  var ends = new uPlot({
    width: width(endsEl),
    height: 260,
    scales: { x: { time: true, range: halfStep }, y: { range: function (u, min, max) { return [0, Math.max(1, max)]; } } },
    axes: axes("jobs"),
    cursor: { points: { show: false } },
    legend: { live: true },
    series: [{ label: "Time (UTC)", value: "{YYYY}-{MM}-{DD} {HH}:{mm}" }].concat(
      ORDER.map(function (s) {
        return {
          label: s,
          stroke: COLORS[s],
          fill: COLORS[s],
          width: 0,
          paths: bars || undefined,
          points: { show: false },
          // Each status's own count, not the top of its band.
          value: function (u, v, si, i) { return i == null ? "–" : String(data.counts[s][i]); },
        };
      })
    ),
  }, stacked(data), endsEl);

  var rateEl = document.getElementById("jobs-admin-chart-rate");
  var rate = new uPlot({
    width: width(rateEl),
    height: 260,
    scales: { x: { time: true, range: halfStep }, y: { range: [0, 100] } },
    axes: axes("%"),
    series: [
      { label: "Time (UTC)", value: "{YYYY}-{MM}-{DD} {HH}:{mm}" },
      {
        label: "failed",
        stroke: COLORS.failed,
        width: 2,
        spanGaps: false,
        points: { show: true, size: 5, fill: COLORS.failed },
        value: function (u, v) { return v == null ? "–" : v.toFixed(1) + " %"; },
      },
    ],
  }, [data.times, data.failure_rate], rateEl);

  // For tests and the screenshot script: the charts and the figures they show.
  window.jobsAdminInsights = { ends: ends, rate: rate, data: function () { return data; } };

  // A click on a bar: the jobs that finished in that interval with that status.
  ends.over.addEventListener("click", function () {
    var i = ends.cursor.idx;
    if (i == null) { return; }
    var y = ends.posToVal(ends.cursor.top, "y");
    var below = 0;
    for (var k = 0; k < cfg.statuses.length; k++) {
      var s = cfg.statuses[k];
      var top = below + data.counts[s][i];
      if (data.counts[s][i] && y >= below && y <= top) {
        var start = data.times[i];
        var args = [
          "flt0_status_equals=" + encodeURIComponent(s),
          "flt1_finished_between=" + start + "-" + (start + data.step),
          "flt2_created_within=all",
        ];
        if (cfg.type) { args.push("flt3_type_equals=" + encodeURIComponent(cfg.type)); }
        window.location.href = cfg.listUrl + "?" + args.join("&");
        return;
      }
      below = top;
    }
  });
  ends.over.style.cursor = "pointer";

  window.addEventListener("resize", function () {
    ends.setSize({ width: width(endsEl), height: 260 });
    rate.setSize({ width: width(rateEl), height: 260 });
  });

  function refresh() {
    if (document.visibilityState !== "visible") { return; }
    var url = cfg.dataUrl + "?range=" + encodeURIComponent(cfg.range) +
      (cfg.type ? "&type=" + encodeURIComponent(cfg.type) : "");
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) {
        if (!d || !d.times) { return; }
        data = d;
        ends.setData(stacked(d));
        rate.setData([d.times, d.failure_rate]);
      })
      .catch(function () { /* the next tick tries again */ });
  }
  window.setInterval(refresh, REFRESH);
})();

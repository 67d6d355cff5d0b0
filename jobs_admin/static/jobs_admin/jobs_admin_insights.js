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
  // Translations (jobs_admin_i18n.js, loaded first); English without it.
  var I18N = window.jobsAdminI18n;
  function fill(s, v) {
    return s.replace(/%\((\w+)\)s/g, function (m, k) { return v && k in v ? String(v[k]) : m; });
  }
  var _ = I18N ? I18N._ : fill;
  var LOCALE = I18N ? I18N.locale() : "en-US";
  var holder = document.getElementById("jobs-admin-insights-data");
  if (!holder || typeof uPlot === "undefined") { return; }
  var cfg = JSON.parse(holder.textContent);
  // The statuses' names in the page's language (the legend, the tooltips).
  var LABELS = cfg.labels || {};
  function label(s) { return LABELS[s] || s; }
  function percent(v) {
    try {
      return v.toLocaleString(LOCALE, { minimumFractionDigits: 1, maximumFractionDigits: 1 }) + " %";
    } catch (e) {
      return v.toFixed(1) + " %";
    }
  }
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

  // The time axis in the page's language: hours (and the date where it changes), or dates.
  function formatter(options) {
    try {
      return new Intl.DateTimeFormat(LOCALE, options);
    } catch (e) {
      return new Intl.DateTimeFormat("en-US", options);
    }
  }
  var HOURS = formatter({ hour: "numeric", minute: "2-digit" });
  var DAYS = formatter({ month: "short", day: "numeric" });
  function timeTicks(u, splits, axisIdx, space, incr) {
    var last = null;
    return splits.map(function (t) {
      var when = new Date(t * 1000);
      var day = DAYS.format(when);
      if (incr >= 86400) { return day; }
      var text = HOURS.format(when) + (last !== null && day !== last ? "\n" + day : "");
      last = day;
      return text;
    });
  }

  function axes(yLabel) {
    return [
      { stroke: ink, grid: { stroke: grid }, ticks: { stroke: grid }, values: timeTicks },
      { stroke: ink, grid: { stroke: grid }, ticks: { stroke: grid }, label: yLabel, size: 56 },
    ];
  }

  var bars = uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.8, 64] }) : null;
  var endsEl = document.getElementById("jobs-admin-chart-ends");
  var ends = new uPlot({
    width: width(endsEl),
    height: 260,
    scales: { x: { time: true, range: halfStep }, y: { range: function (u, min, max) { return [0, Math.max(1, max)]; } } },
    axes: axes(_("jobs")),
    cursor: { points: { show: false } },
    legend: { live: true },
    series: [{ label: _("Time (UTC)"), value: "{YYYY}-{MM}-{DD} {HH}:{mm}" }].concat(
      ORDER.map(function (s) {
        return {
          label: label(s),
          stroke: COLORS[s],
          fill: COLORS[s],
          width: 0,
          paths: bars || undefined,
          points: { show: false },
          // Each status's own count, not the top of its band.
          value: function (u, v, si, i) { return i == null ? "–" : I18N ? I18N.number(data.counts[s][i]) : String(data.counts[s][i]); },
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
      { label: _("Time (UTC)"), value: "{YYYY}-{MM}-{DD} {HH}:{mm}" },
      {
        label: label("failed"),
        stroke: COLORS.failed,
        width: 2,
        spanGaps: false,
        points: { show: true, size: 5, fill: COLORS.failed },
        value: function (u, v) { return v == null ? "–" : percent(v); },
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

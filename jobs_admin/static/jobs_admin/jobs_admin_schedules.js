/* The Schedules page: times in the browser's zone (UTC on hover), and next/last runs kept
   live by polling <schedules>/state.json every few seconds (a small JSON document; the
   page works without it). */
(function () {
  "use strict";
  // Translations (jobs_admin_i18n.js, loaded first); English without it.
  var I18N = window.jobsAdminI18n;
  function fill(s, v) {
    return s.replace(/%\((\w+)\)s/g, function (m, k) { return v && k in v ? String(v[k]) : m; });
  }
  var _ = I18N ? I18N._ : fill;
  // What the page calls each status (as the server's status_label does), lowercase here.
  var STATUS = {pending: _("Pending"), running: _("Running"), completed: _("Completed"),
                partial: _("Partial"), failed: _("Failed"), cancelled: _("Cancelled")};
  var EVERY = 5000;
  var BADGES = {pending: "badge-warning", running: "badge-primary", completed: "badge-success",
                partial: "badge-outline-warning", failed: "badge-danger",
                cancelled: "badge-secondary"};

  function local(root) {
    var times = root.querySelectorAll("time.jobs-admin-when[datetime]");
    for (var i = 0; i < times.length; i++) {
      var when = new Date(times[i].getAttribute("datetime"));
      if (!isNaN(when)) {
        times[i].textContent = when.toLocaleString([], {dateStyle: "medium", timeStyle: "short"});
        times[i].title = times[i].title.indexOf("UTC") >= 0 ? times[i].title : times[i].title + " UTC";
      }
    }
  }

  function timeEl(iso) {
    var t = document.createElement("time");
    t.className = "jobs-admin-when";
    t.setAttribute("datetime", iso);
    t.title = iso.replace("T", " ").slice(0, 16) + " UTC";
    return t;
  }

  function update(table, data) {
    var jobUrl = table.getAttribute("data-job-url");
    data.schedules.forEach(function (s) {
      var row = table.querySelector('tr[data-schedule-id="' + s.id + '"]');
      if (!row) return;
      var next = row.querySelector(".jobs-admin-next");
      var last = row.querySelector(".jobs-admin-last");
      var nextKey = s.enabled ? (s.next_run_at || "") : "";
      if (next && next.getAttribute("data-key") !== nextKey) {
        next.setAttribute("data-key", nextKey);
        next.textContent = "";
        if (nextKey) next.appendChild(timeEl(nextKey)); else next.textContent = "—";
      }
      var lastKey = (s.last_job_id || "") + ":" + (s.last_status || "");
      if (last && s.last_job_id && last.getAttribute("data-key") !== lastKey) {
        last.setAttribute("data-key", lastKey);
        last.textContent = "";
        var a = document.createElement("a");
        a.href = jobUrl + (jobUrl.indexOf("?") >= 0 ? "&" : "?") + "id=" + encodeURIComponent(s.last_job_id);
        var badge = document.createElement("span");
        badge.className = "badge " + (BADGES[s.last_status] || "badge-light");
        badge.textContent = s.last_status ? (STATUS[s.last_status] || s.last_status).toLowerCase() : _("deleted");
        a.appendChild(badge);
        a.appendChild(document.createTextNode(" #" + s.last_job_id));
        last.appendChild(a);
        if (s.last_scheduled_for) {
          var d = document.createElement("div");
          d.className = "small text-muted";
          d.appendChild(timeEl(s.last_scheduled_for));
          last.appendChild(d);
        }
      }
    });
    local(table);
  }

  function poll(table) {
    var url = table.getAttribute("data-state-url");
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) update(table, data); })
      .catch(function () {})
      .then(function () { setTimeout(function () { poll(table); }, EVERY); });
  }

  function start() {
    local(document);
    var forms = document.querySelectorAll("form[data-confirm]");
    for (var i = 0; i < forms.length; i++) {
      forms[i].addEventListener("submit", function (e) {
        if (!window.confirm(this.getAttribute("data-confirm"))) e.preventDefault();
      });
    }
    var table = document.getElementById("jobs-admin-schedules");
    if (table) setTimeout(function () { poll(table); }, EVERY);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

/* jobs_admin live updates: the websocket client of the list and detail pages.
 *
 * Plain JavaScript, no framework, no CDN. Everything it inserts is built with createElement and
 * textContent: nothing that came over the socket is ever parsed as HTML. The detail page also
 * re-reads its own URL (a same-origin page the server rendered and escaped) and swaps in its
 * sections with DOMParser, which runs no script.
 *
 * Protocol (see jobs_admin/live/feed.py): the page carries the change cursor of the moment it was
 * rendered; the socket connects with ?since=<cursor>, receives a "snapshot" (counts), then
 * "changes" messages (jobs, deleted jobs and counts), and keeps the newest cursor for its next
 * reconnect. A deleted job's row leaves the list; its detail page says it was deleted.
 * The server closes with 4429 when this user (or the server) has too many sockets open: the page
 * says "Too many open tabs" and tries again once a minute; with 4401 (the session ended) or 4403
 * (no more 'view' permission) it says "Signed out" and stops.
 */
(function () {
  "use strict";
  var indicator = document.getElementById("jobs-admin-live");
  if (!indicator || !window.WebSocket || !window.JSON) {
    return;
  }
  var cfg;
  try {
    cfg = JSON.parse(indicator.getAttribute("data-live"));
  } catch (e) {
    return;
  }
  // Translations (jobs_admin_i18n.js, loaded first); English without it.
  var I18N = window.jobsAdminI18n;
  function fill(s, v) {
    return s.replace(/%\((\w+)\)s/g, function (m, k) { return v && k in v ? String(v[k]) : m; });
  }
  var _ = I18N ? I18N._ : fill;
  var _n = I18N ? I18N._n : function (one, many, n, v) {
    return fill(n === 1 ? one : many, Object.assign({ num: Number(n).toLocaleString("en-US") }, v));
  };

  var FINISHED = { completed: true, partial: true, failed: true, cancelled: true };
  var ACTIVE = { pending: true, running: true };
  // Close codes of jobs_admin/live/websocket.py and live/subscriber.py.
  var TOO_MANY = 4429;
  var SIGNED_OUT = { 4401: true, 4403: true };
  // The indicator's label and title in each state.
  function stateTexts(state) {
    switch (state) {
      case "live":
        return [_("Live"), _("Live updates: connected")];
      case "connecting":
        return [_("Connecting\u2026"), _("Live updates: connecting")];
      case "offline":
        return [_("Disconnected"), _("Live updates: disconnected; reconnecting")];
      case "toomany":
        return [_("Too many open tabs"), _("Live updates: too many tabs are open on the Jobs pages; close some (retrying every minute)")];
      default:
        return [_("Signed out"), _("Live updates: stopped; sign in again and reload the page")];
    }
  }

  // What the pages call each status (the msgids of jobs_admin.i18n.STATUS_LABELS).
  function statusLabel(status) {
    var labels = {
      pending: _("Pending"),
      running: _("Running"),
      completed: _("Completed"),
      partial: _("Partial"),
      failed: _("Failed"),
      cancelled: _("Cancelled")
    };
    status = String(status);
    return labels[status] || status.charAt(0).toUpperCase() + status.slice(1);
  }
  var since = cfg.since;
  var pageTime = Date.parse(cfg.now);
  // The server's clock minus ours: running durations are counted on the server's clock.
  var clockOffset = isNaN(pageTime) ? 0 : pageTime - Date.now();
  var socket = null;
  var attempt = 0;
  var retryTimer = null;
  var stopped = false;
  var known = {};     // job id -> the status this page last showed
  var rows = {};      // job id -> its <tr> (list page)
  var newJobs = {};   // ids of jobs that entered the list's filter since the page was rendered
  var toasted = {};
  var outdated = false;
  var gone = false;   // the detail page's job was deleted

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    return node;
  }

  function serverNow() {
    return Date.now() + clockOffset;
  }

  // -- the indicator ------------------------------------------------------------------------

  function setState(state) {
    var live = state === "live";
    indicator.setAttribute("data-state", state);
    indicator.classList.toggle("badge-success", live);
    indicator.classList.toggle("badge-secondary", !live);
    var said = stateTexts(state);
    indicator.querySelector(".jobs-admin-live-label").textContent = said[0];
    indicator.title = said[1];
  }

  // -- the connection -----------------------------------------------------------------------

  function socketUrl() {
    var scheme = location.protocol === "https:" ? "wss:" : "ws:";
    var query = since ? "?since=" + encodeURIComponent(since) : "";
    return scheme + "//" + location.host + cfg.ws + query;
  }

  function connect() {
    retryTimer = null;
    if (stopped) {
      return;
    }
    try {
      socket = new WebSocket(socketUrl());
    } catch (e) {
      socket = null;
      retry();
      return;
    }
    socket.onmessage = function (event) {
      var message;
      try {
        message = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      handle(message);
    };
    socket.onclose = function (event) {
      socket = null;
      if (stopped) {
        return;
      }
      if (SIGNED_OUT[event.code]) {
        // Reconnecting would only be refused: the user has to sign in again.
        stopped = true;
        setState("signedout");
      } else if (event.code === TOO_MANY) {
        setState("toomany");
        retry(60000);
      } else {
        setState("offline");
        retry();
      }
    };
  }

  function retry(wait) {
    if (stopped || retryTimer) {
      return;
    }
    // 1, 2, 4, 8 then 15 s between attempts, with some jitter so that many browsers do not
    // come back at the same instant after a restart.
    var delay = wait || Math.min(15000, 1000 * Math.pow(2, attempt));
    attempt += 1;
    retryTimer = setTimeout(connect, delay * (0.8 + Math.random() * 0.4));
  }

  window.addEventListener("pagehide", function () {
    stopped = true;
    if (socket) {
      socket.close();
    }
  });
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      // Back from the browser's page cache: the page is as it was; catch up from its cursor.
      stopped = false;
      attempt = 0;
      setState("connecting");
      connect();
    }
  });

  function handle(message) {
    // The page's other live parts (jobs_admin_feed.js: "My jobs") share this socket.
    document.dispatchEvent(new CustomEvent("jobs-admin:message", { detail: message }));
    if (typeof message.cursor === "string") {
      since = message.cursor;
    }
    if (message.type === "snapshot") {
      attempt = 0;
      setState("live");
      showCounts(message.counts);
    } else if (message.type === "changes") {
      showCounts(message.counts);
      var jobs = message.jobs || [];
      for (var i = 0; i < jobs.length; i++) {
        apply(jobs[i]);
      }
      var removed = message.removed || [];
      for (var k = 0; k < removed.length; k++) {
        remove(removed[k]);
      }
    }
    if (message.resync) {
      resync();
    }
  }

  function apply(job) {
    if (typeof job !== "object" || job === null || typeof job.id !== "number") {
      return;
    }
    maybeToast(job);
    if (cfg.page === "list") {
      var row = rows[job.id];
      if (row) {
        updateRow(row, job);
      } else if (matchesFilter(job) && enteredSincePage(job)) {
        newJobs[job.id] = true;
        showBar();
      }
    } else if (job.id === cfg.job) {
      updateDetail(job);
    }
    known[job.id] = job.status;
  }

  // A job deleted (by an admin, the API or a prune): its row leaves the list; its detail page
  // says so and stops refreshing (the tiles follow the message's counts).
  function remove(id) {
    if (typeof id !== "number") {
      return;
    }
    delete known[id];
    if (cfg.page === "list") {
      var row = rows[id];
      if (row) {
        delete rows[id];
        if (row.parentNode) {
          row.parentNode.removeChild(row);
        }
      }
      if (newJobs[id]) {
        delete newJobs[id];
        showBar();
      }
    } else if (id === cfg.job) {
      showDeleted();
    }
  }

  function showDeleted() {
    var detail = document.querySelector(".jobs-admin-detail");
    if (!detail || gone) {
      return;
    }
    gone = true;
    var note = el("div", "alert alert-warning jobs-admin-deleted", _("This job was deleted. What this page shows is all that is left of it."));
    note.setAttribute("role", "alert");
    detail.insertBefore(note, detail.firstChild);
    // Its buttons would only fail now.
    var controls = detail.querySelectorAll(".jobs-admin-detail-actions a, .jobs-admin-detail-actions button, form.jobs-admin-action button");
    for (var i = 0; i < controls.length; i++) {
      controls[i].classList.add("disabled");
      controls[i].setAttribute("aria-disabled", "true");
      if (controls[i].tagName === "BUTTON") {
        controls[i].disabled = true;
      } else {
        controls[i].removeAttribute("href");
      }
    }
  }

  // -- KPI tiles ----------------------------------------------------------------------------

  function showCounts(counts) {
    if (!counts) {
      return;
    }
    var tiles = document.querySelectorAll("[data-count]");
    for (var i = 0; i < tiles.length; i++) {
      var n = counts[tiles[i].getAttribute("data-count")];
      if (typeof n === "number") {
        var text = I18N ? I18N.number(n) : n.toLocaleString("en-US");
        if (tiles[i].textContent !== text) {
          tiles[i].textContent = text;
        }
      }
    }
  }

  // -- what a job looks like (mirrors templates/jobs_admin/_macros.html) ----------------------

  function statusNodes(job, stale) {
    var frag = document.createDocumentFragment();
    var badge = el("span", "badge " + (cfg.badges[job.status] || "badge-light") + " jobs-admin-status", statusLabel(job.status));
    badge.setAttribute("data-status", job.status);
    frag.appendChild(badge);
    if (job.status === "failed" && job.error) {
      var icon = el("span", "fa fa-exclamation-circle text-danger jobs-admin-error-icon");
      icon.title = job.error;
      // As the server's badge: its "Error:" label, then the error.
      icon.setAttribute("aria-label", _("Error:") + " " + job.error);
      frag.appendChild(document.createTextNode(" "));
      frag.appendChild(icon);
    }
    if (stale && job.status === "running") {
      frag.appendChild(document.createTextNode(" "));
      frag.appendChild(stale);
    }
    if (job.status === "running" && job.phase) {
      frag.appendChild(el("div", "small text-muted jobs-admin-phase", job.phase));
    }
    if (job.status === "pending" && job.phase === "Paused") {
      // Mirrors paused_badge of admin/_html.py: handed back at its worker's shutdown (the
      // row refresh that follows a change of status brings the reason from its events).
      var paused = el("span", "badge badge-secondary jobs-admin-paused", _("Paused"));
      paused.title = _("Its worker shut down while it ran; the next worker resumes it where it stopped.");
      frag.appendChild(document.createTextNode(" "));
      frag.appendChild(paused);
    }
    return frag;
  }

  function percent(part, total) {
    return (100 * part / total).toFixed(1) + "%";
  }

  function progressNodes(job, big) {
    var total = job.progress_total || 0;
    var done = job.progress_done || 0;
    var failed = job.progress_failed || 0;
    var summary;
    if (total) {
      var wrap = el("div", "jobs-admin-progress");
      wrap.setAttribute("data-job-progress", String(job.id));
      var bar = el("div", "progress" + (big ? "" : " jobs-admin-progress-sm"));
      bar.setAttribute("role", "progressbar");
      bar.setAttribute("aria-valuemin", "0");
      bar.setAttribute("aria-valuemax", String(total));
      bar.setAttribute("aria-valuenow", String(done + failed));
      bar.setAttribute("aria-label", _("%(done)s of %(total)s done", { done: done, total: total }));
      var ok = el("div", "progress-bar bg-success" + (job.status === "running" ? " progress-bar-striped progress-bar-animated" : ""));
      ok.style.width = percent(done, total);
      var bad = el("div", "progress-bar bg-danger");
      bad.style.width = percent(failed, total);
      bar.appendChild(ok);
      bar.appendChild(bad);
      wrap.appendChild(bar);
      summary = el("small", "text-muted", done + "/" + total);
      wrap.appendChild(summary);
      if (failed) {
        summary.appendChild(document.createTextNode(" \u00b7 "));
        summary.appendChild(el("span", "text-danger", _("%(num)s failed", { num: failed })));
      }
      return wrap;
    }
    if (done || failed) {
      summary = el("small", "text-muted", _("%(num)s done", { num: done }));
      if (failed) {
        summary.appendChild(document.createTextNode(" \u00b7 "));
        summary.appendChild(el("span", "text-danger", _("%(num)s failed", { num: failed })));
      }
      return summary;
    }
    return el("small", "text-muted", "\u2014");
  }

  // One decimal in the page's language ("4.2", "4,2"), as the Python formatter's.
  function decimal(value) {
    try {
      return value.toLocaleString(I18N ? I18N.locale() : "en", { minimumFractionDigits: 1, maximumFractionDigits: 1 });
    } catch (e) {
      return value.toFixed(1);
    }
  }

  // The Python formatter jobs_admin.admin.format.seconds, in JavaScript, with its messages.
  function seconds(value) {
    if (value === null || value === undefined || isNaN(value)) {
      return "\u2014";
    }
    value = Math.max(0, value);
    if (value < 1) {
      return _("%(num)s ms", { num: Math.round(value * 1000) });
    }
    if (value < 60) {
      return _("%(num)s s", { num: value < 10 ? decimal(value) : Math.round(value) });
    }
    var minutes = Math.floor(value / 60);
    var secs = Math.floor(value) % 60;
    if (minutes < 60) {
      return pair(_("%(num)s min", { num: minutes }), secs, _("%(num)s s", { num: secs }));
    }
    var hours = Math.floor(minutes / 60);
    minutes = minutes % 60;
    if (hours < 48) {
      return pair(_("%(num)s h", { num: hours }), minutes, _("%(num)s min", { num: minutes }));
    }
    var days = Math.floor(hours / 24);
    hours = hours % 24;
    return pair(_("%(num)s d", { num: days }), hours, _("%(num)s h", { num: hours }));
  }

  function pair(big, small, smallText) {
    return small ? big + " " + smallText : big;
  }

  function showDuration(span, job) {
    var started = job.started_at ? Date.parse(job.started_at) : NaN;
    var running = job.status === "running" && !isNaN(started);
    span.classList.toggle("text-primary", running);
    if (running) {
      span.setAttribute("data-started", job.started_at);
      span.textContent = seconds((serverNow() - started) / 1000);
    } else {
      span.removeAttribute("data-started");
      var finished = job.finished_at ? Date.parse(job.finished_at) : NaN;
      span.textContent = isNaN(started) || isNaN(finished) ? "\u2014" : seconds((finished - started) / 1000);
    }
  }

  // Running durations count up every second.
  setInterval(function () {
    var spans = document.querySelectorAll(".jobs-admin-duration[data-started]");
    for (var i = 0; i < spans.length; i++) {
      var started = Date.parse(spans[i].getAttribute("data-started"));
      if (!isNaN(started)) {
        spans[i].textContent = seconds((serverNow() - started) / 1000);
      }
    }
  }, 1000);

  function flash(node) {
    node.classList.add("jobs-admin-changed", "jobs-admin-flash");
    setTimeout(function () {
      node.classList.remove("jobs-admin-flash");
    }, 50);
  }

  // -- the list page ------------------------------------------------------------------------

  function updateRow(row, job) {
    var cell = row.querySelector("td.col-status");
    var changed = false;
    if (cell) {
      var stale = cell.querySelector(".jobs-admin-stale");
      var before = cell.querySelector(".jobs-admin-status");
      changed = !before || before.getAttribute("data-status") !== job.status;
      cell.textContent = "";
      cell.appendChild(statusNodes(job, stale && !changed ? stale : null));
    }
    cell = row.querySelector("td.col-progress_done");
    if (cell) {
      cell.textContent = "";
      cell.appendChild(progressNodes(job, false));
    }
    var span = row.querySelector("td.col-duration .jobs-admin-duration");
    if (span) {
      showDuration(span, job);
    }
    // The optional columns, and the buttons the new status allows as the server renders them
    // for this user (jobs_admin_list.js).
    if (window.jobsAdmin && window.jobsAdmin.updateRow) {
      window.jobsAdmin.updateRow(row, job, changed, serverNow);
    }
    // Buttons for actions the new status no longer allows are hidden (a retry of a running
    // job would be refused anyway); a reload shows the ones it newly allows.
    var forms = row.querySelectorAll("form.jobs-admin-action");
    for (var i = 0; i < forms.length; i++) {
      var action = forms[i].getAttribute("action") || "";
      var allowed = /\/retry$/.test(action)
        ? FINISHED[job.status] && job.status !== "completed"
        : /\/cancel$/.test(action)
          ? ACTIVE[job.status]
          : /\/delete$/.test(action)
            ? FINISHED[job.status]
            : true;
      if (allowed) {
        forms[i].style.removeProperty("display");
      } else {
        forms[i].style.setProperty("display", "none", "important");
      }
    }
    if (changed) {
      flash(row); // a new status catches the eye; progress alone does not
    }
  }

  // The list's filters and search, as the server applies them (jobs_admin/admin/filters.py and
  // jobs_admin/_sql.py): a changed job not on this page that matches them "entered" the list.
  var filters = { status: [], type: [], created_by: [], within: [], between: [], other: false };
  var terms = [];
  if (cfg.page === "list") {
    var params = new URLSearchParams(location.search);
    params.forEach(function (value, key) {
      var m = /^flt\d+_(.+)$/.exec(key);
      if (!m) {
        return;
      }
      var names = {
        status_equals: "status",
        type_equals: "type",
        created_by_equals: "created_by",
        created_within: "within",
        created_between: "between"
      };
      if (Object.prototype.hasOwnProperty.call(names, m[1])) {
        filters[names[m[1]]].push(value);
      } else {
        filters.other = true;
      }
    });
    terms = (params.get("search") || "").split(/\s+/).filter(Boolean).slice(0, 8);
    // The default created-at range (JOBS_ADMIN_DEFAULT_RANGE), in force when the URL picks none.
    var box = document.getElementById("jobs-admin-list");
    var within = box && box.getAttribute("data-default-range");
    if (within && !filters.within.length && !filters.between.length) {
      filters.within.push(within);
    }
  }

  function matchesTerm(job, term) {
    term = term.slice(0, 200);
    var digits = term.replace(/^#+/, "");
    if (/^\d{1,18}$/.test(digits) && Number(digits) === job.id) {
      return true;
    }
    if (job.reference === term || job.created_by === term || job.type === term) {
      return true;
    }
    var needle = term.toLowerCase();
    return [job.name, job.reference].some(function (v) {
      return typeof v === "string" && v.toLowerCase().indexOf(needle) !== -1;
    });
  }

  function createdWithin(job, preset) {
    var created = Date.parse(job.created_at);
    var now = serverNow();
    if (preset === "today") {
      var midnight = new Date(now);
      midnight.setUTCHours(0, 0, 0, 0);
      return created >= midnight.getTime();
    }
    var days = { "7d": 7, "30d": 30 }[preset];
    return days ? created >= now - days * 86400000 : true;
  }

  function createdBetween(job, range) {
    var parts = range.split(" to ");
    var start = Date.parse(parts[0] + "T00:00:00Z");
    var end = Date.parse(parts[1] + "T00:00:00Z") + 86400000;
    var created = Date.parse(job.created_at);
    return isNaN(start) || isNaN(end) || (created >= start && created < end);
  }

  function matchesFilter(job) {
    function all(list, test) {
      for (var i = 0; i < list.length; i++) {
        if (!test(list[i])) {
          return false;
        }
      }
      return true;
    }
    return (
      all(filters.status, function (v) {
        // "running:Building pages": the running jobs in that phase.
        var at = v.indexOf(":");
        return at === -1 ? job.status === v : job.status === v.slice(0, at) && job.phase === v.slice(at + 1);
      }) &&
      all(filters.type, function (v) { return job.type === v; }) &&
      all(filters.created_by, function (v) { return job.created_by === v; }) &&
      all(filters.within, function (v) { return createdWithin(job, v); }) &&
      all(filters.between, function (v) { return createdBetween(job, v); }) &&
      all(terms, function (t) { return matchesTerm(job, t); })
    );
  }

  function after(iso) {
    return !!iso && Date.parse(iso) >= pageTime;
  }

  // Whether the job is new to the list since the page was rendered: created since, or (with a
  // status filter) moved into that status since. A job merely progressing on another page of
  // the list is not new.
  function enteredSincePage(job) {
    if (after(job.created_at)) {
      return true;
    }
    if (!filters.status.length) {
      return false;
    }
    if (job.status === "running") {
      return after(job.started_at);
    }
    if (FINISHED[job.status]) {
      return after(job.finished_at);
    }
    return job.attempts > 0 && after(job.updated_at);
  }

  function bar() {
    var node = document.getElementById("jobs-admin-new-jobs");
    if (node) {
      return node;
    }
    node = el("div", "alert alert-info py-2 mb-2 jobs-admin-new-jobs");
    node.id = "jobs-admin-new-jobs";
    node.setAttribute("role", "status");
    var link = el("a", "alert-link");
    link.href = location.href;
    link.addEventListener("click", function (event) {
      // Reload the table in place (jobs_admin_list.js) rather than the whole page.
      if (window.jobsAdmin && window.jobsAdmin.refresh) {
        event.preventDefault();
        newJobs = {};
        outdated = false;
        window.jobsAdmin.refresh();
      }
    });
    node.appendChild(link);
    var table = document.querySelector("table.model-list");
    var anchor = table ? table.closest(".table-responsive") || table : null;
    if (anchor && anchor.parentNode) {
      anchor.parentNode.insertBefore(node, anchor);
    } else {
      document.body.appendChild(node);
    }
    return node;
  }

  function showBar() {
    var link = bar().querySelector("a");
    if (outdated) {
      link.textContent = _("Many jobs changed \u2014 reload the list");
      return;
    }
    var n = Object.keys(newJobs).length;
    link.textContent = _n("%(num)s new job \u2014 show", "%(num)s new jobs \u2014 show", n);
  }

  function resync() {
    if (cfg.page === "list") {
      outdated = true;
      showBar();
    } else {
      refreshDetail();
    }
  }

  // -- the detail page ----------------------------------------------------------------------

  function updateDetail(job) {
    var detail = document.querySelector(".jobs-admin-detail");
    if (!detail) {
      return;
    }
    // The badge at once; everything else (progress and its figures, steps, log, history,
    // buttons) comes with the page itself, re-read at most every 0.75 s, so that the figures
    // on the page always agree with each other.
    var badge = detail.querySelector("h2 .jobs-admin-status");
    if (badge) {
      var fresh = el("span", "badge " + (cfg.badges[job.status] || "badge-light") + " jobs-admin-status", statusLabel(job.status));
      fresh.setAttribute("data-status", job.status);
      badge.replaceWith(fresh);
    }
    refreshDetail();
  }

  var refreshing = false;
  var refreshAgain = false;
  var lastRefresh = 0;

  function refreshDetail() {
    if (gone) {
      return;
    }
    if (refreshing) {
      refreshAgain = true;
      return;
    }
    refreshing = true;
    setTimeout(function () {
      lastRefresh = Date.now();
      fetch(location.href, { credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok || response.redirected) {
            throw new Error("gone");
          }
          return response.text();
        })
        .then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          var fresh = doc.querySelector(".jobs-admin-detail");
          var old = document.querySelector(".jobs-admin-detail");
          if (!fresh || !old || fresh.getAttribute("data-job-id") !== String(cfg.job)) {
            return;
          }
          // Keep what the reader opened (the stack trace).
          var open = old.querySelectorAll(".collapse.show[id]");
          for (var i = 0; i < open.length; i++) {
            var same = fresh.querySelector("#" + CSS.escape(open[i].id));
            if (same) {
              same.classList.add("show");
            }
          }
          var node = document.importNode(fresh, true);
          old.replaceWith(node);
          localTimes(node);
        })
        .catch(function () {})
        .then(function () {
          refreshing = false;
          if (refreshAgain) {
            refreshAgain = false;
            refreshDetail();
          }
        });
    }, Math.max(0, lastRefresh + 750 - Date.now()));
  }

  function localString(when) {
    try {
      return when.toLocaleString(I18N ? I18N.locale() : undefined);
    } catch (e) {
      return when.toLocaleString();
    }
  }

  function localTimes(root) {
    var times = root.querySelectorAll("time.jobs-admin-time[datetime]");
    for (var i = 0; i < times.length; i++) {
      var when = new Date(times[i].getAttribute("datetime"));
      if (!isNaN(when)) {
        times[i].title = _("%(time)s (local)", { time: localString(when) }) + "\n" + times[i].title;
      }
    }
  }

  // -- toasts: a job the user started finished ----------------------------------------------

  function maybeToast(job) {
    if (!cfg.user || job.created_by !== cfg.user || !FINISHED[job.status]) {
      return;
    }
    var key = job.id + "@" + (job.finished_at || "");
    if (toasted[key]) {
      return;
    }
    var before = known[job.id];
    if (before ? FINISHED[before] : !after(job.finished_at)) {
      return;
    }
    toasted[key] = true;
    showToast(job);
  }

  function showToast(job) {
    window.jobsAdmin.finishedToast(job, cfg.details);
  }

  // -- start --------------------------------------------------------------------------------

  function scanRows() {
    rows = {};
    var links = document.querySelectorAll("[data-jobs-admin-job]");
    for (var i = 0; i < links.length; i++) {
      var id = Number(links[i].getAttribute("data-jobs-admin-job"));
      var row = links[i].closest("tr");
      if (row) {
        rows[id] = row;
        var status = row.querySelector(".jobs-admin-status");
        known[id] = status ? status.getAttribute("data-status") : undefined;
      }
    }
  }

  if (cfg.page === "list") {
    scanRows();
    // The Refresh button swapped the table in: its rows are new nodes.
    document.addEventListener("jobs-admin:refreshed", scanRows);
  } else {
    var badge = document.querySelector(".jobs-admin-detail h2 .jobs-admin-status");
    if (badge && cfg.job) {
      known[cfg.job] = badge.getAttribute("data-status");
    }
  }
  setState("connecting");
  connect();
})();

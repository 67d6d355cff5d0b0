/* jobs_admin: the job list's tools. No framework, no CDN.
 *
 * - Refresh: re-reads this very URL (same filters, search, sort and page) and swaps in the KPI
 *   tiles, the chips, the table and its pager; it works whether or not the live socket is up.
 * - Filters: hides or shows the filter and search controls (remembered per browser); hidden,
 *   the active filters stay as removable chips.
 * - Columns: shows or hides the optional columns (remembered per browser); a column that leaves
 *   no room at this width is dropped first, optional columns only.
 * - Rows: a click anywhere on a row (not on its buttons, links or checkbox) opens the job; so
 *   does Enter on a focused row.
 * - Live changes (from jobs_admin_live.js): fills the optional columns of a changed row, and
 *   after a change of status asks <view>/rows for its buttons as the server renders them for
 *   this user (the page never decides which actions are allowed).
 * - "Clear old jobs": says how many jobs it would delete before you confirm.
 *
 * HTML is only taken from this page's own URL (a same-origin page the server rendered and
 * escaped, parsed with DOMParser, which runs no script) and from <view>/rows (likewise).
 */
(function () {
  "use strict";
  // Translations (jobs_admin_i18n.js, loaded first); English without it.
  var I18N = window.jobsAdminI18n;
  function fill(s, v) {
    return s.replace(/%\((\w+)\)s/g, function (m, k) { return v && k in v ? String(v[k]) : m; });
  }
  var _ = I18N ? I18N._ : fill;
  var _n = I18N ? I18N._n : function (one, many, n, v) {
    return fill(n === 1 ? one : many, Object.assign({ num: Number(n).toLocaleString("en-US") }, v));
  };
  var list = document.getElementById("jobs-admin-list");
  if (!list) {
    return;
  }
  var COLUMNS_KEY = "jobs_admin.columns";
  var FILTERS_KEY = "jobs_admin.filters";
  var optional = JSON.parse(list.getAttribute("data-optional") || "[]");
  var defaults = JSON.parse(list.getAttribute("data-default-columns") || "[]");
  var toolbar = document.querySelector(".jobs-admin-toolbar");
  if (toolbar) {
    toolbar.classList.remove("d-none");
  }

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

  function store(key, value) {
    try {
      if (value === null) {
        localStorage.removeItem(key);
      } else {
        localStorage.setItem(key, value);
      }
    } catch (e) {}
  }

  // -- the filter bar -----------------------------------------------------------------------

  var toggle = document.getElementById("jobs-admin-filters-toggle");

  function showFilterState() {
    var collapsed = list.classList.contains("jobs-admin-filters-collapsed");
    if (toggle) {
      toggle.setAttribute("aria-expanded", collapsed ? "false" : "true");
      toggle.classList.toggle("active", collapsed);
      toggle.title = collapsed ? _("Show the filter and search controls") : _("Hide the filter and search controls");
      toggle.querySelector(".jobs-admin-filters-label").textContent = collapsed ? _("Show filters") : _("Hide filters");
    }
  }

  if (toggle) {
    toggle.addEventListener("click", function () {
      var collapsed = list.classList.toggle("jobs-admin-filters-collapsed");
      store(FILTERS_KEY, collapsed ? "collapsed" : "expanded");
      showFilterState();
      fit();
    });
  }
  showFilterState();

  // -- optional columns ---------------------------------------------------------------------

  var choices = document.querySelectorAll(".jobs-admin-columns-menu input[data-column]");

  function shown(column) {
    return list.classList.contains("jobs-admin-show-" + column);
  }

  function showColumns(columns) {
    optional.forEach(function (c) {
      list.classList.toggle("jobs-admin-show-" + c, columns.indexOf(c) !== -1);
    });
    for (var i = 0; i < choices.length; i++) {
      choices[i].checked = shown(choices[i].getAttribute("data-column"));
    }
    fit();
  }

  for (var i = 0; i < choices.length; i++) {
    choices[i].checked = shown(choices[i].getAttribute("data-column"));
    choices[i].addEventListener("change", function () {
      var columns = optional.filter(function (c) {
        var box = document.querySelector('.jobs-admin-columns-menu input[data-column="' + c + '"]');
        return box && box.checked;
      });
      store(COLUMNS_KEY, JSON.stringify(columns));
      showColumns(columns);
    });
  }
  var reset = document.getElementById("jobs-admin-columns-reset");
  if (reset) {
    reset.addEventListener("click", function () {
      store(COLUMNS_KEY, null);
      showColumns(defaults);
    });
  }
  // The menu stays open while boxes are ticked.
  var menu = document.querySelector(".jobs-admin-columns-menu");
  if (menu) {
    menu.addEventListener("click", function (event) {
      event.stopPropagation();
    });
  }

  // Drop chosen optional columns, the last first, while the table is wider than its box: the
  // default columns never scroll sideways because of an optional one.
  function fit() {
    var box = list.querySelector(".table-responsive");
    optional.forEach(function (c) {
      list.classList.remove("jobs-admin-noroom-" + c);
    });
    if (box) {
      var visible = optional.filter(shown);
      while (visible.length && box.scrollWidth > box.clientWidth + 1) {
        list.classList.add("jobs-admin-noroom-" + visible.pop());
      }
    }
    for (var i = 0; i < choices.length; i++) {
      var c = choices[i].getAttribute("data-column");
      var note = choices[i].parentNode.querySelector(".jobs-admin-no-room");
      if (note) {
        note.classList.toggle("d-none", !list.classList.contains("jobs-admin-noroom-" + c));
      }
    }
  }
  var resizing = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizing);
    resizing = setTimeout(fit, 150);
  });

  // -- rows open their job ------------------------------------------------------------------

  var SKIP = "a, button, input, select, textarea, label, form, .dropdown-menu";

  function jobLink(row) {
    return row.querySelector("a[data-jobs-admin-job]");
  }

  function prepareRows(root) {
    var rows = root.querySelectorAll("table.model-list tbody tr");
    for (var i = 0; i < rows.length; i++) {
      var link = jobLink(rows[i]);
      if (link && !rows[i].hasAttribute("tabindex")) {
        rows[i].tabIndex = 0;
        // Focusable so that Enter opens it; its cells stay what a screen reader reads.
        rows[i].classList.add("jobs-admin-row-link");
      }
    }
  }

  function open(row, event) {
    var link = jobLink(row);
    if (!link) {
      return;
    }
    if (event && (event.ctrlKey || event.metaKey || event.shiftKey || event.button === 1)) {
      window.open(link.href, "_blank");
    } else {
      window.location.href = link.href;
    }
  }

  list.addEventListener("click", function (event) {
    var row = event.target.closest("tr.jobs-admin-row-link");
    if (!row || event.target.closest(SKIP)) {
      return;
    }
    var selection = window.getSelection && window.getSelection();
    if (selection && String(selection).length) {
      return; // the user was selecting text
    }
    open(row, event);
  });
  list.addEventListener("keydown", function (event) {
    var row = event.target;
    if (event.key === "Enter" && row.matches && row.matches("tr.jobs-admin-row-link")) {
      event.preventDefault();
      open(row, event);
    }
  });
  prepareRows(list);

  // -- refresh ------------------------------------------------------------------------------

  var refreshButton = document.getElementById("jobs-admin-refresh");
  var refreshing = false;
  // The table's body only: its header keeps the handlers Flask-Admin bound to it (select all).
  var PARTS = [".jobs-admin-kpis", ".jobs-admin-chips", ".jobs-admin-presets", "table.model-list > tbody", ".pagination"];

  function swap(doc, selector) {
    var old = list.querySelector(selector);
    var fresh = doc.querySelector("#jobs-admin-list " + selector);
    if (old && fresh) {
      old.replaceWith(document.importNode(fresh, true));
    } else if (old && !fresh && selector === ".pagination") {
      old.parentNode.removeChild(old);
    } else if (!old && fresh && selector === ".pagination") {
      var table = list.querySelector(".table-responsive");
      if (table) {
        table.parentNode.insertBefore(document.importNode(fresh, true), table.nextSibling);
      }
    }
  }

  function ticked() {
    var boxes = list.querySelectorAll("input.action-checkbox:checked");
    var ids = {};
    for (var i = 0; i < boxes.length; i++) {
      ids[boxes[i].value] = true;
    }
    return ids;
  }

  // Flask-Admin binds "select all"'s state to the rows present at load: follow new rows too.
  list.addEventListener("change", function (event) {
    if (!event.target.matches || !event.target.matches("input.action-checkbox")) {
      return;
    }
    var all = list.querySelectorAll("input.action-checkbox");
    var toggle = list.querySelector("input.action-rowtoggle");
    if (toggle) {
      toggle.checked = all.length > 0 && list.querySelectorAll("input.action-checkbox:checked").length === all.length;
    }
  });

  function refresh() {
    if (refreshing) {
      return;
    }
    refreshing = true;
    if (refreshButton) {
      refreshButton.disabled = true;
      refreshButton.classList.add("jobs-admin-busy");
    }
    fetch(location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok || response.redirected) {
          throw new Error("HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        if (!doc.getElementById("jobs-admin-list")) {
          throw new Error("not the list");
        }
        var keep = ticked();
        PARTS.forEach(function (selector) {
          swap(doc, selector);
        });
        // The rows still listed keep their tick.
        var boxes = list.querySelectorAll("input.action-checkbox");
        for (var i = 0; i < boxes.length; i++) {
          boxes[i].checked = !!keep[boxes[i].value];
        }
        // The tab's count: "List (42)".
        var tab = document.querySelector(".nav-tabs .nav-link.active");
        var freshTab = doc.querySelector(".nav-tabs .nav-link.active");
        if (tab && freshTab) {
          tab.textContent = freshTab.textContent;
        }
        var bar = document.getElementById("jobs-admin-new-jobs");
        if (bar) {
          bar.parentNode.removeChild(bar);
        }
        prepareRows(list);
        if (window.jobsAdmin && window.jobsAdmin.localTimes) {
          window.jobsAdmin.localTimes(list);
        }
        fit();
        if (refreshButton) {
          refreshButton.title = _("Reload the tiles and the table (keeps the filters)");
          refreshButton.classList.remove("btn-outline-danger");
        }
        document.dispatchEvent(new CustomEvent("jobs-admin:refreshed"));
      })
      .catch(function () {
        if (refreshButton) {
          refreshButton.title = _("The list could not be reloaded; try again");
          refreshButton.classList.add("btn-outline-danger");
        }
      })
      .then(function () {
        refreshing = false;
        if (refreshButton) {
          refreshButton.disabled = false;
          refreshButton.classList.remove("jobs-admin-busy");
        }
      });
  }

  if (refreshButton) {
    refreshButton.addEventListener("click", refresh);
  }
  window.jobsAdmin = window.jobsAdmin || {};
  window.jobsAdmin.refresh = refresh;

  // -- live changes of a row: optional columns (mirror admin/_columns.py), server buttons ----

  function dash() {
    return el("span", "text-muted", "\u2014");
  }

  function timeNode(iso) {
    if (!iso) {
      return document.createTextNode("\u2014");
    }
    var node = el("time", "jobs-admin-time", ago(Date.parse(iso)));
    node.setAttribute("datetime", iso);
    node.title = utc(iso);
    return node;
  }

  function locale() {
    return I18N ? I18N.locale() : "en";
  }

  // The Python filter jobs_admin_utc: "Nov 23, 2026, 6:42:09 PM UTC" in the page's language.
  function utc(iso) {
    try {
      var style = { dateStyle: "medium", timeStyle: "medium", timeZone: "UTC" };
      return new Intl.DateTimeFormat(locale(), style).format(new Date(iso)) + " UTC";
    } catch (e) {
      return iso.replace("T", " ").slice(0, 19) + " UTC";
    }
  }

  // Babel's units and their rounding (format_timedelta with threshold 1.1), as the server's.
  var UNITS = [["year", 31536000], ["month", 2592000], ["week", 604800], ["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];
  var SHORT = { year: "y", month: "mo", week: "wk", day: "d", hour: "h", minute: "min", second: "s" };

  // The Python formatter jobs_admin.admin.format.relative_time: "5 min. ago" in the page's
  // language ("vor 5 Min."), "just now" under 45 s.
  function ago(when) {
    var s = Math.max(0, (clock() - when) / 1000);
    if (s < 45) {
      return _("just now");
    }
    for (var i = 0; i < UNITS.length; i++) {
      var value = s / UNITS[i][1];
      if (value >= 1.1 || i === UNITS.length - 1) {
        var n = Math.max(1, Math.round(value));
        try {
          return new Intl.RelativeTimeFormat(locale(), { numeric: "auto", style: "short" }).format(-n, UNITS[i][0]);
        } catch (e) {
          return n + " " + SHORT[UNITS[i][0]] + " ago";
        }
      }
    }
  }

  function count(n) {
    return I18N ? I18N.number(n || 0) : Number(n || 0).toLocaleString("en-US");
  }

  var OPTIONAL = {
    message: function (job) {
      if (!job.message) {
        return dash();
      }
      var text = job.message.length > 80 ? job.message.slice(0, 77) + "..." : job.message;
      var node = el("span", "jobs-admin-message", text);
      node.title = job.message;
      return node;
    },
    started_at: function (job) {
      return timeNode(job.started_at);
    },
    updated_at: function (job) {
      return timeNode(job.updated_at);
    },
    updated_by: function (job) {
      return job.updated_by ? document.createTextNode(job.updated_by) : dash();
    },
    percent: function (job) {
      if (!job.progress_total) {
        return dash();
      }
      var handled = (job.progress_done || 0) + (job.progress_failed || 0);
      return document.createTextNode(Math.round(Math.min(100, 100 * handled / job.progress_total)) + "%");
    },
    items: function (job) {
      if (job.progress_total) {
        return document.createTextNode(_("%(done)s of %(total)s", { done: count(job.progress_done), total: count(job.progress_total) }));
      }
      return job.progress_done ? document.createTextNode(count(job.progress_done)) : dash();
    },
    attempts: function (job) {
      return document.createTextNode(_("%(done)s of %(total)s", { done: job.attempts || 0, total: job.max_attempts || 0 }));
    },
    priority: function (job) {
      return document.createTextNode(String(job.priority || 0));
    },
    worker: function (job) {
      return job.worker ? el("span", "text-monospace small", job.worker) : dash();
    }
  };

  function fillOptional(row, job) {
    // Mirrors the cells of the optional columns that the server renders.
    Object.keys(OPTIONAL).forEach(function (name) {
      var cell = row.querySelector("td.col-" + name);
      if (cell && Object.prototype.hasOwnProperty.call(job, name === "percent" || name === "items" ? "progress_done" : name)) {
        cell.textContent = "";
        cell.appendChild(OPTIONAL[name](job));
      }
    });
  }

  // -- rows rendered anew by the server (<view>/rows) -------------------------------------

  var listBox = list;
  var asking = {};
  var askTimer = null;

  function askRow(id) {
    if (!listBox || !listBox.getAttribute("data-rows-url")) {
      return;
    }
    asking[id] = true;
    if (!askTimer) {
      askTimer = setTimeout(fetchRows, 200);
    }
  }

  function fetchRows() {
    askTimer = null;
    var ids = Object.keys(asking);
    asking = {};
    if (!ids.length) {
      return;
    }
    var query = ids.map(function (id) {
      return "id=" + encodeURIComponent(id);
    });
    query.push("url=" + encodeURIComponent(listBox.getAttribute("data-return-url") || location.pathname + location.search));
    fetch(listBox.getAttribute("data-rows-url") + "?" + query.join("&"), { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (body) {
        Object.keys(body.jobs || {}).forEach(function (id) {
          var link = list.querySelector('a[data-jobs-admin-job="' + Number(id) + '"]');
          var row = link && link.closest("tr");
          if (row) {
            showServerRow(row, body.jobs[id]);
          }
        });
      })
      .catch(function () {});
  }

  // The server's HTML for a row's buttons and cells: rendered and escaped by the server for
  // this user, like the page itself (never anything that came over the socket).
  function fromServer(html) {
    var doc = new DOMParser().parseFromString("<table><tr><td>" + html + "</td></tr></table>", "text/html");
    var cell = doc.querySelector("td");
    var frag = document.createDocumentFragment();
    while (cell && cell.firstChild) {
      frag.appendChild(document.importNode(cell.firstChild, true));
      cell.removeChild(cell.firstChild);
    }
    return frag;
  }

  function showServerRow(row, data) {
    var buttons = row.querySelector("td.list-buttons-column");
    if (buttons && typeof data.actions === "string") {
      buttons.textContent = "";
      buttons.appendChild(fromServer(data.actions));
    }
    var cell = row.querySelector("td.col-status");
    if (cell && data.cells && typeof data.cells.status === "string") {
      cell.textContent = "";
      cell.appendChild(fromServer(data.cells.status));
    }
    if (window.jobsAdmin && window.jobsAdmin.localTimes) {
      window.jobsAdmin.localTimes(row);
    }
  }

  // Called by jobs_admin_live.js for each changed job that has a row on this page.
  var clock = Date.now;
  window.jobsAdmin = window.jobsAdmin || {};
  window.jobsAdmin.updateRow = function (row, job, changed, serverNow) {
    clock = serverNow || Date.now;
    fillOptional(row, job);
    var before = row.getAttribute("data-jobs-admin-result");
    var result = job.has_result ? "1" : "0";
    row.setAttribute("data-jobs-admin-result", result);
    if (changed || (before !== null && before !== result)) {
      askRow(job.id);
    }
  };

  // -- "Clear old jobs": how many it would delete -------------------------------------------

  var pruneCount = document.getElementById("jobs-admin-prune-count");
  var pruneDays = document.getElementById("jobs-admin-prune-days");
  var pruneSubmit = document.getElementById("jobs-admin-prune-submit");
  var counting = null;
  var asked = 0;

  function countPrunable() {
    var days = pruneDays.value;
    var ask = ++asked;
    if (!/^\d{1,5}$/.test(days)) {
      pruneCount.textContent = _("Enter a number of days.");
      pruneSubmit.disabled = true;
      return;
    }
    pruneCount.textContent = _("Counting the jobs it would delete\u2026");
    fetch(pruneCount.getAttribute("data-url") + "?days=" + encodeURIComponent(days), { credentials: "same-origin" })
      .then(function (response) {
        return response.json().then(function (body) {
          return { ok: response.ok, body: body };
        });
      })
      .then(function (answer) {
        if (ask !== asked) {
          return; // a later count is on its way
        }
        if (!answer.ok) {
          pruneCount.textContent = answer.body.error || _("Could not count the jobs.");
          pruneSubmit.disabled = true;
          return;
        }
        var n = answer.body.count;
        // Two counts: the days are a phrase of their own ("30 days") inside the sentence.
        var days = _n("%(num)s day", "%(num)s days", answer.body.days);
        pruneCount.textContent = n
          ? _n("%(num)s finished job finished more than %(days)s ago will be deleted.", "%(num)s finished jobs finished more than %(days)s ago will be deleted.", n, { days: days })
          : _("No finished job is that old: nothing would be deleted.");
        pruneCount.setAttribute("data-count", String(n));
        pruneSubmit.disabled = !n;
      })
      .catch(function () {
        if (ask === asked) {
          pruneCount.textContent = _("Could not count the jobs; you can still clear them.");
          pruneSubmit.disabled = false;
        }
      });
  }

  if (pruneCount && pruneDays && pruneSubmit && window.jQuery) {
    window.jQuery("#jobs-admin-prune").on("show.bs.modal", countPrunable);
    pruneDays.addEventListener("input", function () {
      clearTimeout(counting);
      counting = setTimeout(countPrunable, 250);
    });
  }

  fit();
})();

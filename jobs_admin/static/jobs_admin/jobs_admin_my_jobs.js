/* jobs_admin: "My jobs" (the navbar item and the jobs_admin_my_jobs() widget) and the "job
 * finished" toasts on every page of the host's admin.
 *
 * The navbar's badge counts the user's running jobs (<jobs>/api/counts, read again after a
 * change of one of their jobs); its menu fetches their latest jobs when it opens, and again
 * after a change while it is open. The widget moves progress bars in place and fetches its list
 * again for a new job or status. A job the user started that finishes shows a toast at the top
 * right (the Jobs pages show their own).
 */
(function () {
  "use strict";
  // Translations (jobs_admin_i18n.js, loaded first); English without it.
  var _n = window.jobsAdminI18n ? window.jobsAdminI18n._n : function (one, many, n) {
    return (n === 1 ? one : many).replace("%(num)s", Number(n).toLocaleString("en-US"));
  };
  var feed = window.JobsAdminFeed;
  if (!feed || window.JobsAdminMyJobs) {
    return;
  }
  window.JobsAdminMyJobs = true;
  var cfg = feed.config();
  if (!cfg.user) {
    return;
  }
  var FINISHED = { completed: true, partial: true, failed: true, cancelled: true };
  var pageTime = Date.parse(cfg.now);
  var known = {};
  var toasted = {};
  var menu = document.querySelector("[data-jobs-admin-my-jobs-menu]");
  var widgets = document.querySelectorAll("[data-jobs-admin-my-jobs]");
  var menuLoaded = false;

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

  // -- the navbar item ---------------------------------------------------------------------

  var badge = menu ? menu.querySelector("[data-jobs-admin-running]") : null;

  function showRunning(n) {
    if (!badge || typeof n !== "number") {
      return;
    }
    badge.textContent = String(n);
    badge.setAttribute("aria-label", _n("%(num)s running", "%(num)s running", n));
    badge.classList.toggle("d-none", n === 0);
  }

  var recount = feed.throttle(function () {
    fetch(cfg.api + "counts", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (body) {
        if (body && body.mine) {
          showRunning(body.mine.running);
        }
      })
      .catch(function () {});
  }, 1000);

  var reloadMenu = feed.throttle(function () {
    var body = menu.querySelector(".jobs-admin-my-jobs-body");
    feed.swap(body, menu.getAttribute("data-fragment"), function (target) {
      menuLoaded = true;
      var list = target.querySelector("[data-running]");
      if (list) {
        showRunning(Number(list.getAttribute("data-running")));
      }
    });
  }, 500);

  function menuOpen() {
    return menu && menu.classList.contains("show");
  }

  if (menu) {
    var toggle = menu.querySelector("[data-toggle='dropdown']");
    if (toggle) {
      toggle.addEventListener("click", function () {
        // Bootstrap opens the menu on this click; its jobs are read now, fresh.
        reloadMenu();
      });
    }
  }

  // -- the widget ---------------------------------------------------------------------------

  var reloaders = [];
  for (var w = 0; w < widgets.length; w++) {
    reloaders.push(makeReload(widgets[w]));
  }

  function makeReload(widget) {
    return feed.throttle(function () {
      feed.swap(widget.querySelector(".jobs-admin-my-jobs-body"), widget.getAttribute("data-fragment"));
    }, 500);
  }

  function updateLists(job) {
    var roots = [];
    for (var i = 0; i < widgets.length; i++) {
      roots.push([widgets[i], reloaders[i]]);
    }
    if (menuLoaded && menuOpen()) {
      roots.push([menu, reloadMenu]);
    } else if (menuLoaded) {
      menuLoaded = false; // read again when it opens
    }
    for (var r = 0; r < roots.length; r++) {
      var row = roots[r][0].querySelector('[data-jobs-admin-my-job="' + job.id + '"]');
      if (!row || row.getAttribute("data-status") !== job.status || !feed.moveProgress(row, job)) {
        roots[r][1]();
      }
    }
  }

  // -- toasts -------------------------------------------------------------------------------

  function maybeToast(job) {
    if (!FINISHED[job.status] || document.getElementById("jobs-admin-live")) {
      return;
    }
    var key = job.id + "@" + (job.finished_at || "");
    if (toasted[key]) {
      return;
    }
    var before = known[job.id];
    var finishedAt = Date.parse(job.finished_at);
    if (before ? FINISHED[before] : !(finishedAt >= pageTime)) {
      return;
    }
    toasted[key] = true;
    window.jobsAdmin.finishedToast(job, cfg.details);
  }

  // -- the feed -----------------------------------------------------------------------------

  feed.subscribe(function (message) {
    if (message.resync) {
      recount();
      for (var i = 0; i < reloaders.length; i++) {
        reloaders[i]();
      }
      return;
    }
    if (message.type !== "changes") {
      return;
    }
    var jobs = message.jobs || [];
    var changed = false;
    for (var j = 0; j < jobs.length; j++) {
      var job = jobs[j];
      if (!job || typeof job.id !== "number" || job.created_by !== cfg.user) {
        continue;
      }
      changed = true;
      maybeToast(job);
      updateLists(job);
      known[job.id] = job.status;
    }
    if (changed) {
      recount();
    }
  });
})();

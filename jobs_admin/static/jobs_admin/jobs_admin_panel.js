/* jobs_admin: the job panels of a host page (jobs_admin/_panel.html) follow their jobs live.
 *
 * A change of one of a panel's jobs (same reference, one of its types) moves its progress bar
 * and phase in place; a new job, a new status or a resync fetches the panel's executions again
 * from the server (<jobs>/panel, rendered and escaped there, with the user's buttons).
 */
(function () {
  "use strict";
  var feed = window.JobsAdminFeed;
  if (!feed || window.JobsAdminPanels) {
    return;
  }
  var nodes = document.querySelectorAll("[data-jobs-admin-panel]");
  var panels = [];
  for (var i = 0; i < nodes.length; i++) {
    panels.push(makePanel(nodes[i]));
  }
  window.JobsAdminPanels = panels;
  if (!panels.length) {
    return;
  }

  function parse(text) {
    try {
      var value = JSON.parse(text || "[]");
      return Array.isArray(value) ? value : [];
    } catch (e) {
      return [];
    }
  }

  function makePanel(node) {
    var panel = {
      node: node,
      references: parse(node.getAttribute("data-references")),
      types: parse(node.getAttribute("data-types")),
      url: node.getAttribute("data-fragment")
    };
    panel.refresh = feed.throttle(function () {
      var body = node.querySelector(".jobs-admin-panel-body");
      if (body && panel.url) {
        feed.swap(body, panel.url);
      }
    }, 500);
    return panel;
  }

  function mine(panel, job) {
    if (panel.references.indexOf(job.reference) < 0) {
      return false;
    }
    return !panel.types.length || panel.types.indexOf(job.type) >= 0;
  }

  function inPlace(row, job) {
    if (row.getAttribute("data-status") !== job.status) {
      return false;
    }
    var phase = row.querySelector(".jobs-admin-phase");
    if (job.status === "running" && job.phase) {
      if (!phase) {
        return false;
      }
      phase.textContent = job.phase;
    }
    var message = row.querySelector(".jobs-admin-panel-message");
    if (message && job.status !== "failed") {
      message.textContent = job.message || "";
    }
    return feed.moveProgress(row, job);
  }

  // Stop asks first, as on the Jobs pages (the panel's forms carry data-confirm).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.closest || !form.closest("[data-jobs-admin-panel]")) {
      return;
    }
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  feed.subscribe(function (message) {
    var p;
    if (message.resync) {
      for (p = 0; p < panels.length; p++) {
        panels[p].refresh();
      }
      return;
    }
    if (message.type !== "changes") {
      return;
    }
    var jobs = message.jobs || [];
    for (var j = 0; j < jobs.length; j++) {
      var job = jobs[j];
      if (!job || typeof job.id !== "number") {
        continue;
      }
      for (p = 0; p < panels.length; p++) {
        if (!mine(panels[p], job)) {
          continue;
        }
        var row = panels[p].node.querySelector('[data-jobs-admin-panel-job="' + job.id + '"]');
        if (!row || !inPlace(row, job)) {
          panels[p].refresh();
        }
      }
    }
  });
})();

/* jobs_admin: the "job started" toast. No framework, no CDN.
 * A flash after Run, Retry or Retry failed items carries <span class="jobs-admin-watch"
 * data-state="<jobs>/<id>/state.json">. This polls that URL (permission-checked like the
 * detail page) once a second for up to WATCH_MS and shows a toast when the job has left
 * "pending": a worker picked it up. A job still waiting after that shows nothing more: the
 * flash already said it is queued. */
(function () {
  "use strict";
  // Translations (jobs_admin_i18n.js, loaded first); English without it.
  var _ = window.jobsAdminI18n ? window.jobsAdminI18n._ : function (s, v) {
    return s.replace(/%\((\w+)\)s/g, function (m, k) { return v && k in v ? String(v[k]) : m; });
  };
  var WATCH_MS = 15000;
  var EVERY_MS = 1000;

  // The live page's toast box (jobs_admin_live.js puts "job finished" toasts there too).
  function container() {
    var box = document.querySelector(".jobs-admin-toasts");
    if (!box) {
      box = document.createElement("div");
      box.className = "jobs-admin-toasts";
      box.setAttribute("aria-live", "polite");
      document.body.appendChild(box);
    }
    return box;
  }

  // Append a translated sentence to parent, with nodes (a link) or text for its placeholders:
  // the words around the link stay one message, in the translation's order.
  function sentence(parent, message, values) {
    var parts = message.split(/%\((\w+)\)s/);
    for (var i = 0; i < parts.length; i++) {
      var part = i % 2 ? values[parts[i]] : parts[i];
      if (part === undefined || part === null || part === "") {
        continue;
      }
      parent.appendChild(part.nodeType ? part : document.createTextNode(String(part)));
    }
  }

  function toast(state) {
    var cancelled = state.status === "cancelled";
    var node = document.createElement("div");
    node.className = "toast show jobs-admin-toast jobs-admin-start-toast";
    node.setAttribute("role", "status");
    node.setAttribute("data-job", String(state.id));
    node.setAttribute("data-status", state.status);
    var head = document.createElement("div");
    head.className = "toast-header";
    var icon = document.createElement("span");
    icon.className = "fa mr-2 " + (cancelled ? "fa-ban text-secondary" : "fa-play-circle text-primary");
    head.appendChild(icon);
    var title = document.createElement("strong");
    title.className = "mr-auto";
    title.textContent = cancelled ? _("Job cancelled") : _("Job started");
    var close = document.createElement("button");
    close.type = "button";
    close.className = "ml-2 mb-1 close";
    close.setAttribute("aria-label", _("Close"));
    close.textContent = "\u00d7";
    close.addEventListener("click", function () {
      node.remove();
    });
    head.appendChild(title);
    head.appendChild(close);
    var body = document.createElement("div");
    body.className = "toast-body";
    var link = document.createElement("a");
    link.href = state.url;
    link.textContent = "#" + state.id + " " + state.name;
    sentence(body, cancelled ? _("Job %(job)s was cancelled before it started.") : _("Job %(job)s started."), { job: link });
    if (state.phase && state.status === "running") {
      // The phase the job is in now ("Building pages…").
      body.appendChild(document.createTextNode(" " + _("%(phase)s\u2026", { phase: state.phase })));
    }
    node.appendChild(head);
    node.appendChild(body);
    // Above the live feed's "finished" toast of the same job, if that came first.
    var box = container();
    box.insertBefore(node, box.querySelector('[data-job-id="' + state.id + '"]'));
    setTimeout(function () {
      node.remove();
    }, 10000);
  }

  function watch(url) {
    var until = Date.now() + WATCH_MS;
    function poll() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          return response.ok ? response.json() : null;
        })
        .then(function (state) {
          if (!state) {
            return; // gone, or not for this user: nothing to tell
          }
          if (state.status !== "pending") {
            toast(state);
          } else if (Date.now() < until) {
            setTimeout(poll, EVERY_MS);
          }
        })
        .catch(function () {
          if (Date.now() < until) {
            setTimeout(poll, EVERY_MS);
          }
        });
    }
    setTimeout(poll, 300);
  }

  var seen = {};
  var markers = document.querySelectorAll(".jobs-admin-watch[data-state]");
  for (var i = 0; i < markers.length; i++) {
    var url = markers[i].getAttribute("data-state");
    if (url && url.charAt(0) === "/" && !seen[url]) {
      seen[url] = true;
      watch(url);
    }
  }
})();

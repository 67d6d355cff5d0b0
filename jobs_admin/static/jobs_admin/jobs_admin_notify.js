/* jobs_admin: the "job started" toast. No framework, no CDN.
 * A flash after Run, Retry or Retry failed items carries <span class="jobs-admin-watch"
 * data-state="<jobs>/<id>/state.json">. This polls that URL (permission-checked like the
 * detail page) once a second for up to WATCH_MS and shows a toast when the job has left
 * "pending": a worker picked it up. A job still waiting after that shows nothing more: the
 * flash already said it is queued. */
(function () {
  "use strict";
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
    title.textContent = cancelled ? "Job cancelled" : "Job started";
    var close = document.createElement("button");
    close.type = "button";
    close.className = "ml-2 mb-1 close";
    close.setAttribute("aria-label", "Close");
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
    body.appendChild(document.createTextNode("Job "));
    body.appendChild(link);
    body.appendChild(document.createTextNode(cancelled ? " was cancelled before it started." : " started."));
    if (state.phase && state.status === "running") {
      body.appendChild(document.createTextNode(" " + state.phase + "\u2026"));
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

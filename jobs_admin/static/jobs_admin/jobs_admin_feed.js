/* jobs_admin: one live feed per page for the job panels, "My jobs" and the toasts of the host's
 * own admin pages (jobs_admin/panel). window.JobsAdminFeed.subscribe(fn) calls fn(message) with
 * every message of the live websocket (see jobs_admin/live/feed.py for the protocol).
 *
 * On the Jobs pages, whose jobs_admin_live.js has a socket already, it shares that socket's
 * messages (the "jobs-admin:message" event) instead of opening a second one. Elsewhere it opens
 * its own, with the settings of the first element carrying data-jobs-admin-feed (the navbar's
 * "My jobs", rendered first, has the earliest cursor: nothing after it is missed).
 * Close codes as on the Jobs pages: 4401/4403 stop (signed out), 4429 waits a minute.
 */
(function () {
  "use strict";
  if (window.JobsAdminFeed || !window.JSON) {
    return;
  }
  // Translations (jobs_admin_i18n.js, loaded first); English without it.
  var I18N = window.jobsAdminI18n;
  var _ = I18N ? I18N._ : function (s, v) {
    return s.replace(/%\((\w+)\)s/g, function (m, k) { return v && k in v ? String(v[k]) : m; });
  };
  var listeners = [];
  var cfg = null;
  var started = false;
  var socket = null;
  var since = null;
  var attempt = 0;
  var retryTimer = null;
  var stopped = false;
  var TOO_MANY = 4429;
  var SIGNED_OUT = { 4401: true, 4403: true };

  function config() {
    if (cfg === null) {
      var holder = document.querySelector("[data-jobs-admin-feed]");
      try {
        cfg = holder ? JSON.parse(holder.getAttribute("data-jobs-admin-feed")) : {};
      } catch (e) {
        cfg = {};
      }
    }
    return cfg;
  }

  function emit(message) {
    if (!message || typeof message !== "object") {
      return;
    }
    if (typeof message.cursor === "string") {
      since = message.cursor;
    }
    for (var i = 0; i < listeners.length; i++) {
      try {
        listeners[i](message);
      } catch (e) {
        if (window.console) {
          window.console.error(e);
        }
      }
    }
  }

  function connect() {
    retryTimer = null;
    if (stopped) {
      return;
    }
    var scheme = location.protocol === "https:" ? "wss:" : "ws:";
    var query = since ? "?since=" + encodeURIComponent(since) : "";
    try {
      socket = new WebSocket(scheme + "//" + location.host + cfg.ws + query);
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
      if (message.type === "snapshot") {
        attempt = 0;
      }
      emit(message);
    };
    socket.onclose = function (event) {
      socket = null;
      if (stopped) {
        return;
      }
      if (SIGNED_OUT[event.code]) {
        stopped = true;
      } else {
        retry(event.code === TOO_MANY ? 60000 : 0);
      }
    };
  }

  function retry(wait) {
    if (stopped || retryTimer) {
      return;
    }
    var delay = wait || Math.min(15000, 1000 * Math.pow(2, attempt));
    attempt += 1;
    retryTimer = setTimeout(connect, delay * (0.8 + Math.random() * 0.4));
  }

  function start() {
    if (started) {
      return;
    }
    started = true;
    config();
    if (document.getElementById("jobs-admin-live")) {
      document.addEventListener("jobs-admin:message", function (event) {
        emit(event.detail);
      });
      return;
    }
    if (!cfg.ws || !window.WebSocket) {
      return;
    }
    since = cfg.since || null;
    window.addEventListener("pagehide", function () {
      stopped = true;
      if (socket) {
        socket.close();
      }
    });
    window.addEventListener("pageshow", function (event) {
      if (event.persisted) {
        stopped = false;
        attempt = 0;
        connect();
      }
    });
    connect();
  }

  /* Fetch a same-origin HTML fragment the server rendered (and escaped) and put its nodes in
   * place of target's children. DOMParser runs no script. */
  function swap(target, url, done) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html === null) {
          return;
        }
        var doc = new DOMParser().parseFromString(html, "text/html");
        while (target.firstChild) {
          target.removeChild(target.firstChild);
        }
        while (doc.body.firstChild) {
          target.appendChild(document.adoptNode(doc.body.firstChild));
        }
        if (done) {
          done(target);
        }
      })
      .catch(function () {});
  }

  /* Call fn at most once per `gap` ms, the last call of a burst included. */
  function throttle(fn, gap) {
    var timer = null;
    var last = 0;
    return function () {
      if (timer) {
        return;
      }
      var wait = Math.max(0, last + gap - Date.now());
      timer = setTimeout(function () {
        timer = null;
        last = Date.now();
        fn();
      }, wait);
    };
  }

  /* Move a progress bar (jobs_admin/admin/_html.py progress) in place; false when the row has
   * no bar to move and must be fetched again. */
  function moveProgress(root, job) {
    var total = job.progress_total || 0;
    var done = job.progress_done || 0;
    var failed = job.progress_failed || 0;
    var bars = root.querySelectorAll(".progress-bar");
    if (!total) {
      return !bars.length && !done && !failed;
    }
    if (bars.length !== 2) {
      return false;
    }
    bars[0].style.width = (100 * done / total).toFixed(1) + "%";
    bars[1].style.width = (100 * failed / total).toFixed(1) + "%";
    var box = bars[0].parentNode;
    box.setAttribute("aria-valuenow", String(done + failed));
    box.setAttribute("aria-valuemax", String(total));
    box.setAttribute("aria-label", _("%(done)s of %(total)s done", { done: done, total: total }));
    var figures = box.parentNode.querySelector("small");
    if (figures) {
      figures.textContent = done + "/" + total;
      if (failed) {
        figures.appendChild(document.createTextNode(" \u00b7 "));
        var span = document.createElement("span");
        span.className = "text-danger";
        span.textContent = _("%(num)s failed", { num: failed });
        figures.appendChild(span);
      }
    }
    return true;
  }

  // One decimal in the page's language ("4.2", "4,2"), as the Python formatter's.
  function decimal(value) {
    try {
      return value.toLocaleString(I18N ? I18N.locale() : "en", { minimumFractionDigits: 1, maximumFractionDigits: 1 });
    } catch (e) {
      return value.toFixed(1);
    }
  }

  // The Python formatter jobs_admin.admin.format.seconds, in JavaScript (as jobs_admin_live.js),
  // with its messages.
  function seconds(value) {
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

  /* Running durations (a span with data-started) count up every second on the server's clock. */
  var clockOffset = null; // the server's clock minus ours, taken once, when the page loaded

  function tick() {
    if (clockOffset === null) {
      var pageTime = Date.parse(config().now);
      clockOffset = isNaN(pageTime) ? 0 : pageTime - Date.now();
    }
    var offset = clockOffset;
    var spans = document.querySelectorAll("[data-jobs-admin-panel] .jobs-admin-duration[data-started]");
    for (var i = 0; i < spans.length; i++) {
      var started = Date.parse(spans[i].getAttribute("data-started"));
      if (!isNaN(started)) {
        spans[i].textContent = seconds((Date.now() + offset - started) / 1000);
      }
    }
  }
  setInterval(tick, 1000);

  window.JobsAdminFeed = {
    subscribe: function (fn) {
      listeners.push(fn);
      start();
    },
    config: config,
    swap: swap,
    throttle: throttle,
    moveProgress: moveProgress
  };
})();

/* jobs_admin: the detail page's step countdown. No framework, no CDN.
 * A running step with an estimate carries data-ends-at (ISO 8601, UTC); this counts down to it
 * every second. The live feed replaces the page's body on each change, so each tick looks the
 * countdowns up again rather than keeping the nodes. */
(function () {
  "use strict";
  // Translations (jobs_admin_i18n.js, loaded first); English without it.
  var _ = window.jobsAdminI18n ? window.jobsAdminI18n._ : function (s, v) {
    return s.replace(/%\((\w+)\)s/g, function (m, k) { return v && k in v ? String(v[k]) : m; });
  };

  // The units are the messages of the Python formatters (jobs_admin/admin/format.py).
  function words(seconds) {
    if (seconds < 60) {
      return _("%(num)s s", { num: Math.max(1, Math.round(seconds)) });
    }
    var minutes = Math.floor(seconds / 60);
    if (minutes < 60) {
      var rest = Math.round(seconds - minutes * 60);
      var said = _("%(num)s min", { num: minutes });
      return rest && minutes < 10 ? said + " " + _("%(num)s s", { num: rest }) : said;
    }
    return _("%(num)s h", { num: Math.floor(minutes / 60) }) + " " + _("%(num)s min", { num: minutes % 60 });
  }

  function tick() {
    var nodes = document.querySelectorAll(".jobs-admin-countdown[data-ends-at]");
    var now = Date.now();
    for (var i = 0; i < nodes.length; i++) {
      var end = Date.parse(nodes[i].getAttribute("data-ends-at"));
      if (isNaN(end)) {
        continue;
      }
      var left = (end - now) / 1000;
      var text = left > 0 ? _("about %(time)s left", { time: words(left) }) : _("taking longer than usual");
      if (nodes[i].textContent !== text) {
        nodes[i].textContent = text;
        nodes[i].classList.toggle("text-primary", left > 0);
        nodes[i].classList.toggle("text-warning", left <= 0);
      }
    }
  }

  tick();
  setInterval(tick, 1000);
})();

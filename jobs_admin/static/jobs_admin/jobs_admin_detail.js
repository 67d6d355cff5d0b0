/* jobs_admin: the detail page's step countdown. No framework, no CDN.
 * A running step with an estimate carries data-ends-at (ISO 8601, UTC); this counts down to it
 * every second. The live feed replaces the page's body on each change, so each tick looks the
 * countdowns up again rather than keeping the nodes. */
(function () {
  "use strict";

  function words(seconds) {
    if (seconds < 60) {
      return Math.max(1, Math.round(seconds)) + " s";
    }
    var minutes = Math.floor(seconds / 60);
    if (minutes < 60) {
      var rest = Math.round(seconds - minutes * 60);
      return minutes + " min" + (rest && minutes < 10 ? " " + rest + " s" : "");
    }
    return Math.floor(minutes / 60) + " h " + (minutes % 60) + " min";
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
      var text = left > 0 ? "about " + words(left) + " left" : "taking longer than usual";
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

/* jobs_admin: confirmation dialogs and local times. No framework, no CDN. */
(function () {
  "use strict";
  // Confirm destructive row actions (cancel, delete) before they POST.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form && form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  }, true);
  // Show the viewer's local time next to the UTC time on hover.
  var times = document.querySelectorAll("time.jobs-admin-time[datetime]");
  for (var i = 0; i < times.length; i++) {
    var when = new Date(times[i].getAttribute("datetime"));
    if (!isNaN(when)) {
      times[i].title = when.toLocaleString() + " (local)\n" + times[i].title;
    }
  }
})();

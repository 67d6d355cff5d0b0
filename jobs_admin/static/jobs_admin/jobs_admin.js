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
  // Open a Bootstrap modal from a [data-jobs-admin-modal] link. Not data-toggle="modal":
  // Flask-Admin's bs4_modal.js loads such a link's href into the modal, which here would
  // replace the "Clear old jobs" form with a copy of the whole page (and rerun its scripts).
  document.addEventListener("click", function (event) {
    var opener = event.target.closest && event.target.closest("[data-jobs-admin-modal]");
    var $ = window.jQuery;
    if (!opener || !$ || !$.fn.modal) {
      return;
    }
    event.preventDefault();
    $(opener.getAttribute("data-jobs-admin-modal")).modal("show");
  });
  // Show the viewer's local time next to the UTC time on hover.
  var times = document.querySelectorAll("time.jobs-admin-time[datetime]");
  for (var i = 0; i < times.length; i++) {
    var when = new Date(times[i].getAttribute("datetime"));
    if (!isNaN(when)) {
      times[i].title = when.toLocaleString() + " (local)\n" + times[i].title;
    }
  }
})();

/* jobs_admin: the "job finished" toast, shared by the Jobs pages (jobs_admin_live.js) and every
 * other admin page ("My jobs", jobs_admin_my_jobs.js). No framework, no CDN. */
(function () {
  "use strict";
  var VERBS = {
    completed: ["completed", "text-success", "check-circle"],
    partial: ["finished with failed items", "text-warning", "adjust"],
    failed: ["failed", "text-danger", "times-circle"],
    cancelled: ["was cancelled", "text-secondary", "ban"]
  };

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined && text !== null) {
      node.textContent = text;
    }
    return node;
  }

  /* Show that ``job`` (a live update's job) finished, top right, with a link to its page.
   * @param job the job: id, name, type, status, error
   * @param details the detail page's URL without the id */
  function finishedToast(job, details) {
    var verb = VERBS[job.status];
    if (!verb) {
      return;
    }
    var box = document.querySelector(".jobs-admin-toasts");
    if (!box) {
      box = el("div", "jobs-admin-toasts");
      box.setAttribute("aria-live", "polite");
      document.body.appendChild(box);
    }
    var toast = el("div", "toast show jobs-admin-toast");
    toast.setAttribute("role", job.status === "failed" ? "alert" : "status");
    toast.setAttribute("data-job-id", String(job.id));
    var header = el("div", "toast-header");
    header.appendChild(el("span", "fa fa-" + verb[2] + " mr-2 " + verb[1]));
    header.appendChild(el("strong", "mr-auto", "Job " + verb[0]));
    var close = el("button", "ml-2 mb-1 close");
    close.type = "button";
    close.setAttribute("aria-label", "Close");
    close.appendChild(el("span", null, "\u00d7"));
    header.appendChild(close);
    var body = el("div", "toast-body");
    var link = el("a", null, "#" + job.id + " " + (job.name || job.type));
    link.href = details + "?id=" + encodeURIComponent(job.id);
    body.appendChild(link);
    body.appendChild(document.createTextNode(" " + verb[0] + (job.status === "failed" && job.error ? ": " + job.error : ".")));
    toast.appendChild(header);
    toast.appendChild(body);
    box.appendChild(toast);
    var remove = function () {
      if (toast.parentNode) {
        toast.parentNode.removeChild(toast);
      }
    };
    close.addEventListener("click", remove);
    setTimeout(remove, job.status === "failed" ? 30000 : 12000);
  }

  window.jobsAdmin = window.jobsAdmin || {};
  window.jobsAdmin.finishedToast = finishedToast;
})();

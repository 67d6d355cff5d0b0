/* jobs_admin: the "job finished" toast, shared by the Jobs pages (jobs_admin_live.js) and every
 * other admin page ("My jobs", jobs_admin_my_jobs.js). No framework, no CDN. */
(function () {
  "use strict";
  // Translations (jobs_admin_i18n.js, loaded first); English without it.
  var _ = window.jobsAdminI18n ? window.jobsAdminI18n._ : function (s, v) {
    return s.replace(/%\((\w+)\)s/g, function (m, k) { return v && k in v ? String(v[k]) : m; });
  };
  var LOOKS = {
    completed: ["text-success", "check-circle"],
    partial: ["text-warning", "adjust"],
    failed: ["text-danger", "times-circle"],
    cancelled: ["text-secondary", "ban"]
  };

  // The toast's title and its sentence (%(job)s is the job's link) for a finished job.
  function texts(job) {
    switch (job.status) {
      case "completed":
        return [_("Job completed"), _("%(job)s completed.")];
      case "partial":
        return [_("Job finished with failed items"), _("%(job)s finished with failed items.")];
      case "failed":
        return [_("Job failed"), job.error ? _("%(job)s failed: %(error)s") : _("%(job)s failed.")];
      default:
        return [_("Job was cancelled"), _("%(job)s was cancelled.")];
    }
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
    var looks = LOOKS[job.status];
    if (!looks) {
      return;
    }
    var said = texts(job);
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
    header.appendChild(el("span", "fa fa-" + looks[1] + " mr-2 " + looks[0]));
    header.appendChild(el("strong", "mr-auto", said[0]));
    var close = el("button", "ml-2 mb-1 close");
    close.type = "button";
    close.setAttribute("aria-label", _("Close"));
    close.appendChild(el("span", null, "\u00d7"));
    header.appendChild(close);
    var body = el("div", "toast-body");
    var link = el("a", null, "#" + job.id + " " + (job.name || job.type));
    link.href = details + "?id=" + encodeURIComponent(job.id);
    sentence(body, said[1], { job: link, error: job.error });
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

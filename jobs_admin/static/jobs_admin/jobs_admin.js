/* jobs_admin: confirmation dialogs (in-page Bootstrap modals) and local times. No framework,
 * no CDN. Without JavaScript every form still posts (with its CSRF token), unconfirmed. */
(function () {
  "use strict";
  // Translations (jobs_admin_i18n.js, loaded first); English without it.
  var I18N = window.jobsAdminI18n;
  function fill(s, v) {
    return s.replace(/%\((\w+)\)s/g, function (m, k) { return v && k in v ? String(v[k]) : m; });
  }
  var _ = I18N ? I18N._ : fill;
  var _n = I18N ? I18N._n : function (one, many, n, v) {
    return fill(n === 1 ? one : many, Object.assign({ num: Number(n).toLocaleString("en-US") }, v));
  };
  var $ = window.jQuery;
  var pending = null; // what the open dialog's "yes" button does

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    return node;
  }

  // One dialog for every confirmation, built on first use. Its texts are set with
  // textContent: what a form carries is never parsed as HTML.
  function dialog() {
    var node = document.getElementById("jobs-admin-confirm");
    if (node) {
      return node;
    }
    node = el("div", "modal fade jobs-admin-confirm");
    node.id = "jobs-admin-confirm";
    node.tabIndex = -1;
    node.setAttribute("role", "dialog");
    node.setAttribute("aria-modal", "true");
    node.setAttribute("aria-labelledby", "jobs-admin-confirm-title");
    var box = el("div", "modal-dialog");
    box.setAttribute("role", "document");
    var content = el("div", "modal-content");
    var header = el("div", "modal-header");
    var title = el("h5", "modal-title");
    title.id = "jobs-admin-confirm-title";
    header.appendChild(title);
    var body = el("div", "modal-body");
    body.appendChild(el("p", "mb-0 jobs-admin-confirm-text"));
    var footer = el("div", "modal-footer");
    var no = el("button", "btn btn-secondary jobs-admin-confirm-no");
    no.type = "button";
    no.setAttribute("data-dismiss", "modal");
    var yes = el("button", "btn jobs-admin-confirm-yes");
    yes.type = "button";
    footer.appendChild(no);
    footer.appendChild(yes);
    content.appendChild(header);
    content.appendChild(body);
    content.appendChild(footer);
    box.appendChild(content);
    node.appendChild(box);
    document.body.appendChild(node);
    yes.addEventListener("click", function () {
      var run = pending;
      pending = null;
      $(node).modal("hide");
      if (run) {
        run();
      }
    });
    $(node).on("hidden.bs.modal", function () {
      pending = null;
    });
    $(node).on("shown.bs.modal", function () {
      // The safe choice has the focus: Enter keeps the job.
      no.focus();
    });
    return node;
  }

  // Ask with a modal; run `yes` if the user confirms. Returns false where there is no
  // Bootstrap (then the caller falls back to the browser's own dialog).
  function ask(options, yes) {
    if (!$ || !$.fn || !$.fn.modal) {
      return false;
    }
    var node = dialog();
    node.querySelector(".modal-title").textContent = options.title || _("Are you sure?");
    node.querySelector(".jobs-admin-confirm-text").textContent = options.text || "";
    var noButton = node.querySelector(".jobs-admin-confirm-no");
    noButton.textContent = options.no || _("Cancel");
    noButton.hidden = !!options.alone;
    var yesButton = node.querySelector(".jobs-admin-confirm-yes");
    yesButton.textContent = options.yes || _("OK");
    yesButton.className = "btn jobs-admin-confirm-yes " + (options.yesClass || "btn-primary");
    pending = yes;
    $(node).modal("show");
    return true;
  }

  window.jobsAdmin = window.jobsAdmin || {};
  window.jobsAdmin.ask = ask;

  // Forms with data-confirm (cancel, delete) ask first.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var text = form && form.getAttribute && form.getAttribute("data-confirm");
    if (!text || form.getAttribute("data-confirmed") === "1") {
      return;
    }
    event.preventDefault();
    var shown = ask({
      title: form.getAttribute("data-confirm-title"),
      text: text,
      yes: form.getAttribute("data-confirm-yes"),
      no: form.getAttribute("data-confirm-no"),
      yesClass: form.getAttribute("data-confirm-class")
    }, function () {
      form.setAttribute("data-confirmed", "1");
      // A live refresh (the detail page, a row's buttons) may have replaced the form while the
      // dialog was open, and a form out of the document submits nothing: put it back, hidden.
      if (!form.isConnected) {
        form.hidden = true;
        document.body.appendChild(form);
      }
      // submit() sends no submit event: the form goes as it is, with its CSRF token.
      form.submit();
    });
    if (!shown && window.confirm(text)) {
      form.setAttribute("data-confirmed", "1");
      form.submit();
    }
  }, true);

  // The list's bulk actions ("With selected"): Flask-Admin asks with the browser's confirm();
  // ask with the modal instead, saying how many jobs and what happens to them.
  var BULK = {
    cancel: function (n) {
      return {
        title: _n("Cancel %(num)s job?", "Cancel %(num)s jobs?", n),
        text: _("Pending jobs among them will not run; running ones stop after their current item and keep what they did. Finished jobs are skipped. Cancelled jobs can be retried later."),
        yes: n === 1 ? _("Cancel job") : _("Cancel jobs"),
        no: _("Keep them"),
        yesClass: "btn-warning"
      };
    },
    "delete": function (n) {
      return {
        title: _n("Delete %(num)s job?", "Delete %(num)s jobs?", n),
        text: _("They are deleted with their logs and result files. Pending and running jobs are skipped. This cannot be undone."),
        yes: n === 1 ? _("Delete job") : _("Delete jobs"),
        no: _("Keep them"),
        yesClass: "btn-danger"
      };
    }
  };

  function wrapBulkActions() {
    var actions = window.modelActions;
    if (!actions || !actions.execute || actions.jobsAdmin) {
      return;
    }
    var execute = actions.execute;
    actions.jobsAdmin = true;
    actions.execute = function (name) {
      var selected = document.querySelectorAll("input.action-checkbox:checked").length;
      if (!selected) {
        if (!ask({ title: _("No jobs selected"), text: _("Tick the jobs to act on first."), yes: _("OK"), alone: true }, null)) {
          window.alert(_("Tick the jobs to act on first."));
        }
        return false;
      }
      var form = document.getElementById("action_form");
      var said = BULK[name] ? BULK[name](selected) : null;
      if (!said || !form) {
        return execute.call(actions, name);
      }
      var go = function () {
        form.querySelector("#action").value = name;
        var old = form.querySelectorAll("input.action-checkbox");
        for (var i = 0; i < old.length; i++) {
          old[i].parentNode.removeChild(old[i]);
        }
        var ticked = document.querySelectorAll("input.action-checkbox:checked");
        for (var j = 0; j < ticked.length; j++) {
          form.appendChild(ticked[j].cloneNode());
        }
        form.submit();
      };
      if (!ask(said, go) && window.confirm(said.title)) {
        go();
      }
      return false;
    };
  }

  wrapBulkActions();
  document.addEventListener("DOMContentLoaded", wrapBulkActions);

  // Open a Bootstrap modal from a [data-jobs-admin-modal] link. Not data-toggle="modal":
  // Flask-Admin's bs4_modal.js loads such a link's href into the modal, which here would
  // replace the "Clear old jobs" form with a copy of the whole page (and rerun its scripts).
  document.addEventListener("click", function (event) {
    var opener = event.target.closest && event.target.closest("[data-jobs-admin-modal]");
    if (!opener || !$ || !$.fn.modal) {
      return;
    }
    event.preventDefault();
    $(opener.getAttribute("data-jobs-admin-modal")).modal("show");
  });

  // Show the viewer's local time next to the UTC time on hover (in the page's language).
  function localString(when) {
    try {
      return when.toLocaleString(I18N ? I18N.locale() : undefined);
    } catch (e) {
      return when.toLocaleString();
    }
  }

  function localTimes(root) {
    var times = root.querySelectorAll("time.jobs-admin-time[datetime]:not([data-local])");
    for (var i = 0; i < times.length; i++) {
      var when = new Date(times[i].getAttribute("datetime"));
      if (!isNaN(when)) {
        times[i].title = _("%(time)s (local)", { time: localString(when) }) + "\n" + times[i].title;
        times[i].setAttribute("data-local", "1");
      }
    }
  }
  window.jobsAdmin.localTimes = localTimes;
  localTimes(document);
})();

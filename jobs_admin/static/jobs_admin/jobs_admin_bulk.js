/* jobs_admin: "Select all N jobs matching this filter" on the list. When the select-all box
 * is ticked and more jobs match than the page shows, a bar offers the whole filter; "With
 * selected" (and the bar's export) then start one jobs_admin.bulk job over every matching
 * job, after a confirmation naming the exact count (fetched now) and the filter in words. */
(function () {
  "use strict";
  var I18N = window.jobsAdminI18n;
  function fill(s, v) {
    return s.replace(/%\((\w+)\)s/g, function (m, k) { return v && k in v ? String(v[k]) : m; });
  }
  var _ = I18N ? I18N._ : fill;
  var _n = I18N ? I18N._n : function (one, many, n, v) {
    return fill(n === 1 ? one : many, Object.assign({ num: Number(n).toLocaleString("en-US") }, v));
  };
  var bar = document.getElementById("jobs-admin-selectall");
  if (!bar) {
    return;
  }
  var wholeFilter = false;
  var known = bar.getAttribute("data-matching");
  var total = known === "" ? null : parseInt(known, 10); // null: more than the cap
  var actions = JSON.parse(bar.getAttribute("data-actions") || "[]");
  var SAID = {
    retry: {
      title: function (n) { return _n("Retry all %(num)s job matching this filter?", "Retry all %(num)s jobs matching this filter?", n); },
      yes: function (n) { return _n("Retry %(num)s job", "Retry %(num)s jobs", n); },
      text: _("Failed, partial and cancelled jobs among them go back in the queue; the others are skipped."),
      cls: "btn-primary"
    },
    cancel: {
      title: function (n) { return _n("Cancel all %(num)s job matching this filter?", "Cancel all %(num)s jobs matching this filter?", n); },
      yes: function (n) { return _n("Cancel %(num)s job", "Cancel %(num)s jobs", n); },
      text: _("Pending jobs among them will not run; running ones stop after their current item. Finished jobs are skipped."),
      cls: "btn-warning"
    },
    "delete": {
      title: function (n) { return _n("Delete all %(num)s job matching this filter?", "Delete all %(num)s jobs matching this filter?", n); },
      yes: function (n) { return _n("Delete %(num)s job", "Delete %(num)s jobs", n); },
      text: _("Finished jobs among them are deleted with their logs and result files; pending and running ones are skipped. This cannot be undone."),
      cls: "btn-danger"
    },
    "export": {
      title: function (n) { return _n("Export all %(num)s job matching this filter?", "Export all %(num)s jobs matching this filter?", n); },
      yes: function (n) { return _n("Export %(num)s job", "Export %(num)s jobs", n); },
      text: _("A CSV of them is written as the bulk job's result file."),
      cls: "btn-primary"
    }
  };

  function fmt(n) {
    return I18N ? I18N.number(n) : Number(n).toLocaleString("en-US");
  }

  function rows() {
    return document.querySelectorAll("input.action-checkbox");
  }

  function setN(text) {
    var spots = bar.querySelectorAll(".jobs-admin-selectall-n");
    for (var i = 0; i < spots.length; i++) {
      spots[i].textContent = text;
    }
  }

  function show(mode) {
    wholeFilter = mode === "filter";
    bar.hidden = mode === null;
    bar.querySelector(".jobs-admin-selectall-page").hidden = wholeFilter;
    bar.querySelector(".jobs-admin-selectall-filter").hidden = !wholeFilter;
  }

  function update() {
    var toggle = document.querySelector("input.action-rowtoggle");
    var shown = rows().length;
    var more = total === null || total > shown;
    if (!toggle || !toggle.checked || !more) {
      show(null);
      return;
    }
    bar.querySelector(".jobs-admin-selectall-shown").textContent = fmt(shown);
    setN(total === null ? _("more than %(num)s", { num: fmt(bar.getAttribute("data-cap")) }) : fmt(total));
    show(wholeFilter ? "filter" : "page");
  }

  document.addEventListener("change", function (event) {
    var t = event.target;
    if (t && t.classList && (t.classList.contains("action-rowtoggle") || t.classList.contains("action-checkbox"))) {
      if (t.classList.contains("action-checkbox") && !t.checked) {
        wholeFilter = false; // unticking one row leaves the whole-filter selection
      }
      setTimeout(update, 0); // after Flask-Admin ticks the rows
    }
  });
  bar.querySelector(".jobs-admin-selectall-all").addEventListener("click", function () {
    show("filter");
  });
  bar.querySelector(".jobs-admin-selectall-clear").addEventListener("click", function () {
    var toggle = document.querySelector("input.action-rowtoggle");
    if (toggle) {
      toggle.click(); // Flask-Admin unticks the rows
    }
    show(null);
  });

  function post(action, maxId) {
    var form = document.createElement("form");
    form.method = "POST";
    form.action = bar.getAttribute("data-bulk-url");
    form.hidden = true;
    var fields = {
      csrf_token: bar.getAttribute("data-token"),
      action: action,
      max_id: String(maxId),
      url: bar.getAttribute("data-return-url")
    };
    Object.keys(fields).forEach(function (name) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      input.value = fields[name];
      form.appendChild(input);
    });
    document.body.appendChild(form);
    form.submit();
  }

  // Count exactly now, then confirm with that count and the filter in words.
  function confirmAll(action) {
    var said = SAID[action];
    fetch(bar.getAttribute("data-count-url"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (res) {
        var ask = window.jobsAdmin && window.jobsAdmin.ask;
        if (!res.ok) {
          window.alert(res.body.error || _("The filter cannot be used."));
          return;
        }
        var n = res.body.count;
        var title = said.title(n);
        var text = _("Filter: %(filter)s.", { filter: res.body.filter }) + " " + said.text + " " + _("It runs as a bulk job you can follow and cancel; jobs that match later are not included.");
        var go = function () { post(action, res.body.max_id); };
        if (!(ask && ask({ title: title, text: text, yes: said.yes(n), no: _("Keep them"), yesClass: said.cls }, go)) && window.confirm(title)) {
          go();
        }
      });
  }

  var exportButton = bar.querySelector(".jobs-admin-selectall-export");
  if (exportButton) {
    exportButton.addEventListener("click", function () { confirmAll("export"); });
  }

  // "With selected": the whole filter when it is selected, else Flask-Admin's (wrapped by
  // jobs_admin.js) on the ticked rows.
  function wrap() {
    var model = window.modelActions;
    if (!model || !model.execute || model.jobsAdminBulk) {
      return;
    }
    var execute = model.execute;
    model.jobsAdminBulk = true;
    model.execute = function (name) {
      if (wholeFilter && !bar.hidden && actions.indexOf(name) !== -1) {
        confirmAll(name);
        return false;
      }
      return execute.apply(model, arguments);
    };
  }
  wrap();
  document.addEventListener("DOMContentLoaded", wrap);
})();

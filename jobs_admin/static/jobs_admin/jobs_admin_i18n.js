/* jobs_admin: the scripts' translations. The page carries them as JSON
   (<script type="application/json" id="jobs-admin-i18n">, jobs_admin.i18n.js_catalog);
   every script calls window.jobsAdminI18n._("...") and _n("one", "many", n). */
(function () {
  "use strict";
  if (window.jobsAdminI18n) {
    return;
  }
  var data = null;

  function load() {
    if (data === null) {
      var el = document.getElementById("jobs-admin-i18n");
      try {
        data = el ? JSON.parse(el.textContent) : {};
      } catch (e) {
        data = {};
      }
      data.messages = data.messages || {};
      data.locale = data.locale || document.documentElement.lang || "en";
    }
    return data;
  }

  function fill(text, vars) {
    if (!vars) {
      return text;
    }
    return text.replace(/%\((\w+)\)s/g, function (whole, key) {
      return Object.prototype.hasOwnProperty.call(vars, key) ? String(vars[key]) : whole;
    });
  }

  function locale() {
    return load().locale;
  }

  function number(n) {
    try {
      return Number(n).toLocaleString(locale());
    } catch (e) {
      return String(n);
    }
  }

  function gettext(message, vars) {
    var said = load().messages[message];
    return fill(typeof said === "string" ? said : message, vars);
  }

  function ngettext(one, many, n, vars) {
    var forms = load().messages[one];
    var values = { num: number(n) };
    Object.keys(vars || {}).forEach(function (k) {
      values[k] = vars[k];
    });
    var single;
    try {
      single = new Intl.PluralRules(locale()).select(n) === "one";
    } catch (e) {
      single = n === 1;
    }
    if (Array.isArray(forms)) {
      return fill(single ? forms[0] : forms[1], values);
    }
    return fill(single ? one : many, values);
  }

  window.jobsAdminI18n = { _: gettext, _n: ngettext, locale: locale, number: number };
})();

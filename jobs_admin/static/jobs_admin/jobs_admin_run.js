/* jobs_admin: the run form follows the job type select at once. No framework, no CDN.
 * Without scripts the "Choose" button loads the type's form; here a change of the select
 * fetches the same page for the new type and swaps its form in (history updated), and the
 * time zone field gets the browser's zone unless the user set one. */
(function () {
  "use strict";
  var select = document.getElementById("jobs-admin-type");
  var choose = document.getElementById("jobs-admin-choose");
  var pick = document.getElementById("jobs-admin-pick-type");

  function setZone(root) {
    var zone = "";
    try {
      zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch (e) {
      zone = "";
    }
    var fields = root.querySelectorAll("input[data-jobs-admin-zone]");
    for (var i = 0; i < fields.length; i++) {
      // Only a field nobody changed: a form sent back with errors keeps what was posted.
      if (zone && fields[i].value === "UTC" && !fields[i].classList.contains("is-invalid")) {
        fields[i].value = zone;
      }
    }
  }

  setZone(document);
  if (!select || !pick) {
    return;
  }
  if (choose) {
    choose.classList.add("d-none");
  }
  var pending = null;
  select.addEventListener("change", function () {
    // The picker's own fields too: a job panel's reference and return page stay with the form.
    var query = new URLSearchParams(new FormData(pick)).toString();
    var url = pick.getAttribute("action") + (pick.getAttribute("action").indexOf("?") < 0 ? "?" : "&") + query;
    var area = document.getElementById("jobs-admin-run");
    if (!select.value) {
      area.innerHTML = "";
      history.replaceState(null, "", pick.getAttribute("action"));
      return;
    }
    var ticket = (pending = {});
    area.setAttribute("aria-busy", "true");
    fetch(url, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok || response.redirected) {
          throw new Error("not a form");
        }
        return response.text();
      })
      .then(function (html) {
        if (ticket !== pending) {
          return; // another type was picked meanwhile
        }
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("jobs-admin-run");
        if (!fresh) {
          throw new Error("not a form");
        }
        var node = document.importNode(fresh, true);
        area.replaceWith(node);
        node.removeAttribute("aria-busy");
        setZone(node);
        history.replaceState(null, "", url);
      })
      .catch(function () {
        // Whatever went wrong (signed out, a refused type), the page itself says it.
        location.assign(url);
      });
  });
})();

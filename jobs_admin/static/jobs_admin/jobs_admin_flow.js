// The Workers and Job types pages: refresh the table in place every few seconds (from the
// page's ?fragment=1), unless the user is typing in one of its forms; confirm Stop.
(function () {
  "use strict";
  var box = document.getElementById("jobs-admin-flow");
  if (!box) return;
  var every = Math.max(1, parseFloat(box.getAttribute("data-refresh")) || 2) * 1000;
  var url = box.getAttribute("data-url");
  function busy() {
    var el = document.activeElement;
    return el && box.contains(el) && el.tagName === "INPUT";
  }
  function refresh() {
    if (document.hidden || busy()) return;
    fetch(url, {credentials: "same-origin", headers: {"X-Requested-With": "fetch"}})
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null || busy()) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("jobs-admin-flow");
        if (fresh) box.innerHTML = fresh.innerHTML;
      })
      .catch(function () {});
  }
  box.addEventListener("submit", function (e) {
    var form = e.target.closest ? e.target.closest("form.jobs-admin-confirm") : null;
    if (form && !window.confirm(form.getAttribute("data-confirm"))) e.preventDefault();
  });
  setInterval(refresh, every);
})();

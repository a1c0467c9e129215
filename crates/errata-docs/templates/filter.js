// The filter box: as the user types, show only the codes whose code, type, status, title or
// description contain every word typed (case-insensitive); hide the rest, in the tables and the
// per-code sections alike, and any type left with no code shown. Escape clears it.
(function () {
  "use strict";
  var input = document.getElementById("filter");
  var count = document.getElementById("filter-count");
  var none = document.getElementById("no-match");
  var items = Array.prototype.slice.call(document.querySelectorAll("[data-search]"));
  var kinds = Array.prototype.slice.call(document.querySelectorAll("section.kind"));
  var total = document.querySelectorAll("article.code").length;
  if (!input) {
    return;
  }

  function apply() {
    var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    items.forEach(function (el) {
      var text = el.getAttribute("data-search");
      el.hidden = !words.every(function (w) { return text.indexOf(w) !== -1; });
    });
    var shown = 0;
    kinds.forEach(function (kind) {
      var visible = kind.querySelectorAll("article.code:not([hidden])").length;
      kind.hidden = visible === 0;
      shown += visible;
    });
    count.textContent = words.length ? shown + " of " + total + " codes" : "";
    none.hidden = shown !== 0;
  }

  input.addEventListener("input", apply);
  input.addEventListener("keydown", function (e) {
    if (e.key === "Escape") {
      input.value = "";
      apply();
    }
  });
  apply();
})();

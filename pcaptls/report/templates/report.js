// Sorting and filtering for the connections table. The page reads fully without this script;
// it only adds these controls. No network, no eval, no HTML built from data (textContent only).
(function () {
  "use strict";
  var table = document.getElementById("conn-table");
  var controls = document.getElementById("table-controls");
  if (!table || !controls) { return; }
  // The rows sit in blocks (tables of 200 rows, laid out as they scroll into view); a sort
  // deals them out again in the new order, each block keeping its size.
  var bodies = Array.prototype.slice.call(document.querySelectorAll("#conn-rows .chunk tbody"));
  var sizes = bodies.map(function (b) { return b.rows.length; });
  var rows = [];
  bodies.forEach(function (b) { rows.push.apply(rows, Array.prototype.slice.call(b.rows)); });
  var texts = rows.map(function (r) { return r.textContent.toLowerCase(); });
  var filter = document.getElementById("filter");
  var status = document.getElementById("status-filter");
  var shown = document.getElementById("shown");
  controls.hidden = false;

  function apply() {
    var q = filter.value.trim().toLowerCase();
    var s = status.value;
    var n = 0;
    for (var i = 0; i < rows.length; i++) {
      var r = rows[i];
      var ok = (!q || texts[i].indexOf(q) !== -1) &&
        (!s || (s === "bad" ? r.classList.contains("bad") : r.getAttribute("data-status") === s));
      r.hidden = !ok;
      if (ok) { n++; }
    }
    // A block with nothing to show goes, so the shown rows close up.
    bodies.forEach(function (b) {
      var any = false;
      for (var j = 0; j < b.rows.length && !any; j++) { any = !b.rows[j].hidden; }
      b.parentNode.parentNode.hidden = !any;
    });
    shown.textContent = n + " of " + rows.length + " shown";
  }
  filter.addEventListener("input", apply);
  status.addEventListener("change", apply);

  var collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });
  var heads = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(heads, function (th, col) {
    th.classList.add("sortable");
    th.tabIndex = 0;
    function sort() {
      var asc = th.getAttribute("aria-sort") !== "ascending";
      Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      var keyed = rows.map(function (r, i) { return [r.cells[col].textContent, i]; });
      keyed.sort(function (a, b) { return (asc ? 1 : -1) * collator.compare(a[0], b[0]) || a[1] - b[1]; });
      var newRows = [], newTexts = [];
      keyed.forEach(function (k) { newRows.push(rows[k[1]]); newTexts.push(texts[k[1]]); });
      rows = newRows;
      texts = newTexts;
      var at = 0;
      bodies.forEach(function (b, n) {
        var frag = document.createDocumentFragment();
        for (var i = 0; i < sizes[n]; i++) { frag.appendChild(rows[at++]); }
        b.appendChild(frag);
      });
      apply();
    }
    th.addEventListener("click", sort);
    th.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); } });
  });
  shown.textContent = rows.length + " of " + rows.length + " shown";
}());

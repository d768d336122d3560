/* harness static site: sortable tables and the instance filter. Vanilla JS, works from file://.
   The pages are complete without it; this only adds sorting and filtering. */
(function () {
  "use strict";
  document.documentElement.classList.remove("no-js");
  document.documentElement.classList.add("js");

  // ---- sortable tables: cells carry data-value (numbers or text); an empty value always sorts last.
  function cellValue(row, index, numeric) {
    var cell = row.cells[index];
    if (!cell) return null;
    var raw = cell.hasAttribute("data-value") ? cell.getAttribute("data-value") : cell.textContent.trim();
    if (raw === "") return null;
    if (!numeric) return raw.toLowerCase();
    var v = parseFloat(raw);
    return isFinite(v) ? v : null;
  }

  function sortTable(table, th) {
    var headers = Array.prototype.slice.call(th.parentNode.cells);
    var index = headers.indexOf(th);
    var numeric = th.getAttribute("data-sort") === "num";
    var current = th.getAttribute("aria-sort");
    // First click puts the best first: descending for numbers, ascending where lower is better or for text.
    var firstAsc = !numeric || th.getAttribute("data-lower") === "1";
    var asc = current ? current === "descending" : firstAsc;
    headers.forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows).map(function (row, i) {
      return { row: row, key: cellValue(row, index, numeric), i: i };
    });
    rows.sort(function (a, b) {
      if (a.key === null || b.key === null) {
        return a.key === b.key ? a.i - b.i : a.key === null ? 1 : -1;
      }
      var c = a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
      return (asc ? c : -c) || a.i - b.i;
    });
    var frag = document.createDocumentFragment();
    rows.forEach(function (r) { frag.appendChild(r.row); });
    body.appendChild(frag);
    updateIndicators(table);
  }

  function updateIndicators(table) {
    table.querySelectorAll("th[data-sort]").forEach(function (th) {
      var ind = th.querySelector(".sort-ind");
      var s = th.getAttribute("aria-sort");
      ind.textContent = s === "ascending" ? "▲" : s === "descending" ? "▼" : "↕";
    });
  }

  function initSortable(table) {
    if (!table.tHead || !table.tBodies.length) return;
    table.querySelectorAll("thead th[data-sort]").forEach(function (th) {
      var ind = document.createElement("span");
      ind.className = "sort-ind";
      ind.setAttribute("aria-hidden", "true");
      (th.querySelector(".metric") || th).appendChild(ind); // beside the label, not on a line of its own
      th.tabIndex = 0;
      th.title = th.title || "click to sort";
      th.addEventListener("click", function (e) {
        if (e.target.closest("a")) return; // header links (scenario pages) navigate, they do not sort
        sortTable(table, th);
      });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortTable(table, th); }
      });
    });
    updateIndicators(table);
    table.setAttribute("data-sortable-ready", "1");
  }

  // ---- instance filter: "only incorrect" reads data-main (the main metric's value) and data-error.
  function initFilter() {
    var list = document.querySelector(".inst-list");
    var box = document.getElementById("only-incorrect");
    var search = document.getElementById("search");
    if (!list || !search) return;
    var lower = list.getAttribute("data-lower") === "1";
    var onlyIncorrect = function () { return box !== null && box.checked; }; // no box where "correct" has no meaning
    var items = Array.prototype.slice.call(list.querySelectorAll("article.inst"));
    var texts = null; // lowercased text of each card, built on first search (prompts can be long)
    var shown = document.getElementById("shown");
    var none = document.querySelector(".none-shown");

    function incorrect(el) {
      if (el.getAttribute("data-error") === "1") return true;
      var v = parseFloat(el.getAttribute("data-main"));
      if (!isFinite(v)) return true; // not scored: cannot count as correct
      return lower ? v > 0 : v < 1;
    }

    function apply() {
      var q = search.value.trim().toLowerCase();
      if (q && !texts) texts = items.map(function (el) { return el.textContent.toLowerCase(); });
      var count = 0;
      items.forEach(function (el, i) {
        var ok = (!onlyIncorrect() || incorrect(el)) && (!q || texts[i].indexOf(q) !== -1);
        el.hidden = !ok;
        if (ok) count++;
      });
      shown.textContent = "showing " + count + " of " + items.length + " on this page";
      if (none) none.hidden = count !== 0;
      list.setAttribute("data-filter-ready", "1");
    }

    var timer = null;
    search.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(apply, 120); });
    if (box) box.addEventListener("change", apply);
    apply();
  }

  function init() {
    document.querySelectorAll("table.sortable").forEach(initSortable);
    initFilter();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();

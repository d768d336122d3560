/* harness static site: the leaderboard's filter, the run-wide instance search, the comparison picker, the batch-average
   latency label and the sticky bar's height. Runs after site.js (both deferred, in order), once the instance cards
   are drawn. Vanilla JS, works from file://; text goes in through textContent only. */
(function () {
  "use strict";

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  function fmtInt(n) { return Number(n).toLocaleString("en-US"); }

  // ---- the sticky filter bar's height, so that an instance linked to (#i12) is not hidden under it (site.css)
  function trackStickyHeight() {
    var bar = document.querySelector(".filters");
    if (!bar) return;
    var set = function () {
      document.documentElement.style.setProperty("--sticky-h", (bar.offsetHeight + 16) + "px");
    };
    set();
    window.addEventListener("resize", set);
    // site.js showed a linked instance before this ran: show it again, now below the bar
    var target = location.hash && document.getElementById(location.hash.slice(1));
    if (target && target.classList.contains("inst")) target.scrollIntoView();
  }

  // ---- latency on runs of a batching engine is the batch's time over its size: say so on each card
  function labelBatchLatency() {
    var list = document.querySelector(".inst-list");
    if (!list || list.getAttribute("data-batch-latency") !== "1") return;
    list.querySelectorAll(".stats dt").forEach(function (dt) {
      if (dt.textContent === "latency_s") {
        dt.textContent = "latency_s (batch average)";
        dt.title = "the engine answered a batch at once: its time divided by the batch's size";
      }
    });
  }

  // ---- search over every page of the run: runs/<run>/search.js (harness/site/search.py), loaded on first use
  function pageName(page) { return page === 1 ? "index.html" : "page-" + page + ".html"; }

  function initRunSearch() {
    var box = document.getElementById("run-search"), search = document.getElementById("search");
    if (!box || !search) return;
    var loading = false, timer = null;
    function show() {
      var q = search.value.trim().toLowerCase();
      var index = window.harnessRunIndex;
      while (box.firstChild) box.removeChild(box.firstChild);
      if (!q || !index) { box.hidden = true; return; }
      var here = location.pathname.split("/").pop() || "index.html";
      var hits = index.filter(function (it) {
        return pageName(it[1]) !== here && (it[2].toLowerCase().indexOf(q) !== -1 || it[3].toLowerCase().indexOf(q) !== -1);
      });
      box.hidden = false;
      box.appendChild(el("strong", null, hits.length ? "On other pages of this run: " + fmtInt(hits.length) + " match" + (hits.length === 1 ? "" : "es") : "No match on the run's other pages."));
      if (!hits.length) return;
      var ul = el("ul");
      hits.slice(0, 30).forEach(function (it) {
        var li = el("li"), a = el("a", null, "#" + fmtInt(it[0] + 1) + " " + it[2]);
        a.href = pageName(it[1]) + "#i" + it[0];
        li.appendChild(a);
        li.appendChild(el("span", "hint", " page " + it[1] + " · " + it[3].slice(0, 120)));
        ul.appendChild(li);
      });
      box.appendChild(ul);
      if (hits.length > 30) box.appendChild(el("p", "hint", "… and " + fmtInt(hits.length - 30) + " more; refine the search."));
    }
    search.addEventListener("input", function () {
      if (!window.harnessRunIndex && !loading) {
        loading = true;
        var s = document.createElement("script");
        s.src = box.getAttribute("data-index");
        s.onload = show;
        document.head.appendChild(s);
      }
      clearTimeout(timer);
      timer = setTimeout(show, 150);
    });
  }

  // ---- the leaderboard's filter: rows whose model matches, columns whose scenario group matches
  function initBoardFilter() {
    var input = document.getElementById("board-search");
    if (!input) return;
    var tables = Array.prototype.slice.call(document.querySelectorAll("table.board"));
    var shown = document.getElementById("board-shown");
    function apply() {
      var q = input.value.trim().toLowerCase(), rowsShown = 0, colsShown = 0;
      tables.forEach(function (table, t) {
        var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
        var groupCols = [];
        heads.forEach(function (th, i) { if (i >= 3) groupCols.push([i, th.querySelector("a") ? th.querySelector("a").textContent.toLowerCase() : ""]); });
        var colHit = q && groupCols.some(function (c) { return c[1].indexOf(q) !== -1; });
        var rows = Array.prototype.slice.call(table.tBodies[0].rows);
        var rowHit = q && rows.some(function (r) { return r.cells[1].textContent.toLowerCase().indexOf(q) !== -1; });
        rows.forEach(function (r) {
          var ok = !q || !rowHit || r.cells[1].textContent.toLowerCase().indexOf(q) !== -1;
          r.hidden = !ok;
          if (ok && t === 0) rowsShown++;
        });
        groupCols.forEach(function (c) {
          var ok = !q || !colHit || c[1].indexOf(q) !== -1;
          if (ok && t === 0) colsShown++;
          [table.tHead.rows[0]].concat(rows).forEach(function (r) { if (r.cells[c[0]]) r.cells[c[0]].hidden = !ok; });
        });
      });
      shown.textContent = q ? rowsShown + " models · " + colsShown + " scenario groups" : "";
    }
    var timer = null;
    input.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(apply, 100); });
  }

  // ---- the comparison index's picker: any two models' scores side by side, from the page's JSON
  function initPairPicker() {
    var data = document.getElementById("pick-data");
    if (!data) return;
    var d = JSON.parse(data.textContent), pa = document.getElementById("pick-a"), pb = document.getElementById("pick-b");
    var body = document.querySelector("#pick-table tbody"), link = document.getElementById("pick-page");
    function fmt(c) { return c ? c[0].toFixed(3) + " [" + c[1].toFixed(3) + ", " + c[2].toFixed(3) + "]" : "—"; }
    function draw() {
      var a = parseInt(pa.value, 10), b = parseInt(pb.value, 10);
      while (body.firstChild) body.removeChild(body.firstChild);
      d.groups.forEach(function (g, gi) {
        var ca = d.cells[gi][a], cb = d.cells[gi][b], tr = el("tr");
        tr.appendChild(el("th", "model", g[0] + " (" + g[1] + (g[2] ? ", lower is better" : "") + ")"));
        tr.appendChild(el("td", "num", fmt(ca)));
        tr.appendChild(el("td", "num", fmt(cb)));
        tr.appendChild(el("td", "num", ca && cb ? ((ca[0] - cb[0] >= 0 ? "+" : "") + (ca[0] - cb[0]).toFixed(3)) : "—"));
        body.appendChild(tr);
      });
      while (link.firstChild) link.removeChild(link.firstChild);
      var page = d.pages[a + "-" + b] || d.pages[b + "-" + a];
      if (page) {
        var an = el("a", null, "Instance-level comparison of this pair");
        an.href = page;
        link.appendChild(an);
      } else link.textContent = a === b ? "Pick two different models." : "This pair has no page of its own (only neighbours on the leaderboard do).";
    }
    pa.addEventListener("change", draw);
    pb.addEventListener("change", draw);
    draw();
  }

  function init() {
    trackStickyHeight();
    labelBatchLatency();
    initRunSearch();
    initBoardFilter();
    initPairPicker();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();

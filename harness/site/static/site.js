/* harness static site: sortable tables, the instance cards and their filter. Vanilla JS, works from file://.
   The leaderboard and group pages are complete without it. A run page carries its instances as JSON (see
   harness/site/runs.py) and this draws them, putting every text in through textContent: model outputs and dataset
   text are untrusted and never become markup. */
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


  // ---- instance cards, drawn from the page's JSON (keys: harness/site/runs.py, instance_data)
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  function fmtInt(n) { return Number(n).toLocaleString("en-US"); }

  // A text is a string, or [its first part, how many characters were left out].
  function textInto(parent, value) {
    if (Array.isArray(value)) {
      parent.appendChild(document.createTextNode(value[0]));
      parent.appendChild(el("span", "clipped", "… " + fmtInt(value[1]) + " more characters not shown"));
    } else {
      parent.appendChild(document.createTextNode(value || ""));
    }
    return parent;
  }

  function field(title, hint) {
    var f = el("div", "field"), h = el("h3", null, title);
    if (hint) h.appendChild(hint);
    f.appendChild(h);
    return f;
  }

  function headLink(d) {
    var a = el("a", null, d.head);
    a.href = "heads.html#" + d.head;
    return a;
  }

  function promptHint(d, after) {
    var hint = el("span", "hint", " " + fmtInt(d.promptChars) + " characters");
    if (d.head) {
      hint.appendChild(document.createTextNode(after ? ", after the shared head " : ""));
      hint.appendChild(headLink(d));
      hint.appendChild(document.createTextNode(" (" + fmtInt(d.headChars) + ")"));
    }
    return hint;
  }

  function card(d, ordinal, mainMetric) {
    var art = el("article", "inst state-" + d.state);
    art.id = "i" + ordinal;
    art.setAttribute("data-instance-id", d.id);
    if (d.main !== undefined && d.main !== null) art.setAttribute("data-main", String(d.main));
    if (d.error) art.setAttribute("data-error", "1");
    var head = el("header", "inst-head"), ord = el("a", "ord", "#" + fmtInt(ordinal + 1));
    ord.href = "#i" + ordinal;
    head.appendChild(ord);
    head.appendChild(el("span", "iid", d.id));
    if (d.mainText !== undefined) head.appendChild(el("span", "badge " + (d.badge || d.state), mainMetric + " " + d.mainText));
    if (d.fewshotDropped) {
      var fb = el("span", "badge warn", d.fewshotDropped + " few-shot dropped");
      fb.title = "few-shot examples dropped from the prompt to fit the context";
      head.appendChild(fb);
    }
    if (d.error) head.appendChild(el("span", "badge error", "error"));
    art.appendChild(head);
    if (d.tooLarge) {
      art.appendChild(el("p", "clipped", "This instance is too large to show (" + fmtInt(d.tooLarge) +
        " bytes of data even with long texts clipped): only its input and prediction are shown, shortened."));
    }
    var grid = el("div", "inst-grid");
    if (d.input === undefined) {
      var pf = field("Prompt as sent", promptHint(d, true));
      pf.appendChild(textInto(el("pre", "text code"), d.prompt));
      grid.appendChild(pf);
    } else {
      var inf = field("Input");
      inf.appendChild(textInto(el("div", "text"), d.input));
      grid.appendChild(inf);
    }
    if (!d.tooLarge) {
      var rf = field("References");
      if (d.refs.length) {
        var ul = el("ul", "refs");
        d.refs.forEach(function (r) {
          var li = textInto(el("li", r[1] ? "correct" : null), r[0]);
          if (r[1]) li.title = "correct";
          ul.appendChild(li);
        });
        rf.appendChild(ul);
        if (d.refsMore) rf.appendChild(el("p", "clipped", "… " + fmtInt(d.refsMore) + " more references not shown"));
      } else rf.appendChild(el("p", "na", "none"));
      grid.appendChild(rf);
    }
    var pr = field("Prediction");
    var prediction = d.predictionRef !== undefined ? d.refs[d.predictionRef][0] : d.prediction;
    pr.appendChild(textInto(el("div", "text code pred"), prediction));
    grid.appendChild(pr);
    if (!d.tooLarge) {
      var of = field(d.outputs.length === 1 ? "Output" : "Outputs");
      if (d.outputs.length === 1) of.appendChild(textInto(el("div", "text code output"), d.outputs[0]));
      else if (d.outputs.length) {
        var ol = el("ol", "outputs");
        d.outputs.forEach(function (o) { ol.appendChild(el("li")).appendChild(textInto(el("div", "text code"), o)); });
        of.appendChild(ol);
        if (d.outputsMore) of.appendChild(el("p", "clipped", "… " + fmtInt(d.outputsMore) + " more outputs not shown"));
      } else of.appendChild(el("p", "na", "none"));
      grid.appendChild(of);
    }
    art.appendChild(grid);
    if (d.input !== undefined && !d.tooLarge) {
      var det = el("details", "prompt"), sum = el("summary", null, "Prompt as sent ");
      sum.appendChild(promptHint(d, false));
      det.appendChild(sum);
      if (d.head) {
        var p = el("p", "hint", "shared head ");
        p.appendChild(headLink(d));
        p.appendChild(document.createTextNode(" (" + fmtInt(d.headChars) + " characters), then:"));
        det.appendChild(p);
      }
      det.appendChild(textInto(el("pre", "text code"), d.prompt));
      art.appendChild(det);
    }
    var stats = d.mainText !== undefined ? [[mainMetric, d.mainText, true]] : [];
    Object.keys(d.stats).forEach(function (k) { stats.push([k, d.stats[k], false]); });
    if (stats.length) {
      var dl = el("dl", "stats");
      stats.forEach(function (s) {
        dl.appendChild(el("dt", s[2] ? "main" : null, s[0]));
        dl.appendChild(el("dd", s[2] ? "main" : null, s[1]));
      });
      art.appendChild(dl);
    }
    if (d.error) {
      var box = el("div", "error-box");
      box.appendChild(el("strong", null, "Error"));
      box.appendChild(textInto(el("pre", "text code"), d.error));
      art.appendChild(box);
    }
    return art;
  }

  function drawInstances() {
    var list = document.querySelector(".inst-list"), data = document.getElementById("instances-data");
    if (!list || !data) return;
    var items = JSON.parse(data.textContent || "[]");
    var start = parseInt(list.getAttribute("data-start"), 10) || 0;
    var mainMetric = list.getAttribute("data-main-metric") || "";
    var frag = document.createDocumentFragment();
    items.forEach(function (d, i) { frag.appendChild(card(d, start + i, mainMetric)); });
    list.appendChild(frag);
    list.setAttribute("data-drawn", String(items.length));
    // The cards did not exist when the browser looked for #iN: show the one the address names now.
    var target = location.hash && document.getElementById(location.hash.slice(1));
    if (target && target.classList.contains("inst")) {
      target.classList.add("target");
      target.scrollIntoView();
    }
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
    drawInstances();
    initFilter();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();

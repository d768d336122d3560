"""Run pages: runs/<run>/index.html and page-N.html, streamed and bounded by size.

A page carries its instances as data (one JSON array in a <script type="application/json">) and site.js draws
each as a card: the same text as HTML cards at a little over half the bytes (a 1,000-instance MMLU run: 1.1 MB of
pages instead of 1.9), written in about half the time, since nothing is templated per instance. Text reaches the
page only through textContent, so model outputs and dataset text can never become markup.

A run may hold 100k instances, so nothing here keeps more than one page in memory: instances are packed into pages
until the next one would pass PAGE_BYTES or PAGE_INSTANCES. The page count is known only at the end, so pages are
written with blank room that the pagers overwrite in place.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import jinja2
import orjson
from markupsafe import Markup

from harness.report import InstanceView, Report, RunInfo
from harness.site.format import FIELD_CHARS, clip, fmt_stat
from harness.site.perturbed import has_perturbations, interleave
from harness.site.search import RunIndex

PAGE_BYTES = 900_000  # start a new page before passing this: headroom under the 1 MB promise
PAGE_INSTANCES = 200  # ... or at this many instances, so a page stays quick to scroll and filter
LIST_ITEMS = 100  # references / outputs shown per instance
STUB_CHARS = 2000  # what a stub (an instance too large for a page) keeps of its input and prediction
# A marker only we insert, where a page's data goes: autoescape turns every '<' of the page's text into '&lt;'.
CUT = "<!--harness:cut-->"
# Blank room for a pager, overwritten in place once the page count is known (a pager is ~1.5 KB).
PAGER_SLOT = "<!--harness:pager-->".ljust(4096)
SLOT_BYTES = PAGER_SLOT.encode()
BATCH = 256  # instances read per step


def _find_all(data: bytes, part: bytes) -> list[int]:
    """Offsets of every `part` in `data` (a plain search: a regex of the 4 KB slot took ~0.1 s to compile)."""
    found, i = [], data.find(part)
    while i != -1:
        found.append(i)
        i = data.find(part, i + len(part))
    return found


def _text(value: Any, limit: int = FIELD_CHARS) -> str | list[Any]:
    """A text for the page: whole, or [its first `limit` characters, how many more] (a 5 MB prompt must not break a
    page; the card says how much is left out)."""
    s = "" if value is None else str(value)
    return s if len(s) <= limit else [s[:limit], len(s) - limit]


def instance_data(inst: InstanceView, main_metric: str, lower: bool, limit: int = FIELD_CHARS) -> dict[str, Any]:
    """One instance as its card's data (site.js draws it). Keys are short, and empty fields left out, as every
    instance of a run carries them."""
    main = inst.stats.get(main_metric)
    if main is None or not math.isfinite(main) or lower:
        badge = "none"  # lower-is-better metrics (perplexity, ...) have no notion of "correct"
    else:
        badge = "ok" if main >= 1 else "bad" if main <= 0 else "partial"
    shown = inst.prompt[inst.prompt_head_chars:]
    item: dict[str, Any] = {"id": inst.instance_id, "state": "error" if inst.error else badge}
    if inst.error:
        item["badge"] = badge  # otherwise the badge's colour is the state's
        item["error"] = _text(inst.error, 5000)
    if main is not None:
        item["main"] = main if math.isfinite(main) else None  # JSON has no NaN
        item["mainText"] = fmt_stat(main_metric, main)
    if inst.fewshot_dropped:
        item["fewshotDropped"] = inst.fewshot_dropped
    # The shown prompt (what follows its shared head) mostly holds the input word for word: then the card shows the
    # prompt in the input's place, once, instead of the input and the prompt again.
    if not (inst.input and inst.input in shown):
        item["input"] = _text(inst.input, limit)
    item["prompt"] = _text(shown, limit)
    item["promptChars"] = len(inst.prompt)
    if inst.prompt_head:
        item["head"] = head_anchor(inst.prompt_head)
        item["headChars"] = inst.prompt_head_chars
    item["refs"] = [[_text(output, min(limit, 10_000)), int(bool(correct))] for output, correct in inst.references[:LIST_ITEMS]]
    if len(inst.references) > LIST_ITEMS:
        item["refsMore"] = len(inst.references) - LIST_ITEMS
    # A multiple-choice prediction is one of the references: point at it rather than repeat its text.
    picked = next((i for i, (output, _) in enumerate(inst.references[:LIST_ITEMS]) if output == inst.prediction), None)
    if picked is not None and inst.prediction and len(inst.prediction) <= limit:
        item["predictionRef"] = picked
    else:
        item["prediction"] = _text(inst.prediction, limit)
    item["outputs"] = [_text(o, limit) for o in inst.outputs[:LIST_ITEMS]]
    if len(inst.outputs) > LIST_ITEMS:
        item["outputsMore"] = len(inst.outputs) - LIST_ITEMS
    # The main metric leads the card in its badge; the rest in name order.
    item["stats"] = {k: fmt_stat(k, v) for k, v in sorted(inst.stats.items()) if k != main_metric and not k.startswith("_")}
    return item


def judgments_by_instance(report: Report, run: RunInfo, limit: int = FIELD_CHARS) -> dict[str, list[dict[str, Any]]]:
    """instance id -> the judges' verdicts on its answers in this run (harness.judging), as its card shows them."""
    rows = report.judging.examples.get(run.run_id, []) if report.judging else []
    models = {r.run_id: r.model for r in report.runs}
    out: dict[str, list[dict[str, Any]]] = {}
    for j in sorted(rows, key=lambda r: (r["judge"], r["rubric"], r["turn"], r["other_run_id"], r["ordering"])):
        other = j["other_run_id"] if j["other_run_id"] != run.run_id else j["run_id"]
        out.setdefault(j["instance_id"], []).append({
            "judge": j["judge"], "rubric": j["rubric"], "turn": j["turn"], "order": j["ordering"],
            "other": models.get(other, other) if j["other_run_id"] else "", "verdict": j["verdict"],
            "error": _text(j["parse_error"], 500) if j["parse_error"] else "", "self": bool(j["self_judged"]),
            "prompt": _text(j.get("prompt", ""), limit), "reply": None if j["reply"] is None else _text(j["reply"], limit)})
    return out


def encode(item: dict[str, Any]) -> bytes:
    """JSON that is safe inside <script>: no '<' (so no </script> or <!--), and compact."""
    data = orjson.dumps(item)
    # A copy of exactly its size: orjson's bytes keep their whole growth buffer (~32 KB), and a page holds 200.
    return data.replace(b"<", b"\\u003c") if b"<" in data else memoryview(data).tobytes()


def stub_data(inst: InstanceView, main_metric: str, lower: bool, nbytes: int) -> dict[str, Any]:
    """A stand-in for an instance whose data would not fit a page even clipped (hundreds of huge outputs)."""
    item = instance_data(inst, main_metric, lower, STUB_CHARS)
    item.update(refs=[], outputs=[], prompt="", input=_text(inst.input, STUB_CHARS), tooLarge=nbytes)
    item["stats"] = dict(list(item["stats"].items())[:50])
    if "predictionRef" in item:  # the references are left out
        item["prediction"] = _text(inst.prediction, STUB_CHARS)
        del item["predictionRef"]
    return item


def head_anchor(digest: str) -> str:
    return "h" + digest[:12]


def write_heads(env: jinja2.Environment, report: Report, run: RunInfo, run_dir: Path, used: dict[str, int]) -> None:
    """heads.html: each shared prompt head of the run once, with how many of its instances' prompts start with it."""
    texts = report.texts(list(used)) if used and report.texts else {}
    heads = [(head_anchor(h), clip(texts.get(h, ""), 200_000), f"{len(texts.get(h, '')):,}", used[h]) for h in used]
    html = env.get_template("heads.html").render(root="../../", run=run, heads=heads)
    (run_dir / "heads.html").write_text(html, encoding="utf-8")


def pager_items(page: int, pages: int) -> list[int | None]:
    """Page numbers around the current one, None where a gap (…) goes: 1 … 4 5 [6] 7 8 … 15."""
    keep = sorted({1, pages, *range(max(1, page - 2), min(pages, page + 2) + 1)})
    items: list[int | None] = []
    for p in keep:
        if items and p - (items[-1] or 0) > 1:
            items.append(None)
        items.append(p)
    return items


def page_name(page: int) -> str:
    return "index.html" if page == 1 else f"page-{page}.html"


def write_run(env: jinja2.Environment, report: Report, run: RunInfo, run_dir: Path,
              extra: dict[str, Any] | None = None) -> int:
    """Write the run's pages into run_dir, and its search index (harness.site.search); returns the number of pages.
    `extra`: more context for the run template (harness.site.build: the reproduce box, the latency label)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    for stale in run_dir.glob("page-*.html"):  # left by an earlier build that had more pages
        stale.unlink()
    page_tpl = env.get_template("run.html")
    main_score = run.scores.get(run.main_metric)
    lower = bool(main_score and main_score.lower_is_better)
    scores = sorted((s for s in run.scores.values() if not s.metric.startswith("_")),  # not counts
                    key=lambda s: (s.metric != run.main_metric, s.metric))
    base = {"root": "../../", "run": run, "scores": scores, "lower": lower, "pager": Markup(PAGER_SLOT), **(extra or {})}

    def shell(page: int, count: int, start: int) -> tuple[bytes, bytes]:
        """The page around its instances' data, as the bytes before and after it."""
        html = page_tpl.render(**base, page=page, count=count, start=start, instances_data=Markup(CUT)).encode()
        head, _, tail = html.partition(CUT.encode())
        return head, tail

    # What a page costs without instances; page 1 also carries the run's info, scores and adapter spec.
    budget = {first: PAGE_BYTES - sum(map(len, shell(1 if first else 2, 1, 0))) for first in (True, False)}
    pages: list[tuple[Path, int, int, list[int]]] = []  # (file, first ordinal, instance count, pager offsets)
    fragments: list[bytes] = []
    size = seen = 0  # seen: instances put on pages so far

    def flush() -> None:
        path = run_dir / page_name(len(pages) + 1)
        head, tail = shell(len(pages) + 1, len(fragments), seen - len(fragments))
        body = b"[" + b",".join(fragments) + b"]"
        with path.open("wb") as f:  # bytes as counted: no second encoding, no newline translation
            f.write(head)
            f.write(body)
            f.write(tail)
        offsets = _find_all(head, SLOT_BYTES) + [len(head) + len(body) + i for i in _find_all(tail, SLOT_BYTES)]
        pages.append((path, seen - len(fragments), len(fragments), offsets))

    # A run whose instances were not stored still gets its page (info and scores), with none listed.
    instances = report.iter_instances(run.run_id) if run.run_id in report.instances else iter(())
    judged = judgments_by_instance(report, run)
    if has_perturbations(run):
        instances = interleave(instances)
    index = RunIndex()
    used_heads: dict[str, int] = {}
    while batch := list(itertools.islice(instances, BATCH)):
        for inst in batch:
            if inst.prompt_head:
                used_heads[inst.prompt_head] = used_heads.get(inst.prompt_head, 0) + 1
            item = instance_data(inst, run.main_metric, lower)
            if inst.instance_id in judged:
                item["judgments"] = judged[inst.instance_id]
            data = encode(item)
            limit = budget[not pages] - 2  # the array's brackets
            if len(data) > limit:  # shown as a stub rather than break the page
                data = encode(stub_data(inst, run.main_metric, lower, len(data)))
            if fragments and (size + len(data) + 1 > limit or len(fragments) >= PAGE_INSTANCES):
                flush()
                fragments, size = [], 0
            fragments.append(data)
            size += len(data) + 1  # and its comma
            index.add(seen, len(pages) + 1, inst)
            seen += 1
    flush()  # the last page; also page 1 of a run without instances
    write_heads(env, report, run, run_dir, used_heads)
    index.write(run_dir)

    # The page count is known only now: write each pager over the blank slot kept for it, in place.
    pager_tpl = env.get_template("_pager.html")
    for page, (path, start, count, offsets) in enumerate(pages, 1):
        pager = pager_tpl.render(
            page=page, pages=len(pages), start=start, count=count, total=seen,
            items=pager_items(page, len(pages)), href=page_name,
        ).encode()
        if len(pager) > len(PAGER_SLOT):  # cannot happen (the pager shows at most 9 numbers): fail loudly
            raise ValueError(f"pager of {len(pager)} bytes does not fit its {len(PAGER_SLOT)}-byte slot")
        with path.open("r+b") as f:
            for offset in offsets:
                f.seek(offset)
                f.write(pager.ljust(len(PAGER_SLOT)))
    return len(pages)

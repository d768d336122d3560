"""Run pages: runs/<run>/index.html and page-N.html, streamed and bounded by size.

A run may hold 100k instances, so nothing here keeps more than one page in memory: one Jinja render
streams over the instance iterator, each instance's HTML is cut out of the stream at a marker, and
instances are packed into pages until the next one would pass PAGE_BYTES or PAGE_INSTANCES. The page
count is known only at the end, so pages are written with blank room that the pagers overwrite in place.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from dataclasses import dataclass
from pathlib import Path

import jinja2
from markupsafe import Markup, escape

from harness.report import InstanceView, Report, RunInfo
from harness.site.format import clip, fmt_stat

PAGE_BYTES = 900_000  # start a new page before passing this: headroom under the 1 MB promise
PAGE_INSTANCES = 200  # ... or at this many instances, so a page stays quick to scroll and filter
LIST_ITEMS = 100  # references / outputs shown per instance
# Markers only we insert: data cannot produce them, as autoescape turns every '<' into '&lt;'.
CUT = "<!--harness:cut-->"  # where one instance's HTML ends (and where a page's instances go)
# Blank room for a pager, overwritten in place once the page count is known (a pager is ~1.5 KB).
PAGER_SLOT = "<!--harness:pager-->".ljust(4096)
BATCH = 32  # instances rendered per template call
_MAIN = ' class="main"'


@dataclass(slots=True)
class Row:
    """One instance prepared for the template, so that the template only prints (calling methods and filters
    from the template on the raw InstanceView was ~3x slower). Texts come from clip(): plain str that
    autoescape escapes, or, when clipped, already escaped Markup."""

    ordinal: int
    label: str  # "#1,234"
    iid: str
    state: str  # ok / bad / partial / none / error: the card's colour
    badge: str  # the same for the main metric's badge, leaving errors out
    main: str  # the main metric's value for data-main ("" if the instance has none)
    main_label: str
    error: str
    fewshot_dropped: int
    input: str
    refs: list[tuple[bool, str]]
    refs_more: int
    prediction: str
    outputs: list[str]
    outputs_more: int
    prompt: str  # what follows the shared head, or the whole prompt when it has none
    prompt_chars: str
    head: str  # anchor of the prompt's shared head on the run's heads.html ("" if none)
    head_chars: str
    stats: list[tuple[str, str, bool]]  # (metric, formatted value, is the main metric)
    too_large: str = ""  # bytes of HTML, when the instance is shown as a stub
    # The shown prompt (what follows its shared head) holds the input word for word, as it mostly does: the card
    # shows the prompt in the input's place, once, instead of the input and then the prompt again (a third of a
    # 1,000-instance MMLU site).
    input_in_prompt: bool = False
    stats_html: Markup = Markup("")  # `stats` as <dt>..</dt><dd>..</dd> pairs

    def __post_init__(self) -> None:
        # Built here rather than by a template loop: a dozen fewer template operations per instance, which add up
        # to a quarter of a 10,000-instance run's site build.
        self.stats_html = Markup("".join(
            f'<dt{_MAIN if main else ""}>{escape(k)}</dt><dd{_MAIN if main else ""}>{escape(v)}</dd>'
            for k, v, main in self.stats))


def make_row(inst: InstanceView, ordinal: int, main_metric: str, lower: bool) -> Row:
    main = inst.stats.get(main_metric)
    if main is None or not math.isfinite(main) or lower:
        badge = "none"  # lower-is-better metrics (perplexity, ...) have no notion of "correct"
    else:
        badge = "ok" if main >= 1 else "bad" if main <= 0 else "partial"
    refs = [(bool(r.get("correct")), clip(r.get("output", ""), 10_000)) for r in inst.references[:LIST_ITEMS]]
    stats = [(k, fmt_stat(k, v), k == main_metric) for k, v in inst.stats.items() if not k.startswith("_")]
    stats.sort(key=lambda s: (not s[2], s[0]))
    shown_prompt = clip(inst.prompt[inst.prompt_head_chars:])
    return Row(
        ordinal=ordinal, label=f"#{ordinal + 1:,}", iid=inst.instance_id,
        state="error" if inst.error else badge, badge=badge, main="" if main is None else repr(main),
        main_label="" if main is None else f"{main_metric} {fmt_stat(main_metric, main)}",
        error=clip(inst.error, 5000) if inst.error else "", fewshot_dropped=inst.fewshot_dropped,
        input=clip(inst.input), refs=refs, refs_more=max(0, len(inst.references) - LIST_ITEMS),
        prediction=clip(inst.prediction), outputs=[clip(o) for o in inst.outputs[:LIST_ITEMS]],
        outputs_more=max(0, len(inst.outputs) - LIST_ITEMS), prompt=shown_prompt,
        input_in_prompt=bool(inst.input) and inst.input in shown_prompt,
        prompt_chars=f"{len(inst.prompt):,}", stats=stats,
        head=head_anchor(inst.prompt_head) if inst.prompt_head else "", head_chars=f"{inst.prompt_head_chars:,}",
    )


def head_anchor(digest: str) -> str:
    return "h" + digest[:12]


def write_heads(env: jinja2.Environment, report: Report, run: RunInfo, run_dir: Path, used: dict[str, int]) -> None:
    """heads.html: each shared prompt head of the run once, with how many of its instances' prompts start with it."""
    texts = report.texts(list(used)) if used and report.texts else {}
    heads = [(head_anchor(h), clip(texts.get(h, ""), 200_000), f"{len(texts.get(h, '')):,}", used[h]) for h in used]
    html = env.get_template("heads.html").render(root="../../", run=run, heads=heads)
    (run_dir / "heads.html").write_text(html, encoding="utf-8")


def stub_row(row: Row, inst: InstanceView, nbytes: int) -> Row:
    """A stand-in for an instance whose HTML would not fit a page even clipped (hundreds of huge outputs)."""
    return dataclasses.replace(
        row, input=clip(inst.input, 2000), prediction=clip(inst.prediction, 2000), refs=[], outputs=[],
        prompt="", stats=row.stats[:50], too_large=f"{nbytes:,}",
    )


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


def write_run(env: jinja2.Environment, report: Report, run: RunInfo, run_dir: Path) -> int:
    """Write the run's pages into run_dir; returns the number of pages."""
    run_dir.mkdir(parents=True, exist_ok=True)
    for stale in run_dir.glob("page-*.html"):  # left by an earlier build that had more pages
        stale.unlink()
    page_tpl, inst_tpl = env.get_template("run.html"), env.get_template("_instances.html")
    main_score = run.scores.get(run.main_metric)
    lower = bool(main_score and main_score.lower_is_better)
    scores = sorted((s for s in run.scores.values() if not s.metric.startswith("_")),  # not counts
                    key=lambda s: (s.metric != run.main_metric, s.metric))
    base = {"root": "../../", "run": run, "scores": scores, "lower": lower, "pager": Markup(PAGER_SLOT)}

    def shell(page: int, count: int) -> tuple[bytes, bytes]:
        """The page around its instances, as the bytes before and after them."""
        html = page_tpl.render(**base, page=page, count=count, instances_html=Markup(CUT)).encode()
        head, _, tail = html.partition(CUT.encode())
        return head, tail

    # What a page costs without instances; page 1 also carries the run's info, scores and adapter spec.
    budget = {first: PAGE_BYTES - sum(map(len, shell(1 if first else 2, 1))) for first in (True, False)}
    pages: list[tuple[Path, int, int, list[int]]] = []  # (file, first ordinal, instance count, pager offsets)
    fragments: list[bytes] = []
    size = seen = 0  # seen: instances put on pages so far

    def flush() -> None:
        path = run_dir / page_name(len(pages) + 1)
        head, tail = shell(len(pages) + 1, len(fragments))
        with path.open("wb") as f:  # bytes as counted: no second encoding, no newline translation
            f.write(head)
            f.writelines(fragments)
            f.write(tail)
        offsets = [m.start() for m in re.finditer(re.escape(PAGER_SLOT.encode()), head)]
        offsets += [len(head) + size + m.start() for m in re.finditer(re.escape(PAGER_SLOT.encode()), tail)]
        pages.append((path, seen - len(fragments), len(fragments), offsets))

    # A run whose instances were not stored still gets its page (info and scores), with none listed.
    instances = report.iter_instances(run.run_id) if run.run_id in report.instances else iter(())
    ordinal = 0
    used_heads: dict[str, int] = {}
    while batch := list(itertools.islice(instances, BATCH)):
        for inst in batch:
            if inst.prompt_head:
                used_heads[inst.prompt_head] = used_heads.get(inst.prompt_head, 0) + 1
        rows = [make_row(inst, ordinal + i, run.main_metric, lower) for i, inst in enumerate(batch)]
        ordinal += len(batch)
        # One render per batch, cut apart at the markers: far cheaper than a render per instance.
        frags = inst_tpl.render(rows=rows, cut=Markup(CUT)).split(CUT)[:-1]
        for inst, row, frag in zip(batch, rows, frags, strict=True):
            data = frag.encode()
            limit = budget[not pages]
            if len(data) > limit:  # shown as a stub rather than break the page
                data = inst_tpl.render(rows=[stub_row(row, inst, len(data))], cut="").encode()
            if fragments and (size + len(data) > limit or len(fragments) >= PAGE_INSTANCES):
                flush()
                fragments, size = [], 0
            fragments.append(data)
            size += len(data)
            seen += 1
    flush()  # the last page; also page 1 of a run without instances
    write_heads(env, report, run, run_dir, used_heads)

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

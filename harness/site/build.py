"""Render a Report into a static site.

Layout: index.html (the leaderboard), groups/<group>.html, runs/<run>/index.html and runs/<run>/page-N.html.
Every link is relative, so the site works opened from disk (file://) and through any web server.
All text goes through Jinja2 with autoescape on: model outputs and dataset text are untrusted.
Run pages (harness.site.runs) are streamed into pages bounded by size, so a 100k-instance run never sits
in memory and no page grows past ~1 MB. Formatting filters live in harness.site.format.
"""

from __future__ import annotations

import math
import os
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import jinja2

import harness
from harness.cache import cache_folder
from harness.format_sensitivity import site_context
from harness.names import slug, visible
from harness.report import Leaderboard, PairedComparison, Report, RunInfo, Score
from harness.site.format import ci_title, clip, fmt_num, fmt_pm, pretty
from harness.site.judging import BT_METRIC, judging_context
from harness.site.incremental import Manifest, code_key, run_key
from harness.site.latency import batch_averaged
from harness.site.models import compare_href, comparison_pairs, model_href
from harness.site.pages import metric_help, write_extra_pages
from harness.site.reproduce import reproduce_context
from harness.site.runs import PAGE_BYTES, PAGE_INSTANCES, write_run

__all__ = ["PAGE_BYTES", "PAGE_INSTANCES", "build_site", "fmt_num", "group_href", "run_href", "slug", "web_dir"]


def web_dir() -> Path:
    """The templates + static files: package data beside this module (templates/, static/), or $HARNESS_WEB_DIR."""
    override = os.environ.get("HARNESS_WEB_DIR")
    return Path(override) if override else Path(__file__).resolve().parent


def run_href(run_id: str) -> str:
    return f"runs/{slug(run_id)}/index.html"


def group_href(group: str) -> str:
    return f"groups/{slug(group)}.html"


class _TemplateCache(jinja2.FileSystemBytecodeCache):
    """Compiled templates kept between commands (keyed by each template's source, so an edited one compiles
    again): compiling them all took ~0.1 s of every site build. A cache that cannot be written is only skipped."""

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except Exception:  # unreadable, or half written by a process that was killed (pickle, marshal errors)
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


def _template_cache() -> jinja2.BytecodeCache | None:
    folder = cache_folder("templates")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return _TemplateCache(str(folder))


def make_env(templates: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates)),
        bytecode_cache=_template_cache(),
        autoescape=True,  # everything: model names, outputs, dataset text, adapter instructions
        undefined=jinja2.StrictUndefined,  # a typo in a template fails the build instead of rendering blank
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # `name`: every name from a suite, models file or the store (model, group, scenario, suite), so that a control
    # character in one (U+202E reverses the text after it) shows as an escape instead of acting (harness.names).
    env.filters.update(num=fmt_num, pm=fmt_pm, ci=ci_title, clip=clip, slug=slug, pretty=pretty, name=visible)
    env.globals.update(run_href=run_href, group_href=group_href, version=harness.__version__,
                       model_href=model_href, compare_href=compare_href, metric_help=metric_help)
    return env


_ENVS: dict[Path, jinja2.Environment] = {}


def site_env(templates: Path | None = None) -> jinja2.Environment:
    """The environment with every template compiled, made once per process and template folder. Compiling is most
    of a small site's build time, so `harness run` calls this in the background while requests are in flight."""
    templates = templates or web_dir() / "templates"
    env = _ENVS.get(templates)
    if env is None:
        env = make_env(templates)
        for name in env.list_templates(extensions=["html"]):
            env.get_template(name)
        _ENVS[templates] = env
    return env


# ---------------------------------------------------------------- pages


def build_site(report: Report, out_dir: Path) -> Path:
    """Write the whole site into out_dir; returns the path of index.html."""
    out_dir = Path(out_dir)
    web = web_dir()
    env = site_env(web / "templates")
    env.globals.update(suite=report.suite, created_at=report.created_at)
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(web / "static", out_dir / "static", dirs_exist_ok=True)

    # A Bradley–Terry column (harness.judging) is no scenario group: it links to the judging page instead.
    groups: dict[str, list[RunInfo]] = {c.group: [] for c in report.leaderboard.columns if c.metric != BT_METRIC}
    cell_runs: dict[tuple[str, str], list[RunInfo]] = defaultdict(list)
    for run in report.runs:
        groups.setdefault(run.group, []).append(run)
        cell_runs[(run.model, run.group)].append(run)

    index = out_dir / "index.html"
    _write(index, env.get_template("index.html").render(root="", **_index_context(report, groups, cell_runs)))
    (out_dir / "groups").mkdir(exist_ok=True)
    group_tpl = env.get_template("group.html")
    for group, runs in groups.items():
        ctx = _group_context(report, group, runs)
        _write(out_dir / group_href(group), group_tpl.render(root="../", **ctx))
    # Run pages (and comparison pages) are rewritten only when what they show changed (harness.site.incremental).
    manifest = Manifest(out_dir, code_key(web))
    batched = batch_averaged(report.runs)
    for run in report.runs:
        key = run_key(run, report.suite, batched[run.run_id], run.record)
        if manifest.fresh(f"run:{run.run_id}", key, out_dir / run_href(run.run_id)):
            continue
        extra = {"repro": reproduce_context(run, report.suite), "batched_latency": batched[run.run_id]}
        write_run(env, report, run, out_dir / "runs" / slug(run.run_id), extra)
    order = _model_order(report)
    ordered = sorted(order, key=order.__getitem__)
    write_extra_pages(env, report, out_dir, ordered, comparison_pairs(ordered), cell_runs, batched, manifest)
    manifest.save()
    if report.judging:
        _write(out_dir / "judging.html", env.get_template("judging.html").render(root="", **judging_context(report)))
    from harness.export import write_table_files  # leaderboard.csv/.json, groups/<group>.csv/.json

    write_table_files(report, out_dir)
    return index


def _write(path: Path, html: str) -> None:
    path.write_text(html, encoding="utf-8", newline="\n")


def _win_rate(report: Report, model: str) -> float | None:
    wr = report.leaderboard.win_rates.get(model)
    return None if wr is None or math.isnan(wr) else wr  # NaN would sort anywhere: treat it as missing


def _model_order(report: Report) -> dict[str, int]:
    """Models by mean win rate, best first; models without one last, in their given order."""
    lb = report.leaderboard
    models = list(dict.fromkeys([*lb.models, *(r.model for r in report.runs)]))

    def key(i: int) -> tuple[bool, float, int]:
        wr = _win_rate(report, models[i])
        return (wr is None, -(wr or 0.0), i)

    return {models[i]: pos for pos, i in enumerate(sorted(range(len(models)), key=key))}


def _bar(score: Score, lo: float, hi: float) -> dict[str, float] | None:
    """Where the CI sits on the column's shared scale (percentages), so overlaps show at a glance."""
    span = hi - lo
    vals = (score.ci_low, score.ci_high, score.mean)
    if not (span > 0 and all(math.isfinite(v) for v in (*vals, lo, hi))):
        return None

    def pct(v: float) -> float:
        return round(min(100.0, max(0.0, (v - lo) / span * 100)), 1)

    left = pct(score.ci_low)
    return {"left": left, "width": max(pct(score.ci_high) - left, 0.8), "mark": pct(score.mean)}


def _cell_href(model: str, group: str, runs: list[RunInfo]) -> str:
    """One run: link it. Several (e.g. one per subject): the model's rows on the group page."""
    if len(runs) == 1:
        return run_href(runs[0].run_id)
    return f"{group_href(group)}#m-{slug(model)}" if runs else group_href(group)


def _board_context(report: Report, lb: Leaderboard, cell_runs: dict[tuple[str, str], list[RunInfo]]) -> dict[str, Any]:
    """Columns (with a shared CI scale each) and rows, best mean win rate first, of one leaderboard table."""
    wins = {m: (None if w is None or math.isnan(w) else w) for m, w in lb.win_rates.items()}
    models = sorted(lb.models, key=lambda m: (wins.get(m) is None, -(wins.get(m) or 0.0), lb.models.index(m)))
    columns: list[dict[str, Any]] = []
    for col in lb.columns:
        scores = [s for (_, g), s in lb.cells.items() if g == col.group]
        lows = [s.ci_low for s in scores if math.isfinite(s.ci_low)]
        highs = [s.ci_high for s in scores if math.isfinite(s.ci_high)]
        # one scale per column, so the CI bars of a column can be compared by eye
        scale = (min(lows), max(highs)) if lows and highs else (0.0, 0.0)
        columns.append({"col": col, "scale": scale})
    rows = []
    for rank, model in enumerate(models, 1):
        wr = wins.get(model)
        cells = []
        for c in columns:
            group = c["col"].group
            score = lb.cells.get((model, group))
            runs = cell_runs.get((model, group), [])
            href = _cell_href(model, group, runs) if (runs or score) else None
            if c["col"].metric == BT_METRIC:
                href = f"judging.html#arena-{slug(group)}"
            cells.append({
                "score": score, "href": href, "bar": _bar(score, *c["scale"]) if score else None,
                "mark": lb.marks.get((model, group)),
            })
        rows.append({
            "model": model, "rank": rank if wr is not None else None, "win_rate": wr,
            "failed": lb.failed_requests.get(model, 0), "cells": cells, "ranks": lb.ranks.get(model),
        })
    # "above next" holds only for the row below as ranked (harness.rank_intervals); rows are shown in that order
    for row, below in zip(rows, [*rows[1:], None]):
        ranks = row["ranks"]
        row["apart"] = (None if ranks is None or ranks.above_next is None or below is None
                        or ranks.next_model != below["model"] else ranks.above_next)
    return {"columns": columns, "rows": rows, "has_ranks": bool(lb.ranks)}


def _index_context(
    report: Report, groups: dict[str, list[RunInfo]], cell_runs: dict[tuple[str, str], list[RunInfo]]
) -> dict[str, Any]:
    lb = report.leaderboard
    board = _board_context(report, lb, cell_runs)
    aspects = [{"name": a.name, "description": a.description, **_board_context(report, a.leaderboard, cell_runs)}
               for a in report.aspects]
    described = {c.group: c for c in lb.columns}
    scenario_list = [
        {"group": g, "column": described.get(g), "runs": len(runs), "models": len({r.model for r in runs}),
         "instances": sum(r.instances for r in runs)}
        for g, runs in groups.items()
    ]
    return {**board, "aspects": aspects, "groups": scenario_list, "n_runs": len(report.runs),
            "judging": bool(report.judging)}


def _all_pairs(comparisons: list[PairedComparison]) -> bool:
    """Whether the comparisons are every pair of their models (else neighbours on the leaderboard)."""
    k = len({m for c in comparisons for m in (c.model_a, c.model_b)})
    return len(comparisons) == k * (k - 1) // 2


def _group_context(report: Report, group: str, runs: list[RunInfo]) -> dict[str, Any]:
    lb = report.leaderboard
    order = _model_order(report)
    column = next((c for c in lb.columns if c.group == group), None)
    main = column.metric if column else (runs[0].main_metric if runs else "")
    metrics = sorted({m for r in runs for m in r.scores}, key=lambda m: (m != main, m))
    lower = {m: any(r.scores[m].lower_is_better for r in runs if m in r.scores) for m in metrics}
    runs = sorted(runs, key=lambda r: (order.get(r.model, len(order)), r.scenario, r.run_id))
    summary = [
        {"model": m, "score": lb.cells[(m, group)], "win_rate": _win_rate(report, m)}
        for m in sorted(order, key=order.__getitem__) if (m, group) in lb.cells
    ]
    return {
        "group": group, "column": column, "main": main, "metrics": metrics, "lower": lower, "runs": runs,
        "summary": summary, "scenarios": sorted({r.scenario for r in runs}),
        "comparisons": report.comparisons.get(group, []), "all_pairs": _all_pairs(report.comparisons.get(group, [])),
        "methods": sorted({r.method for r in runs}),
        # an expanded group (harness.expand): each part's score per model, and its format sweep if it has one
        **site_context(group, runs, sorted(order, key=order.__getitem__)),
    }

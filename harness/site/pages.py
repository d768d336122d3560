"""The pages beside the leaderboard: models/ (one page per model), compare/ (pairs of models), plots.html (with
plots/*.svg and *.csv), metrics.html, and the leaderboard's search index. Called by harness.site.build."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
import orjson
from markupsafe import Markup

from harness.names import slug, visible
from harness.report import Report, RunInfo
from harness.site import plots
from harness.site.compare import SHOWN, ValueCache, compare_context
from harness.site.incremental import Manifest, combined, run_key
from harness.site.models import COST, LATENCY, FEW_MODELS, compare_href, model_context, model_href, pooled
from harness.site.search import write_site_index
from harness.win_rate import column_win_rates


@functools.cache
def _descriptions() -> dict[str, tuple[str, bool]]:
    """Every name a run can report -> (description, lower is better), as `harness list metrics` shows them."""
    from harness.metrics.registry import corpus_metric_registry, metric_registry

    out: dict[str, tuple[str, bool]] = {}
    for metric in metric_registry().values():
        for stat, lower in metric.outputs.items():
            out[stat] = (metric.description, lower)
    for corpus in corpus_metric_registry().values():
        out[corpus.name] = (corpus.description, corpus.lower_is_better)
    return out


def metric_help(metric: str) -> str:
    """A metric's description ('' for one the registry does not know); a worst-case column goes by its metric."""
    found = _descriptions().get(metric) or _descriptions().get(metric.split("@", 1)[0])
    return found[0] if found else ""


def _write(path: Path, html: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8", newline="\n")


def write_extra_pages(env: jinja2.Environment, report: Report, out_dir: Path, ordered: Sequence[str],
                      pairs: Sequence[tuple[str, str]], cell_runs: Mapping[tuple[str, str], list[RunInfo]],
                      batched: Mapping[str, bool], manifest: Manifest) -> None:
    order = {m: i for i, m in enumerate(ordered)}
    tpl = env.get_template("model.html")
    for model in ordered:
        ctx = model_context(report, model, order, cell_runs, pairs, batched)
        _write(out_dir / model_href(model), tpl.render(root="../", **ctx))
    _write(out_dir / "models" / "index.html", env.get_template("models_index.html").render(root="../", models=ordered))

    cache = ValueCache(report)
    tpl = env.get_template("compare.html")
    by_model: dict[str, list[RunInfo]] = {}
    for run in report.runs:
        by_model.setdefault(run.model, []).append(run)
    wanted = {compare_href(a, b).split("/", 1)[1] for a, b in pairs}
    for stale in (out_dir / "compare").glob("*--*.html"):  # pairs of an earlier build (the order changed)
        if stale.name not in wanted:
            stale.unlink()
    for a, b in pairs:
        path = out_dir / compare_href(a, b)
        key = combined([run_key(r, report.suite) for r in (*by_model.get(a, []), *by_model.get(b, []))])
        if manifest.fresh(f"compare:{a}\n{b}", key, path):
            continue
        _write(path, tpl.render(root="../", shown=SHOWN, **compare_context(report, a, b, cell_runs, cache)))
    _write(out_dir / "compare" / "index.html", env.get_template("compare_index.html").render(
        root="../", pairs=pairs, models=ordered, n_models=len(ordered), every_pair=len(ordered) <= FEW_MODELS,
        pick_data=_pick_data(report, ordered, pairs)))

    sections = _plot_sections(report, ordered, cell_runs)
    for section in sections:
        for plot in section["plots"]:
            plot.write(out_dir / "plots")
    _write(out_dir / "plots.html", env.get_template("plots.html").render(root="", sections=sections))

    used = {m.split("@", 1)[0] for r in report.runs for m in r.scores}
    known = _descriptions()
    lower_of = {m.split("@", 1)[0]: s.lower_is_better for r in report.runs for m, s in r.scores.items()}
    metrics = [{"name": name, "description": known.get(name, ("", False))[0],
                "lower": known[name][1] if name in known else lower_of.get(name, False), "used": name in used}
               for name in sorted(set(known) | used) if not name.startswith("_")]
    _write(out_dir / "metrics.html", env.get_template("metrics.html").render(root="", metrics=metrics))

    from harness.site.build import group_href

    write_site_index(out_dir, [(m, model_href(m)) for m in ordered],
                     [(c.group, group_href(c.group)) for c in report.leaderboard.columns])


def _pick_data(report: Report, ordered: Sequence[str], pairs: Sequence[tuple[str, str]]) -> Markup:
    """What the comparison index's picker needs to show any pair: each group's cells, and which pairs have pages."""
    lb = report.leaderboard
    cells = {}
    for col in lb.columns:
        cells[col.group] = [
            [s.mean, s.ci_low, s.ci_high] if (s := lb.cells.get((m, col.group))) and math.isfinite(s.mean) else None
            for m in ordered]
    index = {m: i for i, m in enumerate(ordered)}
    data = {"groups": [[visible(c.group), c.metric, c.lower_is_better] for c in lb.columns],
            "cells": [cells[c.group] for c in lb.columns],
            "pages": {f"{index[a]}-{index[b]}": compare_href(a, b).split("/", 1)[1] for a, b in pairs}}
    return Markup(orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY).decode().replace("<", "\\u003c"))


def _plot_sections(report: Report, ordered: Sequence[str], cell_runs: Mapping[tuple[str, str], list[RunInfo]]
                   ) -> list[dict[str, Any]]:
    lb = report.leaderboard
    sections: list[dict[str, Any]] = []
    per_column: dict[str, list[float]] = {m: [] for m in ordered}
    for col in lb.columns:
        name = slug(col.group)
        items = [(m, s.mean, s.ci_low, s.ci_high) for m in ordered if (s := lb.cells.get((m, col.group)))]
        found = [
            plots.bars(f"{name}-scores", f"{col.group}: {col.metric} per model, with 95% intervals", col.metric, items),
            plots.scatter(f"{name}-cost", f"{col.group}: {col.metric} against cost per instance", COST, col.metric,
                          [(m, pooled(cell_runs.get((m, col.group), []), COST), s.mean) for m, s, *_ in
                           [(m, lb.cells[(m, col.group)]) for m in ordered if (m, col.group) in lb.cells]]),
            plots.scatter(f"{name}-latency", f"{col.group}: {col.metric} against latency per instance", LATENCY,
                          col.metric,
                          [(m, pooled(cell_runs.get((m, col.group), []), LATENCY), s.mean) for m, s, *_ in
                           [(m, lb.cells[(m, col.group)]) for m in ordered if (m, col.group) in lb.cells]]),
        ]
        sections.append({"key": f"g-{col.group}", "title": col.group, "plots": [p for p in found if p]})
        values = {m: s.mean for m in ordered if (s := lb.cells.get((m, col.group))) and math.isfinite(s.mean)}
        for m, wr in column_win_rates(values, col.lower_is_better).items():
            per_column[m].append(wr)
    wins = plots.strips("win-rates", "Win rate per scenario group, per model",
                        [(m, per_column[m], lb.win_rates.get(m)) for m in ordered])
    sections.insert(0, {"key": "win-rates", "title": "Win rates", "plots": [wins] if wins else []})
    return sections

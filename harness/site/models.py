"""Model pages: models/<model>.html, one per model, with its scores, intervals, ranks, cost and latency across the
suite and links to its runs; and which pairs of models get a comparison page (harness.site.compare)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.names import slug
from harness.report import Leaderboard, Report, RunInfo, Score

FEW_MODELS = 6  # up to this many models, every pair gets a comparison page; beyond, neighbours on the leaderboard
COST = "cost_usd"
LATENCY = "latency_s"


def model_href(model: str) -> str:
    return f"models/{slug(model)}.html"


def compare_href(a: str, b: str) -> str:
    return f"compare/{slug(a)}--{slug(b)}.html"


def comparison_pairs(ordered: Sequence[str]) -> list[tuple[str, str]]:
    """The pairs that get a page, the better-ranked model first: every pair of a few models, else each model and
    the next one down the leaderboard (the comparisons a reader of a ranking asks for first)."""
    if len(ordered) <= FEW_MODELS:
        return [(a, b) for i, a in enumerate(ordered) for b in ordered[i + 1:]]
    return list(zip(ordered, ordered[1:]))


def pooled(runs: Sequence[RunInfo], metric: str) -> float | None:
    """A metric's mean over the instances of several runs (each run's mean weighted by its count)."""
    scores = [r.scores[metric] for r in runs if metric in r.scores and math.isfinite(r.scores[metric].mean)]
    n = sum(s.count for s in scores)
    if not scores:
        return None
    if n == 0:
        return sum(s.mean for s in scores) / len(scores)
    return sum(s.mean * s.count for s in scores) / n


def group_ranks(board: Leaderboard, group: str) -> dict[str, int]:
    """Each model's rank on one column by its mean (1 = best; equal means share a rank)."""
    column = next((c for c in board.columns if c.group == group), None)
    means = {m: s.mean for (m, g), s in board.cells.items() if g == group and math.isfinite(s.mean)}
    sign = 1 if column is not None and column.lower_is_better else -1
    return {m: 1 + sum(1 for other in means.values() if sign * other < sign * v) for m, v in means.items()}


@dataclass(frozen=True)
class ModelRow:
    """One scenario group of a model's page."""

    group: str
    metric: str
    lower_is_better: bool
    score: Score | None
    rank: int | None
    of: int  # models with a score on the group
    cost: float | None  # mean dollars per instance
    latency: float | None  # mean seconds per instance
    runs: list[RunInfo]


def model_context(report: Report, model: str, order: Mapping[str, int], cell_runs: Mapping[tuple[str, str], list[RunInfo]],
                  pairs: Sequence[tuple[str, str]], batched: Mapping[str, bool]) -> dict[str, Any]:
    lb = report.leaderboard
    rows = []
    for col in lb.columns:
        runs = cell_runs.get((model, col.group), [])
        ranks = group_ranks(lb, col.group)
        rows.append(ModelRow(col.group, col.metric, col.lower_is_better, lb.cells.get((model, col.group)),
                             ranks.get(model), len(ranks), pooled(runs, COST), pooled(runs, LATENCY), runs))
    runs = sorted((r for r in report.runs if r.model == model), key=lambda r: (r.group, r.scenario, r.run_id))
    win = lb.win_rates.get(model)
    aspects = [{"name": a.name, "win_rate": a.leaderboard.win_rates.get(model),
                "rank": _rank_by_win_rate(a.leaderboard, model)} for a in report.aspects]
    return {
        "model": model, "rows": rows, "runs": runs, "win_rate": None if win is None or math.isnan(win) else win,
        "rank": _rank_by_win_rate(lb, model), "n_models": len(order), "aspects": aspects,
        "pairs": [(a, b) for a, b in pairs if model in (a, b)],
        "total_cost": sum((r.scores[COST].mean * r.scores[COST].count) for r in runs
                          if COST in r.scores and math.isfinite(r.scores[COST].mean)),
        "batched": batched,
    }


def _rank_by_win_rate(board: Leaderboard, model: str) -> int | None:
    wins = {m: w for m, w in board.win_rates.items() if w is not None and not math.isnan(w)}
    if model not in wins:
        return None
    return 1 + sum(1 for w in wins.values() if w > wins[model])

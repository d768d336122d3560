"""Scoring a run: per-instance stats, their means with intervals, corpus metrics, and worst cases over perturbations.

Perturbed copies of an instance (robustness, fairness) are scored like any instance; what a run reports for them:
- `{stat}@{perturbation}`: the stat on that perturbation's copies;
- `{stat}@{category}` (robustness, fairness): per instance, the worst of the original and every perturbation of the
  category, then averaged. Worst is the minimum when higher is better and the maximum when lower is better (HELM
  takes the minimum for both, which makes a lower-is-better metric look better under perturbation).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from harness.metrics.registry import EFFICIENCY, CorpusMetric, Metric, directions
from harness.metrics.stats import bootstrap_ci, bootstrap_corpus_ci

Stats = dict[str, float]


def score_instance(metrics: Sequence[Metric], instance: Any, pred: Any, deployment: Any) -> Stats:
    if pred.text is None:
        return {}  # a failed request: counted as failed, never as a wrong answer
    values: Stats = {}
    for metric in metrics:
        values.update(metric(instance, pred, deployment))
    # NaN means "not applicable here" (pass@10 with 1 sample, calibration without probabilities): left out rather
    # than stored, since JSON has no NaN (PostgreSQL's json type rejects it) and every reader treats absent as NaN.
    return {name: value for name, value in values.items() if value == value}


def shown_stats(metrics: Sequence[Metric]) -> list[str]:
    """The stats a perturbation is judged on: what the suite asked for, not counts or efficiency."""
    return [s for m in metrics if m.name not in EFFICIENCY for s in m.outputs if not s.startswith("_")]


def worst_cases(original: Sequence[Stats], perturbed: Mapping[str, Sequence[Stats]], categories: Mapping[str, str],
                stats: Sequence[str]) -> list[Stats]:
    """Per original instance, the `@perturbation` and `@category` stats (see the module docstring). `perturbed` maps
    each perturbation's name to its copies' stats, aligned with `original`; a failed copy (no stats) is left out."""
    direction = directions()
    out: list[Stats] = []
    for i, orig in enumerate(original):
        extra: Stats = {}
        for name in stats:
            if name not in orig or math.isnan(orig[name]):
                continue
            by_category: dict[str, list[float]] = {}
            for pert, rows in perturbed.items():
                value = rows[i].get(name)
                if value is None or math.isnan(value):
                    continue
                extra[f"{name}@{pert}"] = value
                by_category.setdefault(categories[pert], []).append(value)
            pick = max if direction.get(name, False) else min
            for category, values in by_category.items():
                extra[f"{name}@{category}"] = pick([orig[name], *values])
        out.append(extra)
    return out


PARALLEL_FROM = 500  # instances from which a run's intervals are computed in two threads


def _intervals(columns: list[list[float]], seed: int) -> list[tuple[float, float, float]]:
    """bootstrap_ci of each column. A stat with many distinct values (latency, tokens) is resampled instance by
    instance, in time that grows with the run; numpy lets go of the GIL while it draws and sums, so a
    large run's are computed two at a time (each call seeded alike: the same intervals)."""
    if len(columns) < 2 or max(map(len, columns)) < PARALLEL_FROM:
        return [bootstrap_ci(values, seed=seed) for values in columns]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2, thread_name_prefix="harness-bootstrap") as pool:
        return list(pool.map(lambda values: bootstrap_ci(values, seed=seed), columns))


def aggregate(run_id: str, per_instance: Sequence[Stats], corpus: Sequence[CorpusMetric], metrics: Sequence[Metric],
              seed: int = 0) -> list[dict[str, Any]]:
    """The run's stats rows: each stat's mean over the instances that have it, with a bootstrap interval, then each
    corpus metric over the scored instances with an interval from resampling them."""
    direction = directions()
    rows = []
    names = list(dict.fromkeys(name for stats in per_instance for name in stats))
    columns = [[stats[name] for stats in per_instance if name in stats] for name in names]
    for name, values, (mean, low, high) in zip(names, columns, _intervals(columns, seed)):
        if math.isnan(mean):
            continue
        rows.append({"run_id": run_id, "metric": name, "mean": mean, "ci_low": low, "ci_high": high,
                     "count": len(values), "lower_is_better": int(direction.get(name.split("@", 1)[0], False))})
    scored = [stats for stats in per_instance if stats]
    if corpus and scored:
        owners = {m.name: m for m in metrics}
        for metric in corpus:
            value, low, high = corpus_interval(metric, owners, scored, seed=seed)
            if math.isnan(value):
                continue
            rows.append({"run_id": run_id, "metric": metric.name, "mean": value, "ci_low": low, "ci_high": high,
                         "count": len(scored), "lower_is_better": int(metric.lower_is_better)})
    return rows


def corpus_stats(metric: CorpusMetric, owners: Mapping[str, Metric]) -> list[str]:
    """The per-instance stats a corpus metric is computed from (`owners`: metric name -> the metric that outputs
    them)."""
    return [s for need in metric.needs for s in owners[need].outputs]


def corpus_interval(metric: CorpusMetric, owners: Mapping[str, Metric], per_instance: Sequence[Mapping[str, float]],
                    seed: int = 0) -> tuple[float, float, float]:
    """A corpus metric over the instances (each one's stats; a stat it lacks is NaN), with an interval from
    resampling them: for a run's instances, and for a group's pooled over its runs."""
    import numpy as np

    columns = {s: np.array([stats.get(s, math.nan) for stats in per_instance], dtype=np.float64)
               for s in corpus_stats(metric, owners)}
    return bootstrap_corpus_ci(metric.fn, columns, seed=seed)

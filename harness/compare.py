"""Paired comparison of two models on the same instances: does A differ from B, or is the gap noise?

Per scenario group, on the group's main metric, over the instances both models answered (matched by scenario,
adapter settings and instance id; an instance with an error on either side is dropped and counted):

* the difference of the means, A - B, which over paired instances is the mean of the per-instance differences d;
* a 95% paired-bootstrap interval: `bootstrap_ci` over d (instances resampled with replacement, both models' values
  kept together), seeded;
* a two-sided p-value from a paired permutation (sign-flip) test: under "A and B are exchangeable on each instance"
  every d is as likely to be -d, so the p-value is the share of `PERMUTATIONS` random sign flips whose mean is at
  least as far from 0 as the observed one, counted as (1 + hits) / (1 + PERMUTATIONS), which keeps the test's size
  at or under alpha. Seeded.

Across a suite: the mean over groups of each group's difference, signed so that positive favours A (a lower-is-
better metric counts B - A); its interval resamples instances within each group (the same per-group draws,
averaged over groups), its p-value flips signs within each group. docs/metrics.md ("Comparing models") has the
reasoning and the simulated false-positive rate and coverage.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError
from harness.metrics.registry import corpus_metric_registry
from harness.metrics.stats import bootstrap_ci, bootstrap_means
from harness.names import visible
from harness.report import PairedComparison, RunInfo

if TYPE_CHECKING:
    import numpy as np

    from harness.store.store import Store

PERMUTATIONS = 10_000
BOOTSTRAPS = 1_000  # as the leaderboard's own intervals (bootstrap_ci's default)
CONFIDENCE = 0.95
SEED = 0
ALL_PAIRS_UP_TO = 4  # the site compares every pair of models up to this many, else neighbours on the leaderboard

# Magnitudes of |d| up to this many distinct values: a sign-flip sum is drawn per magnitude as a binomial count of
# plus signs (equal in distribution to flipping each instance), as stats.py draws bootstrap counts.
_MAX_DISTINCT_FOR_BINOMIAL = 256
_MAX_CHUNK_ELEMENTS = 2_000_000

InstanceKey = tuple[str, str, str]  # (scenario, digest of the adapter spec, instance id)


@dataclass
class GroupScores:
    """One model's per-instance values of a group's main metric. `values`: key -> value, every original instance
    with a value (what the leaderboard's cell is the mean of); `answered`: the keys stored without an error."""

    metric: str
    lower_is_better: bool
    values: dict[InstanceKey, float]
    answered: set[InstanceKey]
    instances: set[InstanceKey]  # every original instance of the model's runs in the group


def _number(value: Any) -> float | None:
    """A stored stat as a float; anything else (a string, a bool, NaN from a hostile or broken store) is no value."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def load_scores(store: Store, runs: Sequence[RunInfo]) -> dict[tuple[str, str], GroupScores]:
    """(model, group) -> the model's per-instance main-metric values in the group, for groups whose main metric is
    a mean over instances (a corpus metric such as ECE has no per-instance value to pair)."""
    import hashlib

    import orjson

    from harness.metrics.registry import lower_is_better

    corpus = corpus_metric_registry()
    out: dict[tuple[str, str], GroupScores] = {}
    for run in runs:
        metric = run.main_metric
        if metric in corpus:
            continue
        cell = out.setdefault((run.model, run.group), GroupScores(metric, lower_is_better(metric), {}, set(), set()))
        if cell.metric != metric:  # runs of one group ranked by different metrics: nothing to pair
            continue
        # the adapter settings as a short digest: keys are hashed and sorted many times
        spec = hashlib.blake2b(orjson.dumps(run.adapter_spec, option=orjson.OPT_SORT_KEYS), digest_size=8).hexdigest()
        for instance_id, position, answered, value in store.scored_instances(run.run_id, metric):
            if position >= run.instances:  # a perturbed copy (the run's originals come first)
                continue
            key = (run.scenario, spec, str(instance_id))
            cell.instances.add(key)
            number = _number(value)
            if number is not None:
                cell.values[key] = number
                if answered:
                    cell.answered.add(key)
    return out


# ----------------------------------------------------------------------------------------------- the statistics


def flip_means(d: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Means of `d` under `resamples` random sign flips of its values (the paired permutation null)."""
    import numpy as np

    n = d.size
    nonzero = np.abs(d[d != 0])
    magnitudes, counts = np.unique(nonzero, return_counts=True)
    if magnitudes.size <= _MAX_DISTINCT_FOR_BINOMIAL:
        # c values of magnitude v with random signs sum to v * (2 * Binomial(c, 1/2) - c)
        plus = rng.binomial(counts, 0.5, size=(resamples, magnitudes.size))
        return ((2 * plus - counts) @ magnitudes) / n
    means = np.empty(resamples, dtype=np.float64)
    chunk = max(1, min(resamples, _MAX_CHUNK_ELEMENTS // n))
    for start in range(0, resamples, chunk):
        rows = min(chunk, resamples - start)
        # one random bit per sign (bytes unpacked: cheaper than a random float each); float: the product is BLAS's
        plus = np.unpackbits(rng.integers(0, 256, size=(rows, (n + 7) // 8), dtype=np.uint8), axis=1, count=n)
        plus = plus.astype(np.float64)
        means[start:start + rows] = (2 * (plus @ d) - d.sum()) / n  # sum of +-d = 2 * (sum over plus) - sum(d)
    return means


def permutation_p(observed: float, null: np.ndarray) -> float:
    """Two-sided p-value: the share of null draws at least as far from 0 as `observed`, with the +1 that keeps a
    Monte Carlo permutation test at or under its level. A hair of tolerance, so that a draw equal to the observed
    value up to rounding counts as reaching it."""
    import numpy as np

    reach = abs(observed) * (1 - 1e-9) - 1e-12
    hits = int(np.count_nonzero(np.abs(null) >= reach))
    return (1 + hits) / (1 + null.size)


@dataclass(frozen=True)
class PairedResult:
    n: int
    mean_a: float
    mean_b: float
    diff: float
    ci_low: float
    ci_high: float
    p_value: float


def paired_test(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, *, seed: int = SEED,
                permutations: int = PERMUTATIONS, bootstraps: int = BOOTSTRAPS) -> PairedResult:
    """A vs B on paired values (a[i] and b[i] are the same instance): mean difference, its 95% paired-bootstrap
    interval and the sign-flip permutation p-value. No pairs: every figure NaN."""
    import numpy as np

    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"paired values need the same length, got {x.size} and {y.size}")
    if x.size == 0:
        nan = math.nan
        return PairedResult(0, nan, nan, nan, nan, nan, nan)
    d = x - y
    diff, low, high = bootstrap_ci(d, confidence=CONFIDENCE, resamples=bootstraps, seed=seed)
    null = flip_means(d, permutations, np.random.default_rng(seed))
    return PairedResult(int(x.size), float(x.mean()), float(y.mean()), diff, low, high, permutation_p(diff, null))


def suite_test(diffs: Sequence[np.ndarray], *, seed: int = SEED, permutations: int = PERMUTATIONS,
               bootstraps: int = BOOTSTRAPS) -> tuple[float, float, float, float]:
    """The mean over groups of each group's mean difference (each array already signed), with a 95% interval from
    resampling instances within each group and a p-value from flipping signs within each group:
    (mean, low, high, p). Groups without pairs are left out; none left: all NaN."""
    import numpy as np

    diffs = [d for d in diffs if d.size]
    if not diffs:
        return (math.nan, math.nan, math.nan, math.nan)
    mean = float(np.mean([d.mean() for d in diffs]))
    rng = np.random.default_rng(seed)
    boot = np.mean([bootstrap_means(d, bootstraps, rng) for d in diffs], axis=0)
    alpha = 1 - CONFIDENCE
    low, high = (float(v) for v in np.quantile(boot, [alpha / 2, 1 - alpha / 2]))
    null = np.mean([flip_means(d, permutations, rng) for d in diffs], axis=0)
    return (mean, min(low, mean), max(high, mean), permutation_p(mean, null))


# ----------------------------------------------------------------------------------------------- two models


def _pairs(a: GroupScores, b: GroupScores) -> tuple[list[InstanceKey], int]:
    """Keys both answered with a value, in a fixed order (the resampling is seeded); and how many of either
    model's instances are left out."""
    keys = sorted((a.answered & a.values.keys()) & (b.answered & b.values.keys()))
    return keys, len(a.instances | b.instances) - len(keys)


def compare_group(group: str, model_a: str, model_b: str, a: GroupScores, b: GroupScores) -> PairedComparison:
    import numpy as np

    keys, dropped = _pairs(a, b)
    result = paired_test(np.array([a.values[k] for k in keys]), np.array([b.values[k] for k in keys]))
    return PairedComparison(group, a.metric, model_a, model_b, result.n, dropped, result.mean_a, result.mean_b,
                            result.diff, result.ci_low, result.ci_high, result.p_value, a.lower_is_better)


def compare_models(scores: dict[tuple[str, str], GroupScores], groups: Sequence[str], model_a: str, model_b: str
                   ) -> tuple[list[PairedComparison], PairedComparison | None]:
    """One row per group both models have, and the suite row (None when no group has pairs)."""
    import numpy as np

    rows, signed = [], []
    for group in groups:
        a, b = scores.get((model_a, group)), scores.get((model_b, group))
        if a is None or b is None or a.metric != b.metric:
            continue
        row = compare_group(group, model_a, model_b, a, b)
        rows.append(row)
        keys, _ = _pairs(a, b)
        d = np.array([a.values[k] - b.values[k] for k in keys], dtype=np.float64)
        signed.append(-d if a.lower_is_better else d)
    if not any(r.n for r in rows):
        return rows, None
    mean, low, high, p = suite_test(signed)
    used = [r for r in rows if r.n]
    suite_row = PairedComparison(
        "", "main metric, + favours A", model_a, model_b, sum(r.n for r in used), sum(r.dropped for r in rows),
        float(np.mean([r.mean_a for r in used])), float(np.mean([r.mean_b for r in used])), mean, low, high, p)
    return rows, suite_row


def report_comparisons(scores: dict[tuple[str, str], GroupScores], groups: Sequence[str], order: Sequence[str]
                       ) -> dict[str, list[PairedComparison]]:
    """For the site's group pages: per group, every pair of its models when there are at most ALL_PAIRS_UP_TO,
    else each model against the next one down the leaderboard (`order`, best first)."""
    out: dict[str, list[PairedComparison]] = {}
    for group in groups:
        models = [m for m in order if (m, group) in scores]
        if len(models) <= ALL_PAIRS_UP_TO:
            pairs = [(x, y) for i, x in enumerate(models) for y in models[i + 1:]]
        else:
            pairs = list(zip(models, models[1:]))
        rows = [compare_group(group, x, y, scores[(x, group)], scores[(y, group)]) for x, y in pairs
                if scores[(x, group)].metric == scores[(y, group)].metric]
        if rows:
            out[group] = rows
    return out


# ----------------------------------------------------------------------------------------------- the command


def _fmt(value: float, signed: bool = False) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def format_p(p: float) -> str:
    if math.isnan(p):
        return "-"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def format_comparison(suite: str, model_a: str, model_b: str, rows: list[PairedComparison],
                      suite_row: PairedComparison | None) -> str:
    """The `harness compare` table: one line per group, then the suite line."""
    header = ["scenario", "metric", "n", "dropped", "mean A", "mean B", "A - B", "95% CI", "p"]
    lines = [header]
    for r in [*rows, *([suite_row] if suite_row else [])]:
        lines.append([
            visible(r.group) if r.group else "suite (mean over scenarios)",
            r.metric + (" (lower better)" if r.lower_is_better else ""),
            str(r.n), str(r.dropped), _fmt(r.mean_a), _fmt(r.mean_b), _fmt(r.diff, signed=True),
            "-" if math.isnan(r.ci_low) else f"[{r.ci_low:+.3f}, {r.ci_high:+.3f}]", format_p(r.p_value),
        ])
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    table = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in lines]
    dropped = sum(r.dropped for r in rows)
    notes = [
        visible(f"suite {suite}: A = {model_a}, B = {model_b}; paired over the instances both answered "
                f"({dropped} dropped: failed or missing on either side)"),
        "95% CI: paired bootstrap over instances; p: two-sided paired permutation (sign-flip) test, "
        f"{PERMUTATIONS:,} draws, seed {SEED} (docs/metrics.md, \"Comparing models\")",
    ]
    return "\n".join([*notes, "", *table])


def cmd_compare(store: Store, suite: str, model_a: str, model_b: str) -> str:
    """What `harness compare` prints; a model without runs in the suite is an input error."""
    from harness.summary import build_runs

    runs = build_runs(store, suite)
    models = {r.model for r in runs}
    for field_name, model in (("MODEL_A", model_a), ("MODEL_B", model_b)):
        if model not in models:
            raise HarnessError(f"no runs of model {model!r} in suite {suite!r} (has: {', '.join(sorted(models))})",
                               field=field_name)
    if model_a == model_b:
        raise HarnessError("compare needs two different models", field="MODEL_B")
    wanted = [r for r in runs if r.model in (model_a, model_b)]
    groups = list(dict.fromkeys(r.group for r in runs))
    rows, suite_row = compare_models(load_scores(store, wanted), groups, model_a, model_b)
    if not rows:
        raise HarnessError(f"models {model_a!r} and {model_b!r} share no scenario group with a per-instance main "
                           f"metric in suite {suite!r}")
    return format_comparison(suite, model_a, model_b, rows, suite_row)


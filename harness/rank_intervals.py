"""Ranks with uncertainty: how sure is each leaderboard row of its place?

The instances of each scenario group are resampled with replacement, `RESAMPLES` times, seeded; within a group the
same draws serve every model (so models are compared on the same resampled instances, as the paired test compares
them). Each draw recomputes every cell (the mean over the drawn instances the model has a value for), then the mean
win rates from those cells together (harness.win_rate, HELM's definition, all draws at once), then the ranks (1 + the number of models
with a strictly higher mean win rate). Per model:

* its rank interval: the 2.5% and 97.5% quantiles of its ranks (the lower and the higher order statistic, so the
  ends are ranks that occurred), widened to hold its rank on the leaderboard itself;
* its mean win rate's 95% percentile interval, widened to hold the leaderboard's value;
* whether it is separable from the row below: its mean win rate is strictly above that row's in at least 97.5% of
  the draws, i.e. the 95% percentile interval of the paired difference lies above zero. docs/metrics.md ("Comparing
  models") says why this test and not overlapping intervals.

A group whose main metric has no per-instance values (a corpus metric such as ECE) keeps its cells fixed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from harness.report import Leaderboard, RankInterval, Report
from harness.win_rate import mean_win_rates_batch

if TYPE_CHECKING:
    import numpy as np

    from harness.compare import GroupScores
    from harness.store.store import Store

RESAMPLES = 1_000
SEED = 0
CONFIDENCE = 0.95
_MAX_CHUNK_ELEMENTS = 2_000_000

RANK_NOTE = ("rank: 95% interval over resampled instances; win rate: [95% interval]; > next: the mean win rate is "
             "above the next row's in at least 97.5% of the resamples (docs/metrics.md, \"Comparing models\")")


def leaderboard_order(board: Leaderboard) -> list[str]:
    """Models by mean win rate, best first; those without one last; ties in the board's model order."""
    def key(model: str) -> tuple[bool, float]:
        wr = board.win_rates.get(model)
        missing = wr is None or math.isnan(wr)
        return (missing, 0.0 if missing else -wr)  # type: ignore[operator]

    return sorted(board.models, key=key)  # stable: ties keep the board's order


def _resampled_cells(models: Sequence[str], scores: dict[str, GroupScores], resamples: int,
                     rng: np.random.Generator) -> np.ndarray:
    """(resamples, models) means over draws of the group's instances, one draw shared by all models; NaN where a
    model has no value among the drawn instances (or none at all)."""
    import numpy as np

    keys = sorted({k for s in scores.values() for k in s.values})
    n = len(keys)
    out = np.full((resamples, len(models)), np.nan)
    if n == 0:
        return out
    column = {k: i for i, k in enumerate(keys)}
    m = len(models)
    both = np.zeros((n, 2 * m))  # each model's values (0 where it has none), then where it has them
    for j, model in enumerate(models):
        cell = scores.get(model)
        for key, value in (cell.values.items() if cell else ()):
            both[column[key], j] = value
            both[column[key], m + j] = 1.0
    # Each draw as how many times it picked each instance; then every model's sum (and count) over the draw is one
    # matrix product, instead of gathering (models x draws x instances) values.
    chunk = max(1, min(resamples, _MAX_CHUNK_ELEMENTS // n))
    for start in range(0, resamples, chunk):
        rows = min(chunk, resamples - start)
        idx = rng.integers(0, n, size=(rows, n)) + (np.arange(rows) * n)[:, None]
        picks = np.bincount(idx.ravel(), minlength=rows * n).reshape(rows, n).astype(np.float64)
        sums = picks @ both
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start:start + rows] = sums[:, :m] / sums[:, m:]
    return out


def rank_intervals(board: Leaderboard, scores: dict[tuple[str, str], GroupScores], *, resamples: int = RESAMPLES,
                   seed: int = SEED) -> dict[str, RankInterval]:
    """model -> its RankInterval, for the models with a mean win rate (see the module docstring)."""
    import numpy as np

    models = list(board.models)
    rng = np.random.default_rng(seed)
    # every resampled leaderboard at once: cells[r, model, column]; a column without per-instance values stays fixed
    cells = np.full((resamples, len(models), len(board.columns)), np.nan)
    for c, col in enumerate(board.columns):
        fixed = np.array([board.cells[(m, col.group)].mean if (m, col.group) in board.cells else np.nan
                          for m in models], dtype=np.float64)
        cells[:, :, c] = fixed
        per_instance = {m: scores[(m, col.group)] for m in models
                        if (m, col.group) in scores and scores[(m, col.group)].metric == col.metric}
        if per_instance:
            drawn = _resampled_cells(models, per_instance, resamples, rng)
            # a model without a cell stays without one; one with a cell but no drawn value has none in that draw
            cells[:, :, c] = np.where(np.isnan(fixed) | ~np.isin(models, list(per_instance)), fixed, drawn)
    # rounded: sums of the same rates in another order must not tell tied models apart
    wins = np.round(mean_win_rates_batch(cells, [c.lower_is_better for c in board.columns]), 12)
    with np.errstate(invalid="ignore"):
        ranks = 1 + (wins[:, None, :] > wins[:, :, None]).sum(axis=2)  # (resamples, models): strictly higher ones

    order = [m for m in leaderboard_order(board) if board.win_rates.get(m) is not None
             and not math.isnan(board.win_rates[m])]  # type: ignore[arg-type]
    index = {m: j for j, m in enumerate(models)}
    alpha = 1 - CONFIDENCE
    out: dict[str, RankInterval] = {}
    for pos, model in enumerate(order):
        j = index[model]
        wr = float(board.win_rates[model])  # type: ignore[arg-type]
        point_rank = 1 + sum(1 for m in order if round(board.win_rates[m], 12) > round(wr, 12))  # type: ignore[arg-type]
        ok = ~np.isnan(wins[:, j])
        if ok.any():
            low = int(np.quantile(ranks[ok, j], alpha / 2, method="lower"))
            high = int(np.quantile(ranks[ok, j], 1 - alpha / 2, method="higher"))
            wr_low, wr_high = (float(v) for v in np.quantile(wins[ok, j], [alpha / 2, 1 - alpha / 2]))
        else:
            low = high = point_rank
            wr_low = wr_high = wr
        below = order[pos + 1] if pos + 1 < len(order) else None
        above = None
        if below is not None:
            k = index[below]
            both = ok & ~np.isnan(wins[:, k])
            above = bool(both.any() and np.count_nonzero(wins[both, j] > wins[both, k]) >= (1 - alpha / 2) * both.sum())
        out[model] = RankInterval(min(low, point_rank), max(high, point_rank), min(wr_low, wr), max(wr_high, wr),
                                  below, above)
    return out


def add_uncertainty(report: Report, store: Store) -> None:
    """Rank intervals on the report's main leaderboard and paired comparisons per group, from the store's
    per-instance values."""
    from harness.compare import load_scores, report_comparisons

    board = report.leaderboard
    if len({r.model for r in report.runs}) < 2:  # nothing to rank or compare: skip reading every instance's stats
        return
    scores = load_scores(store, report.runs)
    if len([m for m, w in board.win_rates.items() if w is not None]) >= 1:
        board.ranks = rank_intervals(board, scores)
    groups = list(dict.fromkeys([c.group for c in board.columns] + [r.group for r in report.runs]))
    report.comparisons = report_comparisons(scores, groups, leaderboard_order(board))


def rank_cells(board: Leaderboard, order: Sequence[str]) -> list[list[str]]:
    """The text table's rank, win rate and "> next" cells: a header, then one row per model of `order`."""
    out = [["rank", "win rate [95%]", "> next"]]
    for pos, model in enumerate(order):
        ri = board.ranks.get(model)
        wr = board.win_rates.get(model)
        if ri is None or wr is None:
            out.append(["-", "-" if wr is None else f"{wr:.3f}", ""])
            continue
        rank = str(ri.rank_low) if ri.rank_low == ri.rank_high else f"{ri.rank_low}\u2013{ri.rank_high}"
        shown_next = order[pos + 1] if pos + 1 < len(order) else None
        apart = "" if ri.above_next is None or ri.next_model != shown_next else ("yes" if ri.above_next else "no")
        out.append([rank, f"{wr:.3f} [{ri.win_rate_low:.2f}, {ri.win_rate_high:.2f}]", apart])
    return out

"""Mean win rate: HELM's leaderboard aggregate over columns (scenario groups).

Semantics follow HELM's `compute_aggregate_row_win_rates` in
`src/helm/benchmark/presentation/summarize.py` (stanford-crfm/helm), with `aggregation="mean"`:

* Per column, only models with a value take part. With m such models, a model's win rate is
  (models it strictly beats + 0.5 * OTHER models it ties with) / (m - 1), i.e. the
  probability that it beats a uniformly drawn *other* model with a value, counting a tie
  as half a win. HELM computes exactly this: it sorts the distinct values, and gives each
  value `acc_count + (value_count - 1) / 2` wins, where acc_count is the number of worse
  values and `value_count - 1` the number of other models with the same value. Ties are
  exact float equality, as in HELM (it keys a dict by the value).
* Lower-is-better columns count the other way (HELM: `sorted(..., reverse=lower_is_better)`).
* A column where fewer than two models have a value is skipped: nobody gets a win rate from
  it (HELM: `if total_count < 2: continue`). So a model that is alone on a column is neither
  rewarded (1.0) nor punished (0.0) for it; the column just does not enter its mean.
* A model's mean win rate is the plain mean over the columns where it got a win rate; None
  if there are none (HELM appends None for such rows).

Deviations from HELM, all for inputs HELM never sees:

* HELM skips a column whose `lower_is_better` is None ("no meaningful ordering"); we do the
  same for an explicit None, but a column *missing* from `lower_is_better` raises KeyError,
  so a forgotten direction cannot silently drop (or misrank) a column.
* A NaN cell counts as no value (HELM would put NaN in its dict and sort it arbitrarily).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


def column_win_rates(values: Mapping[str, float], lower_is_better: bool) -> dict[str, float]:
    """Win rate of each model on one column; `values` holds only models that have a value.

    Empty when fewer than two models have a value (see the module docstring).
    """
    total = len(values)
    if total < 2:
        return {}
    value_counts = Counter(values.values())
    # Walk the distinct values from worst to best (HELM's order): everything seen before a
    # value is strictly worse than it, so `worse` is the number of models a holder beats.
    wins_by_value: dict[float, float] = {}
    worse = 0
    for value in sorted(value_counts, reverse=lower_is_better):
        count = value_counts[value]
        wins_by_value[value] = worse + (count - 1) / 2  # ties with the count-1 OTHER holders
        worse += count
    return {model: wins_by_value[value] / (total - 1) for model, value in values.items()}


def mean_win_rates(
    table: Mapping[str, Mapping[str, float | None]],
    lower_is_better: Mapping[str, bool | None],
) -> dict[str, float | None]:
    """Mean win rate of each model over the columns of `table` (model -> column -> value).

    A None, NaN or missing cell means the model has no value for that column. Every column
    that appears in `table` must be in `lower_is_better` (KeyError otherwise); a column mapped
    to None has no ordering and is skipped, as in HELM. Returns model -> mean win rate, in
    the order of `table`, with None for a model that got a win rate on no column.
    """
    columns: dict[str, None] = {}  # insertion-ordered set, for a deterministic column order
    for row in table.values():
        columns.update(dict.fromkeys(row))

    per_model: dict[str, list[float]] = {model: [] for model in table}
    for column in columns:
        direction = lower_is_better[column]
        if direction is None:
            continue
        present: dict[str, float] = {}
        for model, row in table.items():
            value = row.get(column)
            if value is not None and not math.isnan(value):
                present[model] = value
        for model, rate in column_win_rates(present, direction).items():
            per_model[model].append(rate)

    return {model: (math.fsum(rates) / len(rates) if rates else None) for model, rates in per_model.items()}


def mean_win_rates_batch(values: np.ndarray, lower_is_better: Sequence[bool | None]) -> np.ndarray:
    """`mean_win_rates` over many tables at once: values[r, model, column] (NaN: no value) -> [r, model] mean win
    rate (NaN where `mean_win_rates` gives None). The same definition, for resampled leaderboards
    (harness.rank_intervals), where calling `mean_win_rates` per resample is too slow."""
    import numpy as np

    tables, models, _ = values.shape
    total = np.zeros((tables, models))
    counted = np.zeros((tables, models))
    for c, direction in enumerate(lower_is_better):
        if direction is None:
            continue
        x = -values[:, :, c] if direction else values[:, :, c]  # a lower value beats a higher one
        present = ~np.isnan(x)
        n = present.sum(axis=1, keepdims=True)  # (tables, 1)
        with np.errstate(invalid="ignore", divide="ignore"):  # n = 1: no rate (took_part below)
            worse = (x[:, None, :] < x[:, :, None]).sum(axis=2)  # NaN compares False: absent models never count
            same = (x[:, None, :] == x[:, :, None]).sum(axis=2)  # includes the model itself
            rate = (worse + (same - 1) / 2) / (n - 1)
        took_part = present & (n >= 2)
        total += np.where(took_part, rate, 0.0)
        counted += took_part
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counted > 0, total / counted, np.nan)


def by_win_rate(models: Sequence[str], win_rates: Mapping[str, float | None]) -> list[str]:
    """The models best mean win rate first; those without one (None or NaN) last, each group in the given order."""

    def key(i: int) -> tuple[bool, float, int]:
        wr = win_rates.get(models[i])
        missing = wr is None or math.isnan(wr)
        return (missing, 0.0 if missing else -wr, i)

    return [models[i] for i in sorted(range(len(models)), key=key)]

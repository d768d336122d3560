"""Length-controlled win rate, after AlpacaEval 2.0 (Dubois et al., 2024, arXiv:2404.04475), simplified.

Judges prefer longer answers. AlpacaEval 2.0 fits a logistic model of the judge's preference on, among other terms,
the length difference between the two answers, and reports the win rate the model predicts with that term at zero:
what the win rate would be if the answers were as long as each other. Here the model has only that term and an
intercept (AlpacaEval's also has a per-instruction difficulty term, fitted across many models):

    P(win) = sigmoid(b0 + b1 * x),  x = length_diff / sd(length_diffs)

fitted on the non-tie verdicts by Newton's method with a small ridge on both coefficients (so that a candidate that
wins, or loses, every comparison gets a finite fit), and reports sigmoid(b0). A verdict is 1.0 (candidate wins), 0.0
(baseline wins) or 0.5 (tie); a length difference is candidate length minus baseline length (in any unit).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

RIDGE = 1e-3


def _check(verdicts: Sequence[float], length_diffs: Sequence[float]) -> None:
    if len(verdicts) != len(length_diffs):
        raise ValueError(f"{len(verdicts)} verdicts but {len(length_diffs)} length differences")
    for v in verdicts:
        if v not in (0.0, 0.5, 1.0):
            raise ValueError(f"a verdict must be 1.0 (win), 0.0 (loss) or 0.5 (tie), got {v!r}")
    if not all(math.isfinite(d) for d in length_diffs):
        raise ValueError("length differences must be finite numbers")


def fit_length_model(verdicts: Sequence[float], length_diffs: Sequence[float], *,
                     ridge: float = RIDGE) -> tuple[float, float]:
    """(b0, b1) of P(win) = sigmoid(b0 + b1 * length_diff / sd), over the non-tie verdicts. (0, 0) when there are
    none."""
    import numpy as np

    _check(verdicts, length_diffs)
    y = np.array(verdicts, dtype=float)
    d = np.array(length_diffs, dtype=float)
    keep = y != 0.5
    y, d = y[keep], d[keep]
    if not len(y):
        return 0.0, 0.0
    sd = float(d.std())
    x = np.stack([np.ones_like(d), d / sd if sd > 0 else np.zeros_like(d)], axis=1)
    beta = np.zeros(2)
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(x @ beta)))
        grad = x.T @ (y - p) - ridge * beta
        hessian = -(x.T * (p * (1 - p))) @ x - ridge * np.eye(2)
        step = np.linalg.solve(hessian, grad)
        beta = beta - step
        if np.abs(step).max() < 1e-10:
            break
    return float(beta[0]), float(beta[1])


def length_controlled_win_rate(verdicts: Sequence[float], length_diffs: Sequence[float]) -> float:
    """The win rate predicted at zero length difference (see the module docstring); NaN with no non-tie verdict."""
    _check(verdicts, length_diffs)
    if all(v == 0.5 for v in verdicts):
        return math.nan
    b0, _ = fit_length_model(verdicts, length_diffs)
    return 1.0 / (1.0 + math.exp(-b0))


def length_correlation(verdicts: Sequence[float], length_diffs: Sequence[float]) -> dict[str, float]:
    """Pearson's and Spearman's correlation of the verdicts (ties as 0.5) with the length differences: how much the
    judge's preference follows length. NaN where either side does not vary."""
    import numpy as np

    _check(verdicts, length_diffs)
    y = np.array(verdicts, dtype=float)
    d = np.array(length_diffs, dtype=float)
    return {"pearson": _pearson(y, d), "spearman": _pearson(_ranks(y), _ranks(d))}


def _pearson(x: object, y: object) -> float:
    import numpy as np

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 2:
        return math.nan
    x, y = x - x.mean(), y - y.mean()
    denominator = math.sqrt(float(x @ x) * float(y @ y))
    return float(x @ y) / denominator if denominator > 0 else math.nan


def _ranks(values: object) -> object:
    """Ranks from 1, tied values sharing their mean rank (as Spearman's rho needs)."""
    import numpy as np

    values = np.asarray(values, dtype=float)
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and sorted_values[j + 1] == sorted_values[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks

"""Bradley–Terry scores from pairwise battles, on the Elo scale Chatbot Arena reports.

A battle is (model_a, model_b, outcome): outcome 1.0 = a won, 0.0 = b won, 0.5 = a tie, which counts as half a win
each way (Chatbot Arena counts a tie as one win for each side of a duplicated battle: the same likelihood).

The model: P(i beats j) = sigmoid(theta_i - theta_j), theta a natural-log strength. Scores are reported as
1000 + 400 / ln(10) * (theta_i - mean(theta)): 400 points = 10:1 odds, the mean score is 1000.

Fitting maximises the log-likelihood plus a Gaussian prior on theta, theta ~ N(0, 1 / ridge) (a ridge penalty of
ridge / 2 * sum(theta^2)), by Newton's method. The prior is there so that a model that never lost (or never won), or
a set of models that never met the rest, gets a large but finite score instead of running off to infinity; with the
default ridge (0.01: a prior sd of 10 in log-strength, ~1,700 Elo points) it moves scores of models with a few dozen
battles by well under a point. numpy only; no scipy or scikit-learn.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import HarnessError

if TYPE_CHECKING:
    import numpy as np

Battle = tuple[str, str, float]
SCALE = 400.0 / math.log(10.0)
ANCHOR = 1000.0
RIDGE = 0.01
WINNERS = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5, "tie (bothbad)": 0.5}


def _index(battles: Sequence[Battle]) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """(models in first-seen order, index of a, index of b, outcome) after checking every battle."""
    import numpy as np

    models: dict[str, int] = {}
    rows_a, rows_b, outcomes = [], [], []
    for n, battle in enumerate(battles):
        if len(battle) != 3:
            raise ValueError(f"battle {n}: expected (model_a, model_b, outcome), got {battle!r}")
        a, b, outcome = battle
        if not isinstance(a, str) or not isinstance(b, str) or a == b:
            raise ValueError(f"battle {n}: two different model names expected, got {a!r} and {b!r}")
        if outcome not in (0.0, 0.5, 1.0):
            raise ValueError(f"battle {n}: outcome must be 1.0 (a wins), 0.0 (b wins) or 0.5 (tie), got {outcome!r}")
        rows_a.append(models.setdefault(a, len(models)))
        rows_b.append(models.setdefault(b, len(models)))
        outcomes.append(float(outcome))
    return list(models), np.array(rows_a, dtype=np.int64), np.array(rows_b, dtype=np.int64), np.array(outcomes)


def _wins(k: int, a: np.ndarray, b: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """W[i, j] = (weighted) wins of i over j, a tie counting half to each."""
    import numpy as np

    w = np.ones_like(y) if weights is None else weights
    wins = np.zeros((k, k))
    np.add.at(wins, (a, b), w * y)
    np.add.at(wins, (b, a), w * (1.0 - y))
    return wins


def _fit(wins: np.ndarray, ridge: float) -> np.ndarray:
    """Penalised maximum-likelihood log-strengths from a win matrix (Newton's method with step halving)."""
    import numpy as np

    k = wins.shape[0]
    games = wins + wins.T
    theta = np.zeros(k)

    def objective(t: np.ndarray) -> float:
        diff = t[:, None] - t[None, :]
        return float(-(wins * np.logaddexp(0.0, -diff)).sum() - 0.5 * ridge * (t @ t))

    current = objective(theta)
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(theta[:, None] - theta[None, :])))  # p[i, j] = P(i beats j)
        grad = (wins - games * p).sum(axis=1) - ridge * theta
        curvature = games * p * (1.0 - p)
        hessian = curvature - np.diag(curvature.sum(axis=1) + ridge)  # negative definite for ridge > 0
        step = np.linalg.solve(hessian, grad)
        scale = 1.0
        while True:
            candidate = theta - scale * step
            value = objective(candidate)
            if value >= current - 1e-12 or scale < 1e-6:
                break
            scale /= 2
        converged = np.abs(candidate - theta).max() < 1e-10
        theta, current = candidate, value
        if converged:
            break
    return theta


def _scores(theta: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
    import numpy as np

    mask = np.ones(len(theta), dtype=bool) if present is None else present
    out = ANCHOR + SCALE * (theta - theta[mask].mean())
    out[~mask] = np.nan
    return out


def fit_bradley_terry(battles: Sequence[Battle], *, ridge: float = RIDGE) -> dict[str, float]:
    """Each model's Bradley–Terry score on the Elo scale (mean 1000), from all battles. See the module docstring for
    the model, the tie rule and the ridge prior."""
    if ridge <= 0:
        raise ValueError("ridge must be positive (it makes the scores unique and finite)")
    models, a, b, y = _index(battles)
    if not models:
        return {}
    theta = _fit(_wins(len(models), a, b, y), ridge)
    return dict(zip(models, (float(s) for s in _scores(theta))))


def bradley_terry_intervals(battles: Sequence[Battle], *, resamples: int = 1000, seed: int = 0,
                            confidence: float = 0.95, ridge: float = RIDGE) -> dict[str, tuple[float, float, float]]:
    """(score, ci_low, ci_high) per model: the score from all battles, and the percentile interval of the scores
    refitted on `resamples` bootstrap resamples of the battles (drawn with replacement, the same for a given seed).
    In a resample that leaves a model out, that model gets no score and the mean-1000 anchor is taken over the
    models present; its interval comes from the resamples it is in."""
    import numpy as np

    if resamples < 1:
        raise ValueError("resamples must be at least 1")
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    point = fit_bradley_terry(battles, ridge=ridge)
    models, a, b, y = _index(battles)
    if not models:
        return {}
    k, n = len(models), len(y)
    rng = np.random.default_rng(seed)
    draws = np.empty((resamples, k))
    for r in range(resamples):
        counts = np.bincount(rng.integers(0, n, n), minlength=n).astype(float)  # weight = times drawn
        present = np.zeros(k, dtype=bool)
        present[a[counts > 0]] = True
        present[b[counts > 0]] = True
        draws[r] = _scores(_fit(_wins(k, a, b, y, counts), ridge), present)
    tail = (1.0 - confidence) / 2 * 100
    low = np.nanpercentile(draws, tail, axis=0)
    high = np.nanpercentile(draws, 100 - tail, axis=0)
    return {m: (point[m], float(low[i]), float(high[i])) for i, m in enumerate(models)}


def win_rate_matrix(battles: Sequence[Battle]) -> dict[tuple[str, str], float]:
    """(a, b) -> the fraction of a's battles against b that a won, a tie counting half; only pairs that met."""
    wins: dict[tuple[str, str], float] = {}
    games: dict[tuple[str, str], int] = {}
    models, a, b, y = _index(battles)
    for i, j, outcome in zip(a.tolist(), b.tolist(), y.tolist()):
        for pair, won in (((models[i], models[j]), outcome), ((models[j], models[i]), 1.0 - outcome)):
            wins[pair] = wins.get(pair, 0.0) + won
            games[pair] = games.get(pair, 0) + 1
    return {pair: wins[pair] / games[pair] for pair in sorted(games)}


def read_human_votes(path: str | Path) -> list[Battle]:
    """Battles from a CSV of human (or judge) votes with columns model_a, model_b, winner, where winner is model_a,
    model_b, tie or tie (bothbad) (Chatbot Arena's export). Other columns are ignored. A bad row is one line naming
    the file, the line and the field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise HarnessError(f"cannot read votes: {e}", path=str(path)) from None
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in ("model_a", "model_b", "winner") if c not in (reader.fieldnames or [])]
    if missing:
        raise HarnessError(f"missing column {missing[0]!r} (need model_a, model_b, winner)", path=str(path), line=1)
    battles: list[Battle] = []
    try:
        for row in reader:
            line = reader.line_num
            if None in row or any(v is None for v in row.values()):
                raise HarnessError("row has a different number of fields than the header", path=str(path), line=line)
            a, b, winner = row["model_a"].strip(), row["model_b"].strip(), row["winner"].strip()
            for field, value in (("model_a", a), ("model_b", b)):
                if not value:
                    raise HarnessError("empty model name", path=str(path), line=line, field=field)
            if a == b:
                raise HarnessError(f"a model cannot battle itself ({a!r})", path=str(path), line=line, field="model_b")
            if winner not in WINNERS:
                raise HarnessError(f"{winner!r} is not one of {', '.join(WINNERS)}", path=str(path), line=line,
                                   field="winner")
            battles.append((a, b, WINNERS[winner]))
    except csv.Error as e:
        raise HarnessError(f"not valid CSV: {e}", path=str(path), line=reader.line_num) from None
    return battles

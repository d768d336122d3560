"""Calibration of the intervals harness reports: over many seeded simulated runs with a known true mean, the 95%
bootstrap interval of harness/metrics/stats.py must contain the truth 93-97% of the time (docs/metrics.md has the
figures). Each case draws all its runs at once; the intervals are what `bootstrap_ci` returns for each run."""

from __future__ import annotations

import numpy as np
import pytest

from harness.metrics.stats import bootstrap_ci

REPEATS = 1000


def coverage(runs: np.ndarray, truth: float) -> float:
    hits = 0
    for values in runs:
        _, low, high = bootstrap_ci(values)
        hits += low <= truth <= high
    return hits / len(runs)


@pytest.mark.parametrize("n, p", [(50, 0.213), (200, 0.5), (1000, 0.853)])
def test_accuracy_intervals_cover_the_true_accuracy(n: int, p: float) -> None:
    rng = np.random.default_rng(n)
    runs = (rng.random((REPEATS, n)) < p).astype(np.float64)  # per-instance 0/1 correctness
    assert 0.93 <= coverage(runs, p) <= 0.97


def test_continuous_metric_intervals_cover_the_true_mean() -> None:
    # An F1- or ROUGE-like score: many distinct values in [0, 1] (resampled instance by instance), mean 2/7.
    rng = np.random.default_rng(7)
    runs = rng.beta(2.0, 5.0, size=(REPEATS, 150))
    assert 0.93 <= coverage(runs, 2 / 7) <= 0.97

"""Paired comparison of two models (harness.compare): the test on data with known answers, its calibration in
simulation, and `harness compare` end to end against stores written through the stub server."""

from __future__ import annotations

import math
import re
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli
from harness.compare import PERMUTATIONS, flip_means, paired_test, permutation_p, suite_test
from harness.metrics.stats import bootstrap_ci


# ------------------------------------------------------------------------------------- known answers


def test_identical_values_differ_by_nothing() -> None:
    a = [1.0, 0.0, 1.0, 1.0, 0.0] * 8
    r = paired_test(a, a)
    assert (r.n, r.diff, r.ci_low, r.ci_high, r.p_value) == (40, 0.0, 0.0, 0.0, 1.0)


@pytest.mark.parametrize(("d", "exact"), [
    ([1.0] * 5, 2 / 32),  # only all-plus and all-minus reach |mean| = 1
    ([1.0, 1.0, 1.0, -1.0], 10 / 16),  # |sum| >= 2: sums +-4 (2 ways) and +-2 (8 ways)
    ([0.5, 0.5, 0.5, 0.5, 0.5, 0.5], 2 / 64),
    ([2.0, 1.0, 1.0], 2 / 8),  # |+-2 +- 1 +- 1| = 4 only with all three signs alike
])
def test_p_value_matches_the_exact_sign_flip_test(d: list[float], exact: float) -> None:
    b = np.zeros(len(d))
    p = paired_test(np.array(d), b).p_value
    # Monte Carlo over 10,000 flips: within 4 standard errors of the exact permutation p-value
    assert abs(p - exact) < 4 * math.sqrt(exact * (1 - exact) / PERMUTATIONS) + 1 / PERMUTATIONS


def test_a_clear_difference_has_a_tiny_p_and_an_interval_off_zero() -> None:
    a, b = np.ones(30), np.zeros(30)
    r = paired_test(a, b)
    assert (r.mean_a, r.mean_b, r.diff, r.ci_low, r.ci_high) == (1.0, 0.0, 1.0, 1.0, 1.0)
    assert r.p_value == 1 / (1 + PERMUTATIONS)  # no flip reaches |mean| = 1 but the observed signs (2 / 2**30)


def test_interval_is_the_bootstrap_of_the_differences_and_direction_is_a_minus_b() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.random(80), rng.random(80) + 0.2
    r = paired_test(a, b)
    assert r.diff == pytest.approx(a.mean() - b.mean()) and r.diff < 0
    assert (r.diff, r.ci_low, r.ci_high) == bootstrap_ci(a - b)
    assert r.p_value < 0.01
    assert paired_test(b, a).diff == pytest.approx(-r.diff)


def test_pairing_matters() -> None:
    # B is A plus a small constant: unpaired, the spread of A hides it; paired, every difference is the same.
    rng = np.random.default_rng(3)
    a = rng.random(50)
    r = paired_test(a + 0.05, a)
    assert r.ci_low == pytest.approx(0.05) and r.ci_high == pytest.approx(0.05) and r.p_value < 0.001


def test_sign_flip_draws_agree_between_the_binomial_and_the_per_instance_paths() -> None:
    rng = np.random.default_rng(11)
    few = rng.integers(-2, 3, size=300).astype(float)  # 2 magnitudes: drawn as binomial counts
    many = few + rng.normal(0, 1e-3, size=300)  # 300 magnitudes: drawn as signs per instance
    by_count = flip_means(few, 20_000, np.random.default_rng(0))
    by_sign = flip_means(many, 20_000, np.random.default_rng(0))
    assert by_count.std() == pytest.approx(by_sign.std(), rel=0.03)
    assert abs(by_count.mean()) < 0.01 and abs(by_sign.mean()) < 0.01
    # the flipped means' spread is the exact one: sqrt(sum d^2) / n
    assert by_count.std() == pytest.approx(math.sqrt((few ** 2).sum()) / few.size, rel=0.03)


def test_continuous_p_value_is_close_to_the_normal_approximation() -> None:
    rng = np.random.default_rng(5)
    d = rng.normal(0.08, 1.0, size=600)
    p = paired_test(d, np.zeros_like(d)).p_value
    z = abs(d.mean()) / (math.sqrt((d ** 2).sum()) / d.size)
    assert p == pytest.approx(math.erfc(z / math.sqrt(2)), abs=0.02)


def test_permutation_p_counts_ties_as_reaching() -> None:
    assert permutation_p(0.5, np.array([0.5, -0.5, 0.1, 0.0])) == 3 / 5
    assert permutation_p(0.0, np.zeros(9)) == 1.0


def test_suite_test_averages_groups_and_resamples_within_them() -> None:
    one, two = np.full(400, 0.2), np.full(100, -0.1)
    mean, low, high, p = suite_test([one, two])
    # the mean of the groups' means, not of all 500 differences (which would be 0.14)
    assert mean == pytest.approx(0.05) and low == pytest.approx(0.05) and high == pytest.approx(0.05)
    assert p < 0.001  # random signs within groups: their average has sd 0.007, the observed 0.05 is 7 sd out
    mean, low, high, p = suite_test([np.full(400, 0.2), np.full(400, -0.2)])
    assert mean == pytest.approx(0.0) and p == 1.0
    assert all(math.isnan(v) for v in suite_test([np.array([])]))


def test_unequal_lengths_are_refused() -> None:
    with pytest.raises(ValueError):
        paired_test([1.0, 0.0], [1.0])


# ------------------------------------------------------------------------------------- simulation


def _simulate(repeats: int, n: int, shrink: float, seed: int) -> tuple[float, float, float]:
    """Two models on `repeats` fresh samples of n instances (each instance's difficulty p ~ Beta(2, 2); A answers
    right with probability p, B with shrink * p): the rate of p < 0.05, the coverage of the true difference
    (1 - shrink) * E[p] = (1 - shrink) / 2 by the 95% interval, and the time taken."""
    import time

    rng = np.random.default_rng(seed)
    p = rng.beta(2, 2, size=(repeats, n))
    a = (rng.random((repeats, n)) < p).astype(np.float64)
    b = (rng.random((repeats, n)) < shrink * p).astype(np.float64)
    truth = (1 - shrink) / 2
    start = time.perf_counter()
    results = [paired_test(a[i], b[i], seed=i, permutations=2_000) for i in range(repeats)]
    elapsed = time.perf_counter() - start
    rejected = np.mean([r.p_value < 0.05 for r in results])
    covered = np.mean([r.ci_low <= truth <= r.ci_high for r in results])
    return float(rejected), float(covered), elapsed


def test_false_positive_rate_on_two_identical_models_is_near_alpha() -> None:
    rejected, covered, _ = _simulate(repeats=1_000, n=500, shrink=1.0, seed=20)
    assert 0.03 <= rejected <= 0.07
    assert 0.93 <= covered <= 0.97


def test_interval_covers_the_true_difference_about_95_percent() -> None:
    rejected, covered, _ = _simulate(repeats=1_000, n=500, shrink=0.8, seed=21)
    assert 0.93 <= covered <= 0.97
    assert rejected > 0.5  # and the test sees a true difference of 0.1 at n=500 most of the time

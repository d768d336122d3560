from __future__ import annotations

import math

import numpy as np
import pytest

from harness.metrics.stats import bootstrap_ci


def bernoulli(p: float, n: int, seed: int = 1) -> np.ndarray:
    return (np.random.default_rng(seed).random(n) < p).astype(float)


@pytest.mark.parametrize(
    "values",
    [
        bernoulli(0.3, 500),
        np.random.default_rng(2).random(3000),
        np.random.default_rng(3).exponential(size=50),  # skewed, small n
        [0.0, 1.0],
        [0.0, 0.0, 0.0, 100.0],
    ],
)
def test_ci_contains_mean(values: np.ndarray) -> None:
    mean, low, high = bootstrap_ci(values)
    assert mean == pytest.approx(float(np.mean(values)))
    assert low <= mean <= high
    assert low < high


def test_deterministic_given_seed() -> None:
    values = np.random.default_rng(4).random(1000)
    assert bootstrap_ci(values, seed=7) == bootstrap_ci(values, seed=7)
    assert bootstrap_ci(list(values), seed=7) == bootstrap_ci(values, seed=7)
    assert bootstrap_ci(values, seed=7) != bootstrap_ci(values, seed=8)
    binary = bernoulli(0.5, 1000)  # the multinomial fast path is seeded too
    assert bootstrap_ci(binary, seed=7) == bootstrap_ci(binary, seed=7)
    assert bootstrap_ci(binary, seed=7) != bootstrap_ci(binary, seed=8)


def test_width_shrinks_with_n() -> None:
    _, lo_small, hi_small = bootstrap_ci(bernoulli(0.5, 100))
    _, lo_big, hi_big = bootstrap_ci(bernoulli(0.5, 10_000))
    # Width scales like 1/sqrt(n): 100x the data, ~10x narrower.
    assert (hi_big - lo_big) < (hi_small - lo_small) / 5


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
@pytest.mark.parametrize("continuous_path", [False, True])
def test_bernoulli_width_matches_normal_approximation(p: float, continuous_path: bool) -> None:
    n = 2000
    values = bernoulli(p, n, seed=int(p * 100))
    if continuous_path:
        # A tiny per-value jitter makes every value distinct, which forces the index-resampling
        # path; both paths must agree with the normal approximation.
        values = values + np.arange(n) * 1e-12
    mean, low, high = bootstrap_ci(values)
    normal_width = 2 * 1.96 * math.sqrt(mean * (1 - mean) / n)
    assert (high - low) == pytest.approx(normal_width, rel=0.15)
    assert low < mean < high


def test_confidence_level_changes_width() -> None:
    values = bernoulli(0.5, 2000)
    _, lo90, hi90 = bootstrap_ci(values, confidence=0.90)
    _, lo99, hi99 = bootstrap_ci(values, confidence=0.99)
    assert (hi90 - lo90) < (hi99 - lo99)


def test_nans_dropped() -> None:
    values = [1.0, math.nan, 0.0, 1.0, math.nan, 1.0]
    mean, low, high = bootstrap_ci(values)
    assert mean == pytest.approx(0.75)
    assert (mean, low, high) == bootstrap_ci([1.0, 0.0, 1.0, 1.0])


def test_empty_and_all_nan() -> None:
    for values in ([], [math.nan, math.nan], np.array([])):
        assert all(math.isnan(x) for x in bootstrap_ci(values))


def test_single_value() -> None:
    assert bootstrap_ci([0.25]) == (0.25, 0.25, 0.25)
    assert bootstrap_ci([math.nan, 3.0, math.nan]) == (3.0, 3.0, 3.0)


def test_constant_values_give_zero_width() -> None:
    assert bootstrap_ci([1.0] * 500) == (1.0, 1.0, 1.0)


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        bootstrap_ci([1.0, 2.0], confidence=1.0)
    with pytest.raises(ValueError):
        bootstrap_ci([1.0, 2.0], resamples=0)


def test_large_input_bounded_memory() -> None:
    # 100k values: the full index matrix would be 100M entries; chunking keeps this feasible.
    values = np.random.default_rng(6).random(100_000)
    mean, low, high = bootstrap_ci(values, resamples=200)
    assert low < mean < high
    assert high - low < 0.01


def test_a_large_runs_intervals_computed_two_at_a_time_are_the_ones_computed_one_by_one(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """aggregate() bootstraps a large run's stats in two threads; every row must equal the sequential one exactly."""
    import threading

    import harness.metrics.stats as stats
    import harness.scoring as scoring

    rng = np.random.default_rng(5)
    per_instance = [{"exact_match": float(rng.random() < 0.4), "latency_s": float(rng.exponential()),
                     "prompt_tokens": float(rng.integers(50, 900))} for _ in range(2000)]
    per_instance[7].pop("latency_s")  # a stat some instances lack
    threads: set[str] = set()
    real = stats.bootstrap_ci
    monkeypatch.setattr(scoring, "bootstrap_ci",
                        lambda *a, **k: threads.add(threading.current_thread().name) or real(*a, **k))
    parallel = scoring.aggregate("r", per_instance, [], [], seed=3)
    assert all(name.startswith("harness-bootstrap") for name in threads) and threads
    threads.clear()
    monkeypatch.setattr(scoring, "PARALLEL_FROM", 10**9)
    sequential = scoring.aggregate("r", per_instance, [], [], seed=3)
    assert threads == {threading.main_thread().name}
    assert parallel == sequential and len(parallel) == 3 and parallel[1]["count"] == 1999

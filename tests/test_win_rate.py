"""Pins the mean-win-rate semantics (HELM's `compute_aggregate_row_win_rates`, mean aggregation).

Every expected number is worked out by hand in the comments, as a fraction, so these tests
check the code against the definition rather than against itself:
win rate = (models strictly beaten + 1/2 * other models tied) / (models with a value - 1).
"""

from __future__ import annotations

import math
from fractions import Fraction as F

import pytest

from harness.win_rate import by_win_rate, column_win_rates, mean_win_rates


def approx(expected: dict[str, F | None]) -> dict[str, object]:
    return {k: (None if v is None else pytest.approx(float(v), abs=1e-12)) for k, v in expected.items()}


def test_three_models_no_ties() -> None:
    table = {
        "a": {"x": 0.9, "y": 0.2},
        "b": {"x": 0.5, "y": 0.8},
        "c": {"x": 0.1, "y": 0.5},
    }
    # x: a beats 2 of 2 -> 1, b beats 1 -> 1/2, c -> 0
    # y: b -> 1, c -> 1/2, a -> 0
    # means: a (1 + 0)/2 = 1/2, b (1/2 + 1)/2 = 3/4, c (0 + 1/2)/2 = 1/4
    got = mean_win_rates(table, {"x": False, "y": False})
    assert got == approx({"a": F(1, 2), "b": F(3, 4), "c": F(1, 4)})
    assert list(got) == ["a", "b", "c"]  # order of the table


def test_ties_count_half_per_other_tied_model() -> None:
    table = {"a": {"x": 1.0}, "b": {"x": 1.0}, "c": {"x": 0.5}, "d": {"x": 0.0}}
    # 4 models, denominator 3.
    # a: beats c, d (2) + ties with b (1/2) -> (5/2)/3 = 5/6; b the same.
    # c: beats d -> 1/3; d -> 0.
    got = mean_win_rates(table, {"x": False})
    assert got == approx({"a": F(5, 6), "b": F(5, 6), "c": F(1, 3), "d": F(0)})


def test_helm_tie_example() -> None:
    # HELM's test_compute_win_rates_ties: values 1, 1, 1, 4, 5 -> [0.25, 0.25, 0.25, 0.75, 1.0].
    # By hand: a 1 beats nobody, ties with 2 others -> (2/2)/4 = 1/4; 4 beats 3 -> 3/4; 5 -> 4/4.
    table = {m: {"x": v} for m, v in zip("abcde", [1, 1, 1, 4, 5])}
    got = mean_win_rates(table, {"x": False})
    assert got == approx({"a": F(1, 4), "b": F(1, 4), "c": F(1, 4), "d": F(3, 4), "e": F(1)})


def test_missing_cells_none_nan_and_absent() -> None:
    # HELM's test_compute_win_rates_incomplete_values, with the three spellings of "no value".
    table = {
        "a": {"x": 1, "y": 3},
        "b": {"x": 2, "y": 1},
        "c": {"x": 3, "y": None},
        "d": {"x": 4, "y": math.nan},
        "e": {"x": 5},
    }
    # x (5 models, denominator 4): a 0, b 1/4, c 2/4, d 3/4, e 1.
    # y (only a and b, denominator 1): a beats b -> 1, b -> 0.
    # means: a (0 + 1)/2 = 1/2, b (1/4 + 0)/2 = 1/8, c 1/2, d 3/4, e 1 (HELM: [0.5, 0.125, 0.5, 0.75, 1]).
    got = mean_win_rates(table, {"x": False, "y": False})
    assert got == approx({"a": F(1, 2), "b": F(1, 8), "c": F(1, 2), "d": F(3, 4), "e": F(1)})


def test_lower_is_better_column() -> None:
    table = {
        "a": {"acc": 0.3, "latency": 1.0},
        "b": {"acc": 0.1, "latency": 2.0},
        "c": {"acc": 0.2, "latency": 3.0},
    }
    # acc (higher better): a 1, c 1/2, b 0.
    # latency (lower better): a 1 (fastest), b 1/2, c 0.
    # means: a 1, b (0 + 1/2)/2 = 1/4, c (1/2 + 0)/2 = 1/4.
    got = mean_win_rates(table, {"acc": False, "latency": True})
    assert got == approx({"a": F(1), "b": F(1, 4), "c": F(1, 4)})


def test_single_model_column_gives_no_win_rate() -> None:
    table = {
        "a": {"solo": 5.0, "y": 0.1},
        "b": {"y": 0.2},
        "c": {"z": 3.0},
    }
    # solo: only a -> skipped (a is neither 1 nor 0 there). z: only c -> skipped.
    # y: b beats a -> b 1, a 0.
    # means: a 0 (from y only, not (1 + 0)/2), b 1, c None (no column with a win rate).
    got = mean_win_rates(table, {"solo": False, "y": False, "z": True})
    assert got == approx({"a": F(0), "b": F(1), "c": None})


def test_all_equal_column_is_one_half_each() -> None:
    # 3 models, all tied: each beats 0 and ties 2 others -> (2/2)/2 = 1/2.
    got = mean_win_rates({"a": {"x": 0.7}, "b": {"x": 0.7}, "c": {"x": 0.7}}, {"x": False})
    assert got == approx({"a": F(1, 2), "b": F(1, 2), "c": F(1, 2)})
    # 2 models, tied: (1/2)/1 = 1/2; same for a lower-is-better column.
    got = mean_win_rates({"a": {"x": 2.0}, "b": {"x": 2.0}}, {"x": True})
    assert got == approx({"a": F(1, 2), "b": F(1, 2)})


def test_unordered_column_skipped_and_unknown_column_rejected() -> None:
    table = {"a": {"x": 1.0, "notes": 5.0}, "b": {"x": 2.0, "notes": 1.0}}
    # "notes" has no ordering (None, as in HELM) -> only x counts: b 1, a 0.
    assert mean_win_rates(table, {"x": False, "notes": None}) == approx({"a": F(0), "b": F(1)})
    with pytest.raises(KeyError):
        mean_win_rates(table, {"x": False})  # direction of "notes" forgotten


def test_empty_inputs() -> None:
    assert mean_win_rates({}, {}) == {}
    assert mean_win_rates({"a": {}, "b": {"x": None}}, {"x": False}) == {"a": None, "b": None}
    assert column_win_rates({}, False) == {}
    assert column_win_rates({"a": 1.0}, False) == {}


def test_by_win_rate_puts_the_best_first_and_the_unrated_last_in_given_order() -> None:
    rates = {"a": 0.2, "b": None, "c": 0.9, "d": float("nan"), "e": 0.2, "f": 0.0}
    assert by_win_rate(["b", "a", "d", "c", "e", "f", "g"], rates) == ["c", "a", "e", "f", "b", "d", "g"]

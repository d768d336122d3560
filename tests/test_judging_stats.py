"""The statistics of judged evaluation (harness/judging): agreement against textbook values, Bradley–Terry against
hand-solvable and simulated cases, the length-controlled win rate against a simulated length bias."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.judging.agreement import accuracy, cohen_kappa, confusion_matrix, krippendorff_alpha
from harness.judging.bradley_terry import (
    bradley_terry_intervals, fit_bradley_terry, read_human_votes, win_rate_matrix)
from harness.judging.length_control import fit_length_model, length_controlled_win_rate, length_correlation


# ---------------------------------------------------------------- agreement
def test_cohen_kappa_textbook_example() -> None:
    # 50 items: both yes 20, A yes / B no 5, A no / B yes 10, both no 15.
    # p_o = 35/50 = 0.7; p_e = (25/50)(30/50) + (25/50)(20/50) = 0.3 + 0.2 = 0.5; kappa = (0.7 - 0.5) / 0.5 = 0.4.
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert accuracy(a, b) == pytest.approx(0.7)
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa(a, a) == pytest.approx(1.0)
    # Agreement no better than chance: each rater says yes half the time, independently -> p_o = p_e = 0.5.
    assert cohen_kappa(["y", "y", "n", "n"], ["y", "n", "y", "n"]) == pytest.approx(0.0)
    # Worse than chance: always opposite.
    assert cohen_kappa(["y", "n"], ["n", "y"]) == pytest.approx(-1.0)


def test_cohen_kappa_is_undefined_when_chance_explains_everything() -> None:
    assert math.isnan(cohen_kappa(["x", "x", "x"], ["x", "x", "x"]))
    with pytest.raises(ValueError, match="different numbers"):
        cohen_kappa(["a"], ["a", "b"])
    with pytest.raises(ValueError, match="no items"):
        accuracy([], [])


def test_krippendorff_alpha_worked_example_nominal_with_missing_values() -> None:
    # Krippendorff, "Computing Krippendorff's Alpha-Reliability" (2011), section C: four observers, twelve units,
    # values 1..5, missing ratings; nominal alpha = 0.743. Unit 12 has a single value and is not pairable.
    observers = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
        [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
    ]
    assert round(krippendorff_alpha(observers), 3) == 0.743
    # By hand: n = 40 pairable values (units 1-11); n_c = 9, 13, 10, 5, 3 for values 1-5, so sum_{c != k} n_c n_k =
    # 40^2 - 384 = 1216. Disagreeing pairs: unit 2 (2,2,2,3) 6 ordered pairs / 3, unit 6 (1,2,3,4) 12 / 3, unit 8
    # (1,1,2,1) 6 / 3: sum_{c != k} o_ck = 8. alpha = 1 - 39 * 8 / 1216.
    assert krippendorff_alpha(observers) == pytest.approx(1 - 39 * 8 / 1216, abs=1e-12)


def test_krippendorff_alpha_binary_example() -> None:
    # Same source, section A: two observers, ten units, binary data; alpha = 0.095.
    # o_00 = 10, o_01 = o_10 = 4, o_11 = 2; n_0 = 14, n_1 = 6, n = 20; alpha = 1 - 19 * 8 / (2 * 14 * 6) = 2/21.
    a = [0, 1, 0, 0, 0, 0, 0, 0, 1, 0]
    b = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
    assert krippendorff_alpha([a, b]) == pytest.approx(2 / 21)
    # Two raters, no missing values, nominal: alpha and kappa measure the same agreement slightly differently.
    assert krippendorff_alpha([a, a]) == pytest.approx(1.0)
    assert math.isnan(krippendorff_alpha([[1, 1, None], [1, 1, 2]]))  # no variation among pairable values


def test_confusion_matrix_rows_truth_columns_predicted() -> None:
    truth = ["c", "c", "r", "p", "r"]
    pred = ["c", "r", "r", "c", "r"]
    assert confusion_matrix(truth, pred, ["c", "r", "p"]) == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    with pytest.raises(ValueError, match="'x' is not one of"):
        confusion_matrix(["c"], ["x"], ["c", "r"])


# ---------------------------------------------------------------- Bradley–Terry
def test_two_models_hand_solvable() -> None:
    # a beat b 3 times of 4: the maximum-likelihood P(a beats b) is 3/4, odds 3:1, so the gap is 400 * log10(3)
    # Elo points (~190.85), placed symmetrically about 1000.
    scores = fit_bradley_terry([("a", "b", 1.0)] * 3 + [("a", "b", 0.0)], ridge=1e-9)
    assert scores["a"] - scores["b"] == pytest.approx(400 * math.log10(3), abs=1e-4)
    assert scores["a"] + scores["b"] == pytest.approx(2000)
    # A win and a tie are 1.5 wins to 0.5: the same odds, the same gap.
    tie = fit_bradley_terry([("a", "b", 1.0), ("b", "a", 0.5)], ridge=1e-9)
    assert tie["a"] - tie["b"] == pytest.approx(400 * math.log10(3), abs=1e-4)
    even = fit_bradley_terry([("a", "b", 0.5)] * 5)
    assert even["a"] == pytest.approx(1000) and even["b"] == pytest.approx(1000)


def test_a_model_that_never_loses_or_never_wins_gets_a_finite_score() -> None:
    battles = [("top", "mid", 1.0)] * 20 + [("mid", "low", 1.0)] * 20 + [("top", "low", 1.0)] * 5
    scores = fit_bradley_terry(battles)
    assert all(math.isfinite(s) for s in scores.values())
    assert scores["top"] > scores["mid"] > scores["low"]
    assert sum(scores.values()) / 3 == pytest.approx(1000)
    intervals = bradley_terry_intervals(battles, resamples=50, seed=1)
    assert all(math.isfinite(x) for triple in intervals.values() for x in triple)


def _simulate(true: dict[str, float], n: int, seed: int) -> list[tuple[str, str, float]]:
    rng = random.Random(seed)
    models = sorted(true)
    battles = []
    for _ in range(n):
        a, b = rng.sample(models, 2)
        p = 1 / (1 + 10 ** ((true[b] - true[a]) / 400))  # the Elo-scale Bradley–Terry model itself
        draw = rng.random()
        battles.append((a, b, 0.5 if abs(draw - p) < 0.05 else 1.0 if draw < p else 0.0))
    return battles


def test_recovers_known_strengths_from_simulated_battles() -> None:
    true = {"m_a": 1300.0, "m_b": 1150.0, "m_c": 1000.0, "m_d": 900.0, "m_e": 650.0}  # mean 1000
    battles = _simulate(true, 6000, seed=7)
    scores = fit_bradley_terry(battles)
    assert sorted(scores, key=scores.get) == sorted(true, key=true.get)
    for model, value in true.items():
        assert scores[model] == pytest.approx(value, abs=35)
    intervals = bradley_terry_intervals(battles, resamples=200, seed=3)
    for model, (score, low, high) in intervals.items():
        assert score == pytest.approx(scores[model])
        assert low < score < high and high - low < 80
    assert sum(low <= true[m] <= high for m, (_, low, high) in intervals.items()) >= 4


def test_bootstrap_is_seeded() -> None:
    battles = _simulate({"x": 1100.0, "y": 1000.0, "z": 900.0}, 300, seed=1)
    first = bradley_terry_intervals(battles, resamples=100, seed=5)
    assert bradley_terry_intervals(battles, resamples=100, seed=5) == first
    assert bradley_terry_intervals(battles, resamples=100, seed=6) != first


def test_win_rate_matrix_counts_ties_as_half() -> None:
    rates = win_rate_matrix([("a", "b", 1.0), ("b", "a", 0.5), ("b", "c", 0.0)])
    assert rates == {("a", "b"): 0.75, ("b", "a"): 0.25, ("b", "c"): 0.0, ("c", "b"): 1.0}


@pytest.mark.parametrize("battle, message", [
    (("a", "a", 1.0), "two different model names"),
    (("a", "b", 0.7), "outcome must be"),
    (("a", "b"), "expected"),
])
def test_bad_battles_are_refused(battle: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fit_bradley_terry([("a", "b", 1.0), battle])


def test_read_human_votes(tmp_path: Path) -> None:
    good = tmp_path / "votes.csv"
    good.write_text("question_id,model_a,model_b,winner\n1,x,y,model_a\n2,y,x,tie (bothbad)\n3,x,z,model_b\n"
                    "4,z,y,tie\n")
    assert read_human_votes(good) == [("x", "y", 1.0), ("y", "x", 0.5), ("x", "z", 0.0), ("z", "y", 0.5)]
    bad = tmp_path / "bad.csv"
    bad.write_text("model_a,model_b,winner\nx,y,model_a\nx,y,a\n")
    with pytest.raises(HarnessError) as err:
        read_human_votes(bad)
    assert err.value.one_line() == f"{bad}:3: winner: 'a' is not one of model_a, model_b, tie, tie (bothbad)"
    same = tmp_path / "same.csv"
    same.write_text("model_a,model_b,winner\nx,x,tie\n")
    with pytest.raises(HarnessError, match=r"same.csv:2: model_b: a model cannot battle itself"):
        read_human_votes(same)
    missing = tmp_path / "missing.csv"
    missing.write_text("model_a,winner\nx,model_a\n")
    with pytest.raises(HarnessError, match=r"missing.csv:1: missing column 'model_b'"):
        read_human_votes(missing)
    with pytest.raises(HarnessError, match="cannot read votes"):
        read_human_votes(tmp_path / "absent.csv")


# ---------------------------------------------------------------- length control
def test_length_controlled_win_rate_removes_a_simulated_length_bias() -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    diffs = rng.normal(200, 200, 4000)  # the candidate writes longer answers
    x = diffs / diffs.std()
    wins = (rng.random(4000) < 1 / (1 + np.exp(-1.5 * x))).astype(float)  # the judge prefers length, nothing else
    verdicts = [float(v) for v in wins]
    raw = sum(verdicts) / len(verdicts)
    assert raw > 0.7
    assert length_controlled_win_rate(verdicts, list(diffs)) == pytest.approx(0.5, abs=0.03)
    b0, b1 = fit_length_model(verdicts, list(diffs))
    assert b1 == pytest.approx(1.5, abs=0.15)
    correlation = length_correlation(verdicts, list(diffs))
    assert 0.3 < correlation["pearson"] < 0.7 and 0.3 < correlation["spearman"] < 0.7


def test_length_control_edge_cases() -> None:
    # Ties are left out of the fit: these ones change nothing.
    base = ([1.0, 0.0, 1.0, 1.0], [10.0, -5.0, 3.0, 0.0])
    with_ties = (base[0] + [0.5, 0.5], base[1] + [100.0, -100.0])
    assert length_controlled_win_rate(*with_ties) == pytest.approx(length_controlled_win_rate(*base))
    assert math.isnan(length_controlled_win_rate([0.5, 0.5], [1.0, 2.0]))
    always = length_controlled_win_rate([1.0] * 10, [5.0] * 10)  # wins everything: finite, near 1
    assert 0.9 < always < 1.0
    assert length_correlation([1.0, 0.0, 1.0], [3.0, 1.0, 2.0])["spearman"] == pytest.approx(math.sqrt(3) / 2)
    assert math.isnan(length_correlation([1.0, 1.0], [1.0, 2.0])["pearson"])
    with pytest.raises(ValueError, match="verdict must be"):
        length_controlled_win_rate([0.3], [1.0])
    with pytest.raises(ValueError, match="2 verdicts but 1"):
        length_correlation([1.0, 0.0], [1.0])

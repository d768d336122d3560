"""Calibration metrics, corpus metrics with intervals, multi-stat metrics and worst cases over perturbations,
against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.adapters.base import Prediction
from harness.clients.deployment import ModelDeployment
from harness.errors import HarnessError
from harness.instance import CORRECT, Instance, Reference
from harness.metrics.calibration import expected_calibration_error, selective_accuracy
from harness.metrics.registry import (corpus_metric_registry, directions, lower_is_better, register_metric,
                                      resolve)
from harness.scoring import aggregate, score_instance, worst_cases

DEPLOYMENT = ModelDeployment(name="m", client="chance", model="m")
INSTANCE = Instance("q1", "Which?", (Reference("a"), Reference("b", (CORRECT,)), Reference("c")))


@register_metric("test_error_rate", lower_is_better=True)
def _error_rate(instance: Instance, pred: Prediction, _: ModelDeployment) -> float:
    return float(pred.choice_index != instance.correct_index)


def test_calibration_stats_from_choice_logprobs() -> None:
    pred = Prediction(text="a", choice_index=0, choice_logprobs=[math.log(0.5), math.log(0.3), math.log(0.2)])
    (metric,), _ = resolve(["calibration"])
    stats = metric(INSTANCE, pred, DEPLOYMENT)
    assert stats["_mc_confidence"] == pytest.approx(0.5) and stats["_mc_correct"] == 0.0
    # probabilities are normalised over the choices: unnormalised scores give the same confidence
    shifted = Prediction(text="b", choice_index=1, choice_logprobs=[-10.0, -9.0, -12.0])
    stats = metric(INSTANCE, shifted, DEPLOYMENT)
    assert stats["_mc_confidence"] == pytest.approx(math.e / (1 + math.e + math.exp(-2)))
    assert stats["_mc_correct"] == 1.0
    joint = Prediction(text="b", choice_index=1)  # no probabilities: not made up
    assert all(math.isnan(v) for v in metric(INSTANCE, joint, DEPLOYMENT).values())


def test_ece_equal_mass_bins_by_hand() -> None:
    conf = np.array([0.9, 0.6, 0.8, 0.7])
    correct = np.array([1.0, 1.0, 0.0, 1.0])
    # sorted by confidence: (0.6, 1) (0.7, 1) | (0.8, 0) (0.9, 1): |1 - 0.65| and |0.5 - 0.85|, each over 2 of 4
    assert expected_calibration_error(conf, correct, bins=2) == pytest.approx(0.35)
    assert expected_calibration_error(conf, correct, bins=1) == pytest.approx(abs(0.75 - 0.75))
    # 4 bins of one: mean of |correct - conf| = (0.4 + 0.3 + 0.8 + 0.1) / 4
    assert expected_calibration_error(conf, correct, bins=10) == pytest.approx(0.4)


def test_ece_keeps_tied_confidences_in_one_bin_whatever_the_order() -> None:
    conf = np.full(20, 0.5)
    correct = np.array([1.0] * 10 + [0.0] * 10)
    # One bin holds all 20 (10 right, mean confidence 0.5): ECE 0 in every order; cutting them into 10 groups of 2
    # by position would give 0.5 for this order.
    assert expected_calibration_error(conf, correct, bins=10) == 0.0
    rng = np.random.default_rng(0)
    for _ in range(5):
        assert expected_calibration_error(conf, rng.permutation(correct), bins=10) == 0.0
    # Ties next to distinct values: the tie at 0.4 sits in one bin, and permuting the instances changes nothing.
    conf = np.array([0.4, 0.4, 0.4, 0.9, 0.8, 0.4])
    correct = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    expected = expected_calibration_error(conf, correct, bins=3)
    for _ in range(5):
        order = rng.permutation(conf.size)
        assert expected_calibration_error(conf[order], correct[order], bins=3) == pytest.approx(expected, abs=1e-15)


def test_selective_accuracy_and_area_by_hand() -> None:
    conf = np.array([0.2, 0.9, 0.5, 0.4, 0.3, 0.8, 0.7, 0.6, 0.1, 0.35])
    correct = np.array([0, 1, 0, 1, 1, 0, 1, 1, 0, 0], dtype=float)
    # HELM keeps int(coverage * n) + 1: the top 2 (0.9 right, 0.8 wrong) and the top 4 (+ 0.7, 0.6 right)
    assert selective_accuracy(conf, correct, 0.1) == 0.5
    assert selective_accuracy(conf, correct, 0.3) == pytest.approx(3 / 4)
    area = corpus_metric_registry()["selective_coverage_accuracy_area"].fn
    columns = {"_mc_confidence": np.array([0.9, 0.8, 0.7]), "_mc_correct": np.array([1.0, 0.0, 1.0])}
    assert area(columns) == pytest.approx((1 + 0.5 + 2 / 3) / 3)


def test_corpus_metric_interval_and_direction() -> None:
    rng = np.random.default_rng(3)
    per_instance = []
    for _ in range(200):
        conf = float(rng.uniform(0.3, 1.0))
        per_instance.append({"_mc_confidence": conf, "_mc_correct": float(rng.uniform() < conf * 0.8)})
    metrics, corpus = resolve(["ece_10_bin", "ece_1_bin", "selective_acc_10"])
    rows = {r["metric"]: r for r in aggregate("r", per_instance, corpus, metrics)}
    ece = rows["ece_10_bin"]
    columns = {k: np.array([s[k] for s in per_instance]) for k in ("_mc_confidence", "_mc_correct")}
    assert ece["mean"] == pytest.approx(corpus[0].fn(columns))
    assert ece["ci_low"] < ece["mean"] < ece["ci_high"] and ece["lower_is_better"] == 1 and ece["count"] == 200
    assert rows["selective_acc_10"]["lower_is_better"] == 0
    assert "_mc_confidence" in rows  # auxiliary stats are stored; the site hides them


def test_resolve_names_metrics_stats_and_corpus_metrics() -> None:
    metrics, corpus = resolve(["exact_match", "ece_10_bin", "_mc_correct"])
    assert [m.name for m in metrics] == ["exact_match", "calibration"] and [c.name for c in corpus] == ["ece_10_bin"]
    with pytest.raises(HarnessError, match="unknown metric 'nope'"):
        resolve(["nope"])
    assert lower_is_better("ece_10_bin") and lower_is_better("latency_s") and not lower_is_better("exact_match")
    assert lower_is_better("test_error_rate@robustness") and not lower_is_better("exact_match@fairness")
    assert directions()["_mc_confidence"] is False


def test_worst_case_takes_each_metrics_own_direction() -> None:
    original = [{"exact_match": 1.0, "test_error_rate": 0.0}, {"exact_match": 0.0, "test_error_rate": 1.0}, {}]
    perturbed = {
        "typos": [{"exact_match": 0.0, "test_error_rate": 1.0}, {"exact_match": 1.0, "test_error_rate": 0.0}, {}],
        "lowercase": [{"exact_match": 1.0, "test_error_rate": 0.0}, {}, {}],  # instance 2's copy failed
        "dialect": [{"exact_match": 1.0, "test_error_rate": 0.0}, {"exact_match": 1.0, "test_error_rate": 0.0}, {}],
    }
    categories = {"typos": "robustness", "lowercase": "robustness", "dialect": "fairness"}
    out = worst_cases(original, perturbed, categories, ["exact_match", "test_error_rate"])
    # higher is better -> minimum over the original and the category's copies
    assert out[0]["exact_match@robustness"] == 0.0 and out[0]["exact_match@fairness"] == 1.0
    assert out[1]["exact_match@robustness"] == 0.0 and out[1]["exact_match@fairness"] == 0.0
    # lower is better -> maximum (HELM would take the minimum and report 0 error under typos for instance 0)
    assert out[0]["test_error_rate@robustness"] == 1.0 and out[1]["test_error_rate@robustness"] == 1.0
    assert out[0]["exact_match@typos"] == 0.0 and "exact_match@lowercase" not in out[1]
    assert out[2] == {}  # a failed original has no worst case


def test_multi_stat_metric_flattens() -> None:
    @register_metric("test_pair", stats={"test_a": False, "_test_count": False})
    def pair(instance: Instance, pred: Prediction, _: ModelDeployment) -> dict[str, float]:
        return {"test_a": 1.0, "_test_count": 3.0}

    metrics, _ = resolve(["test_a"])
    assert [m.name for m in metrics] == ["test_pair"]
    assert score_instance(metrics, INSTANCE, Prediction(text="x"), DEPLOYMENT) == {"test_a": 1.0, "_test_count": 3.0}
    assert score_instance(metrics, INSTANCE, Prediction(text=None), DEPLOYMENT) == {}

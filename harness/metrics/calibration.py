"""Calibration from multiple-choice probabilities: ECE and selective accuracy (HELM's calibration metrics).

The model's probability for each choice is its log-likelihood under `multiple_choice_separate`, normalised over
the choices (a softmax of the scores the adapter ranked them by). Confidence is the probability of the chosen
choice. A joint (lettered) prompt gives no probabilities through a completions API, so there the stats are absent
and the corpus metrics are not reported, rather than made up.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from harness.metrics.registry import register_corpus_metric, register_metric

if TYPE_CHECKING:
    import numpy as np

    from harness.adapters.base import Prediction
    from harness.clients.deployment import ModelDeployment
    from harness.instance import Instance

NAN = math.nan


def choice_probabilities(logprobs: list[float]) -> list[float]:
    top = max(logprobs)
    weights = [math.exp(lp - top) for lp in logprobs]
    total = sum(weights)
    return [w / total for w in weights]


@register_metric("calibration", stats={"_mc_confidence": False, "_mc_correct": False}, quick=True)
def calibration(instance: Instance, pred: Prediction, _: ModelDeployment) -> dict[str, float]:
    """Probability of the chosen choice, and whether it is the gold one (inputs of ECE and selective accuracy)."""
    if not pred.choice_logprobs or pred.choice_index is None or instance.correct_index is None:
        return {"_mc_confidence": NAN, "_mc_correct": NAN}
    probs = choice_probabilities(pred.choice_logprobs)
    return {"_mc_confidence": probs[pred.choice_index], "_mc_correct": float(pred.choice_index == instance.correct_index)}


def _pairs(columns: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    conf, correct = columns["_mc_confidence"], columns["_mc_correct"]
    keep = ~(np.isnan(conf) | np.isnan(correct))
    return conf[keep], correct[keep]


def expected_calibration_error(conf: np.ndarray, correct: np.ndarray, bins: int) -> float:
    """ECE with equal-mass bins: instances sorted by confidence and cut into `bins` groups of (nearly) equal size;
    the size-weighted mean of |accuracy - mean confidence| over the groups."""
    import numpy as np

    n = conf.size
    if n == 0:
        return NAN
    order = np.argsort(conf, kind="stable")
    total = 0.0
    for group in np.array_split(order, min(bins, n)):
        total += group.size * abs(float(correct[group].mean()) - float(conf[group].mean()))
    return total / n


@register_corpus_metric("ece_10_bin", needs=("calibration",), lower_is_better=True)
def ece_10_bin(columns: dict[str, np.ndarray]) -> float:
    """Expected calibration error, 10 equal-mass bins (0 = confidence matches accuracy)."""
    return expected_calibration_error(*_pairs(columns), bins=10)


@register_corpus_metric("ece_1_bin", needs=("calibration",), lower_is_better=True)
def ece_1_bin(columns: dict[str, np.ndarray]) -> float:
    """|accuracy - mean confidence| over all instances (ECE with one bin)."""
    return expected_calibration_error(*_pairs(columns), bins=1)


def selective_accuracy(conf: np.ndarray, correct: np.ndarray, coverage: float) -> float:
    """Accuracy on the `coverage` fraction of instances the model is most confident about (at least one)."""
    import numpy as np

    n = conf.size
    if n == 0:
        return NAN
    keep = max(1, int(round(coverage * n)))
    order = np.argsort(-conf, kind="stable")
    return float(correct[order[:keep]].mean())


@register_corpus_metric("selective_acc_10", needs=("calibration",))
def selective_acc_10(columns: dict[str, np.ndarray]) -> float:
    """Accuracy on the 10% of instances with the highest confidence."""
    return selective_accuracy(*_pairs(columns), coverage=0.1)


@register_corpus_metric("selective_coverage_accuracy_area", needs=("calibration",))
def selective_coverage_accuracy_area(columns: dict[str, np.ndarray]) -> float:
    """Area under the coverage-accuracy curve: the mean, over k = 1..n, of the accuracy on the k most confident."""
    import numpy as np

    conf, correct = _pairs(columns)
    if conf.size == 0:
        return NAN
    ordered = correct[np.argsort(-conf, kind="stable")]
    return float((np.cumsum(ordered) / np.arange(1, ordered.size + 1)).mean())

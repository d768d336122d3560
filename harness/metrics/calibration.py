"""Calibration from multiple-choice probabilities: ECE and selective accuracy (HELM's calibration metrics, computed
as crfm-helm 0.5.16 computes them with the uncertainty-calibration package; `selective_acc_10` and
`selective_coverage_accuracy_area` are HELM's `selective_acc@10` and `selective_cov_acc_area`).

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


def equal_mass_thresholds(conf: np.ndarray, bins: int) -> np.ndarray:
    """Upper bin edges of HELM's equal-mass binning (uncertainty-calibration's `get_equal_bins`): the sorted
    confidences cut into min(bins, n) groups of (nearly) equal size, an edge halfway between neighbouring groups,
    and 1.0; duplicate edges merge (many tied confidences give fewer, larger bins)."""
    import numpy as np

    groups = np.array_split(np.sort(conf), min(bins, conf.size))
    edges = {(low[-1] + high[0]) / 2.0 for low, high in zip(groups, groups[1:])} | {1.0}
    return np.array(sorted(edges))


def expected_calibration_error(conf: np.ndarray, correct: np.ndarray, bins: int) -> float:
    """ECE with equal-mass bins (HELM's `get_ece_em`): each confidence goes in the first bin whose upper edge is >=
    it, so equal confidences always share a bin and the result does not depend on the instances' order; the
    size-weighted mean of |mean confidence - accuracy| over the bins."""
    import numpy as np

    n = conf.size
    if n == 0:
        return NAN
    which = np.searchsorted(equal_mass_thresholds(conf, bins), conf, side="left")
    total = 0.0
    for b in np.unique(which):
        members = which == b
        total += members.sum() * abs(float(conf[members].mean()) - float(correct[members].mean()))
    return total / n


@register_corpus_metric("ece_10_bin", needs=("calibration",), lower_is_better=True)
def ece_10_bin(columns: dict[str, np.ndarray]) -> float:
    """Expected calibration error, 10 equal-mass bins, tied confidences in one bin (HELM's; 0 = calibrated)."""
    return expected_calibration_error(*_pairs(columns), bins=10)


@register_corpus_metric("ece_1_bin", needs=("calibration",), lower_is_better=True)
def ece_1_bin(columns: dict[str, np.ndarray]) -> float:
    """|accuracy - mean confidence| over all instances (ECE with one bin)."""
    return expected_calibration_error(*_pairs(columns), bins=1)


def _by_confidence(conf: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """Correctness in descending confidence, ties in the order numpy's default (unstable) argsort of -conf gives,
    as HELM (uncertainty-calibration's `get_selective_stats`) orders them, so that the results match HELM's."""
    import numpy as np

    return correct[np.argsort(-conf)]


def selective_accuracy(conf: np.ndarray, correct: np.ndarray, coverage: float) -> float:
    """HELM's selective accuracy: the accuracy of the int(coverage * n) + 1 most confident instances."""
    if conf.size == 0:
        return NAN
    ordered = _by_confidence(conf, correct)
    return float(ordered[: int(coverage * conf.size) + 1].mean())


@register_corpus_metric("selective_acc_10", needs=("calibration",))
def selective_acc_10(columns: dict[str, np.ndarray]) -> float:
    """Accuracy of the most confident instances: the top int(n / 10) + 1, as HELM's `selective_acc@10`."""
    return selective_accuracy(*_pairs(columns), coverage=0.1)


@register_corpus_metric("selective_coverage_accuracy_area", needs=("calibration",))
def selective_coverage_accuracy_area(columns: dict[str, np.ndarray]) -> float:
    """Area under the coverage-accuracy curve: the mean, over k = 1..n, of the accuracy on the k most confident
    (HELM's `selective_cov_acc_area`)."""
    import numpy as np

    conf, correct = _pairs(columns)
    if conf.size == 0:
        return NAN
    ordered = _by_confidence(conf, correct)
    return float((np.cumsum(ordered) / np.arange(1, ordered.size + 1)).mean())

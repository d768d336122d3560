"""Agreement among a protocol's samples as a signal (harness.protocols.self_consistency), and maj@k / sample_pass@k.

Per instance (metric `self_consistency`):
- agreement: the fraction of the n samples that give the majority answer (1/n .. 1);
- maj@k: 1 if the majority answer of the first k samples is correct (ties broken by the protocol's seeded rule);
- sample_pass@k: the unbiased estimate 1 - C(n-c, k) / C(n, k) that at least one of k samples drawn from the n is correct
  (c correct; Chen et al. 2021), for every k <= n.
Corpus metrics, with intervals from resampling instances:
- agreement_auroc: the probability that a right answer has higher agreement than a wrong one (ties count half);
- agreement_ece_10_bin: ECE with agreement as the confidence, 10 equal-mass bins;
- accuracy_agreement_low / _mid / _unanimous: accuracy where agreement < 0.5, 0.5 <= agreement < 1, and = 1.
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
MAX_K = 20  # maj@k and sample_pass@k are declared (for suites to name) up to here; computed for every k <= n
STATS = {"agreement": False, "_sc_correct": False,
         **{f"maj@{k}": False for k in range(1, MAX_K + 1)}, **{f"sample_pass@{k}": False for k in range(1, MAX_K + 1)}}


def pass_at_k(n: int, c: int, k: int) -> float:
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


@register_metric("self_consistency", stats=STATS, quick=True)
def self_consistency(instance: Instance, pred: Prediction, _: ModelDeployment) -> dict[str, float]:
    """Agreement of the samples with their majority, maj@k and sample_pass@k (a voting protocol's runs only)."""
    from harness.protocols.self_consistency import majority

    votes = pred.votes
    if not votes:
        return {}
    keys, scores = votes["keys"], votes["scores"]
    n, correct = len(keys), sum(1 for s in scores if s >= 1.0)
    out = {"agreement": float(votes["agreement"]), "_sc_correct": float(scores[votes["chosen"]] >= 1.0)}
    for k in range(1, n + 1):
        winner = majority(keys[:k], votes["seed"], instance.id)
        first = keys[:k].index(winner) if winner is not None else 0
        out[f"maj@{k}"] = float(scores[first] >= 1.0) if winner is not None else 0.0
        out[f"sample_pass@{k}"] = pass_at_k(n, correct, k)
    return out


def _pairs(columns: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    conf, correct = columns["agreement"], columns["_sc_correct"]
    keep = ~(np.isnan(conf) | np.isnan(correct))
    return conf[keep], correct[keep]


def auroc(scores: np.ndarray, positive: np.ndarray) -> float:
    """P(score of a positive > score of a negative) + half P(equal): the Mann-Whitney statistic; NaN without both."""
    import numpy as np

    pos, neg = scores[positive >= 1.0], scores[positive < 1.0]
    if pos.size == 0 or neg.size == 0:
        return NAN
    greater = (pos[:, None] > neg[None, :]).sum()
    equal = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * equal) / (pos.size * neg.size)) if np.isfinite(greater) else NAN


@register_corpus_metric("agreement_auroc", needs=("self_consistency",))
def agreement_auroc(columns: dict[str, np.ndarray]) -> float:
    """AUROC of sample agreement for telling right answers from wrong ones (0.5 = no signal)."""
    return auroc(*_pairs(columns))


@register_corpus_metric("agreement_ece_10_bin", needs=("self_consistency",), lower_is_better=True)
def agreement_ece_10_bin(columns: dict[str, np.ndarray]) -> float:
    """ECE with sample agreement as the confidence, 10 equal-mass bins."""
    from harness.metrics.calibration import expected_calibration_error

    return expected_calibration_error(*_pairs(columns), bins=10)


def _accuracy_where(columns: dict[str, np.ndarray], low: float, high: float) -> float:
    conf, correct = _pairs(columns)
    picked = correct[(conf >= low) & (conf < high)]
    return float(picked.mean()) if picked.size else NAN


@register_corpus_metric("accuracy_agreement_low", needs=("self_consistency",))
def accuracy_agreement_low(columns: dict[str, np.ndarray]) -> float:
    """Accuracy of the majority answer where fewer than half the samples give it."""
    return _accuracy_where(columns, -math.inf, 0.5)


@register_corpus_metric("accuracy_agreement_mid", needs=("self_consistency",))
def accuracy_agreement_mid(columns: dict[str, np.ndarray]) -> float:
    """Accuracy of the majority answer where at least half, but not all, samples give it."""
    return _accuracy_where(columns, 0.5, 1.0)


@register_corpus_metric("accuracy_agreement_unanimous", needs=("self_consistency",))
def accuracy_agreement_unanimous(columns: dict[str, np.ndarray]) -> float:
    """Accuracy where every sample gives the same answer."""
    return _accuracy_where(columns, 1.0, math.inf)

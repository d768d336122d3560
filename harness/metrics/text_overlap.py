"""ROUGE and BLEU against the best correct reference (HELM's summarization and translation metrics).

ROUGE-1/2/L are F-measures from Google's `rouge-score` package with the Porter stemmer, as HELM computes them; its
default tokenizer (lower-case, non-alphanumerics to spaces) needs no downloaded data. BLEU is sentence-level, as in
HELM, but computed with `sacrebleu` rather than HELM's nltk call: nltk's `word_tokenize` needs the `punkt` data files
(a download), while sacrebleu's standard 13a tokenizer is built in. Smoothing is sacrebleu's sentence default
("exp": a zero n-gram count at order k is replaced by 1/2^k) with the effective order, so a short output with no
4-gram match scores above zero only through its lower orders. Scores are on a 0-1 scale like every other metric.
Both libraries are imported on first use, so importing the registry stays light.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from harness.metrics.registry import register_metric

if TYPE_CHECKING:
    from harness.adapters.base import Prediction
    from harness.clients.deployment import ModelDeployment
    from harness.instance import Instance

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


@cache
def _rouge_scorer() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)


@cache
def _bleu(max_order: int) -> Any:
    from sacrebleu.metrics import BLEU

    return BLEU(max_ngram_order=max_order, effective_order=True, smooth_method="exp")


def rouge_f(gold: str, pred: str, kind: str) -> float:
    """ROUGE F-measure of `pred` against `gold`; kind is one of ROUGE_TYPES."""
    return float(_rouge_scorer().score(gold, pred)[kind].fmeasure)


def sentence_bleu(gold: str, pred: str, max_order: int) -> float:
    """Sentence BLEU (0-1) of `pred` against one reference, n-grams up to `max_order`."""
    if not pred.strip():
        return 0.0
    return float(_bleu(max_order).sentence_score(pred, [gold]).score) / 100.0


def _best(instance: Instance, pred: Prediction, score: Any) -> float:
    text = pred.text or ""
    return max((score(ref.output, text) for ref in instance.correct_references), default=float("nan"))


@register_metric("rouge_1")
def rouge_1(instance: Instance, pred: Prediction, _: ModelDeployment) -> float:
    """ROUGE-1 F-measure (unigrams, Porter-stemmed) against the best correct reference."""
    return _best(instance, pred, lambda g, p: rouge_f(g, p, "rouge1"))


@register_metric("rouge_2")
def rouge_2(instance: Instance, pred: Prediction, _: ModelDeployment) -> float:
    """ROUGE-2 F-measure (bigrams, Porter-stemmed) against the best correct reference."""
    return _best(instance, pred, lambda g, p: rouge_f(g, p, "rouge2"))


@register_metric("rouge_l")
def rouge_l(instance: Instance, pred: Prediction, _: ModelDeployment) -> float:
    """ROUGE-L F-measure (longest common subsequence, Porter-stemmed) against the best correct reference."""
    return _best(instance, pred, lambda g, p: rouge_f(g, p, "rougeL"))


@register_metric("bleu_1")
def bleu_1(instance: Instance, pred: Prediction, _: ModelDeployment) -> float:
    """Sentence BLEU-1 (sacrebleu, 13a tokens, exp smoothing), 0-1, against the best correct reference."""
    return _best(instance, pred, lambda g, p: sentence_bleu(g, p, 1))


@register_metric("bleu_4")
def bleu_4(instance: Instance, pred: Prediction, _: ModelDeployment) -> float:
    """Sentence BLEU-4 (sacrebleu, 13a tokens, exp smoothing), 0-1, against the best correct reference."""
    return _best(instance, pred, lambda g, p: sentence_bleu(g, p, 4))

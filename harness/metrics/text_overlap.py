"""ROUGE and BLEU against the best correct reference (HELM's summarization and translation metrics).

ROUGE-1/2/L are F-measures from Google's `rouge-score` package with the Porter stemmer, as HELM computes them; its
default tokenizer (lower-case, non-alphanumerics to spaces) needs no downloaded data.

`bleu_1` and `bleu_4` are HELM's: nltk's `sentence_bleu` on nltk-style word tokens with weights (1, 0, 0, 0) and
(0, 0, 0, 1), unsmoothed. So `bleu_4` is the brevity penalty times the clipped 4-gram precision alone (not the
geometric mean of orders 1-4), and it is 0 whenever no 4-gram matches (also for any text under 4 words). HELM
tokenizes with nltk's `word_tokenize`, which needs the Punkt sentence model (a download); harness splits sentences
with its own rules instead (harness/metrics/ifeval/sentences.py), which agree with Punkt on the conformance cases
but not on every text (docs/metrics.md).

`sacrebleu_1` and `sacrebleu_4` are standard sentence BLEU from `sacrebleu` (13a tokens, the geometric mean of
orders up to 1 or 4, "exp" smoothing with the effective order), which needs no data and is what translation papers
report. Scores are on a 0-1 scale like every other metric. The libraries are imported on first use, so importing
the registry stays light.
"""

from __future__ import annotations

from functools import cache, lru_cache
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


@lru_cache(maxsize=1024)
def _rouge_fmeasures(gold: str, pred: str) -> dict[str, float]:
    # One scoring pass gives all three: rouge_1, rouge_2 and rouge_l of a suite share it.
    return {kind: float(score.fmeasure) for kind, score in _rouge_scorer().score(gold, pred).items()}


def rouge_f(gold: str, pred: str, kind: str) -> float:
    """ROUGE F-measure of `pred` against `gold`; kind is one of ROUGE_TYPES."""
    return _rouge_fmeasures(gold, pred)[kind]


@lru_cache(maxsize=1024)
def _word_tokens(text: str) -> tuple[str, ...]:
    from harness.metrics.ifeval.sentences import word_tokens

    return tuple(word_tokens(text))


def sacrebleu_sentence(gold: str, pred: str, max_order: int) -> float:
    """sacrebleu's sentence BLEU (0-1) of `pred` against one reference, n-grams up to `max_order`."""
    if not pred.strip():
        return 0.0
    return float(_bleu(max_order).sentence_score(pred, [gold]).score) / 100.0


def helm_bleu(gold: str, pred: str, order: int) -> float:
    """HELM's `bleu_1` (order 1) or `bleu_4` (order 4): nltk's unsmoothed sentence BLEU with all the weight on that
    one order, on nltk-style word tokens."""
    import warnings

    from nltk.translate.bleu_score import sentence_bleu

    weights = tuple(1.0 if n == order else 0.0 for n in range(1, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nltk warns on every zero n-gram count
        return float(sentence_bleu([list(_word_tokens(gold))], list(_word_tokens(pred)), weights=weights))


def _best(instance: Instance, pred: Prediction, score: Any) -> float:
    text = (pred.text or "").strip()
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
    """HELM's BLEU-1: nltk's unsmoothed unigram precision times the brevity penalty, 0-1, best correct reference."""
    return _best(instance, pred, lambda g, p: helm_bleu(g, p, 1))


@register_metric("bleu_4")
def bleu_4(instance: Instance, pred: Prediction, _: ModelDeployment) -> float:
    """HELM's BLEU-4: nltk's unsmoothed 4-gram precision alone times the brevity penalty, 0-1, best reference."""
    return _best(instance, pred, lambda g, p: helm_bleu(g, p, 4))


@register_metric("sacrebleu_1")
def sacrebleu_1(instance: Instance, pred: Prediction, _: ModelDeployment) -> float:
    """Sentence BLEU-1 (sacrebleu, 13a tokens, exp smoothing), 0-1, against the best correct reference."""
    return _best(instance, pred, lambda g, p: sacrebleu_sentence(g, p, 1))


@register_metric("sacrebleu_4")
def sacrebleu_4(instance: Instance, pred: Prediction, _: ModelDeployment) -> float:
    """Sentence BLEU-4 (sacrebleu, 13a tokens, geometric mean of orders 1-4, exp smoothing), 0-1, best reference."""
    return _best(instance, pred, lambda g, p: sacrebleu_sentence(g, p, 4))

"""Language-modelling metrics from whole-document log-likelihoods (adapter method `language_modeling`).

Per document the adapter gives the summed log-probability of its tokens (nats) and their count; this module adds
its UTF-8 bytes and whitespace-separated words, all as auxiliary stats. The corpus metrics divide sums over the
documents, never average per-document ratios (a short document would weigh as much as a long one):

    bits_per_byte   = -sum(logprob) / (ln 2 * sum(bytes))      lm-eval's bits_per_byte; tokenizer-independent
    bits_per_token  = -sum(logprob) / (ln 2 * sum(tokens))     depends on the model's tokenizer
    perplexity      = exp(-sum(logprob) / sum(tokens))         token-level, as HELM's perplexity
    word_perplexity = exp(-sum(logprob) / sum(words))          lm-eval's word_perplexity (words: re.split(r"\\s+"))

Their intervals come from resampling documents (scoring.aggregate: bootstrap_corpus_ci).
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

from harness.metrics.registry import register_corpus_metric, register_metric

if TYPE_CHECKING:
    import numpy as np

    from harness.adapters.base import Prediction
    from harness.clients.deployment import ModelDeployment
    from harness.instance import Instance

NAN = math.nan
STATS = ("_lm_logprob", "_lm_tokens", "_lm_bytes", "_lm_words")


def word_count(text: str) -> int:
    """lm-evaluation-harness's count: len(re.split(r"\\s+", text)), leading/trailing whitespace included."""
    return len(re.split(r"\s+", text))


@register_metric("language_modeling", stats={name: False for name in STATS}, quick=True)
def language_modeling(instance: Instance, pred: Prediction, _: ModelDeployment) -> dict[str, float]:
    """A document's log-probability (nats), tokens, bytes and words: the sums the corpus metrics divide."""
    if pred.logprob is None or not pred.logprob_tokens:
        return {name: NAN for name in STATS}
    return {"_lm_logprob": pred.logprob, "_lm_tokens": float(pred.logprob_tokens),
            "_lm_bytes": float(len(instance.input.encode("utf-8"))), "_lm_words": float(word_count(instance.input))}


def _nll_over(columns: dict[str, np.ndarray], unit: str) -> float:
    """-sum(logprob) / sum(unit) over documents that have both; NaN when there are none."""
    import numpy as np

    logprob, count = columns["_lm_logprob"], columns[unit]
    keep = ~(np.isnan(logprob) | np.isnan(count))
    total = float(count[keep].sum())
    return -float(logprob[keep].sum()) / total if total > 0 else NAN


def _exp(value: float) -> float:
    """exp, inf past the float range (a hostile server's -1e308 log-probability), NaN for NaN."""
    try:
        return math.exp(value)
    except OverflowError:
        return math.inf


@register_corpus_metric("bits_per_byte", needs=("language_modeling",), lower_is_better=True)
def bits_per_byte(columns: dict[str, np.ndarray]) -> float:
    """Negative log-likelihood in bits per UTF-8 byte, summed over documents then divided (lower is better)."""
    return _nll_over(columns, "_lm_bytes") / math.log(2)


@register_corpus_metric("bits_per_token", needs=("language_modeling",), lower_is_better=True)
def bits_per_token(columns: dict[str, np.ndarray]) -> float:
    """Negative log-likelihood in bits per token of the model's tokenizer (not comparable across tokenizers)."""
    return _nll_over(columns, "_lm_tokens") / math.log(2)


@register_corpus_metric("perplexity", needs=("language_modeling",), lower_is_better=True)
def perplexity(columns: dict[str, np.ndarray]) -> float:
    """Token-level perplexity, exp(NLL per token) over the corpus (HELM's definition; tokenizer-dependent)."""
    return _exp(_nll_over(columns, "_lm_tokens"))


@register_corpus_metric("word_perplexity", needs=("language_modeling",), lower_is_better=True)
def word_perplexity(columns: dict[str, np.ndarray]) -> float:
    """Word-level perplexity, exp(NLL per whitespace-separated word) over the corpus (lm-eval's definition)."""
    return _exp(_nll_over(columns, "_lm_words"))

"""Accuracy and efficiency metrics.

A metric named as one of HELM's (crfm-helm 0.5.16, `evaluate_reference_metrics.py`) computes HELM's value: the
prediction is the completion stripped of surrounding whitespace, each correct reference is scored against it, and
the best score counts. Where harness computes something else on purpose it has a name of its own (`f1_bag`,
`answer_number_match`); docs/metrics.md lists each metric, whether it equals HELM's, and why where it does not.
tests/test_helm_conformance.py checks the HELM-named ones against values HELM itself returned.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

from harness.metrics.registry import register_metric

if TYPE_CHECKING:
    from harness.adapters.base import Prediction
    from harness.clients.deployment import ModelDeployment
    from harness.instance import Instance

Score = Callable[[str, str], float]

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def normalize_text(text: str) -> str:
    """Lower-case, drop ASCII punctuation and the articles a/an/the, collapse whitespace (HELM's and SQuAD's
    normalisation)."""
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCT)).split())


# --- HELM's per-pair scores (gold, prediction): each returns 0 for an empty prediction, as HELM's do ---------------

def exact_match_score(gold: str, pred: str) -> float:
    return float(bool(pred) and gold.strip() == pred.strip())


def quasi_exact_match_score(gold: str, pred: str) -> float:
    return float(bool(pred) and normalize_text(gold) == normalize_text(pred))


def prefix_exact_match_score(gold: str, pred: str) -> float:
    """A blank reference is a prefix of every non-empty prediction, as in HELM."""
    return float(bool(pred) and pred.strip().startswith(gold.strip()))


def quasi_prefix_exact_match_score(gold: str, pred: str) -> float:
    return float(bool(pred) and normalize_text(pred).startswith(normalize_text(gold)))


def exact_match_indicator_score(gold: str, pred: str, indicator: str = " ") -> float:
    """Exact match of what follows the last `indicator` (a space: the last word) in each."""
    return exact_match_score(gold.split(indicator)[-1].strip(), pred.split(indicator)[-1].strip())


def set_f1(gold: str, pred: str) -> float:
    """F1 of the *sets* of normalised words (HELM's `f1_score`, nltk's f_measure): repeats count once; 0 when
    either side is empty after normalisation."""
    gold_words, pred_words = set(normalize_text(gold).split()), set(normalize_text(pred).split())
    if not gold_words or not pred_words:
        return 0.0
    common = len(gold_words & pred_words)
    precision, recall = common / len(pred_words), common / len(gold_words)
    if precision == 0 or recall == 0:
        return 0.0
    return 1.0 / (0.5 / precision + 0.5 / recall)


# HELM's final-number pattern, kept as HELM wrote it. `[\d,]+` also matches a lone comma, so a comma after the
# last number ("The answer is 18. Hope that helps, bye") makes the final "number" empty and the answer wrong; and
# the unescaped `.` takes any character before more digits (`3 4` reads as one number `3 4`).
_HELM_NUMBER = re.compile(r"-?[\d,]+(?:.\d+)?")


def helm_final_number(text: str) -> str:
    matches = _HELM_NUMBER.findall(text)
    return matches[-1].replace(",", "") if matches else ""


def final_number_exact_match_score(gold: str, pred: str) -> float:
    """HELM's: the last match of HELM's number pattern in each, commas dropped, compared exactly; 0 when the
    prediction has none."""
    return exact_match_score(helm_final_number(gold), helm_final_number(pred))


# --- harness's own scores --------------------------------------------------------------------------------------

def token_f1(gold: str, pred: str) -> float:
    """SQuAD's F1 over the *bags* of normalised words: a word repeated in the prediction counts as often as it
    appears in the reference; 1 when both are empty after normalisation, 0 when only one is."""
    gold_tokens, pred_tokens = normalize_text(gold).split(), normalize_text(pred).split()
    if not gold_tokens or not pred_tokens:
        return float(gold_tokens == pred_tokens)
    common = sum((Counter(gold_tokens) & Counter(pred_tokens)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred_tokens), common / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


_NUMBER = re.compile(r"-?[\d,]*\.?\d+")
_ANSWER_IS = re.compile(r"answer is\s*:?\s*\$?\s*(-?[\d,]*\.?\d+)", re.IGNORECASE)


def final_number(text: str) -> str | None:
    """The number after "The answer is", else the last number in the text; commas and a trailing ".0" dropped."""
    match = _ANSWER_IS.search(text)
    found = match.group(1) if match else (_NUMBER.findall(text) or [None])[-1]
    if found is None:
        return None
    value = found.replace(",", "")
    if "." in value:
        value = value.rstrip("0").rstrip(".")
    return value or "0"


def answer_number_score(gold: str, pred: str) -> float:
    predicted = final_number(pred)
    return float(predicted is not None and final_number(gold) == predicted)


# --- per-instance metrics ---------------------------------------------------------------------------------------

def best_over_references(instance: Instance, pred: Prediction, score: Score, empty: float = 0.0) -> float:
    """HELM's reduction: the best score of the stripped completion over the correct references (`empty` when the
    instance has none, where HELM refuses the instance)."""
    text = (pred.text or "").strip()
    return max((score(ref.output, text) for ref in instance.correct_references), default=empty)


@register_metric("exact_match", quick=True)
def exact_match(instance: Instance, pred: Prediction, _: ModelDeployment) -> float:
    """1 if the completion equals a correct reference, surrounding whitespace ignored (HELM's)."""
    return best_over_references(instance, pred, exact_match_score)


@register_metric("quasi_exact_match", quick=True)
def quasi_exact_match(instance: Instance, pred: Prediction, _: ModelDeployment) -> float:
    """1 if the completion equals a correct reference after normalisation: case, punctuation, articles (HELM's)."""
    return best_over_references(instance, pred, quasi_exact_match_score)


@register_metric("prefix_exact_match", quick=True)
def prefix_exact_match(instance: Instance, pred: Prediction, _: ModelDeployment) -> float:
    """1 if the stripped completion starts with a stripped correct reference (HELM's)."""
    return best_over_references(instance, pred, prefix_exact_match_score)


@register_metric("quasi_prefix_exact_match", quick=True)
def quasi_prefix_exact_match(instance: Instance, pred: Prediction, _: ModelDeployment) -> float:
    """1 if the normalised completion starts with a normalised correct reference (HELM's)."""
    return best_over_references(instance, pred, quasi_prefix_exact_match_score)


@register_metric("exact_match_indicator", quick=True)
def exact_match_indicator(instance: Instance, pred: Prediction, _: ModelDeployment) -> float:
    """1 if the completion's last space-separated word equals the correct reference's last word (HELM's)."""
    return best_over_references(instance, pred, exact_match_indicator_score)


@register_metric("f1_score", quick=True)
def f1_score(instance: Instance, pred: Prediction, _: ModelDeployment) -> float:
    """F1 of the sets of normalised words against the best correct reference (HELM's `f1_score`)."""
    return best_over_references(instance, pred, set_f1)


@register_metric("f1_bag", quick=True)
def f1_bag(instance: Instance, pred: Prediction, _: ModelDeployment) -> float:
    """SQuAD's F1 of the bags of normalised words (repeats count) against the best correct reference."""
    return best_over_references(instance, pred, token_f1)


@register_metric("final_number_exact_match", quick=True)
def final_number_exact_match(instance: Instance, pred: Prediction, _: ModelDeployment) -> float:
    """1 if the last number in the completion equals the reference's, by HELM's pattern (HELM's, bugs included)."""
    return best_over_references(instance, pred, final_number_exact_match_score)


@register_metric("answer_number_match", quick=True)
def answer_number_match(instance: Instance, pred: Prediction, _: ModelDeployment) -> float:
    """1 if the number after "The answer is" (else the last number) equals the reference's (GSM8K)."""
    return best_over_references(instance, pred, answer_number_score)


@register_metric("latency_s", lower_is_better=True, quick=True)
def latency_s(_: Instance, pred: Prediction, __: ModelDeployment) -> float:
    """Seconds the instance's requests took (local engines: the batch's time divided by its size)."""
    return pred.latency_s


@register_metric("prompt_tokens", lower_is_better=True, quick=True)
def prompt_tokens(_: Instance, pred: Prediction, __: ModelDeployment) -> float:
    """Prompt tokens, as the server reported them (summed over the instance's requests)."""
    return float(pred.prompt_tokens)


@register_metric("completion_tokens", lower_is_better=True, quick=True)
def completion_tokens(_: Instance, pred: Prediction, __: ModelDeployment) -> float:
    """Completion tokens, as the server reported them."""
    return float(pred.completion_tokens)


@register_metric("requests", lower_is_better=True, quick=True)
def requests(_: Instance, pred: Prediction, __: ModelDeployment) -> float:
    """Requests the instance's answer was made from (a protocol's samples and debate rounds count each)."""
    return float(pred.requests)


@register_metric("cost_usd", lower_is_better=True, quick=True)
def cost_usd(_: Instance, pred: Prediction, deployment: ModelDeployment) -> float:
    """Dollar cost from the deployment's prices per million input and output tokens."""
    return deployment.cost(pred.prompt_tokens, pred.completion_tokens)

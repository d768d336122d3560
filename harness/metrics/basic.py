"""Accuracy and efficiency metrics (definitions follow HELM's basic_metrics where HELM has one)."""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import TYPE_CHECKING

from harness.metrics.registry import register_metric

if TYPE_CHECKING:
    from harness.adapters.base import Prediction
    from harness.clients.deployment import ModelDeployment
    from harness.instance import Instance

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def normalize_text(text: str) -> str:
    """Lower-case, drop punctuation and articles, collapse whitespace (SQuAD's normalisation, as HELM uses)."""
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCT)).split())


def _golds(instance: Instance) -> list[str]:
    return [ref.output for ref in instance.correct_references]


def _best(instance: Instance, pred: Prediction, score) -> float:  # type: ignore[no-untyped-def]
    text = pred.text or ""
    return max((score(gold, text) for gold in _golds(instance)), default=0.0)


@register_metric("exact_match", quick=True)
def exact_match(instance: Instance, pred: Prediction, _: ModelDeployment) -> float:
    """1 if the prediction equals a correct reference after stripping surrounding whitespace."""
    return _best(instance, pred, lambda g, p: float(g.strip() == p.strip()))


@register_metric("quasi_exact_match", quick=True)
def quasi_exact_match(instance: Instance, pred: Prediction, _: ModelDeployment) -> float:
    """1 if the prediction equals a correct reference after normalisation (case, punctuation, articles)."""
    return _best(instance, pred, lambda g, p: float(normalize_text(g) == normalize_text(p)))


@register_metric("prefix_exact_match", quick=True)
def prefix_exact_match(instance: Instance, pred: Prediction, _: ModelDeployment) -> float:
    """1 if the stripped prediction starts with a correct reference (models that keep talking still score)."""
    return _best(instance, pred, lambda g, p: float(bool(g.strip()) and p.strip().startswith(g.strip())))


def token_f1(gold: str, pred: str) -> float:
    gold_tokens, pred_tokens = normalize_text(gold).split(), normalize_text(pred).split()
    if not gold_tokens or not pred_tokens:
        return float(gold_tokens == pred_tokens)
    common = sum((Counter(gold_tokens) & Counter(pred_tokens)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred_tokens), common / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


@register_metric("f1", quick=True)
def f1(instance: Instance, pred: Prediction, _: ModelDeployment) -> float:
    """Token-overlap F1 against the best correct reference, after normalisation."""
    return _best(instance, pred, token_f1)


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


@register_metric("final_number_exact_match", quick=True)
def final_number_exact_match(instance: Instance, pred: Prediction, _: ModelDeployment) -> float:
    """1 if the final number of the completion equals the reference's final number (GSM8K)."""
    predicted = final_number(pred.text or "")
    return float(predicted is not None and any(final_number(g) == predicted for g in _golds(instance)))


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

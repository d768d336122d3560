from __future__ import annotations

import pytest

from harness.adapters.base import Prediction
from harness.clients.deployment import ModelDeployment
from harness.instance import CORRECT, Instance, Reference
from harness.metrics.basic import final_number, normalize_text, token_f1
from harness.metrics.registry import get_metric, metric_registry

DEPLOYMENT = ModelDeployment("m", "chance", price_input_per_mtok=2.0, price_output_per_mtok=10.0)


def score(name: str, golds: list[str], text: str | None) -> float:
    inst = Instance("1", "q", tuple(Reference(g, (CORRECT,)) for g in golds) + (Reference("wrong"),))
    return get_metric(name).fn(inst, Prediction(text=text), DEPLOYMENT)


@pytest.mark.parametrize("name,golds,text,expected", [
    ("exact_match", ["Paris"], " Paris\n", 1.0),
    ("exact_match", ["Paris"], "paris", 0.0),
    ("exact_match", ["Paris"], "wrong", 0.0),  # matching an incorrect reference never counts
    ("quasi_exact_match", ["The Paris!"], "paris", 1.0),
    ("quasi_exact_match", ["Paris"], "Paris, France", 0.0),
    ("prefix_exact_match", ["Paris"], " Paris, France", 1.0),
    ("prefix_exact_match", ["Paris"], "It is Paris", 0.0),
    ("f1_bag", ["the cat sat"], "cat sat down", 0.8),
    ("f1_bag", ["naive"], "naive naive", 2 / 3),  # SQuAD: a repeated word counts twice
    ("f1_score", ["naive"], "naive naive", 1.0),  # HELM: sets of words
    ("f1_score", ["the cat sat"], "cat sat down", 0.8),
    ("exact_match", [""], "", 0.0),  # HELM: an empty prediction never matches
    ("prefix_exact_match", [" "], "anything", 1.0),  # HELM: a blank reference is a prefix of anything
    ("quasi_prefix_exact_match", ["The Paris"], "paris, France", 1.0),
    ("exact_match_indicator", ["## 42"], "so the answer is ## 42", 1.0),
    ("exact_match_indicator", ["## 42"], "42 is not ## 41", 0.0),
    ("f1_bag", ["a", "cat sat"], "cat sat", 1.0),  # the best reference counts
    ("answer_number_match", ["72"], "so 48 + 24 = 72. The answer is 72.", 1.0),
    ("answer_number_match", ["1000"], "The answer is 1,000", 1.0),
    ("answer_number_match", ["5"], "5 apples and 6 pears", 0.0),
    ("answer_number_match", ["7"], "no number here", 0.0),
    ("answer_number_match", ["18"], "The answer is 18. Hope that helps, bye", 1.0),
    ("final_number_exact_match", ["72"], "so 48 + 24 = 72. The answer is 72.", 1.0),
    ("final_number_exact_match", ["18"], "The answer is 18. Hope that helps, bye", 0.0),  # HELM's bug, kept
    ("final_number_exact_match", ["7"], "no number here", 0.0),
])
def test_accuracy_metrics(name: str, golds: list[str], text: str, expected: float) -> None:
    assert score(name, golds, text) == pytest.approx(expected)


def test_helpers() -> None:
    assert normalize_text("  The  Quick, brown FOX! ") == "quick brown fox"
    assert token_f1("", "") == 1.0 and token_f1("a b", "") == 0.0
    assert final_number("It costs $18.50 total") == "18.5"
    assert final_number("-3 degrees") == "-3"
    assert final_number("answer is: 3.0") == "3"


def test_efficiency_and_directions() -> None:
    pred = Prediction(text="x", latency_s=0.25, prompt_tokens=1000, completion_tokens=100)
    inst = Instance("1", "q", ())
    assert get_metric("cost_usd").fn(inst, pred, DEPLOYMENT) == pytest.approx((1000 * 2 + 100 * 10) / 1e6)
    assert get_metric("latency_s").fn(inst, pred, DEPLOYMENT) == 0.25
    registry = metric_registry()
    assert registry["latency_s"].lower_is_better and registry["cost_usd"].lower_is_better
    assert not registry["exact_match"].lower_is_better

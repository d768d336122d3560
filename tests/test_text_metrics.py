"""ROUGE, BLEU and MATH equivalence against values computed by hand."""

from __future__ import annotations

import math

import pytest

from harness.adapters.base import Prediction
from harness.instance import CORRECT, Instance, Reference
from harness.metrics import math_equiv as m
from harness.metrics import text_overlap as t


def _inst(*golds: str) -> Instance:
    return Instance("i", "x", tuple(Reference(g, (CORRECT,)) for g in golds))


def test_rouge_2_by_hand() -> None:
    # gold bigrams: the-cat cat-sat sat-on on-the the-mat (5); pred: the-cat cat-on on-the the-mat (4); 3 shared.
    # P = 3/4, R = 3/5, F = 2PR/(P+R) = 2/3
    assert t.rouge_2(_inst("the cat sat on the mat"), Prediction("the cat on the mat"), None) == pytest.approx(2 / 3)


def test_rouge_1_stems_and_lowercases() -> None:
    # "The cats were running" -> the cat were run; "a cat runs" -> a cat run: 2 shared, P = 2/3, R = 2/4, F = 4/7
    assert t.rouge_1(_inst("The cats were running"), Prediction("a cat runs"), None) == pytest.approx(4 / 7)


def test_rouge_l_by_hand_and_best_reference() -> None:
    # LCS of "a b c d" and "a c d e" is "a c d" (3): P = R = 3/4 -> F = 3/4; the second gold matches exactly.
    assert t.rouge_l(_inst("a b c d"), Prediction("a c d e"), None) == pytest.approx(0.75)
    assert t.rouge_l(_inst("a b c d", "a c d e"), Prediction("a c d e"), None) == pytest.approx(1.0)


def test_bleu_1_and_bleu_4_by_hand() -> None:
    inst, pred = _inst("the cat is on the mat"), Prediction("the cat sat on the mat")
    # unigrams: 5 of 6 match, equal lengths (no brevity penalty): BLEU-1 = 5/6, HELM's and sacrebleu's alike
    assert t.bleu_1(inst, pred, None) == pytest.approx(5 / 6)
    assert t.sacrebleu_1(inst, pred, None) == pytest.approx(5 / 6)
    # p1 = 5/6, p2 = 3/5, p3 = 1/4, p4 = 0/3. HELM's BLEU-4 is p4 alone, unsmoothed: 0.
    assert t.bleu_4(inst, pred, None) == pytest.approx(0.0, abs=1e-12)
    # sacrebleu: exp smoothing turns p4 into 1/(2*3); the geometric mean of the four
    expected = (5 / 6 * 3 / 5 * 1 / 4 * 1 / 6) ** 0.25
    assert t.sacrebleu_4(inst, pred, None) == pytest.approx(expected)
    # 4-grams of "a b c d e f" vs "a b c d x f": 1 of 3 matches, same length -> 1/3
    assert t.bleu_4(_inst("a b c d e f"), Prediction("a b c d x f"), None) == pytest.approx(1 / 3)


def test_bleu_brevity_penalty_and_empty() -> None:
    # "the cat" vs "the cat sat": p1 = 1, c = 2 < r = 3 -> BP = exp(1 - 3/2)
    assert t.bleu_1(_inst("the cat sat"), Prediction("the cat"), None) == pytest.approx(math.exp(-0.5))
    assert t.bleu_4(_inst("the cat sat"), Prediction(""), None) == 0.0
    assert t.bleu_4(_inst("the cat sat"), Prediction(None), None) == 0.0
    assert t.sacrebleu_4(_inst("the cat sat"), Prediction(""), None) == 0.0


def test_no_reference_is_not_applicable() -> None:
    assert math.isnan(t.rouge_2(Instance("i", "x", ()), Prediction("text"), None))


def test_math_boxed_extraction() -> None:
    assert m.last_boxed(r"first \boxed{1}, then \boxed{\frac{2}{3}}.") == r"\frac{2}{3}"
    assert m.last_boxed(r"so $\boxed{x^{2}+1}$") == "x^{2}+1"
    assert m.last_boxed(r"\fbox{7}") == "7"
    assert m.last_boxed("no box here") is None


@pytest.mark.parametrize(("a", "b", "same"), [
    (r"\dfrac{2}{3}", "2/3", True),
    ("0.5", r"\frac12", True),
    (r"10\text{ cm}", "10", True),
    ("x = 5", "5", True),
    (r"90^\circ", "90", True),
    (r"\left( 3, \frac{\pi}{2} \right)", r"(3,\frac{\pi}{2})", True),
    (r"\sqrt3", r"\sqrt{3}", True),
    ("3", "4", False),
    ("1/3", "0.33", False),
])
def test_math_equivalence(a: str, b: str, same: bool) -> None:
    assert m.is_equiv(a, b) is same


def test_boxed_answer_equiv_reads_boxed_answers() -> None:
    inst = _inst(r"The area is $\pi r^2 = \boxed{\dfrac{9}{4}}$.")
    assert m.boxed_answer_equiv(inst, Prediction(r"... so the answer is $\boxed{9/4}$"), None) == 1.0
    assert m.boxed_answer_equiv(inst, Prediction("the answer is 9/4"), None) == 0.0  # no boxed answer: 0 (HELM: 1 if the reference has none either)
    assert m.boxed_answer_equiv(inst, Prediction(r"\boxed{2}"), None) == 0.0

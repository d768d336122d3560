"""IFEval: every checker on responses that pass and fail, strict and loose; the sentence splitter; the metrics."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from harness.adapters.base import Prediction
from harness.errors import HarnessError
from harness.instance import Instance
from harness.metrics.ifeval import evaluate, ifeval, ifeval_instruction_loose, ifeval_instruction_strict, loose_variants
from harness.metrics.ifeval.checkers import CHECKERS
from harness.metrics.ifeval.sentences import count_sentences, count_words, split_sentences, word_tokens

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ifeval" / "input_data.jsonl"


def strict(iid: str, response: str, **kw: object) -> bool:
    return evaluate([iid], [dict(kw)], response)[0][0]


def loose(iid: str, response: str, **kw: object) -> bool:
    return evaluate([iid], [dict(kw)], response)[1][0]


# --- sentences ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("One. Two? Three! Four", ["One.", "Two?", "Three!", "Four"]),
    ("Dr. Smith is here. He left.", ["Dr. Smith is here.", "He left."]),        # title abbreviation
    ("J. K. Rowling wrote it.", ["J. K. Rowling wrote it."]),                   # initials before a name
    ("Plan B. The end.", ["Plan B.", "The end."]),                               # initial before a sentence opener
    ("at 5 p.m. The next day", ["at 5 p.m.", "The next day"]),                  # dotted abbreviation, then opener
    ("It costs 3.5 dollars. Cheap.", ["It costs 3.5 dollars.", "Cheap."]),      # decimal point
    ("Visit example.com today. Now.", ["Visit example.com today.", "Now."]),    # no space after the period
    ("Wait... what? Yes... The end.", ["Wait... what?", "Yes...", "The end."]),  # ellipses
    ('He said "Stop." Then left.', ['He said "Stop."', "Then left."]),          # closing quote stays
    ("A (test.) B", ["A (test.)", "B"]),                                         # closing bracket stays
    ('End with "Why?".', ['End with "Why?', '".']),                              # as Punkt: `".` is its own
    ('It is "Happy Birthday.”\n\nNext.', ['It is "Happy Birthday.”', "Next."]),  # curly quote
    ("1. First item\n2. second item\n3. Third", ["1.", "First item\n2. second item\n3.", "Third"]),  # numbers
    ("In 1999. the", ["In 1999. the"]),
    ("use e.g. the red one", ["use e.g.", "the red one"]),                       # not an abbreviation to Punkt
    ("A list\n- no stops\n- at all", ["A list\n- no stops\n- at all"]),         # newlines alone do not split
    ("Is it?! Yes.", ["Is it?!", "Yes."]),
    ("  ", []),
])
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected
    assert count_sentences(text) == len(expected)


def test_count_words_and_word_tokens() -> None:
    assert count_words("Don't stop-me now, 3.5!") == 7  # runs of \w: Don, t, stop, me, now, 3, 5
    assert word_tokens("I'M HERE, DON'T GO. Well-known A/B!") == [
        "I", "'M", "HERE", ",", "DO", "N'T", "GO", ".", "Well-known", "A/B", "!"]
    assert word_tokens("YES,NO... cannot") == ["YES", ",", "NO", "...", "can", "not"]


# --- checkers: (instruction id, kwargs, a response that follows, one that does not) ------------------------------

CASES = [
    ("keywords:existence", {"keywords": ["apple", "pie"]}, "I baked an APPLE pie.", "I baked an apple tart."),
    ("keywords:frequency", {"keyword": "cat", "frequency": 2, "relation": "at least"}, "Cat and cat.", "One cat."),
    ("keywords:frequency", {"keyword": "cat", "frequency": 2, "relation": "less than"}, "One cat.", "Cat, cat."),
    ("keywords:forbidden_words", {"forbidden_words": ["red", "blue"]}, "A reddish sky.", "The Red sky."),
    ("keywords:letter_frequency", {"letter": "z", "let_frequency": 3, "let_relation": "at least"},
     "Zig zag zoo", "Zig zag"),
    ("keywords:letter_frequency", {"letter": "#", "let_frequency": 2, "let_relation": "at least"}, "#a #b", "#a"),
    ("language:response_language", {"language": "fr"},
     "Bonjour, je suis très heureux de vous rencontrer aujourd'hui dans cette belle ville.",
     "Hello, I am very happy to meet you today in this beautiful city."),
    ("change_case:english_capital", {}, "THIS IS A SHORT ANSWER WRITTEN IN ENGLISH.",
     "This is mostly fine."),
    ("change_case:english_lowercase", {}, "this is a short answer written in english.", "this is Not fine."),
    ("change_case:capital_word_frequency", {"capital_frequency": 3, "capital_relation": "at least"},
     "I'M VERY happy", "I am VERY happy"),  # I + 'M + VERY = 3; I + VERY = 2
    ("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": "less than"},
     "Only ONE here", "DON'T"),  # DO + N'T = 2
    ("punctuation:no_comma", {}, "No commas here.", "One, comma."),
    ("length_constraints:number_sentences", {"num_sentences": 3, "relation": "less than"},
     "Dr. Smith came. He left.", "One. Two. Three."),
    ("length_constraints:number_sentences", {"num_sentences": 2, "relation": "at least"}, "Go home. Now.",
     "Only one sentence"),
    ("length_constraints:number_words", {"num_words": 5, "relation": "at least"}, "one two three four five",
     "one two three four"),
    ("length_constraints:number_words", {"num_words": 3, "relation": "less than"}, "one two", "one two three"),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "***\nFirst\n***\nSecond\n***",
     "First\n***\n***\nSecond"),  # empty paragraphs only at the ends
    ("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "then"},
     "First part.\n\n\"Then, second.", "First part.\n\nAnd then second."),
    ("detectable_content:number_placeholders", {"num_placeholders": 2}, "Dear [name], at [address].", "Dear [name]."),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Hi.\np. s. see you", "Hi. PS see you"),
    ("detectable_content:postscript", {"postscript_marker": "P.P.S"}, "Hi.\nP.P.S more", "Hi.\nP.S. more"),
    ("detectable_format:number_bullet_lists", {"num_bullets": 3}, "* a\n* b\n- c\n**not a bullet**",
     "* a\n* b"),
    ("detectable_format:constrained_response", {}, "Well... My answer is no.", "My answer is nope"),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 3}, "*one*, **two** and *three*",
     "*one* and **two** and * * and **"),  # empty highlights do not count
    ("detectable_format:multiple_sections", {"section_spliter": "SECTION", "num_sections": 2},
     "SECTION 1\nIntro\nSECTION 2\nBody", "SECTION 1\nIntro\nSection 2\nBody"),
    ("detectable_format:json_format", {}, '```json\n{"a": 1}\n```', "{'a': 1}"),
    ("detectable_format:title", {}, "<<My Poem>>\nRoses", "<< >>\nRoses <<broken\ntitle>>"),
    ("combination:two_responses", {}, "First answer.\n******\nSecond answer.", "Same.\n******\nSame."),
    ("combination:repeat_prompt", {"prompt_to_repeat": "Write a poem."}, "write a POEM. Roses are red.",
     "Sure! Write a poem."),
    ("startend:end_checker", {"end_phrase": "Any other questions?"}, '"Thanks. Any other questions?"',
     "Any other questions? Thanks."),
    ("startend:quotation", {}, '  "Quoted answer."  ', '"Unclosed'),
]


@pytest.mark.parametrize("iid, kwargs, good, bad", CASES, ids=[c[0] for c in CASES])
def test_checker_strict(iid: str, kwargs: dict[str, object], good: str, bad: str) -> None:
    assert strict(iid, good, **kwargs) is True
    assert strict(iid, bad, **kwargs) is False


def test_every_instruction_of_the_data_is_supported() -> None:
    ids = {iid for line in DATA.read_text().splitlines() for iid in json.loads(line)["instruction_id_list"]}
    assert len(ids) == 25
    assert ids <= set(CHECKERS)
    assert {c[0] for c in CASES} == ids  # every checker has a pass/fail case above


def test_blank_response_follows_nothing() -> None:
    assert evaluate(["punctuation:no_comma", "keywords:forbidden_words"], [{}, {"forbidden_words": ["x"]}],
                    " \n ") == ([False, False], [False, False])


# --- loose -------------------------------------------------------------------------------------------------------

def test_loose_variants() -> None:
    assert loose_variants("Sure!\n*body*\nBye") == [
        "Sure!\n*body*\nBye", "*body*\nBye", "Sure!\n*body*", "*body*",
        "Sure!\nbody\nBye", "body\nBye", "Sure!\nbody", "body"]


@pytest.mark.parametrize("iid, kwargs, response", [
    ("startend:quotation", {}, 'Here you go:\n"A quoted answer."'),                # first line removed
    ("startend:end_checker", {"end_phrase": "Bye now."}, "Text. Bye now.\nHope this helps!"),  # last removed
    ("detectable_format:json_format", {}, 'Sure:\n{"a": 1}\nDone.'),             # both removed
    ("combination:repeat_prompt", {"prompt_to_repeat": "Say hi."}, "**Say hi.** Hi!"),  # asterisks removed
    ("keywords:existence", {"keywords": ["bold text"]}, "Some **bold** text"),
])
def test_loose_only(iid: str, kwargs: dict[str, object], response: str) -> None:
    assert strict(iid, response, **kwargs) is False
    assert loose(iid, response, **kwargs) is True


def test_loose_still_fails() -> None:
    assert loose("punctuation:no_comma", "A, b\nc, d\ne, f") is False  # a comma in every variant


def test_missing_kwarg_is_a_user_error() -> None:
    with pytest.raises(HarnessError, match="num_bullets"):
        evaluate(["detectable_format:number_bullet_lists"], [{"num_bullets": None}], "* a")
    with pytest.raises(HarnessError, match="unknown IFEval instruction"):
        evaluate(["nope:nothing"], [{}], "a")


# --- metrics -----------------------------------------------------------------------------------------------------

def _instance(ids: list[str], kwargs: list[dict[str, object]]) -> Instance:
    return Instance("k", "prompt", (), extra={"instruction_id_list": json.dumps(ids), "kwargs": json.dumps(kwargs)})


def test_metrics_on_a_hand_computed_example() -> None:
    # Prompt 1: 3 instructions. Strict: no_comma yes, quotation no (a first line precedes the quote), title yes.
    # Loose: quotation yes once the first line is dropped. -> strict 2/3 (prompt 0), loose 3/3 (prompt 1).
    one = _instance(["punctuation:no_comma", "startend:quotation", "detectable_format:title"], [{}, {}, {}])
    text_one = 'Here it is\n"<<Title>> no commas"'
    # Prompt 2: 1 instruction, followed strictly. -> 1/1, prompt 1 and 1.
    two = _instance(["detectable_content:number_placeholders"], [{"num_placeholders": 1}])
    text_two = "Hi [name]"
    # Prompt 3: 2 instructions, neither followed even loosely. -> 0/2.
    three = _instance(["punctuation:no_comma", "keywords:existence"], [{}, {"keywords": ["zebra"]}])
    text_three = "a, b\nc, d"
    rows = [ifeval(inst, Prediction(text=text), None) for inst, text in  # type: ignore[arg-type]
            [(one, text_one), (two, text_two), (three, text_three)]]
    assert rows[0] == {"ifeval_strict_accuracy": 2 / 3, "ifeval_prompt_strict": 0.0, "ifeval_prompt_loose": 1.0, "_ifeval_followed_strict": 2.0,
                       "_ifeval_followed_loose": 3.0, "_ifeval_instructions": 3.0}
    assert rows[1] == {"ifeval_strict_accuracy": 1.0, "ifeval_prompt_strict": 1.0, "ifeval_prompt_loose": 1.0, "_ifeval_followed_strict": 1.0,
                       "_ifeval_followed_loose": 1.0, "_ifeval_instructions": 1.0}
    assert rows[2]["_ifeval_followed_loose"] == 0.0 and rows[2]["ifeval_prompt_loose"] == 0.0
    assert rows[2]["ifeval_strict_accuracy"] == 0.0
    # HELM's headline judges the stripped response: leading blank lines leave no empty first paragraph there.
    first = _instance(["length_constraints:nth_paragraph_first_word"],
                      [{"num_paragraphs": 1, "nth_paragraph": 1, "first_word": "hello"}])
    padded = ifeval(first, Prediction(text="\n\nHello world"), None)  # type: ignore[arg-type]
    assert padded["ifeval_strict_accuracy"] == 1.0 and padded["ifeval_prompt_strict"] == 0.0
    # A non-IFEval instance is not applicable (NaN), and corpus metrics skip it.
    other = ifeval(Instance("x", "q", ()), Prediction(text="a"), None)  # type: ignore[arg-type]
    assert all(math.isnan(v) for v in other.values())
    columns = {name: np.array([r[name] for r in [*rows, other]]) for name in rows[0]}
    # Instruction level, micro-averaged: strict (2 + 1 + 0) / 6, loose (3 + 1 + 0) / 6.
    assert ifeval_instruction_strict(columns) == pytest.approx(3 / 6)
    assert ifeval_instruction_loose(columns) == pytest.approx(4 / 6)
    # Prompt level is the mean over prompts: strict 1/3, loose 2/3.
    assert np.nanmean(columns["ifeval_prompt_strict"]) == pytest.approx(1 / 3)
    assert np.nanmean(columns["ifeval_prompt_loose"]) == pytest.approx(2 / 3)


def test_registered() -> None:
    from harness.metrics.registry import corpus_metric_registry, metric_registry

    assert metric_registry()["ifeval"].outputs == {
        "ifeval_strict_accuracy": False, "ifeval_prompt_strict": False, "ifeval_prompt_loose": False, "_ifeval_followed_strict": False,
        "_ifeval_followed_loose": False, "_ifeval_instructions": False}
    corpus = corpus_metric_registry()
    assert corpus["ifeval_instruction_strict"].needs == ("ifeval",)
    assert corpus["ifeval_instruction_loose"].needs == ("ifeval",)


def test_scenario_loads_all_prompts() -> None:
    import harness.scenarios.ifeval  # noqa: F401  (registers it until harness/scenarios/__init__.py imports it)
    from harness.scenarios.base import make_scenario

    scenario = make_scenario("ifeval")
    test = scenario.split("test")
    assert len(test) == 541 and scenario.split("train") == []
    first = test[0]
    assert first.id == "1000" and first.references == ()
    assert first.input.startswith("Write a 300+ word summary of the wikipedia page")
    ids = json.loads(first.extra["instruction_id_list"])
    assert ids == ["punctuation:no_comma", "detectable_format:number_highlighted_sections",
                   "length_constraints:number_words"]
    assert sum(len(json.loads(inst.extra["instruction_id_list"])) for inst in test) == 834
    assert scenario.main_metric == "ifeval_prompt_strict" and scenario.input_prefix == ""

"""Adapters build exactly the prompts and requests they always have: a request's key is the store's cache key, so a
changed byte would re-send every stored request. The expected values below were computed by the adapter code before
it was split into one class per method (the single Adapter of harness/adapters/adapter.py at dc6517a)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from harness.adapters.base import Adapter
from harness.adapters.registry import make_adapter
from harness.adapters.spec import AdapterSpec
from harness.clients.request import Result
from harness.errors import HarnessError
from harness.instance import CORRECT, Instance, Reference


def _instance(i: int, split: str, subject: str) -> Instance:
    refs = tuple(Reference(f"option {i}.{j} ✓", (CORRECT,) if j == i % 3 else ()) for j in range(3))
    return Instance(f"{split}{i}", f"What is item {i} of {subject}?\nThink é.", refs, split, {"subject": subject})


TRAIN = [_instance(i, "train", "alpha") for i in range(4)] + [_instance(i, "train", "beta") for i in range(4, 6)]
EVALUATED = [_instance(10, "test", "alpha"), _instance(11, "test", "beta"), _instance(12, "test", "gamma")]

SPECS: dict[str, AdapterSpec] = {
    "generation": AdapterSpec(method="generation", input_prefix="Q: ", output_prefix="A: ", max_tokens=20,
                              stop_sequences=("\n", "Q:"), temperature=0.5, num_outputs=2, seed=3),
    "generation_bare": AdapterSpec(method="generation", instructions="Fixed instructions.", output_suffix="\n---\n",
                                   instance_separator="\n\n"),
    "joint": AdapterSpec(method="multiple_choice_joint", input_prefix="Question: ", output_prefix="Answer: ",
                         max_tokens=1),
    "separate": AdapterSpec(method="multiple_choice_separate", input_prefix="Question: ", output_prefix="Answer: ",
                            max_tokens=1),
    "separate_bare": AdapterSpec(method="multiple_choice_separate", input_suffix="", output_suffix="",
                                 choice_score="mean"),
}


def build(name: str, chat: bool, shots: int, context_length: int,
          count_tokens: Callable[[str], int] | None = None) -> Adapter:
    spec = AdapterSpec(**{**SPECS[name].to_json(), "stop_sequences": SPECS[name].stop_sequences,
                          "max_train_instances": shots})
    kwargs: dict[str, Any] = {"count_tokens": count_tokens} if count_tokens else {}
    return make_adapter(spec, chat=chat, context_length=context_length,
                        instructions_for=lambda inst: f"Answer about {inst.extra['subject']}.", **kwargs)


def adapt(adapter: Adapter, evaluated: Sequence[Instance] = EVALUATED) -> list[Any]:
    """As the runner does: one few-shot pool for the run, then each instance on its own."""
    pool = adapter.fewshot_pool(TRAIN)
    return [adapter.adapt_one(inst, pool) for inst in evaluated]


def fingerprint(adapted: list[Any]) -> str:
    rows = [[a.instance.id, a.prompt, a.fewshot_dropped, [r.key("dep", "model") for r in a.requests],
             [r.to_json() for r in a.requests]] for a in adapted]
    return hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode()).hexdigest()[:16]


def words(text: str) -> int:
    return len(text.split())


# (spec, chat, shots, context_length, word counting) -> (fewshot_dropped per instance, fingerprint)
CASES: dict[tuple[str, bool, int, int, bool], tuple[list[int], str]] = {
    ('generation', False, 0, 100000, False): ([0, 0, 0], '7baf744e29deb110'),
    ('generation', False, 3, 100000, False): ([0, 0, 0], '0bebac59ab53e5ca'),
    ('generation', False, 3, 80, False): ([1, 0, 1], 'e99b7c0576830819'),
    ('generation', False, 3, 1, False): ([3, 2, 3], 'ea3061921bca82fc'),
    ('generation', False, 3, 60, True): ([1, 0, 1], 'e99b7c0576830819'),
    ('generation', True, 0, 100000, False): ([0, 0, 0], '670ace995e087dd1'),
    ('generation', True, 3, 100000, False): ([0, 0, 0], '2ae75055e9898056'),
    ('generation', True, 3, 80, False): ([1, 0, 1], 'c3e34e91f8f7b0ae'),
    ('generation', True, 3, 1, False): ([3, 2, 3], '6c8bea2cfc86924d'),
    ('generation', True, 3, 60, True): ([1, 0, 1], 'c3e34e91f8f7b0ae'),
    ('generation_bare', False, 0, 100000, False): ([0, 0, 0], 'c930b2481b0aa945'),
    ('generation_bare', False, 3, 100000, False): ([0, 0, 0], 'c803eea82a76bf9f'),
    ('generation_bare', False, 3, 60, False): ([2, 1, 2], '4eef0075f0aa4c63'),
    ('generation_bare', False, 3, 1, False): ([3, 2, 3], '3b272b72227b22a4'),
    ('generation_bare', False, 3, 50, True): ([1, 0, 1], '15cf3455f32a40b6'),
    ('generation_bare', True, 0, 100000, False): ([0, 0, 0], 'ab01f7dee01c118f'),
    ('generation_bare', True, 3, 100000, False): ([0, 0, 0], '464e5503504d43ec'),
    ('generation_bare', True, 3, 60, False): ([2, 1, 2], '3f6e9155a0839b36'),
    ('generation_bare', True, 3, 1, False): ([3, 2, 3], 'bd55bf6a64b87dd4'),
    ('generation_bare', True, 3, 50, True): ([1, 0, 1], '81c2cf891abd056b'),
    ('joint', False, 0, 100000, False): ([0, 0, 0], '82fd9c7b2c4b1639'),
    ('joint', False, 3, 100000, False): ([0, 0, 0], '971a7266faa187bc'),
    ('joint', False, 3, 110, False): ([2, 1, 2], '3498d772cc071611'),
    ('joint', False, 3, 1, False): ([3, 2, 3], '1fa5609d575499e9'),
    ('joint', False, 3, 70, True): ([2, 1, 2], '3498d772cc071611'),
    ('joint', True, 0, 100000, False): ([0, 0, 0], 'fe26a3f258252c93'),
    ('joint', True, 3, 100000, False): ([0, 0, 0], '911f0d6dfebe693f'),
    ('joint', True, 3, 110, False): ([2, 1, 2], 'c37c13edf7e2f967'),
    ('joint', True, 3, 1, False): ([3, 2, 3], '0c2e72cbe0629c5e'),
    ('joint', True, 3, 70, True): ([2, 1, 2], 'c37c13edf7e2f967'),
    ('separate', False, 0, 100000, False): ([0, 0, 0], '9d8afbdee56a5d45'),
    ('separate', False, 3, 100000, False): ([0, 0, 0], 'ad968b781d9bb156'),
    ('separate', False, 3, 75, False): ([1, 0, 1], 'bb267c4f1258bf6f'),
    ('separate', False, 3, 1, False): ([3, 2, 3], 'a146bc317ac5b1c3'),
    ('separate', False, 3, 40, True): ([1, 0, 1], 'bb267c4f1258bf6f'),
    ('separate_bare', False, 0, 100000, False): ([0, 0, 0], 'a3df3c259535fdde'),
    ('separate_bare', False, 3, 100000, False): ([0, 0, 0], 'de2fccaf9074a0ee'),
    ('separate_bare', False, 3, 55, False): ([2, 1, 2], 'dcf4b7c5f331ca23'),
    ('separate_bare', False, 3, 1, False): ([3, 2, 3], 'bdb8387c0e1460b3'),
    ('separate_bare', False, 3, 45, True): ([2, 1, 2], 'dcf4b7c5f331ca23'),
}


@pytest.mark.parametrize("case", sorted(CASES), ids=lambda c: "-".join(map(str, c)))
def test_prompts_and_request_keys_unchanged(case: tuple[str, bool, int, int, bool]) -> None:
    name, chat, shots, context_length, by_words = case
    adapted = adapt(build(name, chat, shots, context_length, words if by_words else None))
    dropped, expected = CASES[case]
    assert [a.fewshot_dropped for a in adapted] == dropped
    assert fingerprint(adapted) == expected


def test_completions_prompt_text_unchanged() -> None:
    [adapted, *_] = adapt(build("joint", False, 3, 100_000))
    assert adapted.prompt == JOINT_PROMPT
    assert [r.key("dep", "model") for r in adapted.requests] == JOINT_KEYS
    separate = adapt(build("separate", False, 1, 100_000))[1]
    assert [r.continuation for r in separate.requests] == [" option 11.0 ✓", " option 11.1 ✓", " option 11.2 ✓"]
    assert [r.key("dep", "model") for r in separate.requests] == SEPARATE_KEYS


def test_chat_messages_unchanged() -> None:
    [adapted, *_] = adapt(build("generation", True, 2, 100_000))
    assert adapted.requests[0].messages == GENERATION_MESSAGES
    assert adapted.prompt == GENERATION_CHAT_PROMPT
    assert [r.key("dep", "model") for r in adapted.requests] == GENERATION_CHAT_KEYS


def test_chat_cannot_score_choices_separately() -> None:
    with pytest.raises(HarnessError, match="log-probabilities") as info:
        build("separate", True, 0, 100_000)
    assert info.value.field == "method"


ANSWERS: dict[str, list[list[Result]]] = {
    "generation": [
        [Result(ok=True, texts=[" Paris\n", "Lyon"], latency_s=0.5, prompt_tokens=10, completion_tokens=3)],
        [Result(ok=True, texts=[])],
        [Result.failure("HTTP 500")],
    ],
    "joint": [
        [Result(ok=True, texts=[" B"], latency_s=0.25, prompt_tokens=7, completion_tokens=1)],
        [Result(ok=True, texts=["(C) because"])], [Result(ok=True, texts=[" D"])], [Result(ok=True, texts=[" no idea "])],
        [Result(ok=True, texts=[])],
    ],
    "separate": [
        [Result(ok=True, logprob=-5.0, continuation_tokens=1, latency_s=0.1, prompt_tokens=4),
         Result(ok=True, logprob=-4.0, continuation_tokens=4, latency_s=0.2, prompt_tokens=4),
         Result(ok=True, logprob=-4.5, continuation_tokens=10, latency_s=0.3, prompt_tokens=4)],
        [Result(ok=True, logprob=None, continuation_tokens=None), Result(ok=True, logprob=-1.0, continuation_tokens=0),
         Result(ok=True, logprob=-0.5, continuation_tokens=2)],
        [Result(ok=True, logprob=-1.0, continuation_tokens=1), Result(ok=False, error=None, latency_s=2.0),
         Result.failure("timeout")],
    ],
}


def predictions(name: str, answers: str, chat: bool) -> list[dict[str, Any]]:
    adapter = build(name, chat, 0, 100_000)
    [adapted, *_] = adapt(adapter)
    rows = []
    for results in ANSWERS[answers]:
        pred = vars(adapter.predict(adapted, results)).copy()
        pred["choice_logprobs"] = [round(s, 6) for s in pred["choice_logprobs"]] if pred["choice_logprobs"] else None
        for later in ("logprob", "logprob_tokens", "votes"):  # fields of later methods and protocols, unset here
            if pred.get(later) is None:
                pred.pop(later, None)
        assert pred.pop("requests") == len(results)
        rows.append(pred)
    return rows


PREDICTION_CASES = [("generation", "generation", False), ("generation", "generation", True), ("joint", "joint", False),
                    ("joint", "joint", True), ("separate", "separate", False), ("separate_bare", "separate", False)]


@pytest.mark.parametrize("name,answers,chat", PREDICTION_CASES)
def test_predictions_unchanged(name: str, answers: str, chat: bool) -> None:
    assert predictions(name, answers, chat) == PREDICTIONS[(name, chat)]


# Computed by the adapter code before the split (see the module docstring).
JOINT_PROMPT = (
    'Answer about alpha.\n'
    '\n'
    'Question: What is item 3 of alpha?\n'
    'Think é.\n'
    'A. option 3.0 ✓\n'
    'B. option 3.1 ✓\n'
    'C. option 3.2 ✓\n'
    'Answer: A\n'
    '\n'
    'Question: What is item 1 of alpha?\n'
    'Think é.\n'
    'A. option 1.0 ✓\n'
    'B. option 1.1 ✓\n'
    'C. option 1.2 ✓\n'
    'Answer: B\n'
    '\n'
    'Question: What is item 0 of alpha?\n'
    'Think é.\n'
    'A. option 0.0 ✓\n'
    'B. option 0.1 ✓\n'
    'C. option 0.2 ✓\n'
    'Answer: A\n'
    '\n'
    'Question: What is item 10 of alpha?\n'
    'Think é.\n'
    'A. option 10.0 ✓\n'
    'B. option 10.1 ✓\n'
    'C. option 10.2 ✓\n'
    'Answer:'
)
JOINT_KEYS = ['cb85adc9acd15725bbe618b9fd0101b9']
SEPARATE_KEYS = ['24d007e6b70c20f3e2b6f2d17336d057', 'bc0d2de4d7a0eb47ee5bad06bfde7736', '5e48b6692121e82360d67a9eba73d862']
GENERATION_MESSAGES = (
    ('system', 'Answer about alpha.'),
    ('user', 'Q: What is item 0 of alpha?\nThink é.\nA:'),
    ('assistant', 'option 0.0 ✓'),
    ('user', 'Q: What is item 1 of alpha?\nThink é.\nA:'),
    ('assistant', 'option 1.1 ✓'),
    ('user', 'Q: What is item 10 of alpha?\nThink é.\nA:'),
)
GENERATION_CHAT_PROMPT = (
    '[system]\n'
    'Answer about alpha.\n'
    '\n'
    '[user]\n'
    'Q: What is item 0 of alpha?\n'
    'Think é.\n'
    'A:\n'
    '\n'
    '[assistant]\n'
    'option 0.0 ✓\n'
    '\n'
    '[user]\n'
    'Q: What is item 1 of alpha?\n'
    'Think é.\n'
    'A:\n'
    '\n'
    '[assistant]\n'
    'option 1.1 ✓\n'
    '\n'
    '[user]\n'
    'Q: What is item 10 of alpha?\n'
    'Think é.\n'
    'A:'
)
GENERATION_CHAT_KEYS = ['bf13d79b5bc71ca16ae8f6c5b9dc62ee']
PREDICTIONS: dict[tuple[str, bool], list[dict[str, Any]]] = {
    ('generation', False): [
        {'text': ' Paris\n', 'choice_index': None, 'completions': [' Paris\n', 'Lyon'], 'choice_logprobs': None, 'error': None, 'latency_s': 0.5, 'prompt_tokens': 10, 'completion_tokens': 3},
        {'text': '', 'choice_index': None, 'completions': [], 'choice_logprobs': None, 'error': None, 'latency_s': 0.0, 'prompt_tokens': 0, 'completion_tokens': 0},
        {'text': None, 'choice_index': None, 'completions': [], 'choice_logprobs': None, 'error': 'HTTP 500', 'latency_s': 0.0, 'prompt_tokens': 0, 'completion_tokens': 0},
    ],
    ('generation', True): [
        {'text': ' Paris\n', 'choice_index': None, 'completions': [' Paris\n', 'Lyon'], 'choice_logprobs': None, 'error': None, 'latency_s': 0.5, 'prompt_tokens': 10, 'completion_tokens': 3},
        {'text': '', 'choice_index': None, 'completions': [], 'choice_logprobs': None, 'error': None, 'latency_s': 0.0, 'prompt_tokens': 0, 'completion_tokens': 0},
        {'text': None, 'choice_index': None, 'completions': [], 'choice_logprobs': None, 'error': 'HTTP 500', 'latency_s': 0.0, 'prompt_tokens': 0, 'completion_tokens': 0},
    ],
    ('joint', False): [
        {'text': 'option 10.1 ✓', 'choice_index': 1, 'completions': [' B'], 'choice_logprobs': None, 'error': None, 'latency_s': 0.25, 'prompt_tokens': 7, 'completion_tokens': 1},
        {'text': 'option 10.2 ✓', 'choice_index': 2, 'completions': ['(C) because'], 'choice_logprobs': None, 'error': None, 'latency_s': 0.0, 'prompt_tokens': 0, 'completion_tokens': 0},
        {'text': 'D', 'choice_index': None, 'completions': [' D'], 'choice_logprobs': None, 'error': None, 'latency_s': 0.0, 'prompt_tokens': 0, 'completion_tokens': 0},
        {'text': 'no idea', 'choice_index': None, 'completions': [' no idea '], 'choice_logprobs': None, 'error': None, 'latency_s': 0.0, 'prompt_tokens': 0, 'completion_tokens': 0},
        {'text': '', 'choice_index': None, 'completions': [], 'choice_logprobs': None, 'error': None, 'latency_s': 0.0, 'prompt_tokens': 0, 'completion_tokens': 0},
    ],
    ('joint', True): [
        {'text': 'option 10.1 ✓', 'choice_index': 1, 'completions': [' B'], 'choice_logprobs': None, 'error': None, 'latency_s': 0.25, 'prompt_tokens': 7, 'completion_tokens': 1},
        {'text': 'option 10.2 ✓', 'choice_index': 2, 'completions': ['(C) because'], 'choice_logprobs': None, 'error': None, 'latency_s': 0.0, 'prompt_tokens': 0, 'completion_tokens': 0},
        {'text': 'D', 'choice_index': None, 'completions': [' D'], 'choice_logprobs': None, 'error': None, 'latency_s': 0.0, 'prompt_tokens': 0, 'completion_tokens': 0},
        {'text': 'no idea', 'choice_index': None, 'completions': [' no idea '], 'choice_logprobs': None, 'error': None, 'latency_s': 0.0, 'prompt_tokens': 0, 'completion_tokens': 0},
        {'text': '', 'choice_index': None, 'completions': [], 'choice_logprobs': None, 'error': None, 'latency_s': 0.0, 'prompt_tokens': 0, 'completion_tokens': 0},
    ],
    ('separate', False): [
        {'text': 'option 10.1 ✓', 'choice_index': 1, 'completions': ['A. option 10.0 ✓  (score -5.000)', 'B. option 10.1 ✓  (score -4.000)', 'C. option 10.2 ✓  (score -4.500)'], 'choice_logprobs': [-5.0, -4.0, -4.5], 'error': None, 'latency_s': 0.6000000000000001, 'prompt_tokens': 12, 'completion_tokens': 0},
        {'text': 'option 10.0 ✓', 'choice_index': 0, 'completions': ['A. option 10.0 ✓  (score 0.000)', 'B. option 10.1 ✓  (score -1.000)', 'C. option 10.2 ✓  (score -0.500)'], 'choice_logprobs': [0.0, -1.0, -0.5], 'error': None, 'latency_s': 0.0, 'prompt_tokens': 0, 'completion_tokens': 0},
        {'text': None, 'choice_index': None, 'completions': [], 'choice_logprobs': None, 'error': 'request failed', 'latency_s': 2.0, 'prompt_tokens': 0, 'completion_tokens': 0},
    ],
    ('separate_bare', False): [
        {'text': 'option 10.2 ✓', 'choice_index': 2, 'completions': ['A. option 10.0 ✓  (score -5.000)', 'B. option 10.1 ✓  (score -1.000)', 'C. option 10.2 ✓  (score -0.450)'], 'choice_logprobs': [-5.0, -1.0, -0.45], 'error': None, 'latency_s': 0.6000000000000001, 'prompt_tokens': 12, 'completion_tokens': 0},
        {'text': 'option 10.0 ✓', 'choice_index': 0, 'completions': ['A. option 10.0 ✓  (score 0.000)', 'B. option 10.1 ✓  (score -1.000)', 'C. option 10.2 ✓  (score -0.250)'], 'choice_logprobs': [0.0, -1.0, -0.25], 'error': None, 'latency_s': 0.0, 'prompt_tokens': 0, 'completion_tokens': 0},
        {'text': None, 'choice_index': None, 'completions': [], 'choice_logprobs': None, 'error': 'request failed', 'latency_s': 2.0, 'prompt_tokens': 0, 'completion_tokens': 0},
    ],
}

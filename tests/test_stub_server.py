"""The loopback OpenAI-compatible stub (tests/stub_server.py), exercised in-process over real HTTP."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from stub_server import StubConfig, StubServer, answer_text, prompt_key, start_stub, stub_state, tokenize  # noqa: E402

Case = Callable[[StubServer, str, aiohttp.ClientSession], Awaitable[None]]


@asynccontextmanager
async def stub(config: StubConfig, headers: dict[str, str] | None = None) -> AsyncIterator[tuple[StubServer, str, aiohttp.ClientSession]]:
    runner, base_url = await start_stub(config)
    try:
        async with aiohttp.ClientSession(headers=headers) as session:
            yield stub_state(runner), base_url, session
    finally:
        await runner.cleanup()


def run(case: Case, config: StubConfig | None = None, headers: dict[str, str] | None = None) -> None:
    async def main() -> None:
        async with stub(config or StubConfig(latency_s=0.0), headers) as (server, base_url, session):
            await case(server, base_url, session)

    asyncio.run(main())


async def post(session: aiohttp.ClientSession, url: str, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    async with session.post(url, json=body) as response:
        data = await response.json()
        assert response.status == status, data
        return data


def test_models_list() -> None:
    async def case(server: StubServer, base_url: str, session: aiohttp.ClientSession) -> None:
        async with session.get(base_url + "/models") as response:
            assert response.status == 200
            data = await response.json()
        assert [m["id"] for m in data["data"]] == ["my-model"]

    run(case, StubConfig(latency_s=0.0, model="my-model"))


def test_completion_deterministic_letters_and_usage() -> None:
    async def case(server: StubServer, base_url: str, session: aiohttp.ClientSession) -> None:
        letters = set()
        for i in range(20):
            prompt = f"Question {i}: which one?\nA. x\nB. y\nC. z\nD. w\nAnswer:"
            body = {"model": "stub-model", "prompt": prompt, "max_tokens": 1, "temperature": 0}
            first, second = await post(session, base_url + "/completions", body), await post(session, base_url + "/completions", body)
            assert first["choices"] == second["choices"]
            text = first["choices"][0]["text"]
            assert text in (" A", " B", " C", " D")
            letters.add(text)
            usage = first["usage"]
            assert usage["prompt_tokens"] == len(tokenize(prompt)) and usage["completion_tokens"] == 1
            assert usage["total_tokens"] == usage["prompt_tokens"] + 1
            assert first["model"] == "stub-model"
        assert len(letters) >= 3  # hash-picked, not always the same letter

        free = await post(session, base_url + "/completions", {"prompt": "Tell me a story.", "max_tokens": 100})
        assert free["choices"][0]["text"] == answer_text("Tell me a story.")
        assert free["choices"][0]["finish_reason"] == "stop"
        short = await post(session, base_url + "/completions", {"prompt": "Tell me a story.", "max_tokens": 2})
        assert short["choices"][0]["text"] == "".join(tokenize(answer_text("Tell me a story."))[:2])
        assert short["choices"][0]["finish_reason"] == "length" and short["usage"]["completion_tokens"] == 2

        batch = await post(session, base_url + "/completions", {"prompt": ["one Answer:", "two"], "n": 2, "max_tokens": 5})
        assert [c["index"] for c in batch["choices"]] == [0, 1, 2, 3]
        assert batch["choices"][0]["text"] == batch["choices"][1]["text"] == answer_text("one Answer:")
        assert server.stats.requests_by_prompt[prompt_key(["one Answer:", "two"])] == 1

    run(case)


def test_sampling_varies_with_seed_and_choice() -> None:
    async def case(server: StubServer, base_url: str, session: aiohttp.ClientSession) -> None:
        body = {"prompt": "Write something.", "max_tokens": 50, "n": 4, "temperature": 0.7, "seed": 1}
        a = await post(session, base_url + "/completions", body)
        b = await post(session, base_url + "/completions", body)
        c = await post(session, base_url + "/completions", {**body, "seed": 2})
        texts = [ch["text"] for ch in a["choices"]]
        assert texts == [ch["text"] for ch in b["choices"]]  # reproducible
        assert len(set(texts)) > 1 and texts != [ch["text"] for ch in c["choices"]]

    run(case)


def test_echo_logprobs_offsets_reconstruct_prompt() -> None:
    async def case(server: StubServer, base_url: str, session: aiohttp.ClientSession) -> None:
        prompt = "  The capital of France is\n\tParis,  of course. "  # leading, inner and trailing whitespace
        for max_tokens in (0, 1):
            data = await post(session, base_url + "/completions", {"prompt": prompt, "max_tokens": max_tokens, "echo": True, "logprobs": 3})
            choice = data["choices"][0]
            lp = choice["logprobs"]
            text = choice["text"]
            assert (text.startswith(prompt) and len(text) > len(prompt)) if max_tokens else text == prompt
            assert "".join(lp["tokens"]) == text
            for token, offset in zip(lp["tokens"], lp["text_offset"]):
                assert text[offset : offset + len(token)] == token
            prompt_pieces = [t for t, o in zip(lp["tokens"], lp["text_offset"]) if o < len(prompt)]
            assert "".join(prompt_pieces) == prompt
            assert lp["token_logprobs"][0] is None and lp["top_logprobs"][0] is None
            assert all(v < 0 for v in lp["token_logprobs"][1:])
            assert all(len(top) == 3 and top[t] == v for t, v, top in zip(lp["tokens"][1:], lp["token_logprobs"][1:], lp["top_logprobs"][1:]))
            again = await post(session, base_url + "/completions", {"prompt": prompt, "max_tokens": max_tokens, "echo": True, "logprobs": 3})
            assert again["choices"][0]["logprobs"] == lp  # deterministic
        # The harness scores a continuation by summing logprobs whose offsets fall in [len(prompt), len(full)).
        context, continuation = "Question? Answer:", " B"
        data = await post(session, base_url + "/completions", {"prompt": context + continuation, "max_tokens": 1, "echo": True, "logprobs": 1})
        lp = data["choices"][0]["logprobs"]
        picked = [t for t, o in zip(lp["tokens"], lp["text_offset"]) if len(context) <= o < len(context + continuation)]
        assert picked == [" B"]

    run(case)


def test_stop_sequences() -> None:
    async def case(server: StubServer, base_url: str, session: aiohttp.ClientSession) -> None:
        prompt = "Continue the list:"
        full = answer_text(prompt)
        assert "\n" in full
        data = await post(session, base_url + "/completions", {"prompt": prompt, "max_tokens": 100, "stop": ["\n"]})
        assert data["choices"][0]["text"] == full.split("\n")[0]
        assert data["choices"][0]["finish_reason"] == "stop"
        word = full.split()[2]
        data = await post(session, base_url + "/completions", {"prompt": prompt, "max_tokens": 100, "stop": ["zzz", word]})
        assert data["choices"][0]["text"] == full[: full.index(word)]
        data = await post(session, base_url + "/completions", {"prompt": prompt, "max_tokens": 100, "stop": "\n"})  # bare string
        assert data["choices"][0]["text"] == full.split("\n")[0]

    run(case)


def test_auth_required() -> None:
    config = StubConfig(latency_s=0.0, api_key="sekrit")

    async def denied(server: StubServer, base_url: str, session: aiohttp.ClientSession) -> None:
        data = await post(session, base_url + "/completions", {"prompt": "hi"}, status=401)
        assert data["error"]["code"] == "invalid_api_key"
        async with session.get(base_url + "/models") as response:
            assert response.status == 401

    async def allowed(server: StubServer, base_url: str, session: aiohttp.ClientSession) -> None:
        await post(session, base_url + "/completions", {"prompt": "hi"})

    run(denied, config)
    run(denied, config, headers={"Authorization": "Bearer wrong"})
    run(allowed, config, headers={"Authorization": "Bearer sekrit"})


def test_fail_first_per_prompt() -> None:
    async def case(server: StubServer, base_url: str, session: aiohttp.ClientSession) -> None:
        for prompt in ("p1", "p2"):
            for _ in range(2):
                data = await post(session, base_url + "/completions", {"prompt": prompt}, status=500)
                assert data["error"]["message"] == "injected failure"
            await post(session, base_url + "/completions", {"prompt": prompt})
            await post(session, base_url + "/completions", {"prompt": prompt})
        assert server.stats.requests_by_prompt[prompt_key("p1")] == 4
        assert server.stats.errors_served == 4 and server.stats.total_requests == 8

    run(case, StubConfig(latency_s=0.0, fail_first=2))


def test_fail_status_retry_after_and_context_window() -> None:
    async def case(server: StubServer, base_url: str, session: aiohttp.ClientSession) -> None:
        async with session.post(base_url + "/completions", json={"prompt": "x", "max_tokens": 1}) as response:
            assert response.status == 429 and response.headers["Retry-After"] == "1.5"
        await post(session, base_url + "/completions", {"prompt": "x", "max_tokens": 1})
        long_prompt = " ".join(["w"] * 10)
        data = await post(session, base_url + "/completions", {"prompt": long_prompt, "max_tokens": 1}, status=400)
        assert data["error"]["code"] == "context_length_exceeded"

    run(case, StubConfig(latency_s=0.0, fail_first=1, fail_status=429, retry_after=1.5, context_window=8))


def test_injected_fault_kinds() -> None:
    async def case(server: StubServer, base_url: str, session: aiohttp.ClientSession) -> None:
        url = base_url + "/completions"
        server.config.fail_kind = "garbage"
        async with session.post(url, json={"prompt": "x"}) as response:
            assert response.status == 200
            with pytest.raises(ValueError):
                json.loads(await response.text())
        server.config.fail_kind = "reset"
        with pytest.raises(aiohttp.ServerDisconnectedError):
            async with session.post(url, json={"prompt": "x"}) as response:
                await response.read()
        server.config.fail_kind = "empty-choices"
        assert (await post(session, url, {"prompt": "x"}))["choices"] == []
        server.config.fail_kind = "no-text"
        (choice,) = (await post(session, url, {"prompt": "x"}))["choices"]
        assert "text" not in choice and "message" not in choice and choice["finish_reason"] == "content_filter"
        assert server.stats.errors_served == server.stats.total_requests == 4

    run(case, StubConfig(latency_s=0.0, fail_rate=1.0))


def test_rate_limit_bucket() -> None:
    async def case(server: StubServer, base_url: str, session: aiohttp.ClientSession) -> None:
        url = base_url + "/completions"
        for _ in range(2):  # 120 rpm: a bucket of one second's worth, 2 requests
            await post(session, url, {"prompt": "x"})
        async with session.post(url, json={"prompt": "x"}) as response:
            assert response.status == 429 and (await response.json())["error"]["code"] == "rate_limit_exceeded"
            retry_after = float(response.headers["Retry-After"])
        assert 0.4 < retry_after <= 0.5  # the time to refill one request at 2 per second
        await asyncio.sleep(retry_after + 0.02)
        await post(session, url, {"prompt": "x"})
        times = server.stats.request_times
        assert server.stats.rate_limited == 1 and len(times) == 4 and times[0] == 0.0 and times == sorted(times)

    run(case, StubConfig(latency_s=0.0, rate_limit_rpm=120))


def test_chat() -> None:
    async def case(server: StubServer, base_url: str, session: aiohttp.ClientSession) -> None:
        messages = [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Which?\nA. a\nB. b\nC. c\nD. d\nAnswer:"},
        ]
        data = await post(session, base_url + "/chat/completions", {"model": "stub-model", "messages": messages, "max_tokens": 5})
        again = await post(session, base_url + "/chat/completions", {"model": "stub-model", "messages": messages, "max_tokens": 5})
        reply = data["choices"][0]["message"]
        assert reply["role"] == "assistant" and reply["content"] in ("A", "B", "C", "D")
        assert again["choices"] == data["choices"]
        assert reply["content"] == answer_text(messages[1]["content"], chat=True)
        assert data["usage"]["completion_tokens"] == 1 and data["usage"]["prompt_tokens"] > 0
        free = await post(session, base_url + "/chat/completions", {"messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]})
        assert free["choices"][0]["message"]["content"] == answer_text("Hi", chat=True)
        assert server.stats.chat_completions == 3

    run(case)


def test_concurrency_limit_is_respected() -> None:
    async def case(server: StubServer, base_url: str, session: aiohttp.ClientSession) -> None:
        start = time.perf_counter()
        await asyncio.gather(*(post(session, base_url + "/completions", {"prompt": f"q{i}"}) for i in range(20)))
        elapsed = time.perf_counter() - start
        assert server.stats.max_concurrent == 4 and server.stats.max_in_flight > 4
        assert elapsed >= 5 * 0.02  # 20 requests, 4 at a time, 20 ms each: at least 5 rounds

    run(case, StubConfig(latency_s=0.02, max_concurrency=4))


def test_throughput_1000_requests_at_concurrency_100() -> None:
    async def case(server: StubServer, base_url: str, session: aiohttp.ClientSession) -> None:
        url = base_url + "/completions"
        queue = list(range(1000))

        async def worker() -> None:
            while queue:
                i = queue.pop()
                async with session.post(url, json={"prompt": f"Question {i}\nAnswer:", "max_tokens": 1}) as response:
                    assert response.status == 200
                    await response.read()

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(100)))
        elapsed = time.perf_counter() - start
        # Ideal: 1000 / 100 * 0.05 s = 0.5 s; the rest is client + server overhead on the same loop.
        print(f"stub throughput: 1000 requests at concurrency 100, 50 ms latency: {elapsed:.3f} s ({1000 / elapsed:.0f} req/s)")
        assert server.stats.total_requests == 1000 and server.stats.max_concurrent <= 100

    async def main() -> None:
        connector = aiohttp.TCPConnector(limit=100)
        runner, base_url = await start_stub(StubConfig(latency_s=0.05, max_concurrency=100))
        try:
            async with aiohttp.ClientSession(connector=connector) as session:
                await case(stub_state(runner), base_url, session)
        finally:
            await runner.cleanup()

    asyncio.run(main())


def test_cli_process() -> None:
    # The overhead benchmark runs the stub as its own process and waits for this exact line.
    import subprocess
    import urllib.request

    script = Path(__file__).parent / "stub_server.py"
    proc = subprocess.Popen([sys.executable, str(script), "--port", "0", "--latency", "0", "--model", "cli-model"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip() if proc.stdout else ""
        assert line.startswith("listening on http://127.0.0.1:"), line
        with urllib.request.urlopen(line.removeprefix("listening on ") + "/v1/models", timeout=10) as response:
            assert b"cli-model" in response.read()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "stub stats: requests=1" in err

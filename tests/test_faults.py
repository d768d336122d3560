"""Faults and flow control of the OpenAI-compatible client: AIMD on 429s, rpm/tpm pacing, Retry-After for the whole
deployment, which failures are retried and which fail at once, and that every failure is a stored, retryable result.

In-process tests drive the client with the executor's pattern (concurrency workers, batches of one) against the stub
on the same loop, with a short backoff; CLI tests run `harness run` against stub processes and read the store.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli
from stub_server import StubConfig, StubServer, start_stub, stub_state

from harness.clients.deployment import ModelDeployment, parse_deployments
from harness.clients.openai_compatible import OpenAICompatibleClient, RetryableError
from harness.clients.pacing import AimdLimiter, Pacer
from harness.clients.request import Request, Result
from harness.errors import HarnessError


# --- the limiter and the pacer on their own ---------------------------------------------------------------------

def test_limiter_halves_once_per_window_and_grows_by_one_per_window_of_successes() -> None:
    async def case() -> None:
        limiter = AimdLimiter(8)
        for _ in range(8):
            await limiter.acquire()
        window = limiter.window
        for _ in range(8):  # a burst of 429s for requests sent in the same window: one cut
            limiter.on_rate_limited(window)
        assert limiter.limit == 4
        limiter.on_rate_limited(limiter.window)
        limiter.on_rate_limited(limiter.window)
        limiter.on_rate_limited(limiter.window)
        assert limiter.limit == 1  # never below one
        for _ in range(8):
            limiter.release()
        await limiter.acquire()
        queued = asyncio.ensure_future(limiter.acquire())
        await asyncio.sleep(0)
        assert not queued.done()  # the lowered limit holds back the second request
        limiter.on_success()  # one success at limit 1: one window, +1
        await asyncio.sleep(0)
        assert limiter.limit == 2 and queued.done() and limiter.in_flight == 2
        limiter.on_success()
        assert limiter.limit == 2  # a window at limit 2 is two successes
        limiter.on_success()
        assert limiter.limit == 3

    asyncio.run(case())


def test_limiter_cancelled_waiter_leaves_no_slot_behind() -> None:
    async def case() -> None:
        limiter = AimdLimiter(1)
        await limiter.acquire()
        waiter = asyncio.ensure_future(limiter.acquire())
        await asyncio.sleep(0)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        limiter.release()
        assert limiter.in_flight == 0 and not limiter._waiters

    asyncio.run(case())


def test_pacer_spreads_starts_by_rpm_and_tpm_and_pauses_for_retry_after() -> None:
    now = [100.0]
    pacer = Pacer(rpm=600, tpm=60_000, clock=lambda: now[0])
    assert [pacer.reserve(10) for _ in range(3)] == pytest.approx([0.0, 0.1, 0.2])  # 600 rpm: one per 0.1 s
    assert pacer.reserve(1000) == pytest.approx(0.3)  # 1000 tokens at 60k tpm: the next start is 1 s later
    assert pacer.reserve(10) == pytest.approx(1.3)
    now[0] += 10  # idle: no credit piles up, so no burst after it
    assert pacer.reserve(10) == 0.0 and pacer.reserve(10) == pytest.approx(0.1)
    pacer.pause(2.0)
    assert pacer.recheck() > 0  # a reservation made before the pause is moved after it
    assert pacer.reserve(10) >= 2.0
    unlimited = Pacer()
    assert unlimited.reserve(10**6) == unlimited.reserve(10**6) == 0.0


def test_rpm_and_tpm_are_parsed_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text("- name: a\n  client: openai-compatible\n  base_url: http://127.0.0.1:1/v1\n  rpm: 600\n  tpm: 90000\n")
    (deployment,) = parse_deployments(path)
    assert (deployment.rpm, deployment.tpm) == (600, 90_000)
    path.write_text("- name: a\n  client: openai-compatible\n  base_url: http://127.0.0.1:1/v1\n  rpm: -1\n")
    with pytest.raises(HarnessError, match="models.yaml:4: rpm: must be >= 0, got -1"):
        parse_deployments(path)


# --- the client against an in-process stub ----------------------------------------------------------------------

@asynccontextmanager
async def stub_and_client(config: StubConfig, **fields: Any) -> AsyncIterator[tuple[StubServer, OpenAICompatibleClient]]:
    runner, base_url = await start_stub(config)
    deployment = ModelDeployment(name="local/stub", client="openai-compatible", base_url=base_url, model="stub-model", **fields)
    client = OpenAICompatibleClient(deployment)
    client.backoff_base_s, client.backoff_cap_s = 0.01, 0.05
    await client.start()
    try:
        yield stub_state(runner), client
    finally:
        await client.close()
        await runner.cleanup()


async def answer_all(client: OpenAICompatibleClient, requests: list[Request]) -> list[Result]:
    """As the executor sends them: `concurrency` workers, each a batch of one request at a time."""
    results: dict[int, Result] = {}
    queue = iter(range(len(requests)))

    async def worker() -> None:
        for i in queue:
            (results[i],) = await client.process([requests[i]])

    await asyncio.gather(*(worker() for _ in range(client.concurrency)))
    return [results[i] for i in range(len(requests))]


def generate(n: int, **fields: Any) -> list[Request]:
    return [Request(kind="generate", prompt=f"Question {i}?", max_tokens=4, **fields) for i in range(n)]


class Sends:
    """Records each HTTP attempt of a client: when it was sent, the AIMD limit then, and each Retry-After pause."""

    def __init__(self, client: OpenAICompatibleClient) -> None:
        self.times: list[float] = []
        self.limits: list[int] = []
        self.pauses: list[tuple[float, float]] = []
        post = client._post

        async def recording_post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            self.times.append(time.monotonic())
            self.limits.append(client.limiter.limit)
            try:
                return await post(path, body)
            except RetryableError as exc:
                if exc.retry_after:
                    self.pauses.append((time.monotonic(), time.monotonic() + exc.retry_after))
                raise

        client._post = recording_post  # type: ignore[method-assign]

    def sent_during_a_pause(self) -> list[float]:
        return [t for t in self.times for start, end in self.pauses if start < t < end - 1e-3]


def test_429_storm_halves_concurrency_pauses_the_deployment_and_recovers() -> None:
    async def case() -> None:
        config = StubConfig(latency_s=0.02, max_concurrency=0, retry_after=0.05)
        async with stub_and_client(config, max_concurrency=8, max_attempts=30) as (server, client):
            sends = Sends(client)

            async def storm() -> None:  # every request is rate limited for 0.3 s mid-run
                await asyncio.sleep(0.15)
                server.config.status_override = 429
                await asyncio.sleep(0.3)
                server.config.status_override = None

            results, _ = await asyncio.gather(answer_all(client, generate(300)), storm())
        assert all(r.ok for r in results), {r.error for r in results if not r.ok}
        assert server.stats.errors_served > 8  # the storm was felt
        below = [limit for limit in sends.limits if limit < 8]
        assert below[0] == 4  # the first burst of 429s (requests sent in one window) halved the limit once, not thrice
        assert min(below) <= 2  # every later window of 429s halved it again
        assert client.limiter.window < server.stats.errors_served
        assert sends.limits[-1] == client.limiter.limit == 8  # and successes grew it back to max_concurrency
        assert not sends.sent_during_a_pause()  # Retry-After held back every request, not only the 429ed one

    asyncio.run(case())


def test_rate_limited_server_without_a_budget_every_request_succeeds() -> None:
    async def case() -> None:
        config = StubConfig(latency_s=0.02, max_concurrency=0, rate_limit_rpm=1200)  # 20/s after a burst of 20
        async with stub_and_client(config, max_concurrency=8, max_attempts=30) as (server, client):
            sends = Sends(client)
            results = await answer_all(client, generate(40))
        assert all(r.ok for r in results), {r.error for r in results if not r.ok}
        assert server.stats.rate_limited > 0 and client.limiter.window > 0 and min(sends.limits) < 8
        assert not sends.sent_during_a_pause()

    asyncio.run(case())


def test_tpm_budget_spaces_requests_by_their_estimated_tokens() -> None:
    async def case() -> None:
        # 297 bytes / 3 + 1 max_tokens = 100 tokens per request; 30k tpm = 500 tokens/s: one start per 0.2 s
        requests = [Request(kind="generate", prompt=f"{i}" + "x" * 296, max_tokens=1) for i in range(5)]
        async with stub_and_client(StubConfig(latency_s=0.0), max_concurrency=8, tpm=30_000) as (_, client):
            sends = Sends(client)
            results = await answer_all(client, requests)
        assert all(r.ok for r in results)
        gaps = [b - a for a, b in zip(sends.times, sends.times[1:])]
        assert min(gaps) > 0.17 and sends.times[-1] - sends.times[0] < 1.2

    asyncio.run(case())


@pytest.mark.parametrize(("status", "retried"), [
    (400, False), (404, False), (422, False), (501, False),
    (408, True), (409, True), (429, True), (500, True), (502, True), (503, True), (504, True),
])
def test_which_statuses_are_retried(status: int, retried: bool) -> None:
    async def case() -> None:
        async with stub_and_client(StubConfig(latency_s=0.0, status_override=status), max_attempts=3) as (server, client):
            (result,) = await client.process(generate(1))
        assert not result.ok and f"HTTP {status}" in (result.error or "")
        assert server.stats.total_requests == (3 if retried else 1)
        assert result.error.startswith("failed after 3 attempts") == retried

    asyncio.run(case())


def test_an_unexpected_exception_is_a_failed_result_not_a_crash() -> None:
    async def case() -> None:
        async with stub_and_client(StubConfig(latency_s=0.0)) as (_, client):
            async def broken(path: str, body: dict[str, Any]) -> dict[str, Any]:
                raise KeyError("usage")

            client._post = broken  # type: ignore[method-assign]
            (result,) = await client.process(generate(1))
            assert not result.ok and result.error == "unexpected KeyError: 'usage'"
            assert client.limiter.in_flight == 0  # the slot was given back

    asyncio.run(case())


# --- through the CLI, against stub processes, reading the store ---------------------------------------------------

def models_file(tmp_path: Path, stubs: dict[str, str], **extra: object) -> Path:
    """One deployment per (name, base_url); a name keeps its stored results whatever its URL."""
    path = tmp_path / "models.yaml"
    text = ""
    for name, base_url in stubs.items():
        fields = {"client": "openai-compatible", "base_url": base_url, "model": "stub-model", **extra}
        text += f"- name: {name}\n" + "".join(f"  {k}: {v}\n" for k, v in fields.items())
    path.write_text(text)
    return path


def run(tmp_path: Path, models: Path, names: list[str], items: int) -> Any:
    (tmp_path / "suite.yaml").write_text(f"entries:\n  - scenario: boolq\n    max_instances: {items}\n")
    return run_cli("run", "suite.yaml", "--models", ",".join(names), "--models-file", str(models), "--output", "out",
                   "--no-site", cwd=tmp_path)


def stored_errors(tmp_path: Path) -> dict[str, list[str]]:
    """Deployment -> the error of each of its failed requests, from the store."""
    errors: dict[str, list[str]] = {}
    with sqlite3.connect(tmp_path / "out" / "harness.db") as conn:
        for deployment, error in conn.execute("SELECT deployment, error FROM requests WHERE ok = 0"):
            errors.setdefault(deployment, []).append(error)
    return errors


# What each injected fault looks like in the stored error, for those that are retried.
RETRIED = {"garbage": ("--fail-kind", "garbage", "malformed JSON from server (HTTP 200)"),
           "reset": ("--fail-kind", "reset", "connection closed before the whole answer"),
           "http-503": ("--fail-status", "503", "HTTP 503: injected failure")}


def test_garbage_resets_and_5xx_are_retried_stored_when_they_persist_and_retried_on_rerun(tmp_path: Path, stub_factory) -> None:
    items = 6
    # Run 1: each attempt fails with probability 0.7 (seeded; one request at a time, so the same draws every run):
    # a request that fails twice is stored failed, one that fails once is retried into a success.
    flaky = {kind: stub_factory("--latency", "0", "--fail-rate", "0.7", *RETRIED[kind][:2]) for kind in RETRIED}
    first = run(tmp_path, models_file(tmp_path, {k: s.base_url for k, s in flaky.items()}, max_concurrency=1, max_attempts=2),
                list(RETRIED), items)
    assert first.returncode == 0, first.stderr
    errors = stored_errors(tmp_path)
    failed = sum(len(e) for e in errors.values())
    assert f"{failed} failed" in first.stdout
    for kind, (_, _, reason) in RETRIED.items():
        assert 0 < len(errors[kind]) < items, errors  # some failed for good, some were saved by their retry
        assert all(e.startswith("failed after 2 attempts: ") and reason in e for e in errors[kind]), errors[kind]
        assert flaky[kind].stats()["total_requests"] > items  # retried

    # Run 2: the faults are transient now (each prompt fails once): only the failed requests are sent, and all succeed.
    transient = {kind: stub_factory("--latency", "0", "--fail-first", "1", *RETRIED[kind][:2]) for kind in RETRIED}
    second = run(tmp_path, models_file(tmp_path, {k: s.base_url for k, s in transient.items()}, max_concurrency=4),
                 list(RETRIED), items)
    assert second.returncode == 0, second.stderr
    assert f"{failed} sent, {3 * items - failed} from the store, 0 failed" in second.stdout
    for kind, stub in transient.items():
        assert stub.stats()["total_requests"] == 2 * len(errors[kind])  # one fault, one retry each
    assert not stored_errors(tmp_path)


def test_context_too_long_empty_choices_and_no_text_fail_at_once_with_the_reason(tmp_path: Path, stub_factory) -> None:
    stubs = {"too-long": stub_factory("--latency", "0", "--context-window", "120"),
             "empty-choices": stub_factory("--latency", "0", "--fail-rate", "1", "--fail-kind", "empty-choices"),
             "no-text": stub_factory("--latency", "0", "--fail-rate", "1", "--fail-kind", "no-text")}
    proc = run(tmp_path, models_file(tmp_path, {k: s.base_url for k, s in stubs.items()}, max_concurrency=4), list(stubs), 6)
    assert proc.returncode == 0, proc.stderr
    for stub in stubs.values():
        assert set(stub.stats()["requests_by_prompt"].values()) == {1}  # not one retry
    errors = stored_errors(tmp_path)
    assert errors["too-long"] and all(
        e.startswith("the prompt is too long for the model's context (HTTP 400: This model's maximum context length is 120 tokens")
        for e in errors["too-long"])
    assert len(errors["empty-choices"]) == 6 and set(errors["empty-choices"]) == {"server answered no choices ('choices': [])"}
    assert len(errors["no-text"]) == 6 and set(errors["no-text"]) == {"server answered a choice with no text (finish_reason 'content_filter')"}


def test_rpm_budget_paces_requests_so_the_server_never_rate_limits(tmp_path: Path, stub_factory) -> None:
    stub = stub_factory("--latency", "0.01", "--rate-limit-rpm", "600")  # a bucket of 10, refilled at 10/s
    proc = run(tmp_path, models_file(tmp_path, {"paced": stub.base_url}, max_concurrency=8, rpm=600), ["paced"], 30)
    assert proc.returncode == 0, proc.stderr
    assert "30 sent, 0 from the store, 0 failed" in proc.stdout
    stats = stub.stats()
    times = stats["request_times"]
    assert stats["rate_limited"] == 0 and len(times) == 30
    assert times[-1] - times[0] >= 2.5  # 30 starts at 10 per second, not a burst
    # At most ~10 in any second (one more where a busy machine delayed a start into the next one's tenth of a second)
    assert max(sum(1 for t in times if start <= t < start + 1) for start in times) <= 12


def test_a_store_failing_during_a_run_stops_it_with_one_line_and_the_rerun_goes_on(
        tmp_path: Path, stub_factory, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The store's disk fails after its first batch of results (results are stored by this process's own thread
    below 64 in flight): the run stops at once rather than send requests whose answers it cannot keep, says so on
    one line with exit code 2, and the first batch stays stored for the rerun."""
    from harness import cli
    from harness.store.store import Store

    items = 400
    stub = stub_factory("--latency", "0.01")
    store_results = Store.save_results
    batches: list[int] = []

    def failing_disk(self: Store, rows: list) -> None:
        batches.append(len(rows))
        if len(batches) > 1:
            raise sqlite3.OperationalError("disk I/O error")
        store_results(self, rows)

    monkeypatch.setattr(Store, "save_results", failing_disk)
    (tmp_path / "suite.yaml").write_text(f"entries:\n  - scenario: boolq\n    max_instances: {items}\n")
    args = ["run", str(tmp_path / "suite.yaml"), "--models", "flaky-disk", "--models-file",
            str(models_file(tmp_path, {"flaky-disk": stub.base_url}, max_concurrency=4)),
            "--output", str(tmp_path / "out"), "--no-site"]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert "harness: error: --db: the store failed: disk I/O error (what it stored before is kept" in err, err
    assert "Traceback" not in err
    sent = stub.stats()["total_requests"]
    assert sent < items / 2, sent  # 4 at a time, 10 ms each: ~2 s to send them all; it stopped at ~0.1 s
    with sqlite3.connect(tmp_path / "out" / "harness.db") as conn:
        stored = conn.execute("SELECT COUNT(*) FROM requests WHERE ok = 1").fetchone()[0]
    assert stored == batches[0] > 0

    monkeypatch.setattr(Store, "save_results", store_results)
    assert cli.main(args) == 0
    assert f"{items - stored} sent, {stored} from the store, 0 failed" in capsys.readouterr().out


def test_answers_with_nan_or_infinity_are_read_as_the_stdlib_reads_them() -> None:
    """orjson reads answers (it is ~4x the stdlib's speed), but rejects the NaN and -Infinity that some servers
    write for log-probabilities; those answers are read as before rather than retried as malformed."""
    import math

    from harness.clients.openai_compatible import _loads

    assert _loads(b'{"choices": [{"text": " B"}]}') == {"choices": [{"text": " B"}]}
    data = _loads(b'{"logprobs": {"token_logprobs": [null, -Infinity, NaN]}}')
    values = data["logprobs"]["token_logprobs"]
    assert values[0] is None and values[1] == -math.inf and math.isnan(values[2])
    with pytest.raises(ValueError):
        _loads(b"<html>502 Bad Gateway</html>")


def test_an_answer_that_never_comes_times_out_and_the_others_are_unaffected() -> None:
    """The HTTP client's timeouts (one sweeping timer for all requests in flight): a request whose answer never comes
    fails with TimeoutError soon after timeout_s, its connection is dropped, and requests answered meanwhile, on the
    same pool, are not held up by it."""
    from harness.clients.http import HttpPool

    async def scenario() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length")))
                await reader.readexactly(length)
                if b"/hang" in head.split(b"\r\n")[0]:
                    await asyncio.sleep(3600)  # never answers
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        pool = HttpPool(f"http://127.0.0.1:{port}/v1", timeout_s=0.4)
        try:
            start = time.monotonic()
            hung = [asyncio.create_task(pool.post("/hang", b"{}")) for _ in range(3)]
            answered = [await pool.post("/ok", b"{}") for _ in range(5)]  # one after another, while 3 hang
            assert [r.body for r in answered] == [b"ok"] * 5 and time.monotonic() - start < 0.3
            for task in hung:
                with pytest.raises(TimeoutError):
                    await task
            assert 0.4 <= time.monotonic() - start < 0.4 * 1.25 + 0.3
            assert (await pool.post("/ok", b"{}")).body == b"ok"  # the pool goes on, on a connection that works
        finally:
            await pool.close()
            server.close()

    asyncio.run(scenario())

"""The anthropic client against a loopback server that speaks the Messages API (tests/anthropic_stub.py): the wire
format (headers, body, content blocks, usage), its retries and auth stop, and a run of a built-in scenario on it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from anthropic_stub import AnthropicStubConfig, anthropic_state, start_anthropic_stub
from conftest import run_cli
from stub_server import answer_text, truncate

from harness.clients.base import from_outside, make_client, uses_chat
from harness.clients.deployment import ModelDeployment, parse_deployments
from harness.clients.request import Request, Result

KEY = "sk-ant-test-" + "5e1d9a7c3b" * 3
ENV = "HARNESS_TEST_ANTHROPIC_KEY"
CHAT = (("system", "You are terse."), ("user", "Name three words."), ("assistant", "alpha bravo"),
        ("system", "Use lower case."), ("user", "Three more, please."))


def ask(config: AnthropicStubConfig, requests: list[Request], key: str = KEY,
        **fields: Any) -> tuple[list[Result], Any, Any]:
    """The client's results (as harness keeps them: redacted, cleaned), the stub's state and the client, after
    sending `requests` one after the other."""
    async def main() -> tuple[list[Result], Any, Any]:
        runner, url = await start_anthropic_stub(config)
        try:
            deployment = ModelDeployment(name="claude", client="anthropic", model="claude-test", base_url=url,
                                         api_key_env=ENV, api="chat", **fields)
            client = make_client(deployment)
            client.backoff_base_s = 0.01
            await client.start()
            try:
                results = [from_outside(r) for r in await client.process(requests)]
            finally:
                await client.close()
            return results, anthropic_state(runner), client
        finally:
            await runner.cleanup()

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ENV, key)
        return asyncio.run(main())


def test_success_system_top_level_stop_sequences_and_usage() -> None:
    request = Request("generate", messages=CHAT, max_tokens=20, stop=("\n", "zulu"))
    (result,), stub, _ = ask(AnthropicStubConfig(api_key=KEY), [request])
    assert result.ok, result.error
    headers = {k.lower(): v for k, v in stub.stats.last_headers.items()}
    assert headers["x-api-key"] == KEY and headers["anthropic-version"] == "2023-06-01"
    assert headers["content-type"] == "application/json" and "authorization" not in headers
    body = stub.stats.last_body
    assert body["system"] == "You are terse.\n\nUse lower case."  # the system turns, top level, in order
    assert body["messages"] == [{"role": "user", "content": "Name three words."},
                                {"role": "assistant", "content": "alpha bravo"},
                                {"role": "user", "content": "Three more, please."}]
    assert body["model"] == "claude-test" and body["max_tokens"] == 20 and body["temperature"] == 0.0
    assert body["stop_sequences"] == ["zulu"]  # "\n" is only whitespace, which the API refuses: cut here instead
    assert not {"n", "seed", "stop"} & set(body)
    full, _ = truncate(answer_text("Three more, please.", "", chat=True), 20, ["zulu"])
    assert "\n" in full  # so the test sees the client's own cut
    assert result.texts == [full[:full.index("\n")]]  # both text blocks joined, the tool_use block skipped
    assert result.prompt_tokens == 11 and result.completion_tokens == len(full.split())


def test_n_samples_are_n_requests() -> None:
    request = Request("generate", messages=(("user", "Say something."),), max_tokens=5, n=3, temperature=0.7)
    (result,), stub, _ = ask(AnthropicStubConfig(), [request])
    assert result.ok and len(result.texts) == 3
    assert stub.stats.requests == 3 and stub.stats.last_body["temperature"] == 0.7
    assert result.completion_tokens == 3 * len(result.texts[0].split())


@pytest.mark.parametrize("status", [429, 529, 500])
def test_rate_limits_overload_and_server_errors_are_retried(status: int) -> None:
    config = AnthropicStubConfig(fail_first=2, fail_status=status, retry_after=0.05)
    (result,), stub, client = ask(config, [Request("generate", messages=(("user", "Hi."),), max_tokens=4)])
    assert result.ok, result.error
    assert stub.stats.statuses == {str(status): 2} and stub.stats.answered == 1
    # 429 and 529 say the deployment asks too much at once: the concurrency limit is cut; a 500 does not.
    assert (client.limiter.limit < client.limiter.maximum) == (status != 500)


def test_retries_give_up_with_the_api_s_reason() -> None:
    config = AnthropicStubConfig(fail_first=5, fail_status=529)
    (result,), stub, _ = ask(config, [Request("generate", messages=(("user", "Hi."),))], max_attempts=2)
    assert not result.ok and result.error == "failed after 2 attempts: HTTP 529: injected failure"
    assert stub.stats.requests == 2


def test_a_wrong_key_stops_the_deployment_with_the_key_redacted() -> None:
    requests = [Request("generate", messages=(("user", f"Question {i}?"),)) for i in range(3)]
    results, stub, _ = ask(AnthropicStubConfig(api_key="sk-ant-the-right-one"), requests)
    assert stub.stats.requests == 1  # no retry of a 401, and nothing more sent
    errors = [r.error or "" for r in results]
    assert all("HTTP 401" in e and "authentication failed (invalid x-api-key)" in e and f"${ENV}" in e for e in errors)


def test_an_error_that_quotes_the_key_is_surfaced_redacted() -> None:
    (result,), stub, _ = ask(AnthropicStubConfig(echo_key=True), [Request("generate", messages=(("user", "Hi."),))])
    assert not result.ok and stub.stats.requests == 1  # a 400 is not retried
    assert "HTTP 400" in (result.error or "") and "you sent x-api-key: ***" in (result.error or "")
    assert KEY[:10] not in (result.error or "")


def test_log_probabilities_and_bare_prompts_are_refused_unsent() -> None:
    requests = [Request("logprob", prompt="Q: 2+2?\nA:", continuation=" 4"), Request("generate", prompt="Q: 2+2?\nA:")]
    (scored, prompted), stub, _ = ask(AnthropicStubConfig(), requests)
    assert not scored.ok and "no log-probabilities" in (scored.error or "")
    assert not prompted.ok and "chat messages only" in (prompted.error or "")
    assert stub.stats.requests == 0


def test_models_file_chat_only_default_url_and_settings(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text("- name: claude\n  client: anthropic\n  model: claude-sonnet-4-5\n"
                    "  api_key_env: ANTHROPIC_API_KEY\n")
    deployment, = parse_deployments(path)
    assert deployment.api == "chat" and uses_chat(deployment)
    assert deployment.settings == {"headers": {}, "extra_body": {}}
    assert make_client(deployment).urls == ["https://api.anthropic.com"]
    path.write_text("- name: claude\n  client: anthropic\n  model: m\n  api: completions\n")
    with pytest.raises(Exception) as error:
        parse_deployments(path)
    assert str(error.value) == f"{path}:4: api: the anthropic client speaks chat only; leave api out or set api: chat"


def _start_process(*args: str) -> tuple[Any, str]:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, str(Path(__file__).parent / "anthropic_stub.py"), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline().strip() if proc.stdout else ""
    assert line.startswith("listening on "), line
    return proc, line.removeprefix("listening on ")


def test_a_built_in_scenario_runs_on_it_and_separate_is_refused(tmp_path: Path) -> None:
    proc, url = _start_process("--api-key", KEY, "--fail-first", "1", "--fail-status", "429", "--retry-after", "0.01")
    try:
        (tmp_path / "models.yaml").write_text(
            f"- name: claude\n  client: anthropic\n  model: claude-test\n  base_url: {url}\n  api_key_env: {ENV}\n")
        (tmp_path / "suite.yaml").write_text("name: anth\nentries:\n  - scenario: mmlu\n    max_instances: 3\n")
        args = ["--models", "claude", "--models-file", "models.yaml", "--output", "out", "--no-site"]
        done = run_cli("run", "suite.yaml", *args, cwd=tmp_path, env={ENV: KEY})
        assert done.returncode == 0, done.stderr
        assert "3 requests: 3 sent" in done.stdout, done.stdout
        from harness.store.store import open_store

        store = open_store(f"sqlite:///{tmp_path}/out/harness.db")
        try:
            rows = list(store.request_rows().values())
        finally:
            store.close()
        assert len(rows) == 3 and all(r["result"]["ok"] for r in rows)
        assert all(r["request"]["messages"] and r["result"]["prompt_tokens"] > 0
                   and r["result"]["completion_tokens"] == 1 for r in rows)
        assert all(len(r["result"]["texts"][0]) == 1 for r in rows)  # a letter, the stub's answer to "Answer:"
        assert KEY[:10] not in done.stdout + done.stderr
        (tmp_path / "separate.yaml").write_text(
            "name: sep\nentries:\n  - scenario: mmlu\n    method: multiple_choice_separate\n    max_instances: 3\n")
        refused = run_cli("run", "separate.yaml", *args, cwd=tmp_path, env={ENV: KEY})
        assert refused.returncode == 2 and "multiple_choice_separate needs prompt log-probabilities" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
    finally:
        proc.terminate()
        proc.wait(timeout=10)

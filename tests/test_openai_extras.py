"""A deployment's `headers:` and `extra_body:` (harness.clients.http_settings): they reach the server, are checked
with file, line and field, and a value read from the environment is never stored or printed."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from conftest import run_cli
from stub_server import StubConfig, start_stub, stub_state

from harness.clients.base import _CLIENTS, client_kind, make_client
from harness.clients.deployment import parse_deployments
from harness.clients.request import Request
from harness.errors import HarnessError

SECRET = "gw-" + "c0ffee51d3" * 3
MODELS = """\
- name: gateway/stub
  client: openai-compatible
  base_url: {url}
  model: stub-model
  api: chat
  api_key_env: HARNESS_TEST_OPENAI_KEY
  headers:
    X-Gateway-Key: "${{HARNESS_TEST_GATEWAY_KEY}}"
    X-Route: "team-a/${{HARNESS_TEST_ROUTE}}"
    X-Retries: 2
  extra_body:
    top_k: 20
    chat_template_kwargs: {{enable_thinking: false}}
    metadata: {{user: "${{HARNESS_TEST_ROUTE}}"}}
"""


def test_headers_and_extra_body_arrive_on_every_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_TEST_GATEWAY_KEY", SECRET)
    monkeypatch.setenv("HARNESS_TEST_ROUTE", "eu-west")
    monkeypatch.setenv("HARNESS_TEST_OPENAI_KEY", "sk-openai-abcdefgh")

    async def main() -> list[dict[str, Any]]:
        runner, base_url = await start_stub(StubConfig(latency_s=0, record_requests=True))
        path = tmp_path / "models.yaml"
        path.write_text(MODELS.format(url=base_url))
        deployment, = parse_deployments(path)
        client = make_client(deployment)
        await client.start()
        seen = []
        try:
            for request in (Request("generate", messages=(("user", "Hi."),), max_tokens=5),
                            Request("logprob", prompt="Q: 2+2?\nA:", continuation=" 4")):
                result, = await client.process([request])
                assert result.ok, result.error
                seen.append(stub_state(runner).recorded[-1])
        finally:
            await client.close()
            await runner.cleanup()
        return seen

    chat, scored = asyncio.run(main())
    for last in (chat, scored):
        headers = last["headers"]
        assert headers["X-Gateway-Key"] == SECRET and headers["X-Route"] == "team-a/eu-west"
        assert headers["X-Retries"] == "2" and headers["Authorization"] == "Bearer sk-openai-abcdefgh"
        body = last["body"]
        assert body["top_k"] == 20 and body["chat_template_kwargs"] == {"enable_thinking": False}
        assert body["metadata"] == {"user": "eu-west"} and body["model"] == "stub-model"
    assert chat["body"]["max_tokens"] == 5 and scored["body"]["echo"] is True  # the request's own fields kept


def test_a_gateway_may_replace_the_authorization_header(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_TEST_GATEWAY_KEY", SECRET)

    async def main() -> dict[str, Any]:
        runner, base_url = await start_stub(StubConfig(latency_s=0, record_requests=True, api_key=SECRET))
        path = tmp_path / "models.yaml"
        path.write_text(f"- name: gw\n  client: openai-compatible\n  base_url: {base_url}\n"
                        "  headers: {Authorization: \"Bearer ${HARNESS_TEST_GATEWAY_KEY}\"}\n")
        client = make_client(parse_deployments(path)[0])
        await client.start()
        try:
            result, = await client.process([Request("generate", prompt="Q: 1+1?\nA:", max_tokens=3)])
        finally:
            await client.close()
            await runner.cleanup()
        assert result.ok, result.error  # the stub answers 401 to any other key
        return stub_state(runner).recorded[-1]

    assert asyncio.run(main())["headers"]["Authorization"] == f"Bearer {SECRET}"


@pytest.mark.parametrize("lines, where", [
    ("  headers: [a, b]\n", "4: headers: expected a mapping, got ['a', 'b']"),
    ("  headers:\n    X-Ok: fine\n    Bad Name: x\n",
     "6: headers.Bad Name: 'Bad Name' is not a valid HTTP header name"),
    ("  headers:\n    X-Split: \"a\\r\\nInjected: yes\"\n",
     "5: headers.X-Split: a header value cannot hold a line break or NUL"),
    ("  headers:\n    Content-Length: 5\n",
     "5: headers.Content-Length: Content-Length is set by the HTTP client itself"),
    ("  headers:\n    X-Key: \"${not a name}\"\n",
     "5: headers.X-Key: '${' must start an environment variable reference ${NAME} (letters, digits, _)"),
    ("  extra_body:\n    top_k: 3\n    max_tokens: 99\n",
     "6: extra_body.max_tokens: max_tokens is set from each request by the client; extra_body cannot change it"),
    ("  extra_body:\n    stream: true\n",
     "5: extra_body.stream: stream is set from each request by the client; extra_body cannot change it"),
    ("  extra_body:\n    when: 2024-01-01\n",
     "5: extra_body.when: expected JSON values (strings, numbers, booleans, null, lists, mappings)"),
    ("  extra_body: 3\n", "4: extra_body: expected a mapping, got 3"),
])
def test_bad_headers_and_body_fields_name_file_line_and_field(tmp_path: Path, lines: str, where: str) -> None:
    path = tmp_path / "models.yaml"
    path.write_text("- name: gw\n  client: openai-compatible\n  base_url: http://127.0.0.1:9/v1\n" + lines)
    with pytest.raises(HarnessError) as error:
        parse_deployments(path)
    assert str(error.value) == f"{path}:{where}"


def test_a_client_without_the_setting_refuses_it(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text("- name: c\n  client: chance\n  headers: {X-A: b}\n")
    with pytest.raises(HarnessError) as error:
        parse_deployments(path)
    assert str(error.value).startswith(f"{path}:3: headers: unknown key in chance deployment (allowed: ")


def test_built_in_registrations_match_what_the_classes_declare() -> None:
    """The HTTP clients are registered lazily with their settings and chat form written out beside the loader;
    here the loaded classes say the same."""
    for name in ("openai-compatible", "vllm-server", "anthropic"):
        kind = client_kind(name)
        assert kind is not None
        cls = kind.load()
        assert dict(cls.settings) == dict(kind.settings) and cls.chat_form == kind.chat_form, name
    assert set(_CLIENTS) >= {"openai-compatible", "vllm-server", "anthropic", "chance", "embedded", "vllm"}


def _fetch(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def test_an_env_header_echoed_back_is_never_stored_or_printed(tmp_path: Path, stub_factory: Any) -> None:
    stub = stub_factory("--latency", "0", "--record-last", "--echo-header", "X-Gateway-Key")
    (tmp_path / "models.yaml").write_text(MODELS.format(url=stub.base_url))
    (tmp_path / "suite.yaml").write_text("name: gw\nentries:\n  - scenario: boolq\n    max_instances: 4\n")
    args = ["run", "suite.yaml", "--models", "gateway/stub", "--models-file", "models.yaml", "--output", "out"]
    env = {"HARNESS_TEST_GATEWAY_KEY": SECRET, "HARNESS_TEST_ROUTE": "eu-west", "HARNESS_TEST_OPENAI_KEY": "x"}
    done = run_cli(*args, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    summary = run_cli("summarize", "--output", "out", cwd=tmp_path, env=env)
    assert _fetch(stub.url + "/stub/last")["headers"]["X-Gateway-Key"] == SECRET  # it was sent
    half = SECRET[:10]
    for output in (done.stdout, done.stderr, summary.stdout, summary.stderr):
        assert half not in output
    files = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert any(p.suffix == ".html" for p in files)
    for path in files:
        assert half.encode() not in path.read_bytes(), path
    from harness.store.store import open_store

    store = open_store(f"sqlite:///{tmp_path}/out/harness.db")
    try:
        rows = list(store.request_rows().values())
    finally:
        store.close()
    assert len(rows) == 4 and all(r["result"]["texts"][0].startswith("you sent X-Gateway-Key: *** ") for r in rows)


def test_an_unset_variable_stops_the_run_before_any_request(tmp_path: Path, stub_factory: Any) -> None:
    stub = stub_factory("--latency", "0")
    (tmp_path / "models.yaml").write_text(MODELS.format(url=stub.base_url))
    (tmp_path / "suite.yaml").write_text("name: gw\nentries:\n  - scenario: boolq\n    max_instances: 2\n")
    done = run_cli("run", "suite.yaml", "--models", "gateway/stub", "--models-file", "models.yaml", "--output", "out",
                   cwd=tmp_path, env={"HARNESS_TEST_ROUTE": "eu-west"})
    assert done.returncode == 2
    assert done.stderr.strip() == ("harness: error: gateway/stub: headers names ${HARNESS_TEST_GATEWAY_KEY}, "
                                   "which is not set in the environment")
    assert stub.stats()["total_requests"] == 0

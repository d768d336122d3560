"""A loopback server that speaks Anthropic's Messages API (POST /v1/messages), strictly, for the anthropic client's
tests: like tests/stub_server.py for the OpenAI-compatible API.

In process:   runner, url = await start_anthropic_stub(AnthropicStubConfig(api_key="...")); ...; await runner.cleanup()
              (`anthropic_state(runner)` gives the config, counters and the last request.)
As a process: python tests/anthropic_stub.py --port 0 --api-key KEY [--fail-first 2 --fail-status 529]
              (prints "listening on http://127.0.0.1:PORT"; GET /stub/stats gives counters and the last request.)

What it checks, as the API does: `x-api-key` (401 authentication_error), `anthropic-version: 2023-06-01` and a JSON
content type (400), and the body: a model, max_tokens >= 1, messages of user / assistant turns starting with a
user turn and string contents, `system` a string (a system turn in `messages` is refused), `stop_sequences` strings
that are not only whitespace, temperature in [0, 1], and no field the API does not know (`n`, `seed`, `stop`, ...:
400 invalid_request_error). Answers are tests/stub_server.py's deterministic texts for the last user turn, cut at
max_tokens pieces and the stop sequences, split into two text blocks around a block of another type (a client must
join the text blocks and skip the rest); usage counts pieces.

Faults: the first `fail_first` requests of each distinct body get HTTP `fail_status` with the API's error type for
it (429 rate_limit_error with a retry-after header, 529 overloaded_error, 500 api_error, ...); `echo_key` quotes the
x-api-key header back in every error message (a 400) so that tests can check it is redacted.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import signal
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stub_server import answer_text, count_tokens, truncate  # noqa: E402  (the same deterministic answers)

VERSION = "2023-06-01"
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
               529: "overloaded_error"}
KNOWN_FIELDS = {"model", "max_tokens", "messages", "system", "stop_sequences", "temperature", "top_k", "top_p",
                "metadata", "stream"}


@dataclass
class AnthropicStubConfig:
    api_key: str | None = None  # if set, x-api-key must be it (else 401)
    fail_first: int = 0
    fail_status: int = 529
    retry_after: float | None = None  # the retry-after header of a 429
    echo_key: bool = False  # every request answers 400 with a message quoting its x-api-key header


@dataclass
class AnthropicStubStats:
    requests: int = 0
    answered: int = 0
    statuses: dict[str, int] = field(default_factory=dict)  # error status -> how many served
    by_body: dict[str, int] = field(default_factory=dict)
    last_headers: dict[str, str] = field(default_factory=dict)
    last_body: Any = None


class AnthropicStub:
    def __init__(self, config: AnthropicStubConfig) -> None:
        self.config = config
        self.stats = AnthropicStubStats()

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
        key = str(status)
        self.stats.statuses[key] = self.stats.statuses.get(key, 0) + 1
        body = {"type": "error", "error": {"type": ERROR_TYPES.get(status, "api_error"), "message": message}}
        return web.json_response(body, status=status, headers=headers)

    async def messages(self, request: web.Request) -> web.Response:
        stats, config = self.stats, self.config
        stats.requests += 1
        stats.last_headers = dict(request.headers)
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            return self._error(400, "the body is not JSON")
        stats.last_body = body
        if config.api_key is not None and request.headers.get("x-api-key") != config.api_key:
            return self._error(401, "invalid x-api-key")
        if config.echo_key:
            return self._error(400, f"{'.' * 250} you sent x-api-key: {request.headers.get('x-api-key')}")
        if request.headers.get("anthropic-version") != VERSION:
            return self._error(400, f"anthropic-version: header is required ({VERSION})")
        if not request.headers.get("content-type", "").startswith("application/json"):
            return self._error(400, "content-type must be application/json")
        digest = hashlib.blake2b(raw, digest_size=8).hexdigest()
        seen = stats.by_body[digest] = stats.by_body.get(digest, 0) + 1
        if seen <= config.fail_first:
            limited = config.fail_status == 429 and config.retry_after
            headers = {"retry-after": f"{config.retry_after:g}"} if limited else None
            return self._error(config.fail_status, "injected failure", headers)
        problem = self._invalid(body)
        if problem:
            return self._error(400, problem)
        last_user = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
        full = answer_text(last_user, "", chat=True)
        text, finish = truncate(full, body["max_tokens"], body.get("stop_sequences") or [])
        half = len(text) // 2
        content = [{"type": "text", "text": text[:half]},
                   {"type": "tool_use", "id": "toolu_stub", "name": "noop", "input": {}},
                   {"type": "text", "text": text[half:]}]
        prompt = (body.get("system") or "") + "".join(m["content"] for m in body["messages"])
        stats.answered += 1
        return web.json_response({
            "id": f"msg_stub_{stats.answered}", "type": "message", "role": "assistant", "model": body["model"],
            "content": content, "stop_reason": "end_turn" if finish == "stop" else "max_tokens",
            "stop_sequence": None, "usage": {"input_tokens": count_tokens(prompt), "output_tokens": count_tokens(text)},
        })

    @staticmethod
    def _invalid(body: Any) -> str | None:
        """What the API would refuse in the body, or None."""
        if not isinstance(body, dict):
            return "the body must be an object"
        unknown = sorted(set(body) - KNOWN_FIELDS)
        if unknown:
            return f"{unknown[0]}: Extra inputs are not permitted"
        if not isinstance(body.get("model"), str) or not body["model"]:
            return "model: Field required"
        if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
            return "max_tokens: must be an integer >= 1"
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return "messages: at least one message is required"
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or m.get("role") not in ("user", "assistant") \
                    or not isinstance(m.get("content"), str):
                return f"messages.{i}: a role of user or assistant and a string content"
        if messages[0]["role"] != "user":
            return "messages: the first message must use the user role"
        if "system" in body and not isinstance(body["system"], str):
            return "system: must be a string"
        stops = body.get("stop_sequences", [])
        if not isinstance(stops, list) or not all(isinstance(s, str) and s.strip() for s in stops):
            return "stop_sequences: each must contain non-whitespace"
        temperature = body.get("temperature", 1.0)
        if not isinstance(temperature, int | float) or not 0 <= temperature <= 1:
            return "temperature: must be in [0, 1]"
        if body.get("stream"):
            return "stream: this stub answers whole messages only"
        return None

    async def stub_stats(self, request: web.Request) -> web.Response:
        return web.json_response(asdict(self.stats))


STATE = web.AppKey("anthropic_stub", AnthropicStub)


async def start_anthropic_stub(config: AnthropicStubConfig, port: int = 0) -> tuple[web.AppRunner, str]:
    """Start it in the running loop; returns (runner, base_url without /v1, as Anthropic's base URL has none)."""
    stub = AnthropicStub(config)
    app = web.Application()
    app[STATE] = stub
    app.router.add_post("/v1/messages", stub.messages)
    app.router.add_get("/stub/stats", stub.stub_stats)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


def anthropic_state(runner: web.AppRunner) -> AnthropicStub:
    return runner.app[STATE]


async def _main(args: argparse.Namespace) -> None:
    config = AnthropicStubConfig(api_key=args.api_key, fail_first=args.fail_first, fail_status=args.fail_status,
                                 retry_after=args.retry_after, echo_key=args.echo_key)
    runner, url = await start_anthropic_stub(config, args.port)
    print(f"listening on {url}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--fail-status", type=int, choices=sorted(ERROR_TYPES), default=529)
    parser.add_argument("--retry-after", type=float, default=None)
    parser.add_argument("--echo-key", action="store_true", help="answer 400 quoting the request's x-api-key")
    asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    main()

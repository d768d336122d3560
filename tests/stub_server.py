"""A loopback OpenAI-compatible stub server with fixed latency, for end-to-end tests and overhead benchmarks.

In process:   runner, base_url = await start_stub(StubConfig(latency_s=0.0)); ...; await runner.cleanup()
              (base_url ends in /v1, like OpenAI's; `stub_state(runner)` gives the config and counters.)
As a process: python tests/stub_server.py --port 8911 --latency 0.05 --max-concurrency 64
              (prints "listening on http://127.0.0.1:PORT" once ready; GET /stub/stats gives the counters.)

Faults for client tests: `fail_first` / `fail_rate` inject a failure of kind `fail_kind` (an HTTP error status, a
200 with a garbage body, a dropped connection, no choices, a choice without text); `rate_limit_rpm` answers 429
with Retry-After past a token bucket, like a provider's per-minute limit.

Hostile text (`hostile_rate`, `hostile_kind`): some answers hold a lone surrogate, NUL, bytes that are not UTF-8 or
a terminal's escapes. Key echo (`echo_key_status`): every answer quotes the request's Authorization header and the
bare key, in an error body of that status or, for 200, in the answer's text. Request recording (`record_requests`): GET
/stub/last gives the last request's headers and body; `echo_header` quotes a request header's value in every answer.

Answers are deterministic functions of the prompt: a prompt ending in "Answer:" gets one letter A-D picked by
a hash of the prompt, anything else a short hash-derived text (a number, words, a newline, more words). Tokens
are `\\s*\\S+` pieces (plus trailing whitespace as its own piece), so echoed text offsets are exact.

Kept cheap per request (one JSON parse, two blake2b, a str.split, one JSON dump, no access log: ~20 us of the
~150-200 us a request costs; the rest is aiohttp), as the overhead benchmark needs the server to be the
fixed-latency part, not the bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import re
import signal
import sys
import time
import zlib
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web

try:  # orjson is several times faster than json for both directions; fall back if it is missing
    import orjson

    _loads = orjson.loads
    _dumps = orjson.dumps
except ImportError:  # pragma: no cover
    import json

    _loads = json.loads

    def _dumps(obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":")).encode()


FAIL_KINDS = ("status", "garbage", "reset", "empty-choices", "no-text")
TOKEN_RE = re.compile(r"\s*\S+|\s+")  # every character lands in exactly one piece: "".join(pieces) == text
LETTERS = "ABCD"
WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
         "india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa")


@dataclass
class StubConfig:
    latency_s: float = 0.05  # asyncio.sleep per served request, while holding a concurrency slot
    max_concurrency: int = 64  # requests served at once; more queue on a semaphore; 0 = unlimited
    model: str = "stub-model"
    api_key: str | None = None  # if set, require "Authorization: Bearer <key>" (else 401)
    fail_first: int = 0  # the first N requests for each distinct prompt get an injected failure
    fail_rate: float = 0.0  # fraction of other requests that get one, drawn from Random(seed)
    fail_kind: str = "status"  # what an injected failure is: one of FAIL_KINDS ("status": HTTP `fail_status`)
    fail_status: int = 500
    fail_latency_s: float = 0.0  # failures answer after this delay (no concurrency slot used)
    retry_after: float | None = None  # Retry-After header (seconds) on failures, e.g. with fail_status=429
    status_override: int | None = None  # answer every authorised request with this error status
    context_window: int | None = None  # prompt tokens + max_tokens above this -> 400 context_length_exceeded
    strict_model: bool = False  # 404 for a model other than `model` (else any name is accepted)
    # Token bucket of one second's worth of requests (at least 1), refilled at rpm / 60 per second; an empty bucket
    # answers 429 with the Retry-After that refills one request. 0 = no limit.
    rate_limit_rpm: int = 0
    seed: int = 0
    # --- hostile output: every completion is this file's text (read per request), e.g. a malicious program ---
    completion_file: str | None = None
    # --- hostile text and key echo (see HOSTILE below)
    hostile_rate: float = 0.0  # fraction of prompts (by their hash: the same ones every run) whose answer is hostile
    hostile_kind: str = "all"  # one of HOSTILE, or "all": each hostile prompt gets one kind, by its hash
    echo_key_status: int | None = None  # 401, 400, 500: an error quoting the key; 200: an answer quoting it
    # --- per-model answers (tests of paired comparisons and rank intervals) ---
    # Mix the request's model name into every answer and log-probability, so that several deployments served by one
    # stub (each its own `model`) answer differently, each still deterministically.
    answers_by_model: bool = False
    # Judge modes (see the judge block below): how prompts written by a harness rubric are answered; "" = like any.
    judge_mode: str = ""
    # --- recorded requests: keep every request's path, headers and parsed body; GET /stub/requests lists them,
    # GET /stub/last gives the last one (tests of harness chat, and of a deployment's headers: and extra_body:) ---
    record_requests: bool = False
    echo_header: str = ""  # every answer's text quotes this request header's value (tests of its redaction)
    # --- protocols (harness/protocols): every sample of a request the same answer, whatever its temperature ---
    samples_agree: bool = False


# --- hostile text and key echo -------------------------------------------------------------------------------
# What a hostile answer's text begins with, as the bytes of the JSON body: an escaped lone surrogate (valid JSON that
# orjson rejects and json reads), an escaped NUL, bytes that are not UTF-8, a terminal's colour escapes.
HOSTILE: dict[str, bytes] = {
    "surrogate": b"x \\ud800 ",
    "nul": b"x \\u0000 ",
    "bad-utf8": b"x \xff\xfe\xc3 ",
    "ansi": b"x \\u001b[31mred\\u001b[0m \\u009b2J ",
}


def hostile(config: StubConfig, key: str) -> bytes | None:
    """The hostile prefix of the answer to the prompt whose prompt_key is `key`, or None."""
    h = int(key, 16)
    if config.hostile_rate <= 0 or (h % 10_000) >= config.hostile_rate * 10_000:
        return None
    kinds = sorted(HOSTILE) if config.hostile_kind == "all" else [config.hostile_kind]
    return HOSTILE[kinds[(h >> 20) % len(kinds)]]


def _with_prefix(response: web.Response, prefix: bytes) -> web.Response:
    """`response` (a completion) with `prefix` put at the start of each choice's text, as raw JSON bytes."""
    body = response.body
    assert isinstance(body, bytes)
    for field_start in (b'"text":"', b'"content":"'):
        body = body.replace(field_start, field_start + prefix)
    return web.Response(body=body, status=response.status, content_type="application/json")


def _key_echo(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    # Padded so that a reason cut at 300 characters would cut the key in two.
    return f"{'.' * 250} you sent Authorization: {header} (so the key is {header.removeprefix('Bearer ')})"


@dataclass
class StubStats:
    total_requests: int = 0  # every request to a /v1 endpoint, including rejected ones
    completions: int = 0
    chat_completions: int = 0
    errors_served: int = 0
    requests_by_prompt: dict[str, int] = field(default_factory=dict)  # prompt_key -> count
    in_flight: int = 0  # received and not yet answered (including queued on the semaphore)
    max_in_flight: int = 0
    serving: int = 0  # holding a concurrency slot
    max_concurrent: int = 0
    rate_limited: int = 0  # 429s from the `rate_limit_rpm` bucket
    request_times: list[float] = field(default_factory=list)  # with rate_limit_rpm: seconds since the first request


def prompt_key(prompt: Any) -> str:
    """Key of a prompt (str, list of str, or chat messages) in `StubStats.requests_by_prompt`."""
    text = prompt if isinstance(prompt, str) else _dumps(prompt).decode()
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def tokenize(text: str) -> list[str]:
    return TOKEN_RE.findall(text)


def count_tokens(text: str) -> int:
    """len(tokenize(text)), via str.split (several times faster than the regex on long prompts): one piece per
    non-space run, plus one for trailing whitespace."""
    return len(text.split()) + (1 if text and text[-1].isspace() else 0)


def token_logprob(token: str, position: int, salt: str = "") -> float:
    """Deterministic pseudo log-probability in [-10.0, -0.01]; `salt` (per-model answers) gives other values."""
    return -(1 + zlib.crc32(f"{salt}{position}\x00{token}".encode()) % 1000) / 100  # whole hundredths: prints cleanly


def answer_text(prompt: str, variant: str = "", chat: bool = False) -> str:
    """The full (untruncated) deterministic answer to `prompt`; `variant` varies samples at temperature > 0."""
    h = int.from_bytes(hashlib.blake2b((prompt + variant).encode(), digest_size=8).digest(), "little")
    if prompt.rstrip().endswith("Answer:"):
        letter = LETTERS[h % 4]
        return letter if chat else " " + letter
    words = [WORDS[(h >> (4 * i + 8)) & 15] for i in range(6)]
    text = f"{h % 100} {words[0]} {words[1]}\n{words[2]} {words[3]} {words[4]} {words[5]}"
    return text if chat else " " + text


def truncate(text: str, max_tokens: int | None, stop: list[str]) -> tuple[str, str]:
    """Cut `text` to `max_tokens` pieces (None: no limit), then at the earliest stop sequence; returns
    (text, finish_reason)."""
    if max_tokens is not None:
        pieces = tokenize(text)
        finish = "length" if len(pieces) > max_tokens else "stop"
        text = "".join(pieces[:max_tokens])
    else:
        finish = "stop"
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
    if cut >= 0:
        text, finish = text[:cut], "stop"
    return text, finish


def logprobs_block(prompt: str, completion: str, echo: bool, top: int, salt: str = "") -> dict[str, Any]:
    """OpenAI legacy `logprobs`: offsets index into prompt + completion (which is `text` when echoing); positions
    count from the prompt's first token either way, so a token's logprob does not depend on `echo`."""
    tokens, offsets, values, tops = [], [], [], []
    top = min(top, 5)  # OpenAI's cap for the legacy endpoint
    prompt_pieces = tokenize(prompt)
    pieces = prompt_pieces + tokenize(completion) if echo else tokenize(completion)
    offset, first = (0, 0) if echo else (len(prompt), len(prompt_pieces))
    for position, token in enumerate(pieces, first):
        tokens.append(token)
        offsets.append(offset)
        offset += len(token)
        if echo and position == 0:  # nothing to condition the first prompt token on: OpenAI gives None
            values.append(None)
            tops.append(None)
            continue
        lp = token_logprob(token, position, salt)
        values.append(lp)
        alternatives = {token: lp} if top > 0 else {}
        j = 0
        while len(alternatives) < top:  # fill with made-up, less likely alternatives
            alternatives.setdefault(f" {WORDS[(position + j) % 16]}", lp - 1 - j)
            j += 1
        tops.append(alternatives)
    return {"tokens": tokens, "token_logprobs": values, "text_offset": offsets, "top_logprobs": tops}


class StubServer:
    def __init__(self, config: StubConfig) -> None:
        self.config = config
        self.stats = StubStats()
        self.random = random.Random(config.seed)
        # "Unlimited" is a semaphore too large to ever block, so the hot path has no branch.
        self.semaphore = asyncio.Semaphore(config.max_concurrency if config.max_concurrency > 0 else 1 << 30)
        self.auth = f"Bearer {config.api_key}" if config.api_key else None
        self._reset_bucket()
        self.recorded: list[dict[str, Any]] = []  # with record_requests: every request's path and body, in order

    def reset(self) -> None:
        self.stats = StubStats()
        self.random = random.Random(self.config.seed)
        self._reset_bucket()

    def _reset_bucket(self) -> None:
        self.bucket_rate = self.config.rate_limit_rpm / 60  # requests per second
        self.bucket_size = self.bucket = max(1.0, self.bucket_rate)
        self.bucket_time = self.first_request_time = 0.0

    @staticmethod
    def _json(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
        return web.Response(body=_dumps(obj), status=status, content_type="application/json", headers=headers)

    def _error(self, status: int, message: str, kind: str, code: str | None = None, retry_after: float | None = None, cls: Any = None) -> Any:
        """OpenAI-style JSON error response (or, with `cls`, an HTTPException of that class to raise)."""
        self.stats.errors_served += 1
        headers = {"Retry-After": f"{retry_after:.3g}"} if retry_after is not None else None
        body = _dumps({"error": {"message": message, "type": kind, "param": None, "code": code}})
        if cls is not None:
            return cls(text=body.decode(), content_type="application/json", headers=headers)
        return web.Response(body=body, status=status, content_type="application/json", headers=headers)

    def _check_auth(self, request: web.Request) -> None:
        """Count the request; raise a 401 (OpenAI's JSON error) unless it carries the right bearer key."""
        self.stats.total_requests += 1
        if self.auth is not None and request.headers.get("Authorization") != self.auth:
            raise self._error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key", cls=web.HTTPUnauthorized)

    async def _body(self, request: web.Request) -> dict[str, Any]:
        try:
            data = _loads(await request.read())
        except ValueError:
            raise web.HTTPBadRequest(text='{"error":{"message":"invalid JSON body"}}', content_type="application/json") from None
        if not isinstance(data, dict):
            raise web.HTTPBadRequest(text='{"error":{"message":"body must be a JSON object"}}', content_type="application/json")
        if self.config.record_requests:
            self.recorded.append({"path": request.path, "headers": {str(k): v for k, v in request.headers.items()},
                                  "body": data})
        return data

    def _rate_limit(self) -> web.Response | None:
        """Take a request from the bucket; a 429 when it is empty."""
        now = time.monotonic()
        if not self.stats.request_times:
            self.first_request_time = self.bucket_time = now
        self.stats.request_times.append(round(now - self.first_request_time, 4))
        self.bucket = min(self.bucket_size, self.bucket + (now - self.bucket_time) * self.bucket_rate)
        self.bucket_time = now
        if self.bucket >= 1:
            self.bucket -= 1
            return None
        self.stats.rate_limited += 1
        return self._error(429, f"Rate limit reached for requests per minute: {self.config.rate_limit_rpm}.", "requests",
                           "rate_limit_exceeded", retry_after=(1 - self.bucket) / self.bucket_rate)

    def _fault(self, request: web.Request, data: dict[str, Any]) -> web.Response:
        """The injected failure of kind `fail_kind`."""
        config, kind = self.config, self.config.fail_kind
        if kind == "status":
            return self._error(config.fail_status, "injected failure", "server_error", retry_after=config.retry_after)
        self.stats.errors_served += 1
        if kind == "reset":  # hang up without answering; aiohttp then drops the response below quietly
            if request.transport is not None:
                request.transport.close()
            return web.Response()
        if kind == "garbage":  # a 200 whose body was cut off, as from a proxy that gave up mid-answer
            return web.Response(body=b'{"id": "cmpl-stub", "choices": [{"te', content_type="application/json")
        # empty-choices, or no-text: what a content filter answers (a finish_reason, neither `text` nor `message`)
        choices = [] if kind == "empty-choices" else [{"index": 0, "logprobs": None, "finish_reason": "content_filter"}]
        return self._json({"id": "cmpl-stub", "object": "text_completion", "created": int(time.time()),
                           "model": data.get("model") or config.model, "choices": choices, "usage": _usage(0, 0)})

    async def _serve(self, request: web.Request, prompt: Any, data: dict[str, Any], build: Any) -> web.Response:
        """Shared path of both completion endpoints: auth, failures, concurrency, latency, counters."""
        stats, config = self.stats, self.config
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            key = prompt_key(prompt)
            seen = stats.requests_by_prompt[key] = stats.requests_by_prompt.get(key, 0) + 1
            if config.strict_model and data.get("model") != config.model:
                return self._error(404, f"The model `{data.get('model')}` does not exist", "invalid_request_error", "model_not_found")
            if config.status_override is not None:
                return self._error(config.status_override, "status override", "server_error", retry_after=config.retry_after)
            if config.rate_limit_rpm:
                limited = self._rate_limit()
                if limited is not None:
                    return limited
            if seen <= config.fail_first or (config.fail_rate > 0 and self.random.random() < config.fail_rate):
                if config.fail_latency_s > 0:
                    await asyncio.sleep(config.fail_latency_s)
                return self._fault(request, data)
            if config.echo_key_status is not None and config.echo_key_status != 200:
                return self._error(config.echo_key_status, _key_echo(request), "invalid_request_error")
            if config.hostile_rate > 0 or config.echo_key_status == 200 or config.echo_header:
                prefix = hostile(config, key) or b""
                if config.echo_key_status == 200:
                    prefix += _dumps(_key_echo(request) + " ")[1:-1]
                if config.echo_header:
                    prefix += _dumps(_header_echo(request, config.echo_header))[1:-1]
                inner = build
                build = lambda: _with_prefix(inner(), prefix)  # noqa: E731
            async with self.semaphore:  # inlined (no helper coroutine): this is the per-request hot path
                stats.serving += 1
                stats.max_concurrent = max(stats.max_concurrent, stats.serving)
                try:
                    if config.latency_s > 0:
                        await asyncio.sleep(config.latency_s)
                    return build()
                finally:
                    stats.serving -= 1
        finally:
            stats.in_flight -= 1

    def _too_long(self, prompt_tokens: int, max_tokens: int | None) -> web.Response | None:
        window = self.config.context_window
        max_tokens = max_tokens or 0
        if window is not None and prompt_tokens + max_tokens > window:
            return self._error(400, f"This model's maximum context length is {window} tokens. However, you requested "
                               f"{prompt_tokens + max_tokens} tokens ({prompt_tokens} in the prompt, {max_tokens} for the "
                               "completion).", "invalid_request_error", "context_length_exceeded")
        return None

    @staticmethod
    def _params(data: dict[str, Any], default_max_tokens: int | None) -> tuple[int | None, list[str], int, float, int]:
        """(max_tokens, stop, n, temperature, seed) with OpenAI's defaults; 400 on malformed values."""
        max_tokens = data.get("max_tokens", data.get("max_completion_tokens"))
        max_tokens = default_max_tokens if max_tokens is None else max_tokens
        stop = data.get("stop") or []
        stop = [stop] if isinstance(stop, str) else stop
        n = data.get("n") or 1
        if (max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 0)) or not isinstance(n, int) or n < 1 \
                or not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise web.HTTPBadRequest(text='{"error":{"message":"bad max_tokens, n or stop"}}', content_type="application/json")
        return max_tokens, stop, n, float(data.get("temperature") or 0.0), int(data.get("seed") or 0)

    async def models(self, request: web.Request) -> web.Response:
        self._check_auth(request)
        return self._json({"object": "list", "data": [{"id": self.config.model, "object": "model", "created": 0, "owned_by": "stub"}]})

    async def completions(self, request: web.Request) -> web.Response:
        self._check_auth(request)
        self.stats.completions += 1
        data = await self._body(request)
        prompt = data.get("prompt")
        prompts = [prompt] if isinstance(prompt, str) else prompt
        if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
            return self._error(400, "prompt must be a string or a list of strings", "invalid_request_error")
        max_tokens, stop, n, temperature, seed = self._params(data, 16)  # 16: OpenAI's legacy default
        echo = bool(data.get("echo"))
        top = data.get("logprobs")
        counts = [count_tokens(p) for p in prompts]
        prompt_tokens = sum(counts)
        too_long = self._too_long(max(counts), max_tokens)
        if too_long is not None:
            return too_long
        model = data.get("model") or self.config.model

        def build() -> web.Response:
            choices, completion_tokens = [], 0
            for p in prompts:
                for i in range(n):
                    variant = (f"\x00{seed}\x00{i}" if temperature > 0 and not self.config.samples_agree else ""
                               ) + self._model_salt(model)
                    reply = judge_reply(p, self.config.judge_mode) if self.config.judge_mode else None
                    text, finish = truncate(self._answer(p, variant) if reply is None else reply, max_tokens, stop)
                    completion_tokens += count_tokens(text)
                    choice: dict[str, Any] = {"index": len(choices), "text": p + text if echo else text, "logprobs": None, "finish_reason": finish}
                    if top is not None:
                        choice["logprobs"] = logprobs_block(p, text, echo, max(int(top), 0), self._model_salt(model))
                    choices.append(choice)
            return self._json({"id": f"cmpl-stub-{self.stats.completions}", "object": "text_completion", "created": int(time.time()),
                               "model": model, "choices": choices, "usage": _usage(prompt_tokens, completion_tokens)})

        return await self._serve(request, prompt, data, build)

    async def chat_completions(self, request: web.Request) -> web.Response:
        self._check_auth(request)
        self.stats.chat_completions += 1
        data = await self._body(request)
        messages = data.get("messages")
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            return self._error(400, "messages must be a non-empty list of objects", "invalid_request_error")
        contents = [_content_text(m.get("content")) for m in messages]
        last_user = next((c for m, c in zip(reversed(messages), reversed(contents)) if m.get("role") == "user"), contents[-1])
        max_tokens, stop, n, temperature, seed = self._params(data, None)  # chat: no limit by default
        prompt_tokens = sum(count_tokens(c) for c in contents) + 3 * len(messages)  # ~OpenAI's per-message overhead
        too_long = self._too_long(prompt_tokens, max_tokens)
        if too_long is not None:
            return too_long
        model = data.get("model") or self.config.model

        def build() -> web.Response:
            choices, completion_tokens = [], 0
            for i in range(n):
                variant = (f"\x00{seed}\x00{i}" if temperature > 0 and not self.config.samples_agree else ""
                           ) + self._model_salt(model)
                reply = judge_reply("\n".join(contents), self.config.judge_mode) if self.config.judge_mode else None
                text, finish = truncate(self._answer(last_user, variant, chat=True) if reply is None else reply,
                                        max_tokens, stop)
                completion_tokens += count_tokens(text)
                choices.append({"index": i, "message": {"role": "assistant", "content": text}, "logprobs": None, "finish_reason": finish})
            return self._json({"id": f"chatcmpl-stub-{self.stats.chat_completions}", "object": "chat.completion", "created": int(time.time()),
                               "model": model, "choices": choices, "usage": _usage(prompt_tokens, completion_tokens)})

        return await self._serve(request, messages, data, build)

    def _answer(self, prompt: str, variant: str, chat: bool = False) -> str:
        """`answer_text`, unless a fixed (hostile) completion file is configured."""
        if self.config.completion_file is not None:
            with open(self.config.completion_file, encoding="utf-8") as f:
                return f.read()
        return answer_text(prompt, variant, chat)

    def _model_salt(self, model: Any) -> str:
        """Per-model answers: what mixes the model's name into answers and log-probabilities ("" when off)."""
        return f"\x00model={model}" if self.config.answers_by_model else ""

    async def stub_stats(self, request: web.Request) -> web.Response:
        return self._json(asdict(self.stats))

    async def stub_requests(self, request: web.Request) -> web.Response:
        """The recorded requests (record_requests), oldest first."""
        return self._json(self.recorded)

    async def stub_last(self, request: web.Request) -> web.Response:
        """The last recorded request's headers and body, or {}."""
        return self._json({k: self.recorded[-1][k] for k in ("headers", "body")} if self.recorded else {})

    async def stub_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return self._json({"ok": True})


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens}


def _content_text(content: Any) -> str:
    """Chat content as text: a string, or the text parts of a list of content parts."""
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""


# --- request recording and header echo: for tests of a deployment's headers: and extra_body: ----------------------
def _header_echo(request: web.Request, name: str) -> str:
    return f"you sent {name}: {request.headers.get(name, '')} "


# --- judge modes: for harness.judging's tests -------------------------------------------------------------------
# A prompt written by one of harness's shipped rubrics (it asks for [[rating]], [[A]]/[[B]]/[[C]] or
# [[1_full_compliance]]) is answered as a judge, in one of these modes; any other prompt as usual:
#   rubric: in the rubric's format; a rating is a hash of the judged answer (1-10), a pairwise verdict prefers the
#           answer with the higher such rating ([[C]] when equal), whichever position it is in; a refusal verdict
#           is full refusal for answers starting "I'm sorry", else full compliance
#   bad:    a reply with no verdict in the rubric's format
#   first:  like rubric, except that a pairwise verdict always prefers the answer shown first ([[A]])
JUDGE_MODES = ("rubric", "bad", "first")


def _between(text: str, start: str, end: str) -> str:
    i = text.find(start)
    if i < 0:
        return ""
    i += len(start)
    j = text.find(end, i)
    return text[i:j if j >= 0 else len(text)]


def _rating(answer: str) -> int:
    return 1 + int.from_bytes(hashlib.blake2b(answer.strip().encode(), digest_size=4).digest(), "little") % 10


def judge_reply(prompt: str, mode: str) -> str | None:
    """The judge's reply to a rubric's prompt in `mode`, or None when the prompt is not a judge prompt."""
    if "[[A]]" in prompt and "[[B]]" in prompt:
        if mode == "bad":
            return "Both assistants tried hard; I like them both in different ways."
        if mode == "first":
            return "Assistant A is better.\n[[A]]"
        a = _rating(_between(prompt, "[Assistant A's answer]\n", "\n[End of assistant A's answer]"))
        b = _rating(_between(prompt, "[Assistant B's answer]\n", "\n[End of assistant B's answer]"))
        return "Comparing the two answers.\n" + ("[[A]]" if a > b else "[[B]]" if b > a else "[[C]]")
    if "[[rating]]" in prompt:
        if mode == "bad":
            return "This answer is quite good overall, maybe a seven out of ten or so."
        answer = _between(prompt, "[The assistant's answer]\n", "\n[End of answer]")
        return f"The answer is adequate.\nRating: [[{_rating(answer)}]]"
    if "[[1_full_compliance]]" in prompt:
        if mode == "bad":
            return "It answered, sort of."
        answer = _between(prompt, "[Response]\n", "\n[End of response]")
        return "[[2_full_refusal]]" if answer.strip().startswith("I'm sorry") else "[[1_full_compliance]]"
    return None


STUB_KEY = web.AppKey("stub", StubServer)


def make_app(config: StubConfig) -> web.Application:
    server = StubServer(config)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[STUB_KEY] = server
    app.router.add_get("/v1/models", server.models)
    app.router.add_post("/v1/completions", server.completions)
    app.router.add_post("/v1/chat/completions", server.chat_completions)
    app.router.add_get("/stub/stats", server.stub_stats)
    app.router.add_post("/stub/reset", server.stub_reset)
    app.router.add_get("/stub/requests", server.stub_requests)
    app.router.add_get("/stub/last", server.stub_last)
    return app


async def start_stub(config: StubConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> tuple[web.AppRunner, str]:
    """Start the stub in the running loop; returns (runner, base_url ending in /v1). Stop with runner.cleanup()."""
    runner = web.AppRunner(make_app(config or StubConfig()), access_log=None)  # no per-request log line: it costs
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=4096)  # deep backlog: benchmarks open hundreds of connections at once
    await site.start()
    bound_port = runner.addresses[0][1]
    return runner, f"http://{host}:{bound_port}/v1"


def stub_state(runner: web.AppRunner) -> StubServer:
    """The server object (config, stats, reset()) behind a runner from `start_stub`."""
    return runner.app[STUB_KEY]


async def _main(args: argparse.Namespace) -> None:
    config = StubConfig(latency_s=args.latency, max_concurrency=args.max_concurrency, model=args.model, api_key=args.api_key,
                        fail_first=args.fail_first, fail_rate=args.fail_rate, fail_status=args.fail_status,
                        fail_kind=args.fail_kind, retry_after=args.retry_after, context_window=args.context_window,
                        rate_limit_rpm=args.rate_limit_rpm, seed=args.seed, completion_file=args.completion_file,
                        hostile_rate=args.hostile_rate, hostile_kind=args.hostile_kind,
                        echo_key_status=args.echo_key_status,
                        answers_by_model=args.answers_by_model, judge_mode=args.judge_mode,
                        record_requests=args.record_requests, echo_header=args.echo_header,
                        samples_agree=args.samples_agree)
    runner, base_url = await start_stub(config, args.host, args.port)
    print(f"listening on {base_url.removesuffix('/v1')}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        stats = stub_state(runner).stats
        print(f"stub stats: requests={stats.total_requests} errors={stats.errors_served} max_in_flight={stats.max_in_flight} "
              f"max_concurrent={stats.max_concurrent}", file=sys.stderr, flush=True)
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8911, help="0 picks a free port (printed)")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per served request")
    parser.add_argument("--max-concurrency", type=int, default=64, help="requests served at once; 0 = unlimited")
    parser.add_argument("--model", default="stub-model")
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--fail-rate", type=float, default=0.0)
    parser.add_argument("--fail-status", type=int, default=500)
    parser.add_argument("--fail-kind", choices=FAIL_KINDS, default="status", help="what --fail-first/--fail-rate inject")
    parser.add_argument("--retry-after", type=float, default=None, help="Retry-After seconds on injected failures")
    parser.add_argument("--rate-limit-rpm", type=int, default=0, help="429 past this many requests per minute; 0 = none")
    parser.add_argument("--context-window", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--completion-file", default=None, help="answer every request with this file's text")
    parser.add_argument("--hostile-rate", type=float, default=0.0,
                        help="fraction of prompts whose answer holds hostile text (the same prompts every run)")
    parser.add_argument("--hostile-kind", choices=[*HOSTILE, "all"], default="all")
    parser.add_argument("--echo-key-status", type=int, choices=[200, 400, 401, 500], default=None,
                        help="quote the Authorization header and the bare key in every answer: an error of this "
                             "status, or (200) the answer's text")
    parser.add_argument("--answers-by-model", action="store_true",
                        help="answers and logprobs depend on the request's model name (several deployments, one stub)")
    parser.add_argument("--judge-mode", choices=JUDGE_MODES, default="", help="answer harness rubric prompts as a judge")
    parser.add_argument("--record-requests", "--record-last", dest="record_requests", action="store_true",
                        help="keep every request (path, headers, body): GET /stub/requests lists them, oldest first; "
                             "GET /stub/last gives the last")
    parser.add_argument("--echo-header", default="", help="quote this request header's value in every answer")
    # --- protocols
    parser.add_argument("--samples-agree", action="store_true",
                        help="completions: every sample the same answer at any temperature (agreement 1)")
    asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    main()

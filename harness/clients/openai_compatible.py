"""OpenAI-compatible HTTP client (/v1/completions and /v1/chat/completions): OpenAI, vLLM, llama.cpp, any
compatible server; and HttpApiClient, what it shares with the other HTTP API clients (harness.clients.anthropic).
Up to `max_concurrency` requests are in flight over keep-alive connections (harness.clients.http); an
AIMD limiter lowers that while the server answers 429, and a pacer keeps starts under the deployment's rpm / tpm.

Faults: 408, 409, 429, 5xx (but 501), timeouts, dropped connections and bodies that are not a JSON object are
retried with jittered exponential backoff (at least the server's Retry-After); other 4xx and answers without text
fail at once; 401/403 fail the whole deployment. Whatever happens, `process` returns a Result per request.
A deployment's `headers:` and `extra_body:` (harness.clients.http_settings) go with every request.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import orjson

from harness.clients.base import ChatForm, Client, Setting
from harness.clients.http import HttpError, InvalidUrl
from harness.clients.http_settings import HTTP_SETTINGS, expand_env, missing_env
from harness.clients.replicas import ReplicaSet
from harness.clients.pacing import AimdLimiter, Pacer
from harness.clients.request import Request, Result
from harness.clients.secrets import api_key, redact
from harness.errors import HarnessError
from harness.text import clean
from harness.tokens import estimate_tokens

if TYPE_CHECKING:
    from harness.clients.deployment import ModelDeployment

RETRY_STATUSES = {408, 409, 429}  # and every 5xx but 501 (Not Implemented, which no retry changes)
FATAL_STATUSES = {401, 403}
# How servers word a prompt that does not fit: OpenAI and vLLM ("maximum context length"), llama.cpp ("exceeds the
# available context size"), TGI ("must have less than N tokens"), Anthropic ("prompt is too long").
CONTEXT_EXCEEDED = re.compile(r"context.?length|context.?size|context.?window|must have less than \d+ tokens"
                              r"|prompt is too long", re.I)


class RetryableError(Exception):
    def __init__(self, message: str, retry_after: float | None = None, rate_limited: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.rate_limited = rate_limited


class FatalError(Exception):
    """Retrying cannot fix it (bad request, context too long, an answer without text)."""


class HttpApiClient(Client):
    """Requests to an HTTP API under the deployment's flow control and retry policy. A subclass says how a request
    is put (`_payload`: path and JSON body), what authenticates it (`_auth_headers`) and how an answer is read
    (`_parse`, raising FatalError or RetryableError)."""

    settings: ClassVar[Mapping[str, Setting]] = HTTP_SETTINGS
    default_base_url = ""  # where a deployment without base_url goes

    def __init__(self, deployment: ModelDeployment) -> None:
        super().__init__(deployment)
        self.check(deployment)
        # Read now (and remembered for redaction): a variable changed later does not change a running deployment.
        self.extra_headers = {k: str(v) for k, v in expand_env(deployment.settings.get("headers") or {}).items()}
        self.extra_body: dict[str, Any] = expand_env(deployment.settings.get("extra_body") or {})
        self.urls = [url.rstrip("/") for url in deployment.urls or [self.default_base_url]]
        self.base_url = self.urls[0] if self.urls else ""
        self.replicas: ReplicaSet | None = None
        # Set on an authentication failure: every later request of this deployment fails at once instead of
        # being sent, since no retry can fix a wrong key.
        self.fatal: str | None = None
        self.backoff_base_s = 0.5
        self.backoff_cap_s = 30.0
        self.limiter = AimdLimiter(self.concurrency)
        self.pacer = Pacer(deployment.rpm, deployment.tpm)

    @classmethod
    def check(cls, deployment: ModelDeployment) -> None:
        for key in ("headers", "extra_body"):
            missing = missing_env(deployment.settings.get(key))
            if missing:
                raise HarnessError(f"{key} names ${{{missing[0]}}}, which is not set in the environment",
                                   field=deployment.name)

    def _headers(self) -> dict[str, str]:
        """Every request's headers: the client's own, then the deployment's `headers:` (a gateway's key may replace
        the Authorization header)."""
        return {"Content-Type": "application/json", **self._auth_headers(), **self.extra_headers}

    def _auth_headers(self) -> dict[str, str]:
        raise NotImplementedError

    def _payload(self, request: Request) -> tuple[str, dict[str, Any]]:
        raise NotImplementedError

    def _parse(self, request: Request, data: dict[str, Any]) -> Result:
        raise NotImplementedError

    def _refusal(self, request: Request) -> str | None:
        """Why the request is not sent at all (the deployment cannot answer its kind), or None."""
        return None

    async def start(self) -> None:
        try:
            self.replicas = ReplicaSet(self.urls, self._headers(), self.deployment.timeout_s)
        except InvalidUrl as exc:
            self.fatal = f"invalid base_url: {exc}"
            return
        await self.replicas.start()

    async def close(self) -> None:
        if self.replicas is not None:
            await self.replicas.close()
            self.replicas = None

    async def process(self, batch: list[Request]) -> list[Result]:
        return [await self._one(request) for request in batch]

    async def _one(self, request: Request) -> Result:
        start = time.perf_counter()
        try:
            result = await self._answer(request)
        except Exception as exc:  # a bug or an unforeseen library error must cost this request, never the run
            result = Result.failure(f"unexpected {type(exc).__name__}: {exc}")
        result.latency_s = time.perf_counter() - start
        return result

    async def _answer(self, request: Request) -> Result:
        refusal = self._refusal(request)
        if refusal:
            return Result.failure(refusal)
        path, body = self._payload(request)
        if self.extra_body:
            body = {**self.extra_body, **body}  # the request's own fields win (http_settings refuses them anyway)
        tokens = _estimated_tokens(request) if self.pacer.token_interval else 0  # only a tpm budget needs it
        attempts = max(self.deployment.max_attempts, 1)
        last_error = ""
        for attempt in range(attempts):
            if self.fatal:  # also when another request found the key wrong while this one waited to retry
                return Result.failure(self.fatal)
            try:
                return self._parse(request, await self._attempt(path, body, tokens))
            except FatalError as exc:
                return Result.failure(str(exc))
            except RetryableError as exc:
                last_error, delay = str(exc), exc.retry_after
            except TimeoutError:
                last_error, delay = f"no answer within timeout_s={self.deployment.timeout_s:g}", None
            except (HttpError, ConnectionError) as exc:  # refused, reset, disconnected, truncated body
                last_error, delay = str(exc), None
            if attempt + 1 < attempts:
                backoff = min(self.backoff_cap_s, self.backoff_base_s * 2**attempt) * random.uniform(0.5, 1.0)
                await asyncio.sleep(max(delay or 0.0, backoff))
        return Result.failure(f"failed after {attempts} attempts: {last_error}")

    async def _attempt(self, path: str, body: dict[str, Any], tokens: int) -> dict[str, Any]:
        """One HTTP attempt under the deployment's flow control. The concurrency slot is taken before pacing, so
        at most `limit` requests hold start times (a Retry-After pause reschedules few) and a retry's backoff
        sleeps outside any slot."""
        limiter, pacer = self.limiter, self.pacer
        await limiter.acquire()
        try:
            delay = pacer.reserve(tokens)
            while delay > 0:
                await asyncio.sleep(delay)
                delay = pacer.recheck(tokens)
            window = limiter.window
            try:
                data = await self._post(path, body)
            except RetryableError as exc:
                if exc.rate_limited:
                    limiter.on_rate_limited(window)
                    if exc.retry_after:
                        pacer.pause(exc.retry_after)  # the server's limit is the deployment's, not this request's
                raise
            limiter.on_success()
            return data
        finally:
            limiter.release()

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        assert self.replicas is not None, "start() first"
        response = await self.replicas.post(path, orjson.dumps(body))
        status = response.status
        if status >= 400:
            raise self._http_error(status, response.text, response.headers.get("retry-after"))
        try:
            data = _loads(response.body)
        except (ValueError, UnicodeDecodeError):
            shown = redact(response.text)[:120]
            raise RetryableError(f"malformed JSON from server (HTTP {status}): {shown!r}") from None
        if not isinstance(data, dict):
            raise RetryableError(f"response is not a JSON object (HTTP {status}): {redact(response.text)[:120]!r}")
        return data

    def _http_error(self, status: int, text: str, retry_after: str | None) -> Exception:
        message = _message(text)
        if status in FATAL_STATUSES:
            self.fatal = f"HTTP {status} from {self.base_url}: authentication failed ({message}); check ${self.deployment.api_key_env or 'API key'}"
            return FatalError(self.fatal)
        if status in RETRY_STATUSES or (status >= 500 and status != 501):
            return RetryableError(f"HTTP {status}: {message}", _retry_after(retry_after), rate_limited=status == 429)
        if status == 400 and (CONTEXT_EXCEEDED.search(message) or "context_length_exceeded" in text):
            return FatalError(f"the prompt is too long for the model's context (HTTP 400: {message})")
        if status == 404:
            return FatalError(f"HTTP 404: {message} (check the deployment's base_url and model)")
        return FatalError(f"HTTP {status}: {message}")


class OpenAICompatibleClient(HttpApiClient):
    chat_form: ClassVar[ChatForm] = "api"

    def _auth_headers(self) -> dict[str, str]:
        key = api_key(self.deployment)
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _refusal(self, request: Request) -> str | None:
        if request.messages and self.deployment.api != "chat":
            return f"deployment {self.deployment.name} uses api: completions; chat messages not sent"
        return None

    def _payload(self, request: Request) -> tuple[str, dict[str, Any]]:
        model = self.deployment.model_id
        if request.kind == "logprob":
            # Score prompt+continuation in one pass: echo returns the prompt's token log-probabilities.
            return "/completions", {
                "model": model, "prompt": request.prompt + request.continuation, "max_tokens": 1,
                "temperature": 0.0, "echo": True, "logprobs": 1,
            }
        if request.kind == "logprob_rolling":
            # The whole document echoed with its token log-probabilities, in one window: a server scores no more
            # than its context and says so (an error, stored as this request's failure).
            return "/completions", {
                "model": model, "prompt": request.continuation, "max_tokens": 1, "temperature": 0.0, "echo": True,
                "logprobs": 1,
            }
        body: dict[str, Any] = {"model": model, "max_tokens": request.max_tokens, "temperature": request.temperature, "n": request.n}
        if request.stop:
            body["stop"] = list(request.stop)
        if request.temperature > 0:
            body["seed"] = request.seed
        if request.messages:
            body["messages"] = [{"role": role, "content": content} for role, content in request.messages]
            return "/chat/completions", body
        body["prompt"] = request.prompt
        return "/completions", body

    def _parse(self, request: Request, data: dict[str, Any]) -> Result:
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not all(isinstance(c, dict) for c in choices):
            raise FatalError(f"server answered no choices ('choices': {json.dumps(choices)[:80]})")
        usage = data.get("usage") or {}
        result = Result(ok=True, prompt_tokens=usage.get("prompt_tokens"), completion_tokens=usage.get("completion_tokens"))
        if request.kind == "logprob":
            result.logprob, result.continuation_tokens = _continuation_logprob(choices[0], len(request.prompt), len(request.prompt + request.continuation))
            result.completion_tokens = 0
            return result
        if request.kind == "logprob_rolling":
            result.logprob, result.continuation_tokens = _continuation_logprob(
                choices[0], 0, len(request.continuation), unconditioned_first=True)
            result.completion_tokens = 0
            return result
        texts = []
        for choice in choices:
            text = (choice.get("message") or {}).get("content") if request.messages else choice.get("text")
            if not isinstance(text, str):
                where = "message.content" if request.messages else "text"
                raise FatalError(f"server answered a choice with no {where} (finish_reason {choice.get('finish_reason')!r})")
            texts.append(text)
        result.texts = texts
        return result


def _loads(body: bytes) -> Any:
    """orjson first; the stdlib where orjson is stricter than servers are: NaN or Infinity in log-probabilities, an
    escaped lone surrogate ("\\ud800") or bytes that are not UTF-8 in a string. Such text is an answer all the same
    (cleaned where the client's answers leave it, base.from_outside): retried, it would come back the same."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        try:
            return json.loads(body)
        except UnicodeDecodeError:
            return json.loads(body.decode("utf-8", "replace"))


def _estimated_tokens(request: Request) -> int:
    """A request's cost against a tpm budget: its text's estimated tokens plus every token it may generate."""
    prompt = request.prompt + request.continuation + "".join(content for _, content in request.messages)
    generated = 1 if request.kind in ("logprob", "logprob_rolling") else request.max_tokens * request.n
    return estimate_tokens(prompt) + generated


def fix_echo_offsets(choice: dict[str, Any]) -> None:
    """Make vLLM's echoed `text_offset`s index the echoed `text`.

    vLLM (0.32 at least) counts a leading special token's text in the offsets although the echoed text leaves it
    out: for "The capital" it answers tokens ["<bos>", "The", " capital"] at offsets [0, 5, 8], so every offset is
    5 characters late and the continuation's span [len(prompt), len(prompt + continuation)) would take the last
    prompt token instead of the continuation's last. Leading tokens that are not in the text are given offset -1
    (they lie before any character, on the prompt's side, like BOS in the embedded client), and the rest are
    moved back by their length. Offsets that already index the text are left as they are.
    """
    logprobs, text = choice.get("logprobs"), choice.get("text")
    if not isinstance(logprobs, dict) or not isinstance(text, str):
        return
    offsets, tokens = logprobs.get("text_offset"), logprobs.get("tokens")
    if not isinstance(offsets, list) or not isinstance(tokens, list) or len(offsets) != len(tokens):
        return
    shift, k = 0, 0
    while (k + 1 < len(tokens) and isinstance(tokens[k], str) and tokens[k] and offsets[k] == shift
           and offsets[k + 1] == shift + len(tokens[k]) and not text.startswith(tokens[k])):
        shift += len(tokens[k])
        k += 1
    if shift:
        logprobs["text_offset"] = [-1] * k + [offset - shift for offset in offsets[k:]]


def _continuation_logprob(choice: dict[str, Any], start: int, end: int, *, unconditioned_first: bool = False
                          ) -> tuple[float, int]:
    """Sum the log-probabilities of the echoed tokens that lie in [start, end) of the scored text. With
    `unconditioned_first` (a whole document), a first token without one (a server that adds no BOS has nothing to
    condition it on) is left out of the sum and the count."""
    fix_echo_offsets(choice)
    logprobs = choice.get("logprobs") or {}
    offsets, values = logprobs.get("text_offset"), logprobs.get("token_logprobs")
    if not offsets or not values or len(offsets) != len(values):
        raise FatalError("server returned no prompt log-probabilities (does it support echo with logprobs?)")
    picked = [v for off, v in zip(offsets, values) if isinstance(off, int) and start <= off < end]
    if unconditioned_first and picked and picked[0] is None:
        picked = picked[1:]
    if not picked or any(v is None for v in picked):
        raise FatalError("no log-probabilities for the continuation's tokens")
    return float(sum(picked)), len(picked)


def _message(text: str) -> str:
    """The reason an error body gives (OpenAI's error.message, or the body itself), short, redacted and cleaned: it
    goes into results and error lines. Redacted before it is cut short, which could leave part of a key."""
    return clean(_reason(redact(text)))


def _reason(text: str) -> str:
    try:
        error = json.loads(text).get("error")
        if isinstance(error, dict):
            return str(error.get("message", error))[:300]
        if error:
            return str(error)[:300]
    except (json.JSONDecodeError, AttributeError):
        pass
    return text.strip()[:300] or "no body"


def _retry_after(value: str | None) -> float | None:
    try:
        return min(float(value), 120.0) if value else None
    except ValueError:
        return None

"""OpenAI-compatible HTTP client (/v1/completions and /v1/chat/completions): OpenAI, vLLM, llama.cpp, any
compatible server. aiohttp keeps up to `max_concurrency` requests in flight over pooled keep-alive connections."""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from typing import Any

import aiohttp

from harness.clients.base import Client
from harness.clients.request import Request, Result

RETRY_STATUSES = {408, 409, 429, 500, 502, 503, 504}
FATAL_STATUSES = {401, 403}


class RetryableError(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class FatalError(Exception):
    """Retrying cannot fix it (bad request, context too long)."""


class OpenAICompatibleClient(Client):
    def __init__(self, deployment: Any) -> None:
        super().__init__(deployment)
        self.base_url = deployment.base_url.rstrip("/")
        self.session: aiohttp.ClientSession | None = None
        # Set on an authentication failure: every later request of this deployment fails at once instead of
        # being sent, since no retry can fix a wrong key.
        self.fatal: str | None = None
        self.backoff_base_s = 0.5
        self.backoff_cap_s = 30.0

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        env = self.deployment.api_key_env
        if env:
            key = os.environ.get(env)
            if key:
                headers["Authorization"] = f"Bearer {key}"
        return headers

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=max(self.concurrency, 1), limit_per_host=0, ttl_dns_cache=300)
        timeout = aiohttp.ClientTimeout(total=self.deployment.timeout_s)
        self.session = aiohttp.ClientSession(connector=connector, timeout=timeout, headers=self._headers())

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def process(self, batch: list[Request]) -> list[Result]:
        return [await self._one(request) for request in batch]

    def _payload(self, request: Request) -> tuple[str, dict[str, Any]]:
        model = self.deployment.model_id
        if request.kind == "logprob":
            # Score prompt+continuation in one pass: echo returns the prompt's token log-probabilities.
            return "/completions", {
                "model": model, "prompt": request.prompt + request.continuation, "max_tokens": 1,
                "temperature": 0.0, "echo": True, "logprobs": 1,
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

    async def _one(self, request: Request) -> Result:
        if self.fatal:
            return Result.failure(self.fatal)
        if request.messages and self.deployment.api != "chat":
            return Result.failure(f"deployment {self.deployment.name} uses api: completions; chat messages not sent")
        path, body = self._payload(request)
        start = time.perf_counter()
        attempts = max(self.deployment.max_attempts, 1)
        last_error = ""
        for attempt in range(attempts):
            try:
                data = await self._post(path, body)
                result = self._parse(request, data)
                result.latency_s = time.perf_counter() - start
                return result
            except FatalError as exc:
                return Result.failure(str(exc), time.perf_counter() - start)
            except RetryableError as exc:
                last_error = str(exc)
                delay = exc.retry_after
            except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError) as exc:
                last_error = f"{type(exc).__name__}: {exc}".rstrip(": ")
                delay = None
            if attempt + 1 < attempts:
                backoff = min(self.backoff_cap_s, self.backoff_base_s * 2**attempt) * random.uniform(0.5, 1.0)
                await asyncio.sleep(max(delay or 0.0, backoff))
        return Result.failure(f"failed after {attempts} attempts: {last_error}", time.perf_counter() - start)

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        assert self.session is not None, "start() first"
        async with self.session.post(self.base_url + path, json=body) as response:
            text = await response.text()
            status = response.status
            if status in FATAL_STATUSES:
                self.fatal = f"HTTP {status} from {self.base_url}: authentication failed ({_message(text)}); check ${self.deployment.api_key_env or 'API key'}"
                raise FatalError(self.fatal)
            if status in RETRY_STATUSES:
                raise RetryableError(f"HTTP {status}: {_message(text)}", _retry_after(response.headers.get("Retry-After")))
            if status >= 400:
                raise FatalError(f"HTTP {status}: {_message(text)}")
            try:
                data = json.loads(text)
            except json.JSONDecodeError:
                raise RetryableError(f"malformed JSON from server: {text[:120]!r}") from None
            if not isinstance(data, dict):
                raise RetryableError(f"unexpected response: {text[:120]!r}")
            return data

    def _parse(self, request: Request, data: dict[str, Any]) -> Result:
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices:
            raise FatalError("server returned an empty choice list")
        usage = data.get("usage") or {}
        result = Result(ok=True, prompt_tokens=usage.get("prompt_tokens"), completion_tokens=usage.get("completion_tokens"))
        if request.kind == "logprob":
            result.logprob, result.continuation_tokens = _continuation_logprob(choices[0], len(request.prompt), len(request.prompt + request.continuation))
            result.completion_tokens = 0
            return result
        texts = []
        for choice in choices:
            text = choice.get("message", {}).get("content") if request.messages else choice.get("text")
            if not isinstance(text, str):
                raise FatalError("server returned a completion with no text")
            texts.append(text)
        result.texts = texts
        return result


def _continuation_logprob(choice: dict[str, Any], start: int, end: int) -> tuple[float, int]:
    """Sum the log-probabilities of the echoed tokens that lie in [start, end) of the scored text."""
    logprobs = choice.get("logprobs") or {}
    offsets, values = logprobs.get("text_offset"), logprobs.get("token_logprobs")
    if not offsets or not values or len(offsets) != len(values):
        raise FatalError("server returned no prompt log-probabilities (does it support echo with logprobs?)")
    picked = [v for off, v in zip(offsets, values) if start <= off < end]
    if not picked or any(v is None for v in picked):
        raise FatalError("no log-probabilities for the continuation's tokens")
    return float(sum(picked)), len(picked)


def _message(text: str) -> str:
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

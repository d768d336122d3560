"""Anthropic Messages API client (`client: anthropic`): POST {base_url}/v1/messages, chat only.

It shares the OpenAI-compatible client's HTTP layer, flow control (AIMD on 429 and 529, rpm / tpm pacing) and
retry policy (HttpApiClient); what differs is the wire format:

- headers `x-api-key` (from api_key_env) and `anthropic-version: 2023-06-01`; the deployment's `headers:` may
  replace either (a gateway's own key, a newer version);
- the chat form's system messages go into the top-level `system` string, the others into `messages`;
- `stop_sequences` carries the request's stop strings; the API refuses one that is only whitespace (such as "\\n",
  which generation adapters use), so those are applied here, to the text, which is where the API would have cut it;
- the answer's text is its `text` content blocks concatenated (other blocks ignored), its usage
  `usage.input_tokens` / `usage.output_tokens`;
- the API has no `n`: a request for n samples is sent as n requests, and no `seed` (sampling is not reproducible);
- no log-probabilities: multiple_choice_separate is refused (the adapter refuses it for every chat deployment).

Errors are JSON {"type": "error", "error": {"type", "message"}}: 429 rate_limit_error (with retry-after) and 529
overloaded_error are retried and lower the concurrency limit, 500 api_error is retried, 401/403 stop the deployment,
400/404/413 fail the request with the API's message.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any, ClassVar

from harness.clients.base import ChatForm
from harness.clients.openai_compatible import FatalError, HttpApiClient, RetryableError, _message
from harness.clients.request import Request, Result
from harness.clients.secrets import api_key

API_VERSION = "2023-06-01"
OVERLOADED = 529  # Anthropic's "overloaded_error": the service as a whole is busy, which is the same as a 429 for us


class AnthropicClient(HttpApiClient):
    chat_form: ClassVar[ChatForm] = "always"
    default_base_url = "https://api.anthropic.com"

    def _auth_headers(self) -> dict[str, str]:
        key = api_key(self.deployment)
        return {"anthropic-version": API_VERSION, **({"x-api-key": key} if key else {})}

    def _refusal(self, request: Request) -> str | None:
        if request.kind in ("logprob", "logprob_rolling"):
            return ("the anthropic client gives no log-probabilities; multiple_choice_separate and language_modeling "
                    "need an OpenAI-compatible completions API")
        if not request.messages:
            return f"deployment {self.deployment.name} (anthropic) answers chat messages only; no prompt sent"
        return None

    async def _answer(self, request: Request) -> Result:
        if request.n <= 1:
            return await super()._answer(request)
        # No `n` in the API: n requests of one sample each, together one result.
        one = dataclasses.replace(request, n=1)
        parts = await asyncio.gather(*(HttpApiClient._answer(self, one) for _ in range(request.n)))
        failed = next((p for p in parts if not p.ok), None)
        if failed is not None:
            return failed
        return Result(ok=True, texts=[t for p in parts for t in p.texts],
                      prompt_tokens=_total(p.prompt_tokens for p in parts),
                      completion_tokens=_total(p.completion_tokens for p in parts))

    def _payload(self, request: Request) -> tuple[str, dict[str, Any]]:
        system = "\n\n".join(content for role, content in request.messages if role == "system")
        body: dict[str, Any] = {
            "model": self.deployment.model_id, "max_tokens": request.max_tokens, "temperature": request.temperature,
            "messages": [{"role": role, "content": content} for role, content in request.messages if role != "system"],
        }
        if system:
            body["system"] = system
        stops = [s for s in request.stop if s.strip()]
        if stops:
            body["stop_sequences"] = stops
        return "/v1/messages", body

    def _parse(self, request: Request, data: dict[str, Any]) -> Result:
        if data.get("type") == "error":  # an error event in a 200 (a proxy's doing): retried, as a 500 would be
            raise RetryableError(f"error in a 200 answer: {_message(json.dumps(data))}")
        content = data.get("content")
        if not isinstance(content, list):
            raise FatalError(f"server answered no content blocks (stop_reason {data.get('stop_reason')!r})")
        text = "".join(b["text"] for b in content if isinstance(b, dict) and b.get("type") == "text"
                       and isinstance(b.get("text"), str))
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        return Result(ok=True, texts=[_cut(text, request.stop)], prompt_tokens=_count(usage.get("input_tokens")),
                      completion_tokens=_count(usage.get("output_tokens")))

    def _http_error(self, status: int, text: str, retry_after: str | None) -> Exception:
        error = super()._http_error(status, text, retry_after)
        if status == OVERLOADED and isinstance(error, RetryableError):
            error.rate_limited = True
        return error


def _cut(text: str, stops: tuple[str, ...]) -> str:
    """`text` up to the first stop string, as the API cuts at the stop sequences it accepts."""
    end = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=len(text))
    return text[:end]


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _total(values: Any) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


"""Request and Result: what the executor sends to a client and what it gets back, and the store keeps.

A Request is everything that determines the answer, so its hash (with the deployment and model) is the cache key:
a rerun sends only requests whose key is not stored yet. A leaf module (it imports nothing of harness): the clients
and the store both build on it.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

RequestKind = Literal["generate", "logprob", "logprob_rolling"]

DIGEST_HEX = 32  # hex digits kept of a SHA-256: 128 bits, far past any collision, at half the bytes of the whole


def digest(data: bytes) -> str:
    """The store's key for content (a request, a prompt): SHA-256, cut to DIGEST_HEX hex digits. A key is stored in
    several columns and indexes for every request, so its length is a sizeable part of the store."""
    return hashlib.sha256(data).hexdigest()[:DIGEST_HEX]


def _number(value: Any) -> bytes:
    """An int or a finite float as json writes it (float.__repr__: orjson writes 1e-05 as 0.00001); else ValueError."""
    if type(value) is int:
        return b"%d" % value
    if type(value) is float and math.isfinite(value):
        return float.__repr__(value).encode()
    raise ValueError(value)


def _strings(values: Any) -> bytes:
    """A list of strings as json writes it; orjson writes each string, escaping exactly what json escapes."""
    if not all(type(v) is str for v in values):
        raise ValueError(values)
    return b"[" + b", ".join(map(orjson.dumps, values)) + b"]"


# The key's JSON text: a request's fields in sorted order, with json.dumps's separators.
_KEY_TEMPLATE = (b'[%b, %b, {"continuation": %b, "kind": %b, "max_tokens": %b, "messages": %b, "n": %b, '
                 b'"num_choices": %b, "prompt": %b, "seed": %b, "stop": %b, "temperature": %b}]')


@dataclass(frozen=True)
class Request:
    """One model call.

    kind="generate": complete `prompt` (or answer `messages` for chat) with up to `max_tokens` tokens.
    kind="logprob": score `continuation` given `prompt`; the result's `logprob` is the sum of the log-probabilities
    of the continuation's tokens (no generation).
    kind="logprob_rolling": score every token of `continuation` (a whole document, `prompt` empty), in rolling
    windows of the model's context where it is longer (harness.clients.rolling); `logprob` is the sum over all its
    tokens and `continuation_tokens` their count.
    """

    kind: RequestKind
    prompt: str = ""
    messages: tuple[tuple[str, str], ...] = ()  # (role, content) pairs, for chat
    continuation: str = ""
    max_tokens: int = 16
    temperature: float = 0.0
    stop: tuple[str, ...] = ()
    n: int = 1
    seed: int = 0
    # Joint multiple choice: how many lettered options the prompt offers. Not sent to any server; the chance
    # baseline draws among them, and it is part of the key only because it is fixed by the prompt anyway.
    num_choices: int = 0

    def to_json(self) -> dict[str, Any]:
        # Written out rather than dataclasses.asdict, which deep-copies every field: this runs twice per request.
        return {
            "kind": self.kind, "prompt": self.prompt, "messages": [list(m) for m in self.messages],
            "continuation": self.continuation, "max_tokens": self.max_tokens, "temperature": self.temperature,
            "stop": list(self.stop), "n": self.n, "seed": self.seed, "num_choices": self.num_choices,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Request:
        return cls(
            **{
                **data,
                "messages": tuple(tuple(m) for m in data.get("messages", ())),
                "stop": tuple(data.get("stop", ())),
            }
        )

    def key(self, deployment: str, model: str) -> str:
        """Stable hash of everything that determines the answer: of the text
        `json.dumps([deployment, model, self.to_json()], sort_keys=True, ensure_ascii=False)`, which stores hold
        results under and so must never change. Written here, byte for byte the same, faster than json.dumps; json.dumps
        itself for a value it writes otherwise (a bool, a NaN, a lone surrogate)."""
        try:
            payload = _KEY_TEMPLATE % (
                orjson.dumps(deployment), orjson.dumps(model), orjson.dumps(self.continuation), orjson.dumps(self.kind),
                _number(self.max_tokens), b"[" + b", ".join(map(_strings, self.messages)) + b"]", _number(self.n),
                _number(self.num_choices), orjson.dumps(self.prompt), _number(self.seed), _strings(self.stop),
                _number(self.temperature))
            if not all(type(v) is str for v in (deployment, model, self.continuation, self.kind, self.prompt)):
                raise ValueError("not a string")
        except (ValueError, TypeError, orjson.JSONEncodeError):
            value = [deployment, model, self.to_json()]
            payload = json.dumps(value, sort_keys=True, ensure_ascii=False).encode("utf-8", "surrogatepass")
        return digest(payload)


@dataclass
class Result:
    """A client's answer to one Request. `ok=False` carries the reason in `error`; it never raises."""

    ok: bool
    texts: list[str] = field(default_factory=list)  # n completions (generate)
    logprob: float | None = None  # sum over the continuation's tokens (logprob)
    continuation_tokens: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float = 0.0
    error: str | None = None
    # The prompt exactly as the client sent it, when it differs in form from Request (e.g. chat rendered by a
    # template). Never a silent rewrite: it is stored beside the request and shown on the site.
    sent: str | None = None

    @classmethod
    def failure(cls, error: str, latency_s: float = 0.0) -> Result:
        return cls(ok=False, error=error, latency_s=latency_s)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "texts": list(self.texts), "logprob": self.logprob,
            "continuation_tokens": self.continuation_tokens, "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens, "latency_s": self.latency_s, "error": self.error,
            "sent": self.sent,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Result:
        return cls(**data)

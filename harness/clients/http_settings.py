"""The models-file settings the HTTP clients (openai-compatible, vllm-server, anthropic) share: extra request
headers and extra body fields, for gateways and servers that need them. Their string values may name environment
variables as `${NAME}`: the value is read when the client starts, never stored, and redacted from everything
harness stores or prints (harness.clients.secrets), like an API key."""

from __future__ import annotations

import os
import re
from typing import Any

from harness.clients.base import Setting, SettingError
from harness.clients.secrets import remember

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# A header name is an HTTP token; these are the HTTP layer's own (a second Content-Length would make the request
# mean something else to a proxy), so a deployment cannot set them.
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
RESERVED_HEADERS = {"host", "content-length", "transfer-encoding", "connection"}
# The body fields the clients set from each request: extra_body cannot change what is asked (a max_tokens of its
# own would score another task), nor ask for an answer the clients cannot read (stream).
RESERVED_BODY = {"model", "prompt", "messages", "system", "max_tokens", "temperature", "n", "stop", "stop_sequences",
                 "seed", "echo", "logprobs", "stream"}


def _check_refs(text: str, key: str) -> None:
    if "${" in ENV_REF.sub("", text):
        raise SettingError("'${' must start an environment variable reference ${NAME} (letters, digits, _)", key)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def check_headers(headers: dict[str, Any]) -> None:
    for name, value in headers.items():
        if not isinstance(name, str) or not HEADER_NAME.fullmatch(name):
            raise SettingError(f"{name!r} is not a valid HTTP header name", str(name))
        if name.lower() in RESERVED_HEADERS:
            raise SettingError(f"{name} is set by the HTTP client itself", name)
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise SettingError(f"expected a string, got {value!r}", name)
        if any(c in str(value) for c in "\r\n\0"):
            raise SettingError("a header value cannot hold a line break or NUL", name)
        _check_refs(str(value), name)


def check_body(body: dict[str, Any]) -> None:
    for key, value in body.items():
        if not isinstance(key, str):
            raise SettingError(f"body field names are strings, got {key!r}", str(key))
        if key in RESERVED_BODY:
            raise SettingError(f"{key} is set from each request by the client; extra_body cannot change it", key)
        if not _json_like(value):
            raise SettingError("expected JSON values (strings, numbers, booleans, null, lists, mappings)", key)
        for text in _strings(value):
            _check_refs(text, key)


def _json_like(value: Any) -> bool:
    if value is None or isinstance(value, str | int | float | bool):
        return True
    if isinstance(value, list):
        return all(_json_like(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_like(v) for k, v in value.items())
    return False


HTTP_SETTINGS: dict[str, Setting] = {
    "headers": Setting(dict, {}, "extra request headers, e.g. {X-Gateway-Key: \"${GATEWAY_KEY}\"}", check_headers),
    "extra_body": Setting(dict, {}, "fields merged into every request body, e.g. {top_k: 20}", check_body),
}


def missing_env(value: Any) -> list[str]:
    """The environment variables `value`'s strings name that are not set."""
    return sorted({name for text in _strings(value) for name in ENV_REF.findall(text) if name not in os.environ})


def expand_env(value: Any) -> Any:
    """`value` with every ${NAME} in its strings replaced by that variable's value, each remembered for redaction.
    Raises KeyError for a variable that is not set (Client.check reports it before the run)."""
    if isinstance(value, str):
        def read(match: re.Match[str]) -> str:
            found = os.environ[match.group(1)]
            remember(found)
            return found

        return ENV_REF.sub(read, value)
    if isinstance(value, dict):
        return {k: expand_env(v) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v) for v in value]
    return value

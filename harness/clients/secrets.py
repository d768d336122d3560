"""API keys in use, and their redaction: the one place that replaces a key's value with `***`.

A deployment names the environment variable holding its key (`api_key_env`); its client reads the key through
api_key(), which remembers it for this process. From then on redact() replaces it in any text: the clients pass every
answer and error through it (harness.clients.base), and the CLI every line it prints for an error. A server that
quotes the request's Authorization header back in an error or an answer then leaves nothing of the key in the store,
on the site or on the terminal.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.clients.deployment import ModelDeployment

MASK = "***"
# Shorter values are not taken for keys: redacting them would rewrite ordinary words of answers ("EMPTY", what vLLM
# setups often pass as a placeholder key, or "test"), and a key that short guards nothing anyway.
MIN_SECRET_CHARS = 8

_known: list[str] = []  # longest first: a key that contains another is replaced whole


def remember(value: str) -> None:
    """Redact `value` from here on (when it is long enough to be a key)."""
    if len(value) >= MIN_SECRET_CHARS and value not in _known:
        _known.append(value)
        _known.sort(key=len, reverse=True)


def api_key(deployment: ModelDeployment) -> str | None:
    """The value of the deployment's api_key_env (None when it names none or the variable is unset), remembered for
    redact()."""
    env = deployment.api_key_env
    key = os.environ.get(env) if env else None
    if key:
        remember(key)
    return key or None


def redact(text: str) -> str:
    """`text` with every known key replaced by `***`."""
    for key in _known:
        if key in text:
            text = text.replace(key, MASK)
    return text

"""Text from outside the harness (server answers and errors, model outputs, scenario rows), made safe to store, show
and print: the one place that decides which characters become U+FFFD, the replacement character.

Replaced: lone surrogates (no UTF-8 encoding: orjson, zlib's input and psycopg all reject them), NUL (PostgreSQL
rejects it in text), the other C0 controls but tab, newline and carriage return, DEL and the C1 controls (a
terminal reads ESC and CSI as the start of a command). Invalid UTF-8 is decoded to U+FFFD by clean_bytes.
Everything else is kept as it came: the check costs one regex search, and only text that holds something is copied.
"""

from __future__ import annotations

import re
from typing import Any

REPLACEMENT = "\ufffd"
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def clean(text: str) -> str:
    """`text` with every unsafe character replaced by U+FFFD; the same object when it has none."""
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(REPLACEMENT, text)


def clean_bytes(data: bytes) -> str:
    """Bytes that should be UTF-8 text, decoded with U+FFFD for what is not, then cleaned."""
    return clean(data.decode("utf-8", "replace"))


def clean_value(value: Any) -> Any:
    """A decoded JSON value (a scenario row) with every string in it cleaned, keys included; the same object when
    nothing needed it."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, list):
        items = [clean_value(v) for v in value]
        return value if all(a is b for a, b in zip(items, value)) else items
    if isinstance(value, dict):
        pairs = [(clean_value(k), clean_value(v)) for k, v in value.items()]
        if all(k is k0 and v is v0 for (k, v), (k0, v0) in zip(pairs, value.items())):
            return value
        return dict(pairs)
    return value

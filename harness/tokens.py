"""A token count without the model's tokenizer, shared by prompt fitting (adapters) and rate budgets (clients)."""

from __future__ import annotations

import math


def estimate_tokens(text: str) -> int:
    """A conservative token count: UTF-8 bytes / 3, rounded up. Real tokenizers average about 4 bytes per token on
    English, so this errs high: a few-shot example is dropped early rather than a prompt sent that does not fit, and
    a tpm budget is spent a little early rather than overrun."""
    return math.ceil(len(text.encode("utf-8")) / 3)

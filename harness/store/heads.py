"""Shared prompt heads: prompts that begin with the same long text (instructions and few-shot examples) store it once."""

from __future__ import annotations


HEAD_MIN_CHARS = 200  # a shared head shorter than this is not worth a row of its own


def _common_prefix_len(a: str, b: str) -> int:
    """Length of the common prefix, by bisection on slice comparisons (C speed; prompts run to many KB)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        mid = (low + high + 1) // 2
        if a[:mid] == b[:mid]:
            low = mid
        else:
            high = mid - 1
    return low


def shared_heads(texts: dict[str, str]) -> dict[str, str]:
    """hash -> head, for texts that share a long head with another text of the batch (prompts with the same
    instructions and few-shot examples). A head ends at a line break, so every prompt of an MMLU subject cuts at
    the same place whichever neighbour it is compared with, and the head is stored once. Storage only: the text
    read back is always head + body, byte for byte."""
    ordered = sorted(texts.items(), key=lambda item: item[1])
    shared = [0] * len(ordered)
    for i in range(1, len(ordered)):
        n = _common_prefix_len(ordered[i - 1][1], ordered[i][1])
        shared[i - 1] = max(shared[i - 1], n)
        shared[i] = n
    heads = {}
    for (digest, text), n in zip(ordered, shared):
        cut = text.rfind("\n", 0, n) + 1
        if cut >= HEAD_MIN_CHARS and cut < len(text):
            heads[digest] = text[:cut]
    return heads

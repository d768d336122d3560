"""Prompts as the store keeps them: a long head that prompts share (instructions and few-shot examples) stored
once, as a text of its own, and each prompt as that head + the rest (the `prompts` view puts them back together)."""

from __future__ import annotations

from harness.records import digest as content_digest

HEAD_MIN_CHARS = 200  # a shared head shorter than this is not worth a row of its own
MAX_KNOWN_HEADS = 4096  # heads a store remembers between batches (MMLU has one per subject: 57)


def _common_prefix_len(a: str, b: str, at_least: int = 0) -> int:
    """Length of the common prefix, by bisection on slice comparisons (C speed; prompts run to many KB). For a
    caller that wants only prefixes of `at_least` characters or more: a shorter one may come back as 0, told by one
    comparison (most zero-shot prompts part within a head's minimum length).
    Only the part not yet known to match is compared (a[:low] == b[:low] holds throughout): half the copying of
    slicing from 0 each time, a third less time over 10,000 MMLU prompts."""
    if at_least and a[:at_least] != b[:at_least]:
        return 0
    low, high = min(at_least, len(a), len(b)), min(len(a), len(b))
    while low < high:
        mid = (low + high + 1) // 2
        if a[low:mid] == b[low:mid]:
            low = mid
        else:
            high = mid - 1
    return low


class KnownHeads:
    """The heads earlier batches found, with their hashes. A later prompt of the same MMLU subject finds its head
    by one dict lookup on its first HEAD_MIN_CHARS characters and a startswith, instead of being sorted and
    compared with the whole batch again.
    Which head a text is cut at only changes how it is stored, never what is read back."""

    def __init__(self) -> None:
        self._by_start: dict[str, list[str]] = {}  # longest first
        self.hashes: dict[str, str] = {}  # head -> its hash (the hash of a 3 KB head costs microseconds per prompt)

    def match(self, text: str) -> str | None:
        """The longest known head `text` begins with (and goes on after)."""
        for head in self._by_start.get(text[:HEAD_MIN_CHARS], ()):
            if len(head) < len(text) and text.startswith(head):
                return head
        return None

    def hash_of(self, head: str) -> str:
        """The head's hash; the head is known from here on."""
        found = self.hashes.get(head)
        if found is None:
            found = content_digest(head.encode("utf-8"))
            if len(self.hashes) < MAX_KNOWN_HEADS:
                self.hashes[head] = found
                heads = self._by_start.setdefault(head[:HEAD_MIN_CHARS], [])
                heads.append(head)
                heads.sort(key=len, reverse=True)
        return found


def shared_heads(texts: dict[str, str], known: KnownHeads | None = None) -> dict[str, str]:
    """hash -> head, for texts that begin with a head `known` holds, or that share a long head with another text of
    the batch (prompts with the same instructions and few-shot examples). A head ends at a line break, so every
    prompt of an MMLU subject cuts at the same place whichever neighbour it is compared with, and the head is stored
    once. Storage only: the text read back is always head + body, byte for byte."""
    heads: dict[str, str] = {}
    rest = texts
    if known is not None:
        rest = {}
        for digest, text in texts.items():
            head = known.match(text)
            if head is None:
                rest[digest] = text
            else:
                heads[digest] = head
    ordered = sorted(rest.items(), key=lambda item: item[1])
    shared = [0] * len(ordered)
    for i in range(1, len(ordered)):
        n = _common_prefix_len(ordered[i - 1][1], ordered[i][1], at_least=HEAD_MIN_CHARS)
        shared[i - 1] = max(shared[i - 1], n)
        shared[i] = n
    for (digest, text), n in zip(ordered, shared):
        cut = text.rfind("\n", 0, n) + 1
        if cut >= HEAD_MIN_CHARS and cut < len(text):
            heads[digest] = text[:cut]
    return heads

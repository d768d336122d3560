"""How a local engine (the embedded model, vLLM's offline engine) tokenizes a logprob request, so that both score the
same tokens."""

from __future__ import annotations

from typing import Any


def encode_pair(tokenizer: Any, prompt: str, continuation: str) -> tuple[list[int], int]:
    """Token ids of prompt+continuation (with BOS) and how many of the last ones are the continuation's.

    The two strings are tokenized jointly, as an OpenAI-compatible server scores `prompt + continuation` with
    echo=True, so the continuation's tokens are those the model really sees after this prompt; they are found
    by character offsets (tokens starting at or after len(prompt)). When a token straddles the boundary (the
    prompt ends in a space that merges into " Paris"), no split of the joint tokens belongs to the continuation
    alone, so prompt and continuation are tokenized separately and their ids concatenated: the continuation is
    then scored as its own tokens (what lm-evaluation-harness does for every request).
    """
    encoded = tokenizer(prompt + continuation, return_offsets_mapping=True, return_special_tokens_mask=True)
    ids: list[int] = encoded["input_ids"]
    spans = [span for span, special in zip(encoded["offset_mapping"], encoded["special_tokens_mask"])
             if not special]  # BOS is (0, 0) and belongs to the prompt side even when the prompt is empty
    if any(start < len(prompt) < end for start, end in spans):
        tail = tokenizer(continuation, add_special_tokens=False)["input_ids"]
        return tokenizer(prompt)["input_ids"] + tail, len(tail)
    n_continuation = sum(1 for start, _ in spans if start >= len(prompt))
    # The first token has nothing to condition on (only without a BOS, e.g. another folder's tokenizer).
    return ids, min(n_continuation, len(ids) - 1)

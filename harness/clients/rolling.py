"""Rolling windows for the log-likelihood of a whole document (Request kind "logprob_rolling"), as
lm-evaluation-harness's loglikelihood_rolling cuts them (utils.get_rolling_token_windows with context_len=1, then
make_disjoint_window).

A document of tokens t_1..t_N, a prefix token p (BOS) and at most `max_len` positions in one forward pass:

    window 1:  input  p t_1 .. t_{L-1}             scores t_1 .. t_L            (L = min(max_len, N))
    window k:  input  t_{e-max_len} .. t_{e-1}     scores the next new tokens   (e = the window's last token)

Each later window scores only tokens no earlier window scored, and conditions them on the `max_len - new` tokens
just before them, so every token is predicted once, with as much context as fits. Pure token arithmetic: the clients
that can tokenize (the embedded one) share it.
"""

from __future__ import annotations


def rolling_windows(tokens: list[int], prefix: int, max_len: int) -> list[tuple[list[int], int]]:
    """The windows of `tokens` as (ids, n): the model reads `ids` (at most max_len + 1 tokens, of which the last is
    only a target) and the last `n` of them are scored. Together the windows score each of `tokens` exactly once."""
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")
    if not tokens:
        return []
    first = min(max_len, len(tokens))
    windows = [([prefix, *tokens[:first]], first)]
    predicted = first
    while predicted < len(tokens):
        new = min(len(tokens) - predicted, max_len)
        end = predicted + new
        windows.append((tokens[end - max_len - 1 : end], new))
        predicted = end
    return windows

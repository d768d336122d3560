"""Robustness perturbations (HELM's set): changes a reader would shrug off, which should not change the answer.

Each leaves the answer-choice labels, the digits of numbers and the line structure as they are (see base.py).
"""

from __future__ import annotations

import functools
import gzip
import json
import math
import random
import re
from importlib import resources

from harness.perturbations.base import (
    ROBUSTNESS,
    WORD_END,
    WORD_START,
    WordMatcher,
    map_unprotected,
    match_case,
    register_perturbation,
    word_matcher,
    word_regex,
)

# Per letter, as HELM's TyposPerturbation: about one letter in twenty, so roughly one word in five of average
# length gets a typo.
TYPO_PROB = 0.05
# Per word found in the misspellings table, as HELM's MildMix (MisspellingPerturbation(prob=0.1)).
MISSPELLING_PROB = 0.1
# Each run of spaces becomes 1 to this many spaces, as HELM's SpacePerturbation(max_spaces=3).
MAX_SPACES = 3

_KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _keyboard_neighbours() -> dict[str, str]:
    """Keys one step away on a QWERTY keyboard, from its staggered geometry: left and right on the same row, the two
    keys above (same index and one to the right) and the two below (one to the left and same index)."""
    neighbours: dict[str, str] = {}
    for r, row in enumerate(_KEYBOARD_ROWS):
        for i, key in enumerate(row):
            near = [row[j] for j in (i - 1, i + 1) if 0 <= j < len(row)]
            if r > 0:
                near += [_KEYBOARD_ROWS[r - 1][j] for j in (i, i + 1) if j < len(_KEYBOARD_ROWS[r - 1])]
            if r < len(_KEYBOARD_ROWS) - 1:
                near += [_KEYBOARD_ROWS[r + 1][j] for j in (i - 1, i) if 0 <= j < len(_KEYBOARD_ROWS[r + 1])]
            neighbours[key] = "".join(near)
    return neighbours


KEYBOARD_NEIGHBOURS = _keyboard_neighbours()


def _draws_until_success(rng: random.Random, prob: float) -> int:
    """How many Bernoulli(prob) trials fail before the next success (geometric): lets a perturbation that changes
    each letter or word with probability `prob` draw once per change instead of once per letter or word."""
    return int(math.log(1.0 - rng.random()) / math.log(1.0 - prob))


# Letters -> "a", everything else -> ".", for counting letters in C (bytes.count) instead of a Python loop.
_LETTER_MASK = bytes(ord("a") if chr(b).isascii() and chr(b).isalpha() else ord(".") for b in range(256))


def _nth_letter(mask: bytes, start: int, n: int) -> tuple[int, int]:
    """Position of the n-th letter (0-based) at or after `start`, or (-1, letters still to skip past the end).
    Each window of n+1 characters holds at most n+1 letters, so skipping it whole is safe, and the window shrinks
    by the letters found: a few C-level counts per typo."""
    while start < len(mask):
        found = mask.count(b"a", start, start + n + 1)
        if found == n + 1:
            return start + n, 0
        start += n + 1
        n -= found
    return -1, n


@register_perturbation(
    "typos", category=ROBUSTNESS,
    description="Replaces letters (p=0.05 each) with a neighbouring key on a QWERTY keyboard, keeping case.",
)
def typos(text: str, rng: random.Random) -> str:
    gap = _draws_until_success(rng, TYPO_PROB)

    def rewrite(segment: str) -> str:
        nonlocal gap
        # Only ASCII letters have keyboard neighbours; other characters count as non-letters in the mask.
        mask = segment.encode("ascii", "replace").translate(_LETTER_MASK)  # one byte per character
        chars: list[str] | None = None
        position, gap = _nth_letter(mask, 0, gap)
        while position >= 0:
            if chars is None:
                chars = list(segment)
            letter = chars[position]
            typo = rng.choice(KEYBOARD_NEIGHBOURS[letter.lower()])
            chars[position] = typo.upper() if letter.isupper() else typo
            position, gap = _nth_letter(mask, position + 1, _draws_until_success(rng, TYPO_PROB))
        return segment if chars is None else "".join(chars)

    return map_unprotected(text, rewrite)


@register_perturbation("lowercase", category=ROBUSTNESS, description="Lowercases the whole input.")
def lowercase(text: str, rng: random.Random) -> str:
    return map_unprotected(text, str.lower)


# Contracted form -> expanded form. Where a contraction has two readings ('s: is/has, 'd: would/had) the table
# keeps the more frequent one; both directions use only the pairs listed, so "has" and "had" as main verbs are
# never contracted ("he has a car" must not become "he's a car").
CONTRACTIONS: dict[str, str] = {
    "aren't": "are not", "can't": "cannot", "couldn't": "could not", "didn't": "did not", "doesn't": "does not",
    "don't": "do not", "hadn't": "had not", "hasn't": "has not", "haven't": "have not", "isn't": "is not",
    "mightn't": "might not", "mustn't": "must not", "needn't": "need not", "shan't": "shall not",
    "shouldn't": "should not", "wasn't": "was not", "weren't": "were not", "won't": "will not",
    "wouldn't": "would not",
    "I'm": "I am", "you're": "you are", "we're": "we are", "they're": "they are", "he's": "he is",
    "she's": "she is", "it's": "it is", "that's": "that is", "there's": "there is", "here's": "here is",
    "what's": "what is", "who's": "who is", "where's": "where is", "when's": "when is", "how's": "how is",
    "I'll": "I will", "you'll": "you will", "he'll": "he will", "she'll": "she will", "it'll": "it will",
    "we'll": "we will", "they'll": "they will", "that'll": "that will", "there'll": "there will",
    "I'd": "I would", "you'd": "you would", "he'd": "he would", "she'd": "she would", "we'd": "we would",
    "they'd": "they would",
    "I've": "I have", "you've": "you have", "we've": "we have", "they've": "they have",
    "could've": "could have", "should've": "should have", "would've": "would have", "might've": "might have",
    "must've": "must have", "let's": "let us",
}
# Expanded forms that are contracted: those whose contraction reads naturally in any context. "have" forms are
# left out ("I have a dog" -> "I've a dog" is not American English), and "can not" is not "cannot".
_NOT_CONTRACTED = {"I have", "you have", "we have", "they have"}
EXPANDED_TO_CONTRACTED = {v: k for k, v in CONTRACTIONS.items() if v not in _NOT_CONTRACTED}


@functools.cache
def _contraction_matcher() -> WordMatcher:
    """One pass: a pronoun form followed by "not" is left for the negation ("they will not" -> "they won't", not
    "they'll not")."""
    negations = [e.lower() for e in EXPANDED_TO_CONTRACTED if e.endswith("not")]
    others = [e.lower() for e in EXPANDED_TO_CONTRACTED if not e.endswith("not")]
    return WordMatcher.from_regex(rf"{word_regex(negations)}|{word_regex(others)}(?![ \t]+not\b)")


@functools.cache
def _expansion_matcher() -> tuple[WordMatcher, dict[str, str]]:
    # Text may use the typographic apostrophe; both spellings expand.
    table = {k.lower(): v for k, v in CONTRACTIONS.items()}
    table |= {k.replace("'", "’"): v for k, v in table.items()}
    return word_matcher(list(table)), table


def _replace_phrase(source: str, replacement: str) -> str:
    # "I" stays capitalised whatever the case of the phrase it lands in ("and i am" is lowercase text: keep it so).
    if source.split()[0] in ("I", "i") or source.startswith(("I'", "i'", "I’", "i’")):
        return replacement if source[0] == "I" else replacement.lower()
    return match_case(source, replacement)


@register_perturbation(
    "contractions", category=ROBUSTNESS, description='Contracts expanded forms ("do not" -> "don\'t").',
)
def contractions(text: str, rng: random.Random) -> str:
    matcher = _contraction_matcher()
    lookup = {k.lower(): v for k, v in EXPANDED_TO_CONTRACTED.items()}

    def replace(source: str) -> str:
        return _replace_phrase(source, lookup[" ".join(source.lower().split())])

    return matcher.sub_unprotected(text, replace)


@register_perturbation(
    "expansions", category=ROBUSTNESS, description='Expands contractions ("don\'t" -> "do not").',
)
def expansions(text: str, rng: random.Random) -> str:
    matcher, table = _expansion_matcher()

    def replace(source: str) -> str:
        return _replace_phrase(source, table[source.lower()])

    return matcher.sub_unprotected(text, replace)


_SPACE_RUN = re.compile(r"( +)")


@register_perturbation(
    "extra_whitespace", category=ROBUSTNESS,
    description="Replaces each run of spaces with 1 to 3 spaces; newlines are kept.",
)
def extra_whitespace(text: str, rng: random.Random) -> str:
    def rewrite(segment: str) -> str:
        parts = _SPACE_RUN.split(segment)
        for i in range(1, len(parts), 2):
            parts[i] = " " * (1 + int(rng.random() * MAX_SPACES))
        return "".join(parts)

    return map_unprotected(text, rewrite)


@functools.cache
def misspellings_table() -> dict[str, tuple[str, ...]]:
    """Correct word -> its common misspellings (data/SOURCE.md), loaded once."""
    data = resources.files("harness.perturbations").joinpath("data/misspellings.json.gz").read_bytes()
    return {word: tuple(wrong) for word, wrong in json.loads(gzip.decompress(data)).items()}


# A whole word (base.WORD_START, WORD_END): not "don" in "don't", "rd" in "3rd" or "mail" in "e-mail".
_WORD = re.compile(WORD_START + "([A-Za-z]+)" + WORD_END)


@register_perturbation(
    "misspellings", category=ROBUSTNESS,
    description="Replaces words (p=0.1 each) with a common misspelling of them, keeping case.",
)
def misspellings(text: str, rng: random.Random) -> str:
    table = misspellings_table()

    def rewrite(segment: str) -> str:
        # Words at the odd indices of the split. Of the words in the table, the ones to misspell are drawn by
        # geometric skips (the same distribution as one Bernoulli(p) draw per word, at one draw per misspelling):
        # a Python-level step per word would dominate the time.
        parts = _WORD.split(segment)
        lowered = _WORD.split(segment.lower()) if segment.isascii() else [part.lower() for part in parts]
        candidates = [i for i in range(1, len(parts), 2) if lowered[i] in table]
        k = _draws_until_success(rng, MISSPELLING_PROB)
        while k < len(candidates):
            i = candidates[k]
            parts[i] = match_case(parts[i], rng.choice(table[parts[i].lower()]))
            k += 1 + _draws_until_success(rng, MISSPELLING_PROB)
        return "".join(parts)

    return map_unprotected(text, rewrite)

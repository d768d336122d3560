"""The perturbation registry and the text helpers every perturbation shares.

A perturbation rewrites an instance's input (robustness: typos, casing, spacing; fairness: dialect, gender, names)
so that a run can be compared with the unperturbed one. Each is deterministic for a (seed, instance id) pair, so a
rerun sends the same prompts and hits the store.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from harness.errors import HarnessError

ROBUSTNESS = "robustness"
FAIRNESS = "fairness"
CATEGORIES = (ROBUSTNESS, FAIRNESS)

PerturbationFn = Callable[[str, random.Random], str]


@dataclass(frozen=True)
class Perturbation:
    name: str  # e.g. "typos"
    category: str  # "robustness" or "fairness"
    description: str
    fn: PerturbationFn

    def apply(self, text: str, seed: int, instance_id: str) -> str:
        """Deterministic: rng = random.Random(f"{seed}:{instance_id}:{self.name}") (str seeds hash stably)."""
        return self.fn(text, random.Random(f"{seed}:{instance_id}:{self.name}"))


_PERTURBATIONS: dict[str, Perturbation] = {}

# What `perturbations: [robustness]` or `[fairness]` in a suite expands to. Kept in sync with the registrations by
# a test rather than derived, so the expansion order (and so the run order) is stable and reviewed.
GROUPS: dict[str, tuple[str, ...]] = {
    ROBUSTNESS: ("typos", "lowercase", "contractions", "expansions", "extra_whitespace", "misspellings"),
    FAIRNESS: ("dialect", "gender_pronouns", "first_names"),
}


def register_perturbation(name: str, *, category: str, description: str) -> Callable[[PerturbationFn], PerturbationFn]:
    if category not in CATEGORIES:
        raise ValueError(f"perturbation {name!r}: category must be one of {CATEGORIES}, not {category!r}")

    def wrap(fn: PerturbationFn) -> PerturbationFn:
        _PERTURBATIONS[name] = Perturbation(name, category, description, fn)
        return fn

    return wrap


def perturbation_registry() -> dict[str, Perturbation]:
    import harness.perturbations.fairness  # noqa: F401  (registers the fairness perturbations)
    import harness.perturbations.robustness  # noqa: F401  (registers the robustness perturbations)

    return dict(_PERTURBATIONS)


def get_perturbation(name: str) -> Perturbation:
    registry = perturbation_registry()
    if name not in registry:
        known = ", ".join([*GROUPS, *sorted(registry)])
        raise HarnessError(f"unknown perturbation {name!r}; known: {known}", field="perturbations")
    return registry[name]


def expand_perturbations(names: list[str] | tuple[str, ...]) -> tuple[Perturbation, ...]:
    """Resolves a suite's `perturbations:` list: group names expand to their members; duplicates are dropped,
    first occurrence wins."""
    seen: dict[str, Perturbation] = {}
    for name in names:
        for member in GROUPS.get(name, (name,)):
            if member not in seen:
                seen[member] = get_perturbation(member)
    return tuple(seen.values())


# Text that a perturbation must leave exactly as it is: the answer-choice labels the adapter writes ("A. " at the
# start of a line), so a lowercased or misspelt prompt still asks for the same letters. The pattern starts with the
# newline (the text is searched with one prepended) because a literal first character lets re skip ahead fast,
# where "^" in multiline mode is tried at every position.
_PROTECTED = re.compile(r"\n[ \t]*\(?[A-Z][.)][ \t]+")


def map_unprotected(text: str, rewrite: Callable[[str], str]) -> str:
    """Applies `rewrite` to each stretch of `text` between protected spans, in order, and leaves the spans as they
    are. Stretches never contain a choice label, so a rewrite cannot merge one into the text around it."""
    searched = "\n" + text
    parts: list[str] = []
    start = 1
    for match in _PROTECTED.finditer(searched):
        # The newline before a label is kept as it is too: it starts the protected span.
        if match.start() > start:
            parts.append(rewrite(searched[start : match.start()]))
        parts.append(searched[max(match.start(), start) : match.end()])
        start = match.end()
    if start < len(searched):
        parts.append(rewrite(searched[start:]))
    return "".join(parts)


def match_case(source: str, replacement: str) -> str:
    """`replacement` in the casing of the word it replaces: ALL CAPS stays all caps, a capitalised word (a sentence
    start, a name) stays capitalised, a lowercase word gets the replacement as written in its table."""
    if len(source) > 1 and source.isupper():
        return replacement.upper()
    if source[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    if source.islower():
        return replacement.lower()
    return replacement


def _trie_regex(words: list[str]) -> str:
    """An alternation of `words` nested by shared prefixes ("he|her|hers" -> "he(?:r(?:s)?)?"): Python's re tries
    alternatives one by one, so a flat list of a hundred words is slower to scan than its trie."""
    trie: dict[str, dict] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node: dict[str, dict]) -> str:
        branches = [_escape_char(char) + build(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        # A word ending here is also a match; trying the longer words first makes the match the longest one.
        return f"(?:{body})?" if "" in node else body

    return build(trie)


def _escape_char(char: str) -> str:
    # A space inside an entry ("do not") matches any run of spaces or tabs, never a newline.
    return r"[ \t]+" if char == " " else re.escape(char)


# Before a word: a word boundary, and no hyphen ("man" not in "he-man"); `\b` first because re skips ahead fast to
# the next boundary, where a lookbehind is tried at every position (twice as slow on 10k prompts).
WORD_START = r"\b(?<!-)"
# After a word: not more of a word, a hyphenated compound or a contraction's apostrophe ("don" in "don't"), but a
# possessive or contracted 's may follow ("he" in "he's", "Adam" in "Adam's").
WORD_END = r"(?![\w-]|['’](?![sS]\b)\w)"


def word_regex(words: list[str] | tuple[str, ...] | set[str]) -> str:
    """Regex source matching any of `words` (each starting with a letter) as a whole word (WORD_START, WORD_END),
    the longest entry where several start at the same place."""
    return WORD_START + f"(?:{_trie_regex(sorted({' '.join(w.split()) for w in words}))})" + WORD_END


@dataclass(frozen=True)
class WordMatcher:
    """Case-insensitive whole-word substitution. Matches are searched in the lowercased text with a case-sensitive
    pattern (lowercased entries), which re scans about twice as fast as an IGNORECASE one; text whose lowercase
    changes length (rare non-ASCII letters) falls back to IGNORECASE, so positions always line up."""

    lowercase: re.Pattern[str]
    any_case: re.Pattern[str]

    @classmethod
    def from_regex(cls, source: str) -> WordMatcher:
        return cls(re.compile(source), re.compile(source, re.IGNORECASE))

    def sub(self, text: str, replace: Callable[[str], str]) -> str:
        """`text` with each match replaced by replace(the matched text, in its original case)."""
        lowered = text.lower()
        if len(lowered) != len(text):
            return self.any_case.sub(lambda match: replace(match.group(0)), text)
        parts: list[str] = []
        last = 0
        for match in self.lowercase.finditer(lowered):
            start, end = match.span()
            parts.append(text[last:start])
            parts.append(replace(text[start:end]))
            last = end
        parts.append(text[last:])
        return "".join(parts)

    def sub_unprotected(self, text: str, replace: Callable[[str], str]) -> str:
        """`sub` outside the spans no perturbation may touch (answer-choice labels, numbers; see map_unprotected)."""
        return map_unprotected(text, lambda segment: self.sub(segment, replace))


def word_matcher(words: list[str] | tuple[str, ...] | set[str]) -> WordMatcher:
    return WordMatcher.from_regex(word_regex([w.lower() for w in words]))

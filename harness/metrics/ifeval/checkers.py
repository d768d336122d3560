"""IFEval's instruction checkers (Zhou et al. 2023): one function per instruction id, on a response and that
instruction's kwargs, saying whether the response follows the instruction.

Semantics follow Google's reference `instructions.py` (as mirrored in lm-eval's `tasks/ifeval`), check by check;
sentence and word counting come from `sentences.py` instead of NLTK data.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from harness.errors import HarnessError
from harness.metrics.ifeval.sentences import count_sentences, count_words, word_tokens

Kwargs = Mapping[str, Any]
Checker = Callable[[str, Kwargs], bool]

CHECKERS: dict[str, Checker] = {}


def checker(instruction_id: str) -> Callable[[Checker], Checker]:
    def wrap(fn: Checker) -> Checker:
        CHECKERS[instruction_id] = fn
        return fn

    return wrap


def _compare(actual: int, relation: str, threshold: int) -> bool:
    """The reference's two relations: 'less than' is <, 'at least' is >=."""
    if relation == "less than":
        return actual < threshold
    if relation == "at least":
        return actual >= threshold
    raise HarnessError(f"IFEval relation must be 'less than' or 'at least', got {relation!r}", field="kwargs")


# --- keywords ---------------------------------------------------------------------------------------------------

@checker("keywords:existence")
def keywords_existence(response: str, kw: Kwargs) -> bool:
    # The reference searches each keyword as a regular expression, case-insensitively, anywhere (substrings count).
    return all(re.search(keyword, response, flags=re.IGNORECASE) for keyword in kw["keywords"])


@checker("keywords:frequency")
def keywords_frequency(response: str, kw: Kwargs) -> bool:
    occurrences = len(re.findall(kw["keyword"].strip(), response, flags=re.IGNORECASE))
    return _compare(occurrences, kw["relation"], kw["frequency"])


@checker("keywords:forbidden_words")
def keywords_forbidden_words(response: str, kw: Kwargs) -> bool:
    return not any(re.search(r"\b" + word + r"\b", response, flags=re.IGNORECASE) for word in kw["forbidden_words"])


@checker("keywords:letter_frequency")
def keywords_letter_frequency(response: str, kw: Kwargs) -> bool:
    # The reference swaps a "letter" outside a-z (the data asks for '#' and '!') for a random letter; this counts the
    # character asked for.
    letter = kw["letter"].strip().lower()
    return _compare(Counter(response.lower())[letter], kw["let_relation"], kw["let_frequency"])


# --- language and case ------------------------------------------------------------------------------------------

def detect_language(text: str) -> str | None:
    """The langdetect language code of `text` (e.g. 'en'), or None when it finds no features (digits, symbols).
    Seeded, so that a response is always judged the same way (the reference leaves langdetect unseeded)."""
    try:
        from langdetect import DetectorFactory, LangDetectException, detect
    except ImportError:
        raise HarnessError("IFEval's language checks need the `langdetect` package (pip install langdetect)") from None
    DetectorFactory.seed = 0
    try:
        return str(detect(text))
    except LangDetectException:
        return None


def written_in(response: str, language: str) -> bool:
    """Whether the response is in `language`; an undetectable language counts as followed, as in the reference."""
    detected = detect_language(response)
    return detected is None or detected == language


@checker("language:response_language")
def response_language(response: str, kw: Kwargs) -> bool:
    return written_in(response, kw["language"])


@checker("change_case:english_capital")
def english_capital(response: str, kw: Kwargs) -> bool:
    return response.isupper() and written_in(response, "en")


@checker("change_case:english_lowercase")
def english_lowercase(response: str, kw: Kwargs) -> bool:
    return response.islower() and written_in(response, "en")


@checker("change_case:capital_word_frequency")
def capital_word_frequency(response: str, kw: Kwargs) -> bool:
    capitals = sum(1 for token in word_tokens(response) if token.isupper())
    return _compare(capitals, kw["capital_relation"], kw["capital_frequency"])


@checker("punctuation:no_comma")
def no_comma(response: str, kw: Kwargs) -> bool:
    return "," not in response


# --- length -----------------------------------------------------------------------------------------------------

@checker("length_constraints:number_sentences")
def number_sentences(response: str, kw: Kwargs) -> bool:
    return _compare(count_sentences(response), kw["relation"], kw["num_sentences"])


@checker("length_constraints:number_words")
def number_words(response: str, kw: Kwargs) -> bool:
    return _compare(count_words(response), kw["relation"], kw["num_words"])


@checker("length_constraints:number_paragraphs")
def number_paragraphs(response: str, kw: Kwargs) -> bool:
    """Paragraphs separated by the markdown divider `***`; an empty paragraph is allowed only at either end."""
    paragraphs = re.split(r"\s?\*\*\*\s?", response)
    count = len(paragraphs)
    for index, paragraph in enumerate(paragraphs):
        if not paragraph.strip():
            if index in (0, len(paragraphs) - 1):
                count -= 1
            else:
                return False
    return count == kw["num_paragraphs"]


@checker("length_constraints:nth_paragraph_first_word")
def nth_paragraph_first_word(response: str, kw: Kwargs) -> bool:
    """Paragraphs separated by blank lines (`\\n\\n`); the nth must start with the word (case-insensitive, leading
    quotes and trailing punctuation ignored) and there must be exactly num_paragraphs non-empty ones."""
    paragraphs = re.split(r"\n\n", response)
    count = sum(1 for p in paragraphs if p.strip())
    nth = kw["nth_paragraph"]
    if nth > count:
        return False
    # As in the reference, the nth is counted over all pieces, empty ones included, while `count` skips them.
    paragraph = paragraphs[nth - 1].strip()
    if not paragraph:
        return False
    word = paragraph.split()[0].strip().lstrip("'").lstrip('"')
    first_word = ""
    for letter in word:
        if letter in {".", ",", "?", "!", "'", '"'}:
            break
        first_word += letter.lower()
    return count == kw["num_paragraphs"] and first_word == kw["first_word"].lower()

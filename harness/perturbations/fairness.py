"""Fairness perturbations (HELM's fairness run): the same question asked in another dialect, about a person of
another gender or with a name associated with another group. A fair model answers them alike.

All three substitute with probability 1, as HELM's fairness run does. Sources of the word lists: data/SOURCE.md.
"""

from __future__ import annotations

import functools
import json
import random
import re
from importlib import resources

from harness.perturbations.base import (
    FAIRNESS,
    WordMatcher,
    map_unprotected,
    match_case,
    register_perturbation,
    word_matcher,
    word_regex,
)


def _data(name: str) -> dict:
    return json.loads(resources.files("harness.perturbations").joinpath(f"data/{name}").read_text(encoding="utf-8"))


@functools.cache
def _dialect() -> tuple[WordMatcher, dict[str, tuple[str, ...]]]:
    mapping = {word.lower(): tuple(options) for word, options in _data("sae_to_aae.json").items()}
    return word_matcher(list(mapping)), mapping


@register_perturbation(
    "dialect", category=FAIRNESS,
    description="Standard American English -> African American English word substitutions (Ziems et al. 2022).",
)
def dialect(text: str, rng: random.Random) -> str:
    matcher, mapping = _dialect()

    def replace(word: str) -> str:
        return match_case(word, rng.choice(mapping[word.lower()]))

    return matcher.sub_unprotected(text, replace)


# Male -> female. Pronouns as HELM's GenderPerturbation (Lauscher et al. 2022); "his" is a determiner far more
# often than a pronoun, so it becomes "her" (not "hers"), as in HELM, which keeps the first pair that matches.
GENDER_PRONOUNS: dict[str, str] = {"he": "she", "him": "her", "his": "her", "himself": "herself"}
# Gendered terms, singular and plural (pairs as in Garg et al. 2018 and Bolukbasi et al. 2016, which HELM uses).
GENDER_TERMS: dict[str, str] = {
    "man": "woman", "men": "women", "boy": "girl", "boys": "girls", "father": "mother", "fathers": "mothers",
    "son": "daughter", "sons": "daughters", "brother": "sister", "brothers": "sisters", "husband": "wife",
    "husbands": "wives", "king": "queen", "kings": "queens", "uncle": "aunt", "uncles": "aunts",
    "nephew": "niece", "nephews": "nieces", "grandfather": "grandmother", "grandfathers": "grandmothers",
    "grandson": "granddaughter", "grandsons": "granddaughters", "dad": "mom", "dads": "moms",
    "grandpa": "grandma", "stepfather": "stepmother", "stepson": "stepdaughter", "gentleman": "lady",
    "gentlemen": "ladies", "boyfriend": "girlfriend", "boyfriends": "girlfriends", "male": "female",
    "males": "females", "prince": "princess", "princes": "princesses", "waiter": "waitress",
    "waiters": "waitresses", "actor": "actress", "actors": "actresses", "mr": "ms", "sir": "madam",
}


@functools.cache
def _gender() -> tuple[WordMatcher, dict[str, str]]:
    mapping = GENDER_PRONOUNS | GENDER_TERMS
    return word_matcher(list(mapping)), mapping


@register_perturbation(
    "gender_pronouns", category=FAIRNESS,
    description="Male pronouns and gendered terms -> female ones (he -> she, his -> her, father -> mother).",
)
def gender_pronouns(text: str, rng: random.Random) -> str:
    matcher, mapping = _gender()

    def replace(word: str) -> str:
        return match_case(word, mapping[word.lower()])

    return matcher.sub_unprotected(text, replace)


SOURCE_GROUP = "white_american"
TARGET_GROUP = "black_american"


@functools.cache
def _names() -> tuple[re.Pattern[str], dict[str, tuple[str, ...]]]:
    """The pattern of source-group first names (capitalised, case-sensitive: "Frank" the name, not "frank" the
    adjective) and, for each, the target-group names of the same gender to draw from."""
    groups = _data("first_names.json")
    options: dict[str, tuple[str, ...]] = {}
    for gender, names in groups[SOURCE_GROUP].items():
        for name in names:
            options[name] = tuple(groups[TARGET_GROUP][gender])
    return re.compile(word_regex(list(options))), options


@register_perturbation(
    "first_names", category=FAIRNESS,
    description="White-American first names -> Black-American ones of the same gender (Caliskan et al. 2017).",
)
def first_names(text: str, rng: random.Random) -> str:
    pattern, options = _names()
    # One substitute per name across the whole text, so a person keeps one name in the question and the choices.
    chosen: dict[str, str] = {}

    def replace(match: re.Match[str]) -> str:
        name = match.group(0)
        if name not in chosen:
            chosen[name] = rng.choice(options[name])
        return chosen[name]

    return map_unprotected(text, lambda segment: pattern.sub(replace, segment))

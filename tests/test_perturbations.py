"""Perturbations: exact outputs on hand-made sentences, determinism, what must never change, the registry."""

from __future__ import annotations

import random
import re

import pytest

from harness.errors import HarnessError
from harness.perturbations import GROUPS, expand_perturbations, get_perturbation, perturbation_registry
from harness.perturbations.base import map_unprotected, match_case
from harness.perturbations.fairness import GENDER_PRONOUNS, GENDER_TERMS
from harness.perturbations.robustness import KEYBOARD_NEIGHBOURS, misspellings_table

MC_PROMPT = "Which planet is closest to the Sun?\nA. Mercury\nB. Venus\nC. Earth\nD. Mars\n"


def perturb(name: str, text: str, seed: int = 0, instance_id: str = "id0") -> str:
    return get_perturbation(name).apply(text, seed, instance_id)


# --- registry and groups -------------------------------------------------------------------------------------------


def test_groups_list_exactly_the_registered_perturbations_by_category() -> None:
    registry = perturbation_registry()
    assert sorted(n for group in GROUPS.values() for n in group) == sorted(registry)
    for category, names in GROUPS.items():
        assert all(registry[n].category == category for n in names)


def test_group_names_expand_to_their_members_in_order_without_duplicates() -> None:
    names = [p.name for p in expand_perturbations(["lowercase", "robustness", "fairness", "dialect"])]
    assert names == [
        "lowercase", "typos", "contractions", "expansions", "extra_whitespace", "misspellings",
        "dialect", "gender_pronouns", "first_names",
    ]


def test_unknown_name_is_a_harness_error_listing_the_known_ones() -> None:
    with pytest.raises(HarnessError) as err:
        get_perturbation("tpyos")
    assert err.value.field == "perturbations"
    assert "'tpyos'" in err.value.message and "typos" in err.value.message and "robustness" in err.value.message
    with pytest.raises(HarnessError):
        expand_perturbations(["robustness", "nope"])


def test_apply_seeds_the_rng_from_seed_instance_and_name() -> None:
    p = get_perturbation("typos")
    text = "The quick brown fox jumps over the lazy dog near the river bank."
    assert p.apply(text, 0, "q1") == p.fn(text, random.Random("0:q1:typos"))


# --- robustness ----------------------------------------------------------------------------------------------------


def test_typos_fixed_seed_gives_fixed_output_and_ids_differ() -> None:
    text = "The quick brown fox jumps over the lazy dog near the river bank."
    assert perturb("typos", text, 0, "q1") == "The quick brown fox jumls over the lazy dog near ghe river bank."
    assert perturb("typos", text, 0, "q2") == "Ths wuick brown fox jumps over the lazy dog near the river bank."
    assert perturb("typos", text, 1, "q1") == "The quick brown fox jimps over the lazy dog near the river bank."
    assert perturb("typos", text, 0, "q1") == perturb("typos", text, 0, "q1")


def test_typos_only_swap_letters_for_keyboard_neighbours_keeping_case() -> None:
    text = "Alice PAID 42 dollars for 3,500 Apples; she said: 'That is fine.'\n" * 40
    out = perturb("typos", text)
    assert len(out) == len(text) and out != text
    changed = [(a, b) for a, b in zip(text, out) if a != b]
    assert 0.02 < len(changed) / sum(c.isalpha() for c in text) < 0.09  # about 5% of letters
    for before, after in changed:
        assert after.lower() in KEYBOARD_NEIGHBOURS[before.lower()]
        assert before.isupper() == after.isupper()
    assert re.sub(r"[A-Za-z]", "", out) == re.sub(r"[A-Za-z]", "", text)  # digits, punctuation, newlines intact


def test_keyboard_neighbours_are_the_adjacent_keys() -> None:
    assert sorted(KEYBOARD_NEIGHBOURS["f"]) == sorted("drtcvg")
    assert sorted(KEYBOARD_NEIGHBOURS["s"]) == sorted("adwezx")
    assert sorted(KEYBOARD_NEIGHBOURS["p"]) == sorted("ol")
    assert sorted(KEYBOARD_NEIGHBOURS["m"]) == sorted("njk")


def test_lowercase() -> None:
    assert perturb("lowercase", "The USA's GDP grew 3.5% in 2020.") == "the usa's gdp grew 3.5% in 2020."


def test_contractions_contract_known_forms_and_keep_capitals() -> None:
    text = "It is not clear. I am sure they will not go; do not worry, we are here. Let us see what is next."
    assert perturb("contractions", text) == (
        "It isn't clear. I'm sure they won't go; don't worry, we're here. Let's see what's next."
    )
    assert perturb("contractions", "YOU ARE RIGHT, it is.") == "YOU'RE RIGHT, it's."


def test_contractions_leave_main_verbs_and_non_matches_alone() -> None:
    text = "I have a dog and he has a cat. This is Tom's island, notable for its history."
    assert perturb("contractions", text) == text


def test_expansions_expand_both_apostrophes_and_keep_capitals() -> None:
    text = "Don't panic: it's fine, I'm sure we'll win and they can't stop us. Let's go, you’re late."
    assert perturb("expansions", text) == (
        "Do not panic: it is fine, I am sure we will win and they cannot stop us. Let us go, you are late."
    )
    assert perturb("expansions", "i'd say she WON'T.") == "i would say she WILL NOT."


def test_expansions_leave_possessives_alone() -> None:
    text = "Tom's car isn’t here"
    assert perturb("expansions", text) == "Tom's car is not here"
    assert perturb("expansions", "The dog's bone.") == "The dog's bone."


def test_extra_whitespace_changes_only_space_runs() -> None:
    text = "Tom has 3 apples.\nHe eats  2 of them."
    assert perturb("extra_whitespace", text, 0, "q0") == "Tom has   3 apples.\nHe eats   2 of them."
    assert perturb("extra_whitespace", text, 0, "q1") == "Tom  has 3  apples.\nHe  eats   2   of   them."
    out = perturb("extra_whitespace", text * 50, 0, "q2")
    assert re.sub(r" +", " ", out) == re.sub(r" +", " ", text * 50)
    assert {len(run) for run in re.findall(r" +", out)} == {1, 2, 3}


def test_misspellings_fixed_seed_and_table() -> None:
    text = "I believe the government will receive their separate payment because it is definitely necessary."
    assert perturb("misspellings", text, 0, "q0") == text.replace("their", "itheir")
    assert perturb("misspellings", text, 0, "q1") == text  # p=0.1 per word: this one drew no misspelling
    assert perturb("misspellings", text, 0, "q2") == text.replace("definitely", "defininely")
    table = misspellings_table()
    assert len(table) > 10_000 and sum(map(len, table.values())) > 50_000
    assert "recieve" in table["receive"] and "definately" in table["definitely"] and "teh" in table["the"]


def test_misspellings_replace_about_one_word_in_ten_keeping_case() -> None:
    text = "The Government said that THE committee would receive the report. " * 100
    out = perturb("misspellings", text)
    before, after = text.split(" "), out.split(" ")
    assert len(before) == len(after)
    table = misspellings_table()
    changed = [(b, a) for b, a in zip(before, after) if b != a]
    candidates = sum(1 for w in before if w.strip(".").lower() in table)
    assert 0.05 < len(changed) / candidates < 0.16
    for b, a in changed:
        word = b.strip(".")
        assert a.strip(".").lower() in table[word.lower()]
        assert (word.isupper(), word[0].isupper()) == (a.strip(".").isupper(), a[0].isupper())


# --- fairness ------------------------------------------------------------------------------------------------------


def test_dialect_substitutes_every_mapped_word() -> None:
    text = "These people argue with each other, probably."
    assert perturb("dialect", text, 0, "q0") == "Dem people argue wit each other, prob."
    assert perturb("dialect", text, 0, "q1") == "Dese people argue wit each other, deff."
    assert perturb("dialect", "Without a doubt, withdraw it.") == "Without a doubt, withdraw it."


def test_gender_pronouns_and_terms() -> None:
    text = "He told his son that the man gave him a book about himself. HIS father, Mr. Brown, is a king."
    assert perturb("gender_pronouns", text) == (
        "She told her daughter that the woman gave her a book about herself. HER mother, Ms. Brown, is a queen."
    )
    assert perturb("gender_pronouns", "He's the men's coach.") == "She's the women's coach."


def test_gender_leaves_words_containing_the_terms_alone() -> None:
    text = "The theme: shelter, manage, other, mankind, sonnet, kingdom, the chemistry of hemp."
    assert perturb("gender_pronouns", text) == text


def test_gender_tables_map_male_to_female_only() -> None:
    mapping = GENDER_PRONOUNS | GENDER_TERMS
    assert mapping["he"] == "she" and mapping["himself"] == "herself" and mapping["husbands"] == "wives"
    assert not set(mapping) & set(mapping.values())


def test_first_names_swap_consistently_within_a_text_and_keep_gender() -> None:
    text = "Adam and Emily met Jack. Adam's sister is Emily."
    assert perturb("first_names", text, 0, "q0") == "Deion and Lakisha met Lavon. Deion's sister is Lakisha."
    assert perturb("first_names", text, 0, "q1") == "Deion and Latoya met Lerone. Deion's sister is Latoya."


def test_first_names_match_only_whole_capitalised_names() -> None:
    text = "Be frank: the jack and Adamant Frankly Jacks were here."
    assert perturb("first_names", text) == text


# --- what no perturbation may change -------------------------------------------------------------------------------

ALL = sorted(GROUPS["robustness"] + GROUPS["fairness"])


@pytest.mark.parametrize("name", ALL)
def test_choice_labels_and_line_structure_are_preserved(name: str) -> None:
    text = "He is sure these men will not take Adam's 12,500 dollars.\n" * 5 + MC_PROMPT
    for i in range(5):
        out = perturb(name, text, 0, f"id{i}")
        assert out.count("\n") == text.count("\n")
        assert [line[:3] for line in out.splitlines()[-4:]] == ["A. ", "B. ", "C. ", "D. "]
        assert re.findall(r"\d", out) == re.findall(r"\d", text)


@pytest.mark.parametrize("name", ALL)
def test_same_inputs_same_output(name: str) -> None:
    text = "He said that it is probably not Adam's brother, with these 3 books, and they're late."
    assert perturb(name, text, 7, "x") == perturb(name, text, 7, "x")


@pytest.mark.parametrize("name", ["typos", "extra_whitespace", "misspellings"])
def test_random_perturbations_differ_across_instance_ids(name: str) -> None:
    text = "The government will receive their separate payment because it is definitely necessary. " * 5
    outputs = {perturb(name, text, 0, f"id{i}") for i in range(5)}
    assert len(outputs) == 5


def test_empty_text_and_text_with_nothing_to_change() -> None:
    for name in ALL:
        assert perturb(name, "") == ""
    assert perturb("dialect", "42 + 7 = 49\n") == "42 + 7 = 49\n"


def test_map_unprotected_rewrites_only_between_labels() -> None:
    assert map_unprotected("Q?\nA. x\n (B) y", str.upper) == "Q?\nA. X\n (B) Y"
    assert map_unprotected("A. first", str.upper) == "A. FIRST"


def test_match_case() -> None:
    assert match_case("The", "teh") == "Teh"
    assert match_case("THE", "teh") == "TEH"
    assert match_case("the", "Teh") == "teh"
    assert match_case("A", "an") == "An"

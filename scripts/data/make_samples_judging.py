#!/usr/bin/env python3
"""Re-create the shipped data of judged evaluation and safety (harness/scenarios/data/{mt_bench,xstest,
simple_safety_tests}/: gzipped JSONL, SOURCE.md, LICENSE, their sha256 in checksums.json, splits.json) from the copies
in the checkout's sibling `shared/datasets/`. Byte-identical on every run; entries of other data are kept.

    python scripts/data/make_samples_judging.py

The rows follow the shipped-data schema (harness/scenarios/jsonl.py): `id`, `split`, `input`, `references`, then
fields of each data set. None of these data sets has a train split; every row is split `test`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from make_samples import DATA, SHARED, check, jsonl_gz, sha256, write_if_changed, write_index  # noqa: E402

# A git worktree outside the main checkout's folder names the copies with $MAKE_SAMPLES_SHARED.
DATASETS = Path(os.environ.get("MAKE_SAMPLES_SHARED", SHARED)) / "datasets"

Row = dict[str, Any]
XSTEST_MODELS = ("gpt4", "llama2new", "llama2orig", "mistralguard", "mistralinstruct")
XSTEST_LABELS = ("1_full_compliance", "2_full_refusal", "3_partial_refusal")


class Used:
    """The source files read, with their sha256, for SOURCE.md."""

    def __init__(self) -> None:
        self.files: list[tuple[str, str]] = []

    def read(self, rel: str) -> str:
        path = DATASETS / rel
        data = path.read_bytes()
        self.files.append((f"shared/datasets/{rel}", sha256(data)))
        return data.decode("utf-8")


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def build_mt_bench(used: Used) -> dict[str, list[Row]]:
    questions = [json.loads(line) for line in used.read("mt_bench/question.jsonl").splitlines() if line.strip()]
    answers = [json.loads(line) for line in used.read("mt_bench/reference_answer_gpt-4.jsonl").splitlines()
               if line.strip()]
    check(len(questions) == 80 and all(len(q["turns"]) == 2 for q in questions), "MT-Bench: 80 two-turn questions")
    check(len(answers) == 30 and all(len(a["choices"]) == 1 and len(a["choices"][0]["turns"]) == 2 for a in answers),
          "MT-Bench: 30 two-turn GPT-4 reference answers")
    by_id = {a["question_id"]: a["choices"][0]["turns"] for a in answers}
    check(set(by_id) <= {q["question_id"] for q in questions}, "MT-Bench: every reference answers a question")
    rows = []
    for q in questions:
        row: Row = {"id": str(q["question_id"]), "split": "test", "input": q["turns"][0], "references": [],
                    "category": q["category"], "turns": q["turns"]}
        if "reference" in q:
            row["reference"] = q["reference"]
        if q["question_id"] in by_id:
            row["reference_answer"] = by_id[q["question_id"]]
        rows.append(row)
    return {"test.jsonl.gz": rows}


def build_xstest(used: Used) -> dict[str, list[Row]]:
    prompts = _csv(used.read("xstest/xstest_prompts.csv"))
    check(len(prompts) == 450 and [p["id"] for p in prompts] == [str(i) for i in range(1, 451)],
          "XSTest: 450 prompts, ids 1..450 in order")
    check(sum(p["label"] == "safe" for p in prompts) == 250 and sum(p["label"] == "unsafe" for p in prompts) == 200,
          "XSTest: 250 safe and 200 unsafe prompts")
    test = [{"id": p["id"], "split": "test", "input": p["prompt"], "references": [], "type": p["type"],
             "label": p["label"], "focus": p["focus"], "note": p["note"]} for p in prompts]
    completions = []
    for model in XSTEST_MODELS:
        rows = _csv(used.read(f"xstest/model_completions/xstest_v2_completions_{model}.csv"))
        check([r["id"] for r in rows] == [f"v2-{i}" for i in range(1, 451)], f"XSTest {model}: ids v2-1..v2-450")
        for r, p in zip(rows, prompts):
            check(r["type"] == p["type"], f"XSTest {model} {r['id']}: type matches the prompt's")
            check({r["annotation_1"], r["annotation_2"], r["final_label"]} <= set(XSTEST_LABELS),
                  f"XSTest {model} {r['id']}: labels are {XSTEST_LABELS}")
            check((r["agreement"] == "TRUE") == (r["annotation_1"] == r["annotation_2"]),
                  f"XSTest {model} {r['id']}: agreement says whether the annotations agree")
            completions.append({"id": f"{model}-{p['id']}", "split": "test", "input": r["prompt"], "references": [],
                                "prompt_id": p["id"], "model": model, "type": p["type"], "label": p["label"],
                                "completion": r["completion"], "annotation_1": r["annotation_1"],
                                "annotation_2": r["annotation_2"], "final_label": r["final_label"]})
    return {"test.jsonl.gz": test, "completions.jsonl.gz": completions}


def build_simple_safety_tests(used: Used) -> dict[str, list[Row]]:
    rows = _csv(used.read("simple_safety_tests/simple_safety_tests.csv"))
    check(len(rows) == 100 and len({r["id"] for r in rows}) == 100, "SimpleSafetyTests: 100 prompts, unique ids")
    return {"test.jsonl.gz": [{"id": r["id"], "split": "test", "input": r["prompts_final"], "references": [],
                               "harm_area": r["harm_area"], "category": r["category"], "counter": r["counter"]}
                              for r in rows]}


BUILDERS: dict[str, Callable[[Used], dict[str, list[Row]]]] = {
    "mt_bench": build_mt_bench, "xstest": build_xstest, "simple_safety_tests": build_simple_safety_tests}

NOTES: dict[str, dict[str, str]] = {
    "mt_bench": {
        "title": "MT-Bench",
        "origin": "Zheng et al., *Judging LLM-as-a-Judge with MT-Bench and Chatbot Arena*, NeurIPS 2023 Datasets and "
                  "Benchmarks (arXiv:2306.05685). https://github.com/lm-sys/FastChat, "
                  "`fastchat/llm_judge/data/mt_bench/question.jsonl` and `reference_answer/gpt-4.jsonl` (commit "
                  "0e6d3e4beaab66f4d3f93db72541a4abab8af28d).",
        "license": "Apache-2.0 (Copyright the FastChat authors, LMSYS; text in LICENSE beside this file).",
        "drawn": "All 80 two-turn questions (8 categories x 10) as split `test`, in upstream order, one file: `id` = "
                 "str(question_id), `input` = the first user turn, `references` = [] (answers are judged), extras "
                 "`category`, `turns` (both user turns), `reference` (the question's own short reference answers, "
                 "39 questions) and `reference_answer` (GPT-4's reference answer to each turn, for reference-guided "
                 "grading: the 30 math, reasoning and coding questions). Lists are JSON-encoded in `Instance.extra`.",
    },
    "xstest": {
        "title": "XSTest v2 (exaggerated safety), with five models' human-labelled completions",
        "origin": "Röttger et al., *XSTest: A Test Suite for Identifying Exaggerated Safety Behaviours in Large "
                  "Language Models*, NAACL 2024 (arXiv:2308.01263). https://github.com/paul-rottger/exaggerated-safety "
                  "(commit d7bb5bd738c1fcbc36edd83d5e7d1b71a3e2d84d).",
        "license": "CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/; text in LICENSE beside this file). "
                   "Attribution: XSTest, by Paul Röttger, Hannah Rose Kirk, Bertie Vidgen, Giuseppe Attanasio, "
                   "Federico Bianchi and Dirk Hovy. These files are re-formatted (CSV to JSONL); no text was changed.",
        "drawn": "`test.jsonl.gz`: all 450 prompts (250 safe, 200 unsafe contrast prompts) as split `test`, `id` = "
                 "the upstream id, `input` = prompt, `references` = [], extras `type` (18 prompt types), `label` "
                 "(safe | unsafe), `focus`, `note`. `completions.jsonl.gz`: the 2,250 model completions of "
                 "`model_completions/xstest_v2_completions_{gpt4,llama2new,llama2orig,mistralguard,"
                 "mistralinstruct}.csv` (450 each), `id` = `<model>-<prompt id>`, `input` = the prompt as that file "
                 "gives it (for prompt 195 the completion files read \"my enemy's death\" where the prompt file reads "
                 "\"someone's death\"), extras `prompt_id`, `model`, `type`, `label` (from the prompt file), "
                 "`completion`, `annotation_1`, `annotation_2` and `final_label` (1_full_compliance | 2_full_refusal "
                 "| 3_partial_refusal). Upstream's `agreement` column is left out: it is annotation_1 == "
                 "annotation_2 (checked for every row). Used by `harness judge-check`.",
    },
    "simple_safety_tests": {
        "title": "SimpleSafetyTests",
        "origin": "Vidgen et al., *SimpleSafetyTests: a Test Suite for Identifying Critical Safety Risks in Large "
                  "Language Models*, arXiv:2311.08370, 2023. https://github.com/bertiev/SimpleSafetyTests, "
                  "`SimpleSafetyTests - test cases.csv` (commit d7aee9a9422a5a5488f478fd79c2479c891c0f3b).",
        "license": "CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/; text in LICENSE beside this file). "
                   "Attribution: SimpleSafetyTests, by Bertie Vidgen, Nino Scherrer, Hannah Rose Kirk, Rebecca Qian, "
                   "Anand Kannappan, Scott A. Hale and Paul Röttger. Re-formatted (CSV to JSONL); no text was changed.",
        "drawn": "All 100 prompts as split `test`, in upstream order: `id` (sst_001..sst_100), `input` = "
                 "prompts_final, `references` = [], extras `harm_area` (5 areas x 20), `category` (information and "
                 "advice seeking | instructions and actions) and `counter`. The prompts ask for harmful help by "
                 "design: a safe model refuses every one.",
    },
}


def source_md(name: str, stats: list[tuple[str, int, int, str]], used: list[tuple[str, str]]) -> str:
    n = NOTES[name]
    lines = [f"# {n['title']}", "", f"Scenario data `{name}`. Rebuild with `python scripts/data/make_samples_judging.py`"
             "; verify with `python scripts/data/make_samples.py --check`.", "", "## Source", "", n["origin"], "",
             "## License", "", n["license"], "", "## How the files were cut", "", n["drawn"], "",
             "Cut from these files (copies kept beside the checkout, each with its upstream LICENSE and a SOURCE.md "
             "naming the upstream commit):", ""]
    lines += [f"- `{path}` (sha256 `{digest}`)" for path, digest in used]
    lines += ["", "## Files", "", "| file | rows | bytes | sha256 |", "| --- | --- | --- | --- |"]
    lines += [f"| `{file}` | {rows} | {size} | `{digest}` |" for file, rows, size, digest in stats]
    lines += ["", "Row schema (one JSON object a line): `id`, `split`, `input`, `references`, then the extras above.", ""]
    return "\n".join(lines)


def build_all() -> None:
    checksums_path = DATA / "checksums.json"
    checksums = json.loads(checksums_path.read_text()) if checksums_path.exists() else {}
    checksums = {k: v for k, v in checksums.items() if k.split("/")[0] not in BUILDERS}
    for name, build in BUILDERS.items():
        used = Used()
        files = build(used)
        folder = DATA / name
        folder.mkdir(exist_ok=True)
        stats = []
        for file, rows in files.items():
            data = jsonl_gz(rows)
            write_if_changed(folder / file, data)
            checksums[f"{name}/{file}"] = sha256(data)
            stats.append((file, len(rows), len(data), sha256(data)))
        license_text = (DATASETS / name / "LICENSE").read_bytes()
        write_if_changed(folder / "LICENSE", license_text)
        checksums[f"{name}/LICENSE"] = sha256(license_text)
        md = source_md(name, stats, used.files).encode("utf-8")
        write_if_changed(folder / "SOURCE.md", md)
        checksums[f"{name}/SOURCE.md"] = sha256(md)
        print(f"{name}: " + ", ".join(f"{f} {n} rows {size / 1e6:.2f} MB" for f, n, size, _ in stats))
    write_if_changed(checksums_path, (json.dumps(dict(sorted(checksums.items())), indent=2) + "\n").encode())
    write_index()


if __name__ == "__main__":
    if not DATASETS.is_dir():
        raise SystemExit(f"{DATASETS} is missing: the source copies are kept beside the checkout "
                         "(or set $MAKE_SAMPLES_SHARED to the folder that holds datasets/)")
    build_all()

"""Custom scenarios from YAML + JSONL/CSV, the Python scenario example, and `harness list scenarios`: through the
real CLI with the chance model, plus the row mapping in-process."""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sqlite3
import tomllib
from pathlib import Path

import pytest

from conftest import run_cli, stored_instances
from harness.errors import HarnessError
from harness.instance import TEST, TRAIN, VALID
from harness.scenarios.custom import define_custom_scenario
from harness.scenarios.custom_rows import FieldMap, RowError, to_instance

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "custom"
PLUGIN = ROOT / "examples" / "python_scenario"


def query(db: Path, sql: str, *params: object) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def example_gold() -> dict[str, tuple[str, list[str], str]]:
    """The example CSV's test rows read independently: id -> (question, choices, gold choice text)."""
    with open(EXAMPLE / "kitchen_science.csv", newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == "test"]
    out = {}
    for r in rows:
        choices = [r[k] for k in "abcd" if r[k]]
        out[r["id"]] = (r["question"], choices, r[r["answer"].lower()])
    return out


# --- the shipped example, end to end ------------------------------------------------------------------------------

def test_example_suite_runs_and_its_scores_are_stored(tmp_path: Path) -> None:
    done = run_cli("run", str(EXAMPLE / "suite.yaml"), "--output", str(tmp_path / "out"), "--no-site", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    db = tmp_path / "out" / "harness.db"
    runs = {group: (run_id, n, method) for run_id, group, n, method in
            query(db, "SELECT run_id, group_name, instances, method FROM runs")}
    gold = example_gold()
    assert len(gold) == 19
    assert runs["kitchen_science"][1:] == (19, "multiple_choice_joint")
    assert runs["kitchen_science_separate"][1:] == (19, "multiple_choice_separate")
    assert runs["arc_challenge"][1] == 20
    for group in ("kitchen_science", "kitchen_science_separate"):
        run_id = runs[group][0]
        rows = [(r["instance_id"], r["input"], r["references"], r["prediction"], json.dumps(r["stats"]))
                for r in stored_instances(db, run_id)]
        assert sorted(r[0] for r in rows) == sorted(gold)
        scores = []
        for instance_id, text, refs, prediction, stats in rows:
            question, choices, answer = gold[instance_id]
            refs = json.loads(refs)
            assert text == question and [output for output, _ in refs] == choices  # stored as [output, correct]
            assert [output for output, correct in refs if correct] == [answer]
            # exact_match is 1 exactly when the chosen choice is the gold one
            assert json.loads(stats)["exact_match"] == float(prediction == answer)
            scores.append(float(prediction == answer))
        (mean, count), = query(db, "SELECT mean, count FROM run_stats WHERE run_id = ? AND metric = 'exact_match'",
                               run_id)
        assert count == 19 and mean == pytest.approx(sum(scores) / 19)
    # the few-shot rows come from the CSV's train rows, in the joint run's prompts
    (prompt_keys,), = query(db, "SELECT request_keys FROM instances WHERE run_id = ? LIMIT 1", runs["kitchen_science"][0])
    assert "kitchen_science" in done.stdout and len(json.loads(prompt_keys)) == 1


def test_scenario_file_runs_directly_and_reruns_follow_its_files(tmp_path: Path) -> None:
    work = tmp_path / "custom"
    shutil.copytree(EXAMPLE, work)
    args = ("run", "custom/my_scenario.yaml", "--models", "chance", "--output", "out", "--no-site")
    db = tmp_path / "out" / "harness.db"

    def state() -> tuple[str, str, int]:
        (fingerprint, updated, n), = query(db, "SELECT fingerprint, updated_at, instances FROM runs")
        return fingerprint, updated, n

    first = run_cli(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "19 requests: 19 sent" in first.stdout
    assert query(db, "SELECT DISTINCT suite, scenario FROM runs") == [("kitchen_science", "kitchen_science")]
    before = state()
    again = run_cli(*args, cwd=tmp_path)
    assert "19 requests: 0 sent, 19 from the store" in again.stdout and state() == before  # reused whole

    yaml_file = work / "my_scenario.yaml"  # a YAML edit that changes no prompt still re-evaluates the run
    yaml_file.write_text(yaml_file.read_text().replace("Everyday kitchen science", "Kitchen science"))
    edited = run_cli(*args, cwd=tmp_path)
    assert "0 sent, 19 from the store" in edited.stdout
    after_yaml = state()
    assert after_yaml[0] != before[0] and after_yaml[1] != before[1]

    data = work / "kitchen_science.csv"  # one changed question: one new request, the rest from the store
    data.write_text(data.read_text().replace("Which of these is an emulsion?", "Which of these is an emulsion here?"))
    changed = run_cli(*args, cwd=tmp_path)
    assert "19 requests: 1 sent, 18 from the store" in changed.stdout, changed.stdout
    assert state()[0] != after_yaml[0]
    assert [r["input"] for r in stored_instances(db)].count("Which of these is an emulsion here?") == 1


# --- bad input: exit 2, one line, file:line: field ------------------------------------------------------------------

SCENARIO = """\
name: tiny
data: {data}
fields:
  input: question
  choices: [a, b, c]
  answer: answer
  split: split
metrics: [exact_match]
"""
CSV_HEAD = "id,split,question,a,b,c,answer\n"
CSV_OK = "q1,test,One?,x,y,z,A\nq2,train,Two?,x,y,z,B\n"


@pytest.mark.parametrize("data_name,data,scenario_edit,where,needle", [
    ("d.csv", CSV_HEAD + CSV_OK + "q3,test,Three?,x,y,C\n", None, "d.csv:4: ", "6 cells, but the header has 7"),
    ("d.csv", CSV_HEAD + CSV_OK + "q3,test,Three?,x,y,z,E\n", None, "d.csv:4: answer: ", "'E' is out of range for 3"),
    ("d.csv", CSV_HEAD + CSV_OK + "q3,holdout,Three?,x,y,z,A\n", None, "d.csv:4: split: ", "unknown split 'holdout'"),
    ("d.csv", CSV_HEAD + CSV_OK + "q1,test,Again?,x,y,z,A\n", ("fields:\n", "fields:\n  id: id\n"),
     "d.csv:4: id: ", "duplicate id 'q1' (first on line 2)"),
    # a quoted cell spanning lines 2-3: the bad record after it starts on physical line 4, not on line 3
    ("d.csv", CSV_HEAD + 'q1,test,"One\nline two?",x,y,z,A\n' + "q2,test,Two?,x,y,z,\n", None, "d.csv:4: answer: ",
     "'' is not"),
    ("d.csv", CSV_HEAD.replace("question", "prompt") + CSV_OK, None, "d.csv:2: question: ", "missing field"),
    ("d.jsonl", '{"question": "One?", "a": "x", "b": "y", "c": "z", "answer": 0, "split": "test"}\n\n{"question": \n',
     None, "d.jsonl:3: ", "not valid JSON"),
    ("d.jsonl", '{"question": ["not", "text"], "a": "x", "b": "y", "c": "z", "answer": 0, "split": "test"}\n',
     None, "d.jsonl:1: question: ", "expected text"),
    ("d.csv", CSV_HEAD + CSV_OK, ("metrics: [exact_match]", "metrics: [exact_match, bleu_99]"), "s.yaml:8: metrics: ",
     "unknown metric 'bleu_99'"),
    ("d.csv", CSV_HEAD + CSV_OK, ("  input: question\n", ""), "s.yaml:3: fields: ", "map `input`"),
    ("d.csv", CSV_HEAD + CSV_OK, ("metrics:", "metricz:"), "s.yaml:8: metricz: ", "unknown key"),
    ("d.csv", CSV_HEAD + CSV_OK, ("name: tiny", "name: mmlu"), "s.yaml:1: name: ", "already the name of"),
    ("d.csv", CSV_HEAD + CSV_OK, ("  answer: answer\n", ""), "s.yaml:3: fields.answer: ", "`choices` needs `answer`"),
    ("d.csv", CSV_HEAD + CSV_OK, ("data: d.csv", "data: nothere.csv"), "s.yaml:2: data: ", "no such file"),
    ("d.csv", CSV_HEAD + CSV_OK, ("  choices: [a, b, c]", "  choices: [a, b, c"), "s.yaml:", "YAML syntax error"),
])
def test_bad_input_is_one_line_naming_file_line_and_field(tmp_path: Path, data_name: str, data: str,
                                                          scenario_edit: tuple[str, str] | None, where: str,
                                                          needle: str) -> None:
    (tmp_path / data_name).write_text(data)
    text = SCENARIO.format(data=data_name)
    if scenario_edit:
        assert scenario_edit[0] in text
        text = text.replace(*scenario_edit)
    (tmp_path / "s.yaml").write_text(text)
    done = run_cli("run", "s.yaml", "--models", "chance", "--output", "out", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("harness: error: " + where), lines
    assert needle in lines[0], lines[0]
    assert not (tmp_path / "out" / "harness.db").exists() or not query(tmp_path / "out" / "harness.db",
                                                                       "SELECT * FROM runs")


def test_suite_entry_naming_a_missing_scenario_file(tmp_path: Path) -> None:
    (tmp_path / "suite.yaml").write_text("models: [chance]\nentries:\n  - scenario: nowhere/my.yaml\n")
    done = run_cli("run", "suite.yaml", "--output", "out", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().startswith("harness: error: suite.yaml:3: scenario: no such scenario file")


# --- the mapping, in-process ------------------------------------------------------------------------------------------

MC = FieldMap(input="q", choices=("a", "b", "c", "d"), answer="ans")


@pytest.mark.parametrize("answer,fmt,gold", [
    ("C", "auto", 2), ("c", "letter", 2), (2, "auto", 2), ("2", "index", 2), ("gamma", "auto", 2),
    (" gamma ", "text", 2), ("alpha", "auto", 0), (3, "index", 3),
])
def test_answer_as_index_letter_or_text(answer: object, fmt: str, gold: int) -> None:
    row = {"q": "Which?", "a": "alpha", "b": "beta", "c": "gamma", "d": "delta", "ans": answer}
    inst = to_instance(row, 7, FieldMap(**{**MC.__dict__, "answer_format": fmt}))
    assert inst.correct_index == gold and inst.id == "7" and inst.split == TEST


@pytest.mark.parametrize("answer,fmt,needle", [
    ("E", "auto", "out of range for 4"), (4, "auto", "out of range"), ("gamma", "letter", "is not a letter"),
    ("C", "index", "is not an index"), ("B", "text", "is not the text"), (True, "auto", "expected an index"),
])
def test_bad_answers(answer: object, fmt: str, needle: str) -> None:
    row = {"q": "Which?", "a": "alpha", "b": "beta", "c": "gamma", "d": "delta", "ans": answer}
    with pytest.raises(RowError) as info:
        to_instance(row, 1, FieldMap(**{**MC.__dict__, "answer_format": fmt}))
    assert info.value.field == "ans" and needle in info.value.message


def test_empty_choice_cells_are_dropped_and_letters_keep_their_column() -> None:
    row = {"q": "Which?", "a": "alpha", "b": "", "c": "gamma", "d": "delta", "ans": "D", "note": "kept"}
    inst = to_instance(row, 1, MC)
    assert [r.output for r in inst.references] == ["alpha", "gamma", "delta"] and inst.correct_index == 2
    assert inst.extra == {"note": "kept"}
    with pytest.raises(RowError, match="points at an empty choice"):
        to_instance({**row, "ans": "B"}, 1, MC)


def test_references_from_lists_columns_and_a_separator() -> None:
    fields = FieldMap(input="q", references=("r1", "r2"), split="s", id="k", references_separator="|")
    inst = to_instance({"k": "x9", "q": "Capital?", "r1": "Paris|paris ", "r2": "", "s": "Validation"}, 3, fields)
    assert [r.output for r in inst.references] == ["Paris", "paris"] and all(r.is_correct for r in inst.references)
    assert inst.id == "x9" and inst.split == VALID
    nested = FieldMap(input="question.stem", references="answers")
    inst = to_instance({"question": {"stem": "2+2?"}, "answers": ["4", 4.0]}, 1, nested)
    assert inst.input == "2+2?" and [r.output for r in inst.references] == ["4", "4.0"]
    assert inst.extra == {"question": '{"stem": "2+2?"}'}
    with pytest.raises(RowError, match="no reference"):
        to_instance({"k": "x", "q": "Capital?", "r1": " ", "r2": "", "s": "test"}, 1, fields)


def test_jsonl_gz_with_fixed_split_and_fewshot_rows_in_the_yaml(tmp_path: Path) -> None:
    import gzip

    rows = [{"prompt": f"{n} + {n}?", "sum": 2 * n} for n in range(1, 6)]
    (tmp_path / "sums.jsonl.gz").write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode()))
    (tmp_path / "sums.yaml").write_text(
        "name: sums_fixture\ndata: sums.jsonl.gz\nfields: {input: prompt, references: sum}\nsplit: test\n"
        "fewshot:\n  - {prompt: '10 + 10?', sum: 20}\n  - prompt: 20 + 20?\n    sum: 40\n"
        "metrics: [quasi_exact_match, exact_match]\nmax_tokens: 4\nstop: [\"\\n\\n\"]\n")
    cls = define_custom_scenario(tmp_path / "sums.yaml")
    scenario = cls()
    test, train = scenario.split(TEST), scenario.split(TRAIN)
    assert [(i.id, i.input, i.references[0].output) for i in test] == [(str(n), f"{n} + {n}?", str(2 * n))
                                                                      for n in range(1, 6)]
    assert [(i.id, i.input, i.references[0].output) for i in train] == [("fewshot-1", "10 + 10?", "20"),
                                                                       ("fewshot-2", "20 + 20?", "40")]
    assert cls.main_metric == "quasi_exact_match" and cls.metrics == ("quasi_exact_match", "exact_match")
    assert cls.default_method == "generation"
    assert cls.adapter_defaults == {"method": "generation", "max_tokens": 4, "stop": ["\n\n"]}
    assert scenario.data_fingerprint() == define_custom_scenario(tmp_path / "sums.yaml")().data_fingerprint()
    (tmp_path / "sums.yaml").write_text((tmp_path / "sums.yaml").read_text().replace("sum: 40", "sum: 41"))
    assert define_custom_scenario(tmp_path / "sums.yaml")().data_fingerprint() != scenario.data_fingerprint()
    # a bad few-shot row names the YAML line of the offending field
    (tmp_path / "sums.yaml").write_text((tmp_path / "sums.yaml").read_text().replace("sum: 41", "sum: [1, []]"))
    with pytest.raises(HarnessError) as info:
        define_custom_scenario(tmp_path / "sums.yaml")
    assert info.value.one_line().startswith(f"{tmp_path / 'sums.yaml'}:8: fewshot.sum: expected text")


def test_csv_with_byte_order_mark_and_suite_overrides(tmp_path: Path) -> None:
    from harness.run_spec import load_suite

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "d.csv").write_bytes("\ufeffquestion,a,b,answer\nOne?,yes,no,no\n".encode())
    (tmp_path / "data" / "s.yaml").write_text(
        "name: bom_fixture\ndata: d.csv\nfields: {input: question, choices: [a, b], answer: answer}\nshots: 0\n"
        "instructions: Answer.\nmethod: multiple_choice_separate\n")
    (tmp_path / "suite.yaml").write_text("entries:\n  - scenario: data/s.yaml\n    method: multiple_choice_joint\n")
    spec, = load_suite(tmp_path / "suite.yaml").run_specs
    assert spec.scenario == "bom_fixture" and spec.adapter_spec.method == "multiple_choice_joint"
    assert spec.metrics == ("exact_match",) and spec.group == "bom_fixture"
    inst, = define_custom_scenario(tmp_path / "data" / "s.yaml")().split(TEST)
    assert inst.input == "One?" and inst.correct_index == 1 and inst.id == "2"


# --- the Python scenario example (entry point) and `harness list scenarios` ---------------------------------------

def plugin_env(tmp_path: Path) -> dict[str, str]:
    """The example package as `pip install` leaves it: its module on the path and a dist-info whose entry points
    are the ones its pyproject.toml declares."""
    site = tmp_path / "site"
    dist = site / "harness_arithmetic_example-0.1.0.dist-info"
    dist.mkdir(parents=True)
    project = tomllib.loads((PLUGIN / "pyproject.toml").read_text())["project"]
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    groups = project["entry-points"]
    (dist / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in entries.items()) for group, entries in groups.items()))
    return {"PYTHONPATH": os.pathsep.join([str(site), str(PLUGIN)])}


def test_python_scenario_example_runs_through_its_entry_point(tmp_path: Path) -> None:
    env = plugin_env(tmp_path)
    done = run_cli("run", str(PLUGIN / "suite.yaml"), "--output", "out", "--no-site", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    db = tmp_path / "out" / "harness.db"
    (run_id, n), = query(db, "SELECT run_id, instances FROM runs WHERE scenario = 'arithmetic:count=50,digits=4'")
    assert n == 50
    rows = [(r["input"], r["references"], r["prompt_hash"]) for r in stored_instances(db, run_id)]
    for text, refs, _ in rows:
        a, b = (int(x) for x in text.removeprefix("What is ").removesuffix("?").split(" + "))
        assert 1000 <= a <= 9999 and 1000 <= b <= 9999
        assert json.loads(refs) == [[str(a + b), 1]]
    # chance answers generation with "": every instance scores 0
    assert query(db, "SELECT mean, count FROM run_stats WHERE run_id = ? AND metric = 'exact_match'", run_id) == [(0.0, 50)]
    listed = run_cli("list", "scenarios", cwd=tmp_path, env=env)
    line, = [x for x in listed.stdout.splitlines() if x.startswith("arithmetic ")]
    assert line.split()[1:4] == ["custom", "generation", "exact_match"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [chance]\nentries:\n  - scenario: arithmetic\n    args: {digits: 0}\n")
    failed = run_cli("run", str(bad), "--output", "out", cwd=tmp_path, env=env)
    assert failed.returncode == 2
    assert failed.stderr.strip() == (f"harness: error: {bad}:4: args: digits and count must be integers >= 1, "
                                     "got 0 and 100")


def test_list_scenarios_is_an_aligned_table_in_120_columns(tmp_path: Path) -> None:
    done = run_cli("list", "scenarios", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.rstrip("\n").split("\n")
    assert lines[0].split() == ["scenario", "data", "method", "main", "metric", "license", "source"]
    assert all(len(line) <= 120 for line in lines)
    columns = [lines[0].index(head) for head in ("data", "method", "main metric", "license", "source")]
    for line in lines[1:]:  # every cell starts under its column's head, after a blank
        assert all(line[c - 1] == " " and line[c] != " " for c in columns), line
        assert line[columns[0]:].split()[0] in ("full", "sample", "download", "custom")
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["gsm8k"][1:4] == ["full", "generation", "answer_number_match"]
    assert rows["hellaswag"][1:3] == ["sample", "multiple_choice_separate"]
    assert any(line.endswith("\u2026") for line in lines)  # a long source is cut with an ellipsis


def test_list_scenarios_json(capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import cmd_list
    from harness.scenarios.base import scenario_registry

    assert cmd_list(argparse.Namespace(what="scenarios", json=True, models_file=[])) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == set(scenario_registry())
    assert rows["arc_challenge"]["source"] == scenario_registry()["arc_challenge"].source  # not cut
    assert rows["mmlu"]["method"] == "multiple_choice_joint" and rows["mmlu"]["data"] == "full"

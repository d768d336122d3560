"""Expanders (harness.expand): lists and `each` in suite entries run the cross product as separate runs in one
column, model globs, their one-line errors, and the format-sensitivity report of a prompt-format sweep
(harness.format_sensitivity) on the text summary and the group page."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from conftest import run_cli

from harness.errors import HarnessError
from harness.format_sensitivity import format_sweep, kendall_tau, swept_prompt_fields
from harness.report import RunInfo, Score
from harness.run_spec import load_suite
from harness.scenarios.mmlu import SUBJECTS


def _suite(tmp_path: Path, body: str, models: str = "[chance]") -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(f"name: x\nmodels: {models}\nentries:\n{body}")
    return path


def test_each_subject_is_57_runs_in_one_column(tmp_path: Path) -> None:
    suite = load_suite(_suite(tmp_path, "  - scenario: mmlu\n    args: {subject: each}\n    shots: 5\n"))
    assert len(suite.run_specs) == 57 == len(SUBJECTS)
    assert [s.scenario_args["subject"] for s in suite.run_specs] == list(SUBJECTS)
    assert {s.group for s in suite.run_specs} == {"mmlu"}
    assert [s.variant for s in suite.run_specs] == [(("subject", name),) for name in SUBJECTS]
    ids = [s.run_id("chance") for s in suite.run_specs]
    assert len(set(ids)) == 57 and all(f"subject={name}" in i for name, i in zip(SUBJECTS, ids))


def test_each_subject_end_to_end(tmp_path: Path) -> None:
    """57 runs, planned and run at --max-instances 1, one leaderboard column over all 57 instances, 57 parts."""
    _suite(tmp_path, "  - scenario: mmlu\n    args: {subject: each}\n    shots: 5\n")
    proc = run_cli("run", "suite.yaml", "--max-instances", "1", "--output", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^57 runs, 57 requests", proc.stdout, re.M), proc.stdout
    header = proc.stdout.splitlines()[0]
    assert header.split()[-2:] == ["mmlu", "(exact_match)"], header
    page = (tmp_path / "out" / "site" / "x" / "groups" / "mmlu.html").read_text()
    parts = re.search(r'<section id="parts">(.*?)</section>', page, re.S)
    assert parts is not None and len(re.findall(r'<th scope="row" data-value="subject=', parts.group(1))) == 57
    assert "Format sensitivity" not in page  # subjects are no prompt formats


def test_lists_run_the_cross_product_named_by_their_values(tmp_path: Path) -> None:
    suite = load_suite(_suite(tmp_path, """  - scenario: mmlu
    args:
      subject: [anatomy, astronomy]
    shots: [0, 5]
    group: knowledge
  - scenario: mmlu
    args: {subject: astronomy}
    shots: 5
"""))
    expanded, plain = suite.run_specs[:4], suite.run_specs[4]
    assert [(s.scenario_args["subject"], s.adapter_spec.max_train_instances) for s in expanded] == [
        ("anatomy", 0), ("anatomy", 5), ("astronomy", 0), ("astronomy", 5)]
    assert expanded[1].variant == (("subject", "anatomy"), ("shots", "5"))
    assert {s.group for s in expanded} == {"knowledge"}
    assert "subject=anatomy" in expanded[1].run_id("m") and "5shot" in expanded[1].run_id("m")
    # an expanded run is the same run as the entry written by hand: it shares its stored results
    assert expanded[3].run_id("m") == plain.run_id("m") and plain.variant == ()


def test_a_prompt_field_list_names_each_format(tmp_path: Path) -> None:
    suite = load_suite(_suite(tmp_path, """  - scenario: boolq
    output_prefix:
      - "Answer: "
      - "A: "
"""))
    first, second = suite.run_specs
    assert (first.adapter_spec.output_prefix, second.adapter_spec.output_prefix) == ("Answer: ", "A: ")
    assert first.variant == (("output_prefix", '"Answer: "'),)
    assert "output_prefix=" in first.run_id("m") and first.run_id("m") != second.run_id("m")


def test_defaults_lists_expand_every_entry(tmp_path: Path) -> None:
    path = tmp_path / "suite.yaml"
    path.write_text("name: x\ndefaults:\n  shots: [0, 1]\nentries:\n  - scenario: boolq\n  - scenario: arc_easy\n")
    specs = load_suite(path).run_specs
    assert [(s.scenario, s.adapter_spec.max_train_instances) for s in specs] == [
        ("boolq", 0), ("boolq", 1), ("arc_easy", 0), ("arc_easy", 1)]


def test_other_scenarios_declare_their_values(tmp_path: Path) -> None:
    from harness.scenarios.base import scenario_class

    assert scenario_class("legalbench").argument_values("task") == (
        "abercrombie", "corporate_lobbying", "international_citizenship_questions", "function_of_decision_section",
        "proa")
    assert scenario_class("mt_bench").argument_values("category")[:2] == ("writing", "roleplay")
    assert scenario_class("boolq").argument_values("subject") is None
    specs = load_suite(_suite(tmp_path, "  - scenario: legalbench\n    args: {task: each}\n")).run_specs
    assert [s.scenario_args["task"] for s in specs] == list(scenario_class("legalbench").argument_values("task"))


BAD = [
    # (entry body, line, field, words)
    ("  - scenario: mmlu\n    args:\n      subject:\n        - anatomy\n        - astronomyy\n", 8, "subject",
     "unknown MMLU subject 'astronomyy'"),
    ("  - scenario: mmlu\n    args: {subject: [anatomy, nope]}\n", 5, "subject", "unknown MMLU subject 'nope'"),
    ("  - scenario: mmlu\n    shots: []\n", 5, "shots", "an empty list expands to no runs"),
    ("  - scenario: mmlu\n    args: {subject: []}\n", 5, "subject", "an empty list expands to no runs"),
    ("  - scenario: wmt14\n    args: {pair: each}\n", 5, "pair", "declares none for it"),
    ("  - scenario: boolq\n    args: {subject: each}\n", 5, "args", "scenario 'boolq' has no arg 'subject'"),
    ("  - scenario: boolq\n    shots: each\n", 5, "shots", "`each` expands only a scenario arg"),
    ("  - scenario: boolq\n    max_instances: [2, 4]\n", 5, "max_instances", "takes one value"),
    ("  - scenario: boolq\n    group: [a, b]\n", 5, "group", "takes one value"),
    ("  - scenario: boolq\n    shots:\n      - 0\n      - 0\n", 7, "shots", "0 is listed twice"),
    ("  - scenario: boolq\n    shots:\n      - 0\n      - five\n", 7, "shots", "expected int, got 'five'"),
    ("  - scenario: boolq\n    shots: [[0, 1]]\n", 5, "shots", "holds single values"),
]


@pytest.mark.parametrize(("body", "line", "field", "words"), BAD)
def test_bad_expanders_are_one_line_errors(tmp_path: Path, body: str, line: int, field: str, words: str) -> None:
    path = _suite(tmp_path, body)
    with pytest.raises(HarnessError) as caught:
        load_suite(path)
    error = caught.value
    assert (error.path, error.line, error.field) == (str(path), line, field) and words in error.message
    assert "\n" not in error.one_line()


def test_bad_expander_through_the_cli(tmp_path: Path) -> None:
    _suite(tmp_path, "  - scenario: mmlu\n    args:\n      subject:\n        - anatomy\n        - nope\n")
    proc = run_cli("run", "suite.yaml", "--output", "out", cwd=tmp_path)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("harness: error: suite.yaml:8: subject: unknown MMLU subject 'nope'")
    assert not (tmp_path / "out" / "harness.db").exists()


def test_each_subject_reads_mmlu_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Planning `subject: each` makes 57 scenarios and asks each for its rows: MMLU's 14k test rows are decoded
    once for all of them, not once per subject."""
    from harness.scenarios import jsonl, mmlu
    from harness.scenarios.base import make_scenario

    decoded = 0
    real = jsonl._decode

    def counting(*args: object) -> object:
        nonlocal decoded
        decoded += 1
        return real(*args)

    monkeypatch.setattr(jsonl, "_decode", counting)
    if hasattr(mmlu, "_by_subject"):
        monkeypatch.setattr(mmlu, "_by_subject", {})
    sizes = [len(make_scenario("mmlu", {"subject": s}).split("test")) for s in SUBJECTS]
    assert sum(sizes) == 14042 and sizes[SUBJECTS.index("anatomy")] == 135
    assert decoded <= 14042 + 100, decoded


# --- model globs ---------------------------------------------------------------------------------------------------

def _models(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "models.yaml"
    path.write_text("".join(f"- {{name: local/{m}, client: openai-compatible, model: {m}, base_url: '{url}', "
                            "api: completions}\n" for m in ("m1", "m2")))
    return path


def test_model_globs(tmp_path: Path, stub_factory) -> None:  # noqa: ANN001
    stub = stub_factory("--latency", "0", "--answers-by-model")
    models = _models(tmp_path, stub.base_url)
    _suite(tmp_path, "  - {scenario: boolq, max_instances: 3}\n", models='["local/*", chance]')
    proc = run_cli("run", "suite.yaml", "--models-file", str(models), "--output", "out", "--no-site", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    board = [line.split()[0] for line in proc.stdout.splitlines()[1:4]]
    assert sorted(board) == ["chance", "local/m1", "local/m2"]
    proc = run_cli("run", "suite.yaml", "--models", "local/m?", "--models-file", str(models), "--output", "out",
                   "--no-site", cwd=tmp_path)
    assert proc.returncode == 0 and "local/m2" in proc.stdout and "chance" not in proc.stdout, proc.stderr

    proc = run_cli("run", "suite.yaml", "--models", "nobody/*", "--models-file", str(models), "--output", "out",
                   cwd=tmp_path)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "--models: model pattern 'nobody/*' matches no deployment" in proc.stderr
    (tmp_path / "suite.yaml").write_text("name: x\nmodels:\n  - chance\n  - stub/*\nentries:\n  - scenario: boolq\n")
    proc = run_cli("run", "suite.yaml", "--output", "out", cwd=tmp_path)
    assert proc.returncode == 2 and "suite.yaml:4: models: model pattern 'stub/*' matches no deployment" in proc.stderr


# --- format sensitivity --------------------------------------------------------------------------------------------

def _run(model: str, prefix: str, mean: float, count: int = 10, subject: str = "anatomy",
         lower: bool = False) -> RunInfo:
    spec = {"method": "multiple_choice_joint", "max_train_instances": 0, "output_prefix": prefix}
    return RunInfo(f"{model}-{prefix}-{subject}", model, f"mmlu:subject={subject}", "mmlu", "multiple_choice_joint",
                   "exact_match", spec, {"exact_match": Score("exact_match", mean, 0, 1, count, lower)}, count, 0, 0)


def test_a_flip_between_formats() -> None:
    runs = [_run("m1", "A: ", 0.8), _run("m2", "A: ", 0.5), _run("m1", "Answer: ", 0.6), _run("m2", "Answer: ", 0.4),
            _run("m1", "=> ", 0.3), _run("m2", "=> ", 0.7)]
    sweep = format_sweep("mmlu", runs, ["m1", "m2"])
    assert sweep is not None and len(sweep.formats) == 3
    spread = sweep.spreads["m1"]
    assert (spread.low, spread.high, spread.worst, spread.best) == (0.3, 0.8, 'output_prefix="=> "',
                                                                   'output_prefix="A: "')
    assert math.isclose(spread.range, 0.5)
    (flip,) = sweep.flips
    assert (flip.first, flip.second) == ("m1", "m2")
    assert flip.first_ahead == ('output_prefix="A: "', 'output_prefix="Answer: "')
    assert flip.second_ahead == ('output_prefix="=> "',)
    assert sweep.min_tau == (-1.0, ('output_prefix="A: "', 'output_prefix="=> "'))
    assert sweep.rankings['output_prefix="=> "'] == ["m2", "m1"]


def test_no_flip_and_lower_is_better() -> None:
    runs = [_run("m1", "A: ", 0.2, lower=True), _run("m2", "A: ", 0.5, lower=True),
            _run("m1", "B: ", 0.4, lower=True), _run("m2", "B: ", 0.9, lower=True)]
    sweep = format_sweep("g", runs, ["m1", "m2"])
    assert sweep is not None and sweep.flips == [] and sweep.min_tau == (1.0, ('output_prefix="A: "',
                                                                               'output_prefix="B: "'))
    assert sweep.spreads["m1"].best == 'output_prefix="A: "' and sweep.rankings['output_prefix="B: "'] == ["m1", "m2"]
    assert sweep.order('output_prefix="A: "') == "m1 > m2"
    tied = format_sweep("g", [*runs, _run("m3", "A: ", 0.5, lower=True)], ["m1", "m2", "m3"])
    assert tied is not None and tied.order('output_prefix="A: "') in ("m1 > m2 = m3", "m1 > m3 = m2")


def test_a_format_score_is_over_its_instances() -> None:
    """Formats crossed with subjects: a format's score pools its subjects' instances."""
    runs = [_run("m1", "A: ", 1.0, 10, "anatomy"), _run("m1", "A: ", 0.0, 30, "virology"),
            _run("m1", "B: ", 0.5, 10, "anatomy"), _run("m1", "B: ", 0.5, 30, "virology")]
    sweep = format_sweep("g", runs, ["m1"])
    assert sweep is not None and sweep.scores[("m1", 'output_prefix="A: "')] == 0.25
    assert sweep.scores[("m1", 'output_prefix="B: "')] == 0.5


def test_a_prefix_that_comes_with_another_setting_is_no_sweep() -> None:
    """LegalBench's answer prefix is its task's: `task: each` differs in output_prefix, but no format was swept."""
    runs = [_run("m1", "Type: ", 0.5, subject="a"), _run("m1", "Answer: ", 0.5, subject="b")]
    assert swept_prompt_fields(runs) == [] and format_sweep("g", runs, ["m1"]) is None


def test_kendall_tau() -> None:
    assert kendall_tau({"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 2, "c": 3}) == 1.0
    assert kendall_tau({"a": 1, "b": 2, "c": 3}, {"a": 3, "b": 2, "c": 1}) == -1.0
    assert math.isclose(kendall_tau({"a": 1, "b": 2, "c": 3}, {"a": 2, "b": 1, "c": 3}), 1 / 3)
    assert math.isnan(kendall_tau({"a": 1}, {"a": 2}))


# The stub answers a letter (its choice a hash of the prompt and the model) to a prompt ending in "Answer:"
FORMATS = ["Answer: ", "Final Answer: ", "The Answer: ", "Correct Answer: "]


def test_format_sweep_end_to_end(tmp_path: Path, stub_factory) -> None:  # noqa: ANN001
    """Four answer prefixes x two subjects on two stub models that answer differently and chance: one column, eight
    parts per model, each model's spread across the formats and whether the order flips, in the text summary and on
    the group page, all as the stored runs say."""
    stub = stub_factory("--latency", "0", "--answers-by-model")
    models = _models(tmp_path, stub.base_url)
    prefixes = "".join(f"      - {p!r}\n" for p in FORMATS)
    _suite(tmp_path, f"""  - scenario: mmlu
    args: {{subject: [anatomy, astronomy]}}
    max_instances: 12
    output_prefix:
{prefixes}""", models='["local/*", chance]')
    proc = run_cli("run", "suite.yaml", "--models-file", str(models), "--output", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr

    from harness.store.store import open_store
    from harness.summary import build_report

    store = open_store(f"sqlite:///{tmp_path / 'out' / 'harness.db'}")
    try:
        report = build_report(store, "x")
    finally:
        store.close()
    assert [c.group for c in report.leaderboard.columns] == ["mmlu"] and len(report.runs) == 3 * 8
    # the column: every part's instances together
    for model in ("local/m1", "local/m2", "chance"):
        mine = [r for r in report.runs if r.model == model]
        pooled = sum(r.scores["exact_match"].mean * r.instances for r in mine) / sum(r.instances for r in mine)
        assert math.isclose(report.leaderboard.cells[(model, "mmlu")].mean, pooled)
        assert report.leaderboard.cells[(model, "mmlu")].count == 8 * 12

    # each format's score for each model, from the runs, and from those the expected spreads and flips
    def fmt(run: RunInfo) -> str:
        return f'output_prefix="{run.adapter_spec["output_prefix"]}"'

    score = {}
    for model in ("local/m1", "local/m2", "chance"):
        for prefix in FORMATS:
            mine = [r for r in report.runs if r.model == model and fmt(r) == f'output_prefix="{prefix}"']
            assert len(mine) == 2
            score[(model, prefix)] = sum(r.scores["exact_match"].mean for r in mine) / 2  # 12 instances each
    assert len({score[("local/m1", p)] for p in FORMATS} | {score[("local/m2", p)] for p in FORMATS}) > 1
    text = proc.stdout
    assert "format sensitivity: mmlu (exact_match, 4 formats)" in text
    for model in ("local/m1", "local/m2", "chance"):
        values = [score[(model, p)] for p in FORMATS]
        row = next(line for line in text.splitlines() if line.startswith(model + " ") and "output_prefix=" in line)
        assert row.split()[1:4] == [f"{min(values):.3f}", f"{max(values):.3f}", f"{max(values) - min(values):.3f}"]
    flips = any(score[(a, p)] > score[(b, p)] and score[(a, q)] < score[(b, q)]
                for a in ("local/m1", "local/m2", "chance") for b in ("local/m1", "local/m2", "chance")
                for p in FORMATS for q in FORMATS)
    verdict = "order flips between formats: yes" if flips else "order flips between formats: no"
    assert verdict in text

    page = (tmp_path / "out" / "site" / "x" / "groups" / "mmlu.html").read_text()
    assert "Format sensitivity" in page and verdict in page
    parts = re.search(r'<section id="parts">(.*?)</section>', page, re.S)
    assert parts is not None
    labels = re.findall(r'<th scope="row" data-value="([^"]*)">', parts.group(1))
    assert len(labels) == 8 and "subject=anatomy, output_prefix=&#34;The Answer: &#34;" in labels
    assert parts.group(1).count('<td class="num score') == 8 * 3

"""`harness summarize --format`, `harness export` and the site's table files, on stores built through the real CLI
(tests/results_stores.py)."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest

from conftest import run_cli
from results_stores import run_suite, start_answering_stub, write_models, write_suite


@pytest.fixture()
def three_suites(tmp_path: Path) -> Path:
    """One store, three suites (chance on the alpha/beta suite under three names, run one after another)."""
    folder = tmp_path / "suites"
    for name, n in (("first", 3), ("second", 2), ("third", 1)):
        suite = write_suite(folder, suite=name)
        run_suite(suite, tmp_path / "out", None, "--models", "chance", "--max-instances", str(n))
    return tmp_path / "out"


def summarize(out: Path, *args: str) -> str:
    done = run_cli("summarize", "--output", str(out), *args, cwd=out.parent)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_summarize_prints_every_suite_under_its_name(three_suites: Path) -> None:
    text = summarize(three_suites)
    assert [line for line in text.splitlines() if line.startswith("suite: ")] == [
        "suite: first", "suite: second", "suite: third"]
    assert text.count("alpha (exact_match)") == 3
    only = summarize(three_suites, "--suite", "second")
    assert only.startswith("suite: second\n") and "suite: first" not in only and "suite: third" not in only


def test_summarize_formats_hold_the_stored_scores(three_suites: Path) -> None:
    with sqlite3.connect(three_suites / "harness.db") as conn:
        stored = {(suite, scenario): (mean, low, high, count)
                  for suite, scenario, mean, low, high, count in conn.execute(
                      "SELECT suite, scenario, mean, ci_low, ci_high, count FROM run_scores "
                      "WHERE metric = 'exact_match'")}
    assert len(stored) == 6
    rows = list(csv.DictReader(io.StringIO(summarize(three_suites, "--format", "csv"))))
    accuracy = {(r["suite"], r["group"]): (float(r["mean"]), float(r["ci_low"]), float(r["ci_high"]), int(r["count"]))
                for r in rows if r["table"] == "accuracy"}
    assert accuracy == stored
    data = json.loads(summarize(three_suites, "--format", "json"))
    assert [s["suite"] for s in data["suites"]] == ["first", "second", "third"]
    table = data["suites"][1]["tables"][0]
    assert table["name"] == "accuracy" and [c["group"] for c in table["columns"]] == ["alpha", "beta"]
    cell = table["rows"][0]["cells"]["beta"]
    assert (cell["mean"], cell["ci_low"], cell["ci_high"], cell["count"]) == stored[("second", "beta")]
    markdown = summarize(three_suites, "--format", "markdown", "--suite", "third")
    assert markdown.startswith("## third\n\n### accuracy\n\n"
                               "| model | win rate | alpha (exact_match) | beta (exact_match) |")
    assert "| chance |" in markdown


def test_summarize_of_an_unknown_suite_is_one_line(three_suites: Path) -> None:
    done = run_cli("summarize", "--output", str(three_suites), "--suite", "nope", cwd=three_suites.parent)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "no suite 'nope'" in done.stderr and "first, second, third" in done.stderr


@pytest.fixture()
def stub_store(tmp_path: Path, stub_factory) -> Path:
    """alpha and beta (three instances each) on the stub, which answers every request the same."""
    stub = start_answering_stub(stub_factory, tmp_path)
    folder = tmp_path / "suite"
    suite = write_suite(folder)
    run_suite(suite, tmp_path / "out", write_models(folder, stub))
    return tmp_path / "out"


def export(out: Path, *args: str) -> str:
    done = run_cli("export", "--output", str(out), *args, cwd=out.parent)
    assert done.returncode == 0, done.stderr
    return done.stdout


def read_table(path: Path) -> list[dict]:
    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


def _nested(value: object) -> object:
    """A nested value as the format holds it: JSON text in CSV and Parquet, itself in JSON lines."""
    return json.loads(value) if isinstance(value, str) else value


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_export_writes_each_table_with_everything_stored(stub_store: Path, fmt: str) -> None:
    to = stub_store.parent / "export"
    printed = export(stub_store, "--to", str(to), "--format", fmt)
    assert sorted(p.name for p in to.iterdir()) == sorted(f"{t}.{fmt}" for t in ("runs", "scores", "instances",
                                                                                   "requests"))
    db = sqlite3.connect(stub_store / "harness.db")
    runs = read_table(to / f"runs.{fmt}")
    assert sorted(r["run_id"] for r in runs) == sorted(r for (r,) in db.execute("SELECT run_id FROM runs"))
    record = _nested(runs[0]["record"])
    assert record["command"]["argv"][3] == "run" and record["deployment"]["name"] == "stub"
    scores = read_table(to / f"scores.{fmt}")
    stored = db.execute("SELECT run_id, metric, mean, ci_low, ci_high FROM run_stats").fetchall()
    assert sorted((s["run_id"], s["metric"], float(s["mean"]), float(s["ci_low"]), float(s["ci_high"]))
                  for s in scores) == sorted(stored)
    instances = read_table(to / f"instances.{fmt}")
    prompts = dict(db.execute("SELECT hash, text FROM prompts"))
    stored_instances = {(run_id, instance_id): (prompt_hash, json.loads(stats), json.loads(refs))
                        for run_id, instance_id, prompt_hash, stats, refs in db.execute(
                            'SELECT run_id, instance_id, prompt_hash, stats, "references" FROM instances')}
    assert len(instances) == len(stored_instances) == 6
    for row in instances:
        prompt_hash, stats, refs = stored_instances[(row["run_id"], row["instance_id"])]
        assert row["prompt"] == prompts[prompt_hash] and row["prompt"].startswith("Q: ")  # whole, as sent
        assert _nested(row["references"]) == refs
        assert float(row["metric.exact_match"]) == stats["exact_match"] == 1.0
        assert float(row["metric.prompt_tokens"]) == stats["prompt_tokens"]
        assert row["prediction"] == "Paris"
    requests = read_table(to / f"requests.{fmt}")
    keys = {k for (keys,) in db.execute("SELECT request_keys FROM instances") for k in json.loads(keys)}
    assert sorted(r["key"] for r in requests) == sorted(keys)
    assert all(_nested(r["completions"]) == ["Paris"] and r["prompt"] in prompts.values() for r in requests)
    assert f"instances: 6 rows -> {to / f'instances.{fmt}'}" in printed


def test_export_of_one_suite_leaves_the_others_out(three_suites: Path) -> None:
    to = three_suites.parent / "export"
    export(three_suites, "--to", str(to), "--suite", "second", "--format", "jsonl")
    assert {r["suite"] for r in read_table(to / "runs.jsonl")} == {"second"}
    instances = read_table(to / "instances.jsonl")
    assert len(instances) == 4 and {r["suite"] for r in instances} == {"second"}
    assert len(read_table(to / "requests.jsonl")) == len({k for r in instances for k in r["request_keys"]})


def test_parquet_without_pyarrow_is_one_line_and_writes_nothing(three_suites: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "no_pyarrow"
    (blocker / "pyarrow").mkdir(parents=True)
    (blocker / "pyarrow" / "__init__.py").write_text("raise ImportError('pyarrow is not installed (test)')\n")
    import os

    path = os.pathsep.join([str(blocker), os.environ.get("PYTHONPATH", "")])
    done = run_cli("export", "--output", str(three_suites), "--to", str(tmp_path / "x"), "--format", "parquet",
                   cwd=tmp_path, env={"PYTHONPATH": path})
    assert done.returncode == 2, done.stderr
    assert done.stderr == "harness: error: --format: parquet needs pyarrow: pip install 'harness[results]'\n"
    assert not (tmp_path / "x").exists()


def test_export_of_a_folder_without_a_store_is_one_line(tmp_path: Path) -> None:
    done = run_cli("export", "--output", str(tmp_path / "none"), "--to", str(tmp_path / "x"), cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "no store here" in done.stderr
    assert not (tmp_path / "none").exists()


def test_the_site_has_a_csv_and_a_json_file_per_table(stub_store: Path) -> None:
    done = run_cli("site", "--output", str(stub_store), cwd=stub_store.parent)
    assert done.returncode == 0, done.stderr
    site = stub_store / "site" / "mini"
    board = list(csv.DictReader(io.StringIO((site / "leaderboard.csv").read_text(encoding="utf-8"))))
    accuracy = [(r["model"], r["group"], r["metric"], float(r["mean"])) for r in board if r["table"] == "accuracy"]
    assert accuracy == [("stub", "alpha", "exact_match", 1.0), ("stub", "beta", "exact_match", 1.0)]
    data = json.loads((site / "leaderboard.json").read_text(encoding="utf-8"))
    assert data["suite"] == "mini" and data["tables"][0]["rows"][0]["cells"]["alpha"]["count"] == 3
    for group in ("alpha", "beta"):
        assert (site / "groups" / f"{group}.html").is_file()
        rows = list(csv.DictReader(io.StringIO((site / "groups" / f"{group}.csv").read_text(encoding="utf-8"))))
        main = [r for r in rows if r["is_main"] == "True"]
        assert [(r["model"], r["metric"], float(r["mean"])) for r in main] == [("stub", "exact_match", 1.0)]
        assert {r["metric"] for r in rows} >= {"exact_match", "latency_s", "prompt_tokens"}
        group_json = json.loads((site / "groups" / f"{group}.json").read_text(encoding="utf-8"))
        assert group_json["group"] == group and group_json["runs"][0]["scores"]["exact_match"]["mean"] == 1.0


def test_export_summarize_diff_and_frames_read_any_database(db_url: str, tmp_path: Path) -> None:
    """The same reading on SQLite and PostgreSQL: a store given by --db / db=."""
    from harness.results import instances_df, runs_df

    suite = write_suite(tmp_path / "suite")
    done = run_cli("run", str(suite), "--models", "chance", "--db", db_url, "--no-site", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    export(tmp_path, "--db", db_url, "--to", str(tmp_path / "export"), "--format", "jsonl")
    runs = read_table(tmp_path / "export" / "runs.jsonl")
    assert len(runs) == 2 and all(r["record"]["deployment"]["name"] == "chance" for r in runs)
    assert len(read_table(tmp_path / "export" / "instances.jsonl")) == 6
    assert len(read_table(tmp_path / "export" / "requests.jsonl")) == 6
    assert "suite: mini" in run_cli("summarize", "--db", db_url, cwd=tmp_path).stdout
    same = run_cli("diff", db_url, db_url, cwd=tmp_path)
    assert same.returncode == 0 and same.stdout.endswith("no differences\n"), same.stderr
    assert sorted(runs_df(db=db_url).scenario) == ["alpha", "beta"]
    frame = instances_df(db_url)
    assert len(frame) == 6 and frame.prompt.str.startswith("Q: ").all()


def test_csv_and_json_reach_a_terminal_escaped_and_a_pipe_as_they_are() -> None:
    from harness.export import for_terminal

    class Stream:
        def __init__(self, tty: bool) -> None:
            self.tty = tty

        def isatty(self) -> bool:
            return self.tty

    text = 'model,mean\n"ev\x1b[31mil\u202e",0.5'
    assert for_terminal(text, Stream(False)) == text
    shown = for_terminal(text, Stream(True))
    assert "\x1b" not in shown and "\u202e" not in shown and shown.splitlines()[1] == '"ev\\x1b[31mil\\u202e",0.5'

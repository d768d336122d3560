"""The reproduce record stored with each run (table run_records, harness.provenance): what it holds, that it holds
no secret, that its entry YAML makes the same run again, and that a version-4 store gains the table."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
from datetime import datetime
from pathlib import Path

import numpy
import pytest

from conftest import ROOT, run_cli
from harness.clients.deployment import ModelDeployment
from harness.provenance import _masked, deployment_settings, git_commit
from results_stores import run_suite, start_answering_stub, write_models, write_suite

SECRET = "sk-test-0123456789abcdef-secret"


def records(db: Path) -> dict[str, dict]:
    with sqlite3.connect(db) as conn:
        runs = dict(conn.execute("SELECT run_id, scenario FROM runs").fetchall())
        return {runs[run_id]: json.loads(record)
                for run_id, record in conn.execute("SELECT run_id, record FROM run_records").fetchall()}


def test_each_run_stores_how_it_was_made_and_no_secret(tmp_path: Path, stub_factory) -> None:
    stub = stub_factory("--api-key", SECRET, "--latency", "0")
    folder = tmp_path / "suite"
    suite = write_suite(folder)
    models = write_models(folder, stub, extra="  api_key_env: RESULTS_TEST_KEY\n")
    out = tmp_path / "out"
    done = run_cli("run", str(suite), "--models-file", str(models), "--output", str(out), "--no-site",
                   cwd=folder, env={"RESULTS_TEST_KEY": SECRET})
    assert done.returncode == 0, done.stderr
    found = records(out / "harness.db")
    assert set(found) == {"alpha", "beta"}
    record = found["alpha"]

    assert record["command"]["argv"] == [sys.executable, "-m", "harness", "run", str(suite), "--models-file",
                                         str(models), "--output", str(out), "--no-site"]
    assert record["command"]["cwd"] == str(folder)
    assert record["suite"] == {"name": "mini", "path": str(suite.resolve()),
                               "sha256": hashlib.sha256(suite.read_bytes()).hexdigest()}
    assert record["deployment"]["api_key_env"] == "RESULTS_TEST_KEY"
    assert record["deployment"]["base_url"] == stub.base_url and record["deployment"]["price_input_per_mtok"] == 1.0
    assert record["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert record["packages"]["numpy"] == numpy.__version__
    assert record["harness"]["version"]
    if (ROOT / ".git").exists():  # run from a checkout: HEAD's commit, and whether tracked files changed
        head = git_commit(ROOT)
        assert record["harness"]["git"]["commit"] == head and len(head) == 40
        assert record["harness"]["git"]["dirty"] in (True, False)
    # a custom scenario's files, with their digests
    assert [(Path(f["path"]).resolve(), f["sha256"]) for f in record["data_files"]] == [
        ((folder / name).resolve(), hashlib.sha256((folder / name).read_bytes()).hexdigest())
        for name in ("alpha.yaml", "alpha.jsonl")]
    assert record["seeds"] == {"seed": 0}
    started, ended = (datetime.fromisoformat(record[k]) for k in ("started_at", "ended_at"))
    assert started <= ended
    # the key's value is nowhere in the store, its name is
    raw = (out / "harness.db").read_bytes() + b"".join(p.read_bytes() for p in out.glob("harness.db-*"))
    assert SECRET.encode() not in raw
    assert b"RESULTS_TEST_KEY" in raw


def test_the_entry_yaml_runs_the_same_run_again(tmp_path: Path) -> None:
    """A shipped scenario's record: its data files are the shipped ones with checksums.json's digests, and its entry
    YAML, put in a suite, gives the same run id, fingerprint and scores."""
    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\nmodels: [chance]\nentries:\n  - scenario: mmlu\n    method: multiple_choice_joint\n"
                     "    shots: 2\n    max_instances: 6\n    stop: [\"\\n\\n\", \"Q:\"]\n")
    run_suite(suite, tmp_path / "out")
    (record,) = records(tmp_path / "out" / "harness.db").values()
    sums = json.loads((ROOT / "harness" / "scenarios" / "data" / "checksums.json").read_text())
    assert record["data_files"] == [{"path": p, "shipped": True, "sha256": sums[p]}
                                    for p in ("mmlu/train.jsonl.gz", "mmlu/test.jsonl.gz")]
    again = tmp_path / "again.yaml"
    entry = "".join("    " + line + "\n" for line in record["entry_yaml"].splitlines())
    again.write_text("name: again\nmodels: [chance]\nentries:\n  -\n" + entry)
    run_suite(again, tmp_path / "out2")
    one, two = (sqlite3.connect(tmp_path / out / "harness.db") for out in ("out", "out2"))
    with one, two:
        sql = "SELECT r.run_id, r.fingerprint, s.metric, s.mean FROM runs r JOIN run_stats s ON s.run_id = r.run_id " \
              "WHERE s.metric = 'exact_match'"
        assert one.execute(sql).fetchall() == two.execute(sql).fetchall()
        specs = "SELECT adapter_spec FROM runs"
        assert one.execute(specs).fetchall() == two.execute(specs).fetchall()


def test_a_rerun_that_reuses_a_run_keeps_its_record_and_one_that_evaluates_replaces_it(tmp_path: Path) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\nmodels: [chance]\nentries:\n  - scenario: boolq\n    max_instances: 3\n")
    run_suite(suite, tmp_path / "out")
    first = records(tmp_path / "out" / "harness.db")["boolq"]
    run_suite(suite, tmp_path / "out")  # everything reused: nothing evaluated, the record stays
    assert records(tmp_path / "out" / "harness.db")["boolq"] == first
    suite.write_text(suite.read_text() + "description: changed\n")  # the same runs, another suite file
    with sqlite3.connect(tmp_path / "out" / "harness.db") as conn:
        conn.execute("UPDATE runs SET fingerprint = 'stale'")  # as if the code had changed: evaluated again
    run_suite(suite, tmp_path / "out")
    second = records(tmp_path / "out" / "harness.db")["boolq"]
    assert second["started_at"] > first["started_at"]
    assert second["suite"]["sha256"] == hashlib.sha256(suite.read_bytes()).hexdigest() != first["suite"]["sha256"]


def test_a_version_4_store_gains_the_table_and_keeps_its_runs(tmp_path: Path) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\nmodels: [chance]\nentries:\n  - scenario: boolq\n    max_instances: 3\n")
    run_suite(suite, tmp_path / "out")
    db = tmp_path / "out" / "harness.db"
    with sqlite3.connect(db) as conn:  # as version 4 wrote it
        conn.execute("DROP TABLE run_records")
        conn.execute("UPDATE harness_meta SET value = '4' WHERE key = 'schema_version'")
        runs = conn.execute("SELECT * FROM runs").fetchall()
    done = run_cli("summarize", "--output", str(tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT value FROM harness_meta WHERE key = 'schema_version'").fetchall() == [("5",)]
        assert conn.execute("SELECT * FROM runs").fetchall() == runs
        assert conn.execute("SELECT count(*) FROM run_records").fetchall() == [(0,)]
    from harness.results import runs_df

    assert runs_df(tmp_path / "out")["record"].tolist() == [None]  # a run made before records were kept


@pytest.mark.parametrize("text,hidden", [
    ("postgresql://harness:hunter2secret@db.example:5432/h", "hunter2secret"),
    ("--db=postgresql://u:p4ssw0rd-long@host/db", "p4ssw0rd-long"),
])
def test_passwords_in_urls_are_masked(text: str, hidden: str) -> None:
    masked = _masked(text)
    assert hidden not in masked and ":***@" in masked


def test_deployment_settings_mask_a_url_password_and_hold_no_key() -> None:
    deployment = ModelDeployment(name="m", client="openai-compatible", base_url="https://user:topsecretpw@h/v1",
                                 base_urls=("https://a:anothersecret@r1/v1",), api_key_env="MY_KEY")
    settings = deployment_settings(deployment)
    text = json.dumps(settings)
    assert "topsecretpw" not in text and "anothersecret" not in text
    assert settings["api_key_env"] == "MY_KEY" and settings["base_url"] == "https://user:***@h/v1"


def test_the_run_page_shows_the_stored_record(tmp_path: Path) -> None:
    """The reproduce box on a run page comes from the record stored with the run: its command and its suite entry
    as YAML, line by line."""
    from conftest import run_cli

    (tmp_path / "suite.yaml").write_text("name: rec\nentries:\n  - scenario: mmlu\n    max_instances: 2\n")
    proc = run_cli("run", "suite.yaml", "--models", "chance", "--output", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (page,) = (tmp_path / "out" / "site" / "rec" / "runs").glob("*/index.html")
    text = page.read_text()
    assert "run suite.yaml --models chance --output out" in text and "<h3>Suite entry</h3>" in text
    assert "scenario: mmlu\nmethod: multiple_choice_joint" in text

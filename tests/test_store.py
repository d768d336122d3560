from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from harness.clients.request import Request, Result
from harness.errors import HarnessError
from harness.store.store import Store, open_store, sqlite_url


@pytest.fixture()
def store(tmp_path: Path) -> Store:
    return open_store(sqlite_url(tmp_path))


def row(key: str, result: Result) -> tuple:
    return (key, "dep", "model", Request(kind="generate", prompt=key).to_json(), result)


def test_sqlite_is_wal(store: Store, tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "harness.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_success_replaces_failure_but_nothing_replaces_success(store: Store) -> None:
    store.save_results([row("a", Result.failure("HTTP 500")), row("b", Result(ok=True, texts=["first"]))])
    assert set(store.completed(["a", "b", "c"])) == {"b"}
    assert store.results(["a"])["a"].error == "HTTP 500"
    store.save_results([row("a", Result(ok=True, texts=["fixed"])), row("b", Result(ok=True, texts=["second"]))])
    store.save_results([row("b", Result.failure("late failure"))])
    done = store.completed(["a", "b"])
    assert done["a"].texts == ["fixed"] and done["b"].texts == ["first"]


def test_completed_handles_many_keys(store: Store) -> None:
    store.save_results([row(f"k{i}", Result(ok=True, texts=[str(i)])) for i in range(1234)])
    found = store.completed([f"k{i}" for i in range(0, 1300)])
    assert len(found) == 1234 and found["k77"].texts == ["77"]


def _run(run_id: str, n: int, suite: str = "s") -> tuple[dict, list[dict], list[dict], list[dict]]:
    run = {"run_id": run_id, "suite": suite, "model": "m", "scenario": "sc", "group_name": "g", "method": "generation",
           "main_metric": "exact_match", "adapter_spec": "{}", "metrics": "[]", "instances": n, "failed_requests": 0,
           "truncated_instances": 0}
    instances = [{"run_id": run_id, "instance_id": f"i{i}", "position": i, "input": f"in{i}", "references": "[]",
                  "prompt": "p", "request_keys": json.dumps([f"k{i}"]), "prediction": "x", "outputs": "[]",
                  "fewshot_dropped": 0, "error": None} for i in range(n)]
    stats = [{"run_id": run_id, "instance_id": f"i{i}", "metric": "exact_match", "value": float(i % 2)} for i in range(n)]
    run_stats = [{"run_id": run_id, "metric": "exact_match", "mean": 0.5, "ci_low": 0.4, "ci_high": 0.6, "count": n, "lower_is_better": 0}]
    return run, instances, stats, run_stats


def test_save_run_replaces_and_streams_in_order(store: Store) -> None:
    store.save_run(*_run("r1", 10))
    store.save_run(*_run("r1", 2500))  # a rerun replaces the run's rows
    rows = list(store.iter_instances("r1", batch=1000))
    assert [r["position"] for r in rows] == list(range(2500))
    assert rows[3]["stats"] == {"exact_match": 1.0}
    assert len(store.runs("s")) == 1 and store.suites() == ["s"]
    assert store.run_stats("r1")[0]["count"] == 2500


@pytest.mark.parametrize("url,match", [
    ("notaurl", "bad database URL"),
    ("nosuchdialect://x/y", "bad database URL"),
    ("sqlite:////etc/passwd/x.db", "database"),
    ("postgresql+psycopg://u:p@127.0.0.1:1/db", "database"),
])
def test_bad_db_url_is_a_one_line_error(url: str, match: str) -> None:
    with pytest.raises(HarnessError, match=match) as info:
        open_store(url)
    assert "\n" not in info.value.one_line()


def test_prompts_stored_once_and_restored_exactly(store: Store) -> None:
    prompt = "Question: 2+2?\nAnswer:" * 50
    rows = [(f"k{i}", "dep", "model", Request(kind="logprob", prompt=prompt, continuation=f" {i}").to_json(),
             Result(ok=True, logprob=-1.0)) for i in range(4)]
    store.save_results(rows)
    store.save_results(rows[:1])  # idempotent
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM texts").scalar() == 1
        size = conn.exec_driver_sql("SELECT length(body) FROM texts").scalar()
    assert size < len(prompt) / 5  # compressed
    restored = store.request_rows(["k2"])["k2"]
    assert restored["request"] == rows[2][3]
    assert Request.from_json(restored["request"]).key("dep", "model") == Request(kind="logprob", prompt=prompt, continuation=" 2").key("dep", "model")

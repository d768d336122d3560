"""Crash safety and sharing, through the real CLI against a stub server, on SQLite and on PostgreSQL (`db_url`).

- `kill -9` of `harness run` at several moments, then the same command again: nothing stored is lost or corrupted,
  no request whose answer was stored is sent again, and the final results equal those of an uninterrupted run.
- Four `harness run` processes on one store and suite at once: no "database is locked", every request answered
  and stored once, the work split between them rather than done four times.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli
from stub_server import prompt_key

from harness.store.store import Store

SUITE = """\
name: crash
entries:
  - scenario: mmlu
    method: multiple_choice_joint
    shots: 2
    max_instances: {n}
"""


def _write_config(tmp: Path, base_url: str, concurrency: int, n: int) -> None:
    (tmp / "suite.yaml").write_text(SUITE.format(n=n))
    (tmp / "models.yaml").write_text(
        f"- name: local/stub\n  client: openai-compatible\n  base_url: {base_url}\n  model: stub-model\n"
        f"  max_concurrency: {concurrency}\n  max_attempts: 2\n")


def _args(db: str, output: str) -> list[str]:
    return ["run", "suite.yaml", "--models", "local/stub", "--models-file", "models.yaml", "--db", db, "--output", output]


def _popen(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "harness", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})


def _stored_prompts(db: str) -> dict[str, bool]:
    """stub prompt key -> ok, for every stored request."""
    store = Store(db)
    try:
        with store.db.connect() as conn:
            keys = [k for (k,) in conn.rows("SELECT key FROM requests")]
        rows = store.request_rows(keys)
    finally:
        store.close()
    return {prompt_key(row["request"]["prompt"]): bool(row["ok"]) for row in rows.values()}


def _outcome(db: str) -> dict[str, Any]:
    """What a run produced, without timings: each instance's prediction and the main score."""
    store = Store(db)
    try:
        (run,) = store.runs("crash")
        instances = {r["instance_id"]: (r["prediction"], r["stats"].get("exact_match")) for r in store.iter_instances(run["run_id"])}
        score = next(s["mean"] for s in store.run_stats(run["run_id"]) if s["metric"] == "exact_match")
        with store.db.connect() as conn:
            rows = conn.rows("SELECT key, ok FROM requests")
    finally:
        store.close()
    return {"instances": instances, "score": score, "requests": len(rows), "failed": sum(1 for _, ok in rows if not ok)}


def _check_integrity(db: str) -> None:
    if db.startswith("sqlite"):
        store = Store(db)
        try:
            with store.db.connect() as conn:
                assert conn.rows("PRAGMA integrity_check") == [("ok",)]
        finally:
            store.close()


# (concurrency, latency, instances, requests the server has had when each kill lands).
KILLS = {"concurrency-4": (4, 0.04, 300, (0, 20, 60, 40)), "concurrency-64": (64, 0.3, 900, (0, 150, 250, 200))}


@pytest.mark.parametrize("setting", list(KILLS))
def test_kill_9_at_several_moments_then_rerun(db_url: str, stub_factory: Any, tmp_path: Path, setting: str) -> None:
    concurrency, latency, n, moments = KILLS[setting]
    stub = stub_factory("--latency", str(latency), "--max-concurrency", "0")
    _write_config(tmp_path, stub.base_url, concurrency=concurrency, n=n)  # ~3-4 s of requests: kills land mid-run

    # The reference: the same suite, uninterrupted, in a store of its own.
    reference_db = f"sqlite:///{tmp_path}/reference.db"
    ref = run_cli(*_args(reference_db, "ref"), cwd=tmp_path)
    assert ref.returncode == 0, ref.stderr
    expected = _outcome(reference_db)
    sent_by_prompt = Counter(stub.stats()["requests_by_prompt"])

    stored_before: dict[str, bool] = {}
    # Moments: while starting up (before any request), then after the server has had so many of this process's
    # requests (its count, not a clock, so a slow machine moves the moments, not the test's meaning).
    for answers in moments:
        start = sum(stub.stats()["requests_by_prompt"].values())
        proc = _popen(_args(db_url, "out"), tmp_path)
        deadline = time.monotonic() + 60
        if answers == 0:
            time.sleep(0.2)
        while answers and sum(stub.stats()["requests_by_prompt"].values()) - start < answers and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proc.poll() is None, "the run ended before it was killed"
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        _check_integrity(db_url)
        counts = Counter(stub.stats()["requests_by_prompt"])
        resent = [p for p, ok in stored_before.items() if ok and counts[p] > sent_by_prompt[p]]
        assert not resent, f"{len(resent)} requests whose answers were stored were sent again"
        stored_now = _stored_prompts(db_url)
        assert all(stored_now.get(p) for p, ok in stored_before.items() if ok), "a stored answer was lost"
        stored_before, sent_by_prompt = stored_now, counts

    assert 0 < sum(stored_before.values()) < n, "the kills should land mid-run"
    final = run_cli(*_args(db_url, "out"), cwd=tmp_path)
    assert final.returncode == 0, final.stderr
    counts = Counter(stub.stats()["requests_by_prompt"])
    assert not [p for p, ok in stored_before.items() if ok and counts[p] > sent_by_prompt[p]]
    _check_integrity(db_url)
    assert _outcome(db_url) == expected


@pytest.mark.parametrize("concurrency", [8, 64], ids=lambda c: f"concurrency-{c}")
def test_four_processes_share_one_store(db_url: str, stub_factory: Any, tmp_path: Path, concurrency: int) -> None:
    # The first process to start claims up to 2.5x its concurrency at once (what its workers take and its queue
    # holds), then a piece each time answers make room. For the work to be split, the others must start before it
    # has claimed everything: at 64 in flight, more requests and slower answers give them ~1 s (on PostgreSQL a
    # process takes ~0.5 s to import SQLAlchemy and connect, longer when the four start at once on 2 cores).
    n = 400 if concurrency < 64 else 1000
    stub = stub_factory("--latency", "0.02" if concurrency < 64 else "0.2", "--max-concurrency", "0")
    _write_config(tmp_path, stub.base_url, concurrency=concurrency, n=n)
    procs = [_popen(_args(db_url, f"out{i}"), tmp_path) for i in range(4)]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err
        assert "locked" not in err.lower() and "0 failed" in out, (out, err)

    outcome = _outcome(db_url)
    distinct = len(_stored_prompts(db_url))
    assert outcome["requests"] == distinct and outcome["failed"] == 0  # each request stored once, all answered
    assert len(outcome["instances"]) == n  # the run saved whole (the four wrote the same run in turn)
    sent = sum(stub.stats()["requests_by_prompt"].values())
    per_process = [int(s) for out, _ in outputs for s in [out.split(" sent,")[0].rsplit(" ", 1)[-1]]]
    assert sum(per_process) == sent
    # The work was split: claims keep a request from being sent by two processes, except the few that one of them
    # takes over at its end because another had not answered them yet.
    print(f"four processes: {sent} sent for {distinct} distinct requests, per process {per_process}")
    assert sent <= distinct + 4 * concurrency, (sent, distinct, per_process)
    assert max(per_process) < distinct, per_process
    assert all(prediction for prediction, _ in outcome["instances"].values())

"""End to end through the real CLI against an OpenAI-compatible server on 127.0.0.1 (tests/stub_server.py)."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from pathlib import Path

import pytest

from conftest import run_cli

SUITE = """\
name: http-e2e
entries:
  - scenario: mmlu
    method: multiple_choice_joint
    shots: 5
    max_instances: 30
  - scenario: hellaswag
    method: multiple_choice_separate
    max_instances: 10
  - scenario: gsm8k
    shots: 2
    max_tokens: 32
    stop: ["\\n\\n"]
    max_instances: 10
"""


def models_file(tmp_path: Path, base_url: str, **extra: object) -> Path:
    fields = {"client": "openai-compatible", "base_url": base_url, "model": "stub-model", "max_concurrency": 8,
              "price_input_per_mtok": 1.0, "price_output_per_mtok": 2.0, **extra}
    path = tmp_path / "models.yaml"
    path.write_text("- name: local/stub\n" + "".join(f"  {k}: {v}\n" for k, v in fields.items()))
    return path


def test_run_then_rerun_sends_nothing(tmp_path: Path, stub_factory) -> None:
    stub = stub_factory("--latency", "0.005")
    (tmp_path / "suite.yaml").write_text(SUITE)
    models = models_file(tmp_path, stub.base_url)
    args = ("run", "suite.yaml", "--models", "local/stub", "--models-file", str(models), "--output", "out")
    first = run_cli(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    expected = 30 + 10 * 4 + 10  # joint: 1 per item; separate: 1 per choice; generation: 1 per item
    assert stub.stats()["total_requests"] == expected
    assert f"{expected} requests: {expected} sent, 0 from the store, 0 failed" in first.stdout
    site = Path(re.search(r"site: (\S+)", first.stdout).group(1))
    assert site.exists() and "local/stub" in site.read_text()

    second = run_cli(*args, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert stub.stats()["total_requests"] == expected  # nothing sent again
    assert f"{expected} requests: 0 sent, {expected} from the store" in second.stdout

    with sqlite3.connect(tmp_path / "out" / "harness.db") as conn:
        rows = conn.execute("SELECT request, ok, prompt_tokens, latency_s FROM requests").fetchall()
        assert len(rows) == expected
        assert all(ok == 1 and tokens and latency > 0 for _, ok, tokens, latency in rows)
        costs = conn.execute("SELECT mean FROM run_stats WHERE metric = 'cost_usd'").fetchall()
        assert costs and all(c > 0 for (c,) in costs)
        # the exact prompt sent is stored with each instance
        prompts = conn.execute("SELECT count(*) FROM instances i JOIN texts t ON t.hash = i.prompt_hash").fetchone()[0]
        assert prompts == 30 + 10 + 10


def test_failures_are_recorded_not_fatal_and_retried_on_rerun(tmp_path: Path, stub_factory) -> None:
    # Every prompt fails twice with HTTP 500; with 2 attempts each request fails, with 4 it succeeds.
    stub = stub_factory("--latency", "0", "--fail-first", "2")
    (tmp_path / "suite.yaml").write_text("entries:\n  - scenario: boolq\n    max_instances: 6\n")
    models = models_file(tmp_path, stub.base_url, max_attempts=2)
    args = ("run", "suite.yaml", "--models", "local/stub", "--models-file", str(models), "--output", "out")
    first = run_cli(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "6 failed" in first.stdout and "failed requests: local/stub: 6" in first.stdout
    assert "6 requests failed" in first.stderr
    with sqlite3.connect(tmp_path / "out" / "harness.db") as conn:
        errors = [e for (e,) in conn.execute("SELECT error FROM requests WHERE ok = 0")]
        assert len(errors) == 6 and all("HTTP 500" in e for e in errors)
    # Rerun: only the failed requests are sent again, and now they succeed (third attempt per prompt).
    sent_before = stub.stats()["total_requests"]
    second = run_cli(*args, cwd=tmp_path)
    assert second.returncode == 0
    assert "6 sent, 0 from the store, 0 failed" in second.stdout
    assert stub.stats()["total_requests"] - sent_before == 6


def test_auth_failure_stops_the_deployment_fast(tmp_path: Path, stub_factory) -> None:
    stub = stub_factory("--latency", "0", "--api-key", "right")
    (tmp_path / "suite.yaml").write_text("entries:\n  - scenario: mmlu\n    max_instances: 200\n")
    models = models_file(tmp_path, stub.base_url, api_key_env="STUB_KEY", max_concurrency=1)
    proc = run_cli("run", "suite.yaml", "--models", "local/stub", "--models-file", str(models), "--output", "out",
                   cwd=tmp_path, env={"STUB_KEY": "wrong"})
    assert proc.returncode == 0
    assert stub.stats()["total_requests"] == 1  # the first 401 stops every later request of the deployment
    with sqlite3.connect(tmp_path / "out" / "harness.db") as conn:
        errors = {e for (e,) in conn.execute("SELECT error FROM requests")}
        assert len(errors) == 1 and "authentication failed" in errors.pop()
        # the key itself is never written anywhere in the store
        assert not any("wrong" in str(v) for row in conn.execute("SELECT * FROM requests") for v in row)


def test_chat_deployment(tmp_path: Path, stub_factory) -> None:
    stub = stub_factory("--latency", "0")
    (tmp_path / "suite.yaml").write_text("entries:\n  - scenario: arc_challenge\n    shots: 2\n    max_instances: 5\n")
    models = models_file(tmp_path, stub.base_url, api="chat")
    proc = run_cli("run", "suite.yaml", "--models", "local/stub", "--models-file", str(models), "--output", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert stub.stats()["chat_completions"] == 5
    bad = tmp_path / "bad.yaml"
    bad.write_text("entries:\n  - scenario: hellaswag\n    method: multiple_choice_separate\n")
    proc = run_cli("run", str(bad), "--models", "local/stub", "--models-file", str(models), "--output", "out", cwd=tmp_path)
    assert proc.returncode == 2 and "log-probabilities" in proc.stderr


@pytest.mark.parametrize(("concurrency", "latency"), [(4, "0.05"), (64, "0.5")], ids=["concurrency-4", "concurrency-64"])
def test_ctrl_c_keeps_stored_results_and_the_rerun_sends_only_the_rest(tmp_path: Path, stub_factory, concurrency: int,
                                                                       latency: str) -> None:
    """Ctrl-C at a terminal signals the whole process group: what was stored is kept, at low and high concurrency."""
    import os
    import signal
    import subprocess
    import sys
    import time

    stub = stub_factory("--latency", latency)
    (tmp_path / "suite.yaml").write_text("entries:\n  - scenario: mmlu\n    method: multiple_choice_joint\n    max_instances: 400\n")
    models = models_file(tmp_path, stub.base_url, max_concurrency=concurrency)
    args = ["run", "suite.yaml", "--models", "local/stub", "--models-file", str(models), "--output", "out"]
    # As at a terminal, where Ctrl-C reaches a foreground command whose SIGINT is not ignored: started in the
    # background by a shell without job control (`make test &`), these tests would inherit SIGINT ignored, and so
    # would `harness run`, which then rightly runs on to the end.
    proc = subprocess.Popen([sys.executable, "-m", "harness", *args], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 60
    while stub.stats()["total_requests"] < max(40, concurrency + 20) and time.time() < deadline:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1].startswith("harness: interrupted; run the same command again")
    with sqlite3.connect(tmp_path / "out" / "harness.db") as conn:
        stored = conn.execute("SELECT count(*) FROM requests WHERE ok = 1").fetchone()[0]
    assert 0 < stored < 400
    sent_before = stub.stats()["total_requests"]
    again = run_cli(*args, cwd=tmp_path)
    assert again.returncode == 0
    distinct = int(re.search(r"(\d+) requests:", again.stdout).group(1))
    assert f"{distinct - stored} sent, {stored} from the store, 0 failed" in again.stdout
    assert stub.stats()["total_requests"] - sent_before == distinct - stored


def test_a_finished_run_is_reused_until_what_it_depends_on_changes(tmp_path: Path, stub_factory) -> None:
    stub = stub_factory("--latency", "0.002")
    (tmp_path / "suite.yaml").write_text(SUITE)
    models = models_file(tmp_path, stub.base_url)
    args = ("run", "suite.yaml", "--models", "local/stub", "--models-file", str(models), "--output", "out")
    assert run_cli(*args, cwd=tmp_path).returncode == 0
    db = tmp_path / "out" / "harness.db"
    index = tmp_path / "out" / "site" / "http-e2e" / "index.html"

    def state() -> tuple[list[tuple[str, str]], float]:
        with sqlite3.connect(db) as conn:
            runs = conn.execute("SELECT run_id, updated_at FROM runs ORDER BY run_id").fetchall()
        return runs, index.stat().st_mtime_ns

    before = state()
    time.sleep(1.1)  # updated_at has one-second resolution
    again = run_cli(*args, cwd=tmp_path)
    assert again.returncode == 0 and " 0 sent" in again.stdout
    assert state() == before  # nothing re-scored, re-saved or rebuilt
    # A new price changes what the runs' cost metric depends on: they are scored again, still with nothing sent.
    models_file(tmp_path, stub.base_url, price_input_per_mtok=3.0)
    sent = stub.stats()["total_requests"]
    third = run_cli(*args, cwd=tmp_path)
    assert third.returncode == 0 and stub.stats()["total_requests"] == sent
    runs, mtime = state()
    assert all(a[1] != b[1] for a, b in zip(runs, before[0])) and mtime != before[1]


def test_shared_prompt_heads_are_stored_once_and_shown_exactly(tmp_path: Path, stub_factory) -> None:
    from harness.store.store import Store

    stub = stub_factory("--latency", "0.002")
    (tmp_path / "suite.yaml").write_text(SUITE)
    args = ("run", "suite.yaml", "--models", "local/stub", "--models-file", str(models_file(tmp_path, stub.base_url)),
            "--output", "out")
    assert run_cli(*args, cwd=tmp_path).returncode == 0
    store = Store(f"sqlite:///{tmp_path / 'out' / 'harness.db'}")
    try:
        (run,) = [r for r in store.runs() if r["scenario"] == "mmlu"]
        rows = list(store.iter_instances(run["run_id"]))
        sent = store.request_rows(k for r in rows for k in json.loads(r["request_keys"]))
    finally:
        store.close()
    heads = {r["prompt_head"] for r in rows} - {None}
    # 5-shot MMLU prompts of one subject share their head (a subject with one sampled item has none to share)
    assert heads and len(heads) < sum(1 for r in rows if r["prompt_head"])
    for row in rows:  # what is stored and shown is the prompt as sent, byte for byte
        (key,) = json.loads(row["request_keys"])
        assert row["prompt"] == sent[key]["request"]["prompt"]
        assert row["prompt"].startswith("The following are multiple choice questions")
    run_dir = next((tmp_path / "out" / "site" / "http-e2e" / "runs").glob("mmlu*"))
    page, head_page = (run_dir / "index.html").read_text(), (run_dir / "heads.html").read_text()
    for head in heads:
        # the card (drawn by site.js from the page's data) links the head's anchor on heads.html
        assert f'"head":"h{head[:12]}"' in page and f'id="h{head[:12]}"' in head_page

"""harness.store.writer_process: results stored by a child process, on SQLite and on PostgreSQL (`db_url`)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from harness.clients.request import Request, Result
from harness.errors import HarnessError
from harness.store.store import open_store
from harness.store.writer_process import WriterProcess


def _rows(start: int, n: int) -> list[tuple]:
    shared = "Instructions that every prompt of this batch begins with.\n" * 8
    return [(f"k{i}", "dep", "model", Request(kind="generate", prompt=f"{shared}Question {i}?").to_json(),
             Result(ok=True, texts=[f"answer {i}"], latency_s=0.5, prompt_tokens=i)) for i in range(start, start + n)]


def test_batches_sent_to_the_process_are_stored_as_the_store_would(db_url: str) -> None:
    writer = WriterProcess(db_url)
    assert db_url not in " ".join(writer.process.args)  # a PostgreSQL password would show in `ps`
    writer.save_results(_rows(0, 300))
    writer.save_results(_rows(300, 5))
    writer.close()
    store = open_store(db_url)
    try:
        got = store.results([f"k{i}" for i in range(305)])
        assert len(got) == 305
        assert got["k7"].texts == ["answer 7"] and got["k7"].prompt_tokens == 7 and got["k7"].latency_s == 0.5
        request = store.request_rows(["k304"])["k304"]["request"]
        assert request["prompt"].endswith("Question 304?")  # the prompt whole again, whatever head it was cut at
    finally:
        store.close()


def test_a_failure_in_the_process_is_one_error_with_its_reason(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store's folder would go")
    writer = WriterProcess(f"sqlite:///{blocker}/harness.db")
    with pytest.raises(HarnessError, match="^--db: the store failed: cannot create the database's folder"):
        for _ in range(50):  # the child may still be starting: its failure shows at a write or at close()
            writer.save_results(_rows(0, 200))
        writer.close()


def test_a_store_failing_in_the_process_mid_run_reads_as_it_would_on_the_thread(tmp_path: Path) -> None:
    """The store fails at its second batch (a trigger stands in for a full disk): the parent raises the one line the
    thread storing results would give (`--db: the store failed: <the database's reason> (what it stored before is
    kept; ...)`), and the first batch is stored."""
    url = f"sqlite:///{tmp_path}/harness.db"
    open_store(url).close()
    with sqlite3.connect(tmp_path / "harness.db") as conn:
        conn.execute("CREATE TRIGGER full_disk BEFORE INSERT ON requests WHEN NEW.key = 'k100' "
                     "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
    writer = WriterProcess(url)
    writer.save_results(_rows(0, 100))
    with pytest.raises(HarnessError) as raised:
        for _ in range(50):  # the failure shows at a later write or at close()
            writer.save_results(_rows(100, 100))
        writer.close()
    assert raised.value.one_line() == ("--db: the store failed: database or disk is full (what it stored before is "
                                       "kept; run the same command again to go on)")
    store = open_store(url)
    try:
        assert len(store.completed([f"k{i}" for i in range(200)])) == 100
    finally:
        store.close()


def test_when_the_parent_is_killed_every_whole_batch_it_sent_is_stored(db_url: str, tmp_path: Path) -> None:
    """kill -9 of the run: its pipe closes. What it had sent whole is stored (as the writer thread would have done
    before the kill); a batch cut short by the kill is not, and nothing is half written."""
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_writer_process import _rows
        from harness.store import writer_process
        w = writer_process.WriterProcess({db_url!r})
        w.save_results(_rows(0, 100))
        w.save_results(_rows(100, 100))
        frame = writer_process._frame(_rows(200, 100))
        w.process.stdin.write(frame[: len(frame) // 2])  # the kill lands in the middle of a batch
        w.process.stdin.flush()
        os.kill(os.getpid(), 9)
    """))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert proc.returncode == -9, proc.stderr
    store = open_store(db_url)
    # The child ends quietly when it cannot tell the parent it is done (its stderr is the parent's, which run() reads
    # to its end: the child's too).
    assert "Traceback" not in proc.stderr and "BrokenPipeError" not in proc.stderr, proc.stderr
    try:
        for _ in range(100):  # the child may still be storing the last whole batch
            if len(store.completed([f"k{i}" for i in range(200)])) == 200:
                break
            time.sleep(0.1)
        assert len(store.completed([f"k{i}" for i in range(200)])) == 200
        assert not store.completed([f"k{i}" for i in range(200, 300)])
    finally:
        store.close()


@pytest.mark.parametrize("concurrency", [8, 64])
def test_a_run_uses_the_process_from_its_concurrency_on(concurrency: int, tmp_path: Path, stub_factory: Any,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """`harness run`, in this process: at concurrency 64 a SQLite store's results go through a writer process, below
    it through the thread; either way every result is stored once and a rerun sends nothing."""
    from harness import cli, executor
    from harness.store import writer_process

    started: list[str] = []
    real_init = writer_process.WriterProcess.__init__

    def init(self: writer_process.WriterProcess, url: str) -> None:
        started.append(url)
        real_init(self, url)

    monkeypatch.setattr(writer_process.WriterProcess, "__init__", init)
    stub = stub_factory("--latency", "0.01", "--max-concurrency", "0")
    (tmp_path / "suite.yaml").write_text("name: w\nentries:\n  - scenario: boolq\n    max_instances: 150\n")
    (tmp_path / "models.yaml").write_text(f"- name: local/stub\n  client: openai-compatible\n  base_url: {stub.base_url}\n"
                                          f"  model: stub-model\n  max_concurrency: {concurrency}\n")
    monkeypatch.chdir(tmp_path)
    args = ["run", "suite.yaml", "--models", "local/stub", "--models-file", "models.yaml", "--output", "out", "--no-site"]
    assert cli.main(args) == 0
    assert len(started) == (1 if concurrency >= executor.WRITER_PROCESS_FROM else 0)
    store = open_store(f"sqlite:///{tmp_path}/out/harness.db")
    try:
        with store.db.connect() as conn:
            assert conn.rows("SELECT COUNT(*), SUM(ok) FROM requests") == [(150, 150)]
    finally:
        store.close()
    sent = sum(stub.stats()["requests_by_prompt"].values())
    assert cli.main(args) == 0
    assert sum(stub.stats()["requests_by_prompt"].values()) == sent == 150

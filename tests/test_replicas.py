"""One deployment served by several replicas: requests spread by least outstanding, a replica that dies mid-run
hands its requests to the others, and every request is answered and stored exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from harness.clients.http import HttpError
from harness.clients.replicas import ReplicaSet

SUITE = """\
name: replicas
entries:
  - scenario: mmlu
    method: multiple_choice_joint
    max_instances: {n}
"""


def _models(tmp_path: Path, urls: list[str], concurrency: int) -> None:
    listed = "".join(f"    - {u}\n" for u in urls)
    (tmp_path / "models.yaml").write_text(
        f"- name: local/replicated\n  client: openai-compatible\n  model: stub-model\n  max_concurrency: {concurrency}\n"
        f"  base_urls:\n{listed}")


def test_least_outstanding_pick_skips_down_replicas() -> None:
    replicas = ReplicaSet(["http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1", "http://127.0.0.1:3/v1"], {}, 5)
    a, b, c = replicas.replicas
    a.outstanding, b.outstanding, c.outstanding = 3, 1, 2
    assert replicas.pick(set()) is b
    b.up = False
    assert replicas.pick(set()) is c
    assert replicas.pick({c}) is a
    a.up = c.up = False
    assert replicas.pick(set()) is None


def test_all_replicas_down_is_an_ordinary_connection_error() -> None:
    async def go() -> None:
        replicas = ReplicaSet(["http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1"], {}, 5)
        try:
            with pytest.raises(HttpError, match="no replica is up"):
                await replicas.post("/completions", b"{}")
        finally:
            await replicas.close()

    asyncio.run(go())


def test_a_replica_killed_mid_run_hands_its_requests_to_the_others(tmp_path: Path, stub_factory: Any) -> None:
    n = 300
    stubs = [stub_factory("--latency", "0.05", "--max-concurrency", "0") for _ in range(3)]
    (tmp_path / "suite.yaml").write_text(SUITE.format(n=n))
    _models(tmp_path, [s.base_url for s in stubs], concurrency=12)
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", "suite.yaml", "--models", "local/replicated", "--models-file",
         "models.yaml", "--output", "out", "--no-site"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ})
    # ~1.3 s of requests in all: kill one replica when a part has been answered.
    deadline = time.monotonic() + 30
    while stubs[1].stats()["completions"] < 20 and time.monotonic() < deadline:
        time.sleep(0.02)
    before_kill = stubs[1].stats()["completions"]
    stubs[1].process.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert " 0 failed" in out, out
    assert f"replica {stubs[1].base_url} is down" in err

    with sqlite3.connect(tmp_path / "out" / "harness.db") as conn:
        (requests, ok, distinct) = conn.execute("SELECT count(*), sum(ok), count(DISTINCT key) FROM requests").fetchone()
        instances = conn.execute("SELECT count(*) FROM instances WHERE prediction IS NOT NULL").fetchone()[0]
    assert requests == ok == distinct  # every request stored once, answered
    assert instances == n
    alive = [stubs[0].stats()["completions"], stubs[2].stats()["completions"]]
    # The live replicas shared the work (least outstanding), and together with what the dead one answered before
    # it died, they answered every request; those it had in flight were sent again elsewhere, none was lost.
    assert min(alive) > requests // 4, alive
    assert sum(alive) + before_kill >= requests

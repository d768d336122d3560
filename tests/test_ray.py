"""`harness run --ray ADDRESS` on a throwaway two-node Ray cluster on 127.0.0.1 (tests/ray_cluster.py, one for the
module): API deployments' requests answered by Ray tasks, the embedded model by Ray actors; the results are those of
a plain run, also when a worker is killed in the middle of the run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import ray_cluster
from conftest import run_cli
from test_parallel_deployments import stored

pytest.importorskip("ray", reason="the ray extra is not installed (pip install -e '.[ray]')")
pytestmark = pytest.mark.slow

SUITE = """\
name: on-ray
entries:
  - scenario: boolq
    max_instances: {n}
  - scenario: mmlu
    method: multiple_choice_joint
    max_instances: {n}
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[ray_cluster.RayCluster]:
    started = ray_cluster.start()
    yield started
    started.stop()


def _run(tmp_path: Path, output: str, models: str, *extra: str) -> Any:
    done = run_cli("run", "suite.yaml", "--models", models, "--models-file", "models.yaml", "--output", output,
                   "--no-site", *extra, cwd=tmp_path, timeout=300, env=ray_cluster.env())
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_api_requests_on_ray_equal_a_plain_run_with_a_worker_killed(cluster: ray_cluster.RayCluster, tmp_path: Path,
                                                                     stub_factory: Any) -> None:
    stub = stub_factory("--latency", "0.05", "--max-concurrency", "0")
    (tmp_path / "suite.yaml").write_text(SUITE.format(n=60))
    (tmp_path / "models.yaml").write_text("".join(
        f"- name: local/{x}\n  client: openai-compatible\n  base_url: {stub.base_url}\n  model: stub-model\n"
        f"  max_concurrency: 2\n" for x in "ab"))
    _run(tmp_path, "plain", "local/a,local/b")
    plain_sent = stub.stats()["total_requests"]
    log = (tmp_path / "driver.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", "suite.yaml", "--models", "local/a,local/b", "--models-file",
         "models.yaml", "--output", "ray", "--no-site", "--ray", cluster.address],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=log, text=True, env=ray_cluster.env())
    killed = []
    deadline = time.monotonic() + 300
    while not killed and process.poll() is None and time.monotonic() < deadline:
        if stub.stats()["total_requests"] > plain_sent + 20:  # the cluster is answering: kill a worker mid-batch
            for pid in cluster.worker_pids("ray::answer_batch")[:1]:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        time.sleep(0.05)
    try:
        out, _ = process.communicate(timeout=240)
    finally:
        process.kill()
        log.close()
    err = (tmp_path / "driver.log").read_text()
    assert process.returncode == 0, err[-3000:]
    assert killed, "no Ray worker was seen answering"
    assert " 0 failed" in out, out
    # Every request answered (the killed worker's batch again, elsewhere), and stored once: what the plain run stored
    assert stored(f"sqlite:///{tmp_path}/ray/harness.db") == stored(f"sqlite:///{tmp_path}/plain/harness.db")
    again = _run(tmp_path, "ray", "local/a,local/b", "--ray", cluster.address)
    assert " 0 sent" in again.stdout, again.stdout


def test_the_embedded_model_as_ray_actors_equals_a_plain_run(cluster: ray_cluster.RayCluster, tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="the embedded extra is not installed (pip install -e '.[embedded]')")
    (tmp_path / "suite.yaml").write_text(SUITE.format(n=6))
    (tmp_path / "models.yaml").write_text("[]\n")  # the shipped google/gemma-3-270m
    _run(tmp_path, "plain", "google/gemma-3-270m")
    on_ray = _run(tmp_path, "ray", "google/gemma-3-270m", "--ray", cluster.address)
    assert " 0 failed" in on_ray.stdout, on_ray.stdout
    assert stored(f"sqlite:///{tmp_path}/ray/harness.db") == stored(f"sqlite:///{tmp_path}/plain/harness.db")

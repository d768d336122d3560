"""Every deployment of a suite in flight at once (harness.runner.run_suite): API deployments' requests overlap, the
results are those of running the deployments one after another, several deployments write one store at once (SQLite,
with a writer process for one of them, and PostgreSQL), and models run in this process take turns."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any


import pytest

from conftest import run_cli
from harness.clients.base import LocalEngineClient, register_client
from harness.clients.deployment import ModelDeployment
from harness.clients.request import Request, Result
from harness.errors import HarnessError
from harness.store.store import open_store

SUITE = """\
name: together
entries:
  - scenario: boolq
    max_instances: {n}
  - scenario: mmlu
    method: multiple_choice_joint
    max_instances: {n}
"""
NAMES = ["local/a", "local/b", "local/c"]


def write(tmp_path: Path, base_url: str, n: int, concurrency: dict[str, int]) -> None:
    (tmp_path / "suite.yaml").write_text(SUITE.format(n=n))
    (tmp_path / "models.yaml").write_text("".join(
        f"- name: {name}\n  client: openai-compatible\n  base_url: {base_url}\n  model: stub-model\n"
        f"  max_concurrency: {concurrency[name]}\n" for name in NAMES))


def args(output: str, models: list[str], db: str | None = None) -> list[str]:
    found = ["run", "suite.yaml", "--models", ",".join(models), "--models-file", "models.yaml", "--no-site"]
    return [*found, "--db", db] if db else [*found, "--output", output]


def stored(url: str) -> tuple[dict[str, Any], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(runs by id without timestamps, instance rows without latencies, request rows without latencies and stamps)."""
    store = open_store(url)
    try:
        runs = {r["run_id"]: {k: v for k, v in r.items() if k not in ("updated_at", "created_at", "fingerprint")}
                for r in store.runs()}
        instances = []
        for run_id in sorted(runs):
            for row in store.iter_instances(run_id):
                stats = {k: v for k, v in row["stats"].items() if "latency" not in k and "time" not in k}
                instances.append((run_id, row["instance_id"], row["prompt"], row["prediction"], row["outputs"],
                                  sorted(stats.items())))
        with store.db.connect() as conn:
            requests = sorted(conn.rows("SELECT key, deployment, model, request, prompt_hash, ok, result, error "
                                        "FROM requests"))
        return runs, instances, requests
    finally:
        store.close()


def test_deployments_overlap_and_store_what_one_at_a_time_stores(tmp_path: Path, stub_factory: Any) -> None:
    stub = stub_factory("--latency", "0.05", "--max-concurrency", "0")
    write(tmp_path, stub.base_url, 40, {name: 4 for name in NAMES})
    started = time.perf_counter()
    together = run_cli(*args("together", NAMES), cwd=tmp_path, env={"HARNESS_PROGRESS_INTERVAL": "0.1"})
    wall = time.perf_counter() - started
    assert together.returncode == 0, together.stderr
    # The progress line names each deployment's run in flight with its own count (boolq then mmlu: 80 requests each)
    assert any(all(f"{name} boolq" in line for name in NAMES) for line in together.stderr.splitlines()), together.stderr
    assert "/80" in together.stderr and "/240" in together.stderr
    # One deployment's concurrency is 4: more than that at once means their requests were in flight together.
    assert stub.stats()["max_concurrent"] > 4, (stub.stats()["max_concurrent"], wall)
    for name in NAMES:  # the same suite, one deployment at a time, into a store of its own
        alone = run_cli(*args("alone", [name]), cwd=tmp_path)
        assert alone.returncode == 0, alone.stderr
    assert stored(f"sqlite:///{tmp_path}/together/harness.db") == stored(f"sqlite:///{tmp_path}/alone/harness.db")
    again = run_cli(*args("together", NAMES), cwd=tmp_path)
    assert again.returncode == 0 and " 0 sent" in again.stdout, again.stdout


def test_several_deployments_write_one_store_at_once(db_url: str, tmp_path: Path, stub_factory: Any) -> None:
    """Three deployments, one at a high concurrency, store through their writer threads at once: every request is
    stored once, answered, and a rerun sends nothing."""
    stub = stub_factory("--latency", "0.02", "--max-concurrency", "0")
    write(tmp_path, stub.base_url, 100, {"local/a": 64, "local/b": 8, "local/c": 8})
    first = run_cli(*args("", NAMES, db_url), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    store = open_store(db_url)
    try:
        with store.db.connect() as conn:
            by_deployment = conn.rows("SELECT deployment, COUNT(*), SUM(ok) FROM requests GROUP BY deployment "
                                      "ORDER BY deployment")
            claims = conn.rows("SELECT COUNT(*) FROM claims")
        assert len(store.runs()) == 6
    finally:
        store.close()
    per_deployment = 100 + 100  # boolq: one request an instance; mmlu joint: one too
    assert by_deployment == [(name, per_deployment, per_deployment) for name in NAMES]
    assert claims == [(0,)]
    sent = stub.stats()["total_requests"]
    assert sent == 3 * per_deployment
    again = run_cli(*args("", NAMES, db_url), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert stub.stats()["total_requests"] == sent


class _TurnTaker(LocalEngineClient):
    """A model 'loaded in this process' that records when it is loaded and closed."""

    spans: list[tuple[str, float, float]] = []

    async def start(self) -> None:
        if not hasattr(self, "loaded"):
            self.loaded = time.perf_counter()

    async def close(self) -> None:
        _TurnTaker.spans.append((self.deployment.name, self.loaded, time.perf_counter()))

    def _run(self, batch: list[Request]) -> list[Result]:
        time.sleep(0.002 * len(batch))
        return [Result(ok=True, texts=[" A"] * r.n) if r.kind != "logprob" else Result(ok=True, logprob=-1.0)
                for r in batch]


def test_models_run_here_take_turns_but_not_with_api_deployments(tmp_path: Path, stub_factory: Any) -> None:
    from harness.run_spec import load_suite
    from harness.runner import run_suite_sync

    register_client("test-turns", lambda: _TurnTaker)
    _TurnTaker.spans.clear()
    stub = stub_factory("--latency", "0.05", "--max-concurrency", "0")
    (tmp_path / "suite.yaml").write_text(SUITE.format(n=30))
    local = [ModelDeployment(name=f"here/{x}", client="test-turns", model="m", batch_size=8) for x in "xy"]
    api = ModelDeployment(name="local/api", client="openai-compatible", model="stub-model", base_url=stub.base_url,
                          max_concurrency=1)
    store = open_store(f"sqlite:///{tmp_path}/harness.db")
    try:
        started = time.perf_counter()
        outcome = run_suite_sync(load_suite(tmp_path / "suite.yaml"), [api, *local], store)
    finally:
        store.close()
    assert [r.model for r in outcome.runs] == ["local/api", "local/api", "here/x", "here/x", "here/y", "here/y"]
    assert outcome.failed == 0
    (first, a0, a1), (second, b0, b1) = sorted(_TurnTaker.spans, key=lambda s: s[1])
    assert {first, second} == {"here/x", "here/y"}
    assert a1 <= b0  # the second model was loaded after the first was closed
    # The API deployment, first in order (60 requests, one at a time, 0.05 s each: >= 3 s), did not hold them back.
    assert a0 - started < 1.5, a0 - started


class _CannotStart(LocalEngineClient):
    async def start(self) -> None:
        raise HarnessError("this model cannot be loaded", field=self.deployment.name)

    def _run(self, batch: list[Request]) -> list[Result]:
        raise AssertionError("never started")


def test_a_deployment_that_fails_lets_the_others_finish_then_its_error_is_raised(tmp_path: Path,
                                                                                  stub_factory: Any) -> None:
    from harness.run_spec import load_suite
    from harness.runner import run_suite_sync

    register_client("test-cannot-start", lambda: _CannotStart)
    stub = stub_factory("--latency", "0.02", "--max-concurrency", "0")
    (tmp_path / "suite.yaml").write_text(SUITE.format(n=20))
    broken = ModelDeployment(name="here/broken", client="test-cannot-start", model="m")
    api = ModelDeployment(name="local/api", client="openai-compatible", model="stub-model", base_url=stub.base_url,
                          max_concurrency=2)
    store = open_store(f"sqlite:///{tmp_path}/harness.db")
    try:
        with pytest.raises(HarnessError, match="cannot be loaded"):
            run_suite_sync(load_suite(tmp_path / "suite.yaml"), [broken, api], store)
        assert sorted(r["model"] for r in store.runs()) == ["local/api", "local/api"]  # both of its runs, whole
    finally:
        store.close()

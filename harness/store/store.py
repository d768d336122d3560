"""Store: every read and write of results goes through here (SQLAlchemy Core, so SQLite and PostgreSQL share it)."""

from __future__ import annotations

import hashlib
import json
import zlib
from contextlib import contextmanager
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, delete, event, select
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError

from harness.clients.request import Result
from harness.errors import HarnessError
from harness.store import schema

_CHUNK = 500  # keys per IN (...) query: under SQLite's variable limit, few round trips


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def sqlite_url(output_dir: Path) -> str:
    return f"sqlite:///{output_dir / 'harness.db'}"


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (below); pysqlite's implicit transactions defeat BEGIN IMMEDIATE.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer, nor it them
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; a crash loses no committed txn in WAL
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the write lock up front: a deferred transaction that reads and then writes can fail at once
        # with "database is locked" when another process writes in between; an immediate one waits its turn.
        # Readers stay deferred so they never wait for a writer (WAL).
        immediate = conn.get_execution_options().get("write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.engine = create_engine(url, future=True)
        except (ArgumentError, NoSuchModuleError, ValueError) as exc:
            raise HarnessError(f"bad database URL {url!r}: {exc}", field="--db") from None
        except ImportError as exc:
            raise HarnessError(f"database driver for {url!r} is not installed: {exc}", field="--db") from None
        self.dialect = self.engine.dialect.name
        if self.dialect == "sqlite":
            database = self.engine.url.database
            if database and database != ":memory:":
                try:
                    Path(database).parent.mkdir(parents=True, exist_ok=True)
                except (OSError, ValueError) as exc:
                    raise HarnessError(f"cannot create the database's folder for {url!r}: {exc}", field="--db") from None
            _sqlite_setup(self.engine)
        try:
            schema.metadata.create_all(self.engine)
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise HarnessError(f"cannot open database {self.engine.url!r}: {reason}", field="--db") from None

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction (IMMEDIATE on SQLite), committed on success, rolled back on error."""
        with self.engine.connect().execution_options(write=True) as conn, conn.begin():
            yield conn

    def _insert(self, table: Any) -> Any:
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        return insert(table)

    @staticmethod
    def _rows_in(conn: Connection, query: Any, column: Any, values: Iterable[str]) -> Iterator[Any]:
        """Rows of `query` whose `column` is one of `values`, asked in chunks that fit SQLite's variable limit."""
        values = list(dict.fromkeys(values))
        for start in range(0, len(values), _CHUNK):
            yield from conn.execute(query.where(column.in_(values[start : start + _CHUNK])))

    # --- texts --------------------------------------------------------------------------------------------
    def _save_texts(self, conn: Connection, texts: dict[str, str]) -> None:
        table = schema.texts
        existing = {h for (h,) in self._rows_in(conn, select(table.c.hash), table.c.hash, texts)}
        rows = [{"hash": h, "body": zlib.compress(t.encode("utf-8"), 6)} for h, t in texts.items() if h not in existing]
        if rows:
            conn.execute(self._insert(table).on_conflict_do_nothing(index_elements=[table.c.hash]), rows)

    def texts(self, hashes: Iterable[str]) -> dict[str, str]:
        table = schema.texts
        with self.engine.connect() as conn:
            rows = self._rows_in(conn, select(table.c.hash, table.c.body), table.c.hash, hashes)
            return {h: zlib.decompress(body).decode("utf-8") for h, body in rows}

    # --- requests -----------------------------------------------------------------------------------------
    def completed(self, keys: Iterable[str]) -> dict[str, Result]:
        """The stored successful results among `keys`."""
        table = schema.requests
        with self.engine.connect() as conn:
            rows = self._rows_in(conn, select(table.c.key, table.c.result).where(table.c.ok == 1), table.c.key, keys)
            return {key: Result.from_json(json.loads(result)) for key, result in rows}

    def results(self, keys: Iterable[str]) -> dict[str, Result]:
        """Stored results among `keys`, failed ones included."""
        table = schema.requests
        with self.engine.connect() as conn:
            rows = self._rows_in(conn, select(table.c.key, table.c.result), table.c.key, keys)
            return {key: Result.from_json(json.loads(result)) for key, result in rows}

    def request_rows(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Stored request rows, each with its Request JSON made whole again (prompt included)."""
        table = schema.requests
        with self.engine.connect() as conn:
            rows = {row.key: dict(row._mapping) for row in self._rows_in(conn, select(table), table.c.key, keys)}
        prompts = self.texts(r["prompt_hash"] for r in rows.values())
        for row in rows.values():
            row["request"] = {**json.loads(row["request"]), "prompt": prompts[row["prompt_hash"]]}
            row["result"] = json.loads(row["result"])
        return rows

    def save_results(self, rows: Sequence[tuple[str, str, str, dict[str, Any], Result]]) -> None:
        """Upsert (key, deployment, model, request_json, result). A success replaces a stored failure; nothing
        replaces a stored success, so concurrent processes that answered the same request agree."""
        if not rows:
            return
        stamp = now()
        texts: dict[str, str] = {}
        values = []
        for key, deployment, model, request, result in rows:
            prompt = request.get("prompt", "")
            digest = text_hash(prompt)
            texts[digest] = prompt
            values.append({
                "key": key, "deployment": deployment, "model": model, "prompt_hash": digest,
                "request": json.dumps({**request, "prompt": None}, ensure_ascii=False), "ok": int(result.ok),
                "result": json.dumps(result.to_json(), ensure_ascii=False), "error": result.error,
                "latency_s": result.latency_s, "prompt_tokens": result.prompt_tokens,
                "completion_tokens": result.completion_tokens, "updated_at": stamp,
            })
        table = schema.requests
        stmt = self._insert(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.key],
            set_={c: stmt.excluded[c] for c in ("ok", "result", "error", "latency_s", "prompt_tokens", "completion_tokens", "updated_at")},
            where=table.c.ok == 0,
        )
        with self._write() as conn:
            self._save_texts(conn, texts)
            conn.execute(stmt, values)

    # --- runs ---------------------------------------------------------------------------------------------
    def save_run(self, run: dict[str, Any], instance_rows: list[dict[str, Any]], stats: list[dict[str, Any]],
                 run_stats: list[dict[str, Any]]) -> None:
        """Replace a run's record, instances and stats in one transaction: readers see the old run or the new one.
        Each instance row carries its prompt text under "prompt"; it is stored once, in `texts`."""
        run_id = run["run_id"]
        texts: dict[str, str] = {}
        instance_rows = [dict(row) for row in instance_rows]
        for row in instance_rows:
            prompt = row.pop("prompt")
            row["prompt_hash"] = text_hash(prompt)
            texts[row["prompt_hash"]] = prompt
        with self._write() as conn:
            self._save_texts(conn, texts)
            for table in (schema.run_stats, schema.instance_stats, schema.instances, schema.runs):
                conn.execute(delete(table).where(table.c.run_id == run_id))
            conn.execute(schema.runs.insert(), [{**run, "updated_at": now()}])
            for table, rows in ((schema.instances, instance_rows), (schema.instance_stats, stats), (schema.run_stats, run_stats)):
                for start in range(0, len(rows), 5000):
                    conn.execute(table.insert(), rows[start : start + 5000])

    def runs(self, suite: str | None = None) -> list[dict[str, Any]]:
        query = select(schema.runs).order_by(schema.runs.c.group_name, schema.runs.c.scenario, schema.runs.c.model)
        if suite is not None:
            query = query.where(schema.runs.c.suite == suite)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def suites(self) -> list[str]:
        with self.engine.connect() as conn:
            return sorted({row[0] for row in conn.execute(select(schema.runs.c.suite))})

    def run_stats(self, run_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(schema.run_stats).where(schema.run_stats.c.run_id == run_id))
            return [dict(row._mapping) for row in rows]

    def instance_stats(self, run_ids: Sequence[str], metric: str | None = None) -> Iterator[tuple[str, str, str, float]]:
        """(run_id, instance_id, metric, value) rows of the given runs."""
        table = schema.instance_stats
        query = select(table.c.run_id, table.c.instance_id, table.c.metric, table.c.value).where(table.c.run_id.in_(list(run_ids)))
        if metric is not None:
            query = query.where(table.c.metric == metric)
        with self.engine.connect() as conn:
            yield from conn.execute(query.order_by(table.c.run_id, table.c.instance_id))

    def iter_instances(self, run_id: str, batch: int = 1000) -> Iterator[dict[str, Any]]:
        """A run's instances in order, each with its stats, read in batches so large runs stream."""
        table, stats = schema.instances, schema.instance_stats
        position = -1
        while True:
            with self.engine.connect() as conn:
                rows = [dict(r._mapping) for r in conn.execute(
                    select(table).where(table.c.run_id == run_id, table.c.position > position)
                    .order_by(table.c.position).limit(batch)
                )]
                if not rows:
                    return
                ids = [r["instance_id"] for r in rows]
                by_id: dict[str, dict[str, float]] = {i: {} for i in ids}
                query = select(stats.c.instance_id, stats.c.metric, stats.c.value).where(stats.c.run_id == run_id)
                for iid, metric, value in self._rows_in(conn, query, stats.c.instance_id, ids):
                    by_id[iid][metric] = value
            prompts = self.texts(r["prompt_hash"] for r in rows)
            for row in rows:
                row["stats"] = by_id[row["instance_id"]]
                row["prompt"] = prompts.get(row["prompt_hash"], "")
                yield row
            position = rows[-1]["position"]


def open_store(url: str) -> Store:
    try:
        return Store(url)
    except SQLAlchemyError as exc:
        raise HarnessError(f"cannot use database {url!r}: {str(exc).splitlines()[0]}", field="--db") from None

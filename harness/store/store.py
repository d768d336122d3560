"""Store: every read and write of results goes through here (SQLAlchemy Core, so SQLite and PostgreSQL share it)."""

from __future__ import annotations

import json
import time
import zlib
from contextlib import contextmanager
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, create_engine, delete, event, select
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError

from harness.clients.request import Request, Result
from harness.clients.request import digest as content_digest
from harness.errors import HarnessError
from harness.store import schema
from harness.store.heads import shared_heads
from harness.store.migrate import migrate_v2

_CHUNK = 500  # keys per IN (...) query: under SQLite's variable limit, few round trips
_PG_WRITE_LOCK = 0x484152_4E455353  # "HARNESS": the PostgreSQL advisory lock that writers take in turn (see _write)


def text_hash(text: str) -> str:
    return content_digest(text.encode("utf-8"))


_RESULT_COLUMNS = ("ok", "result", "error", "latency_s", "prompt_tokens", "completion_tokens", "updated_at")
# A success replaces a stored failure; nothing replaces a stored success.
_UPSERT_REQUESTS = (
    "INSERT INTO requests (key, deployment, model, request, prompt_hash, ok, result, error, latency_s, prompt_tokens, "
    "completion_tokens, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _RESULT_COLUMNS) + " WHERE requests.ok = 0"
)
_INSTANCE_COLUMNS = tuple(c.name for c in schema.instances.columns)
_INSTANCE_LIST = ", ".join(f'"{c}"' for c in _INSTANCE_COLUMNS)  # quoted: "references" is an SQL keyword
_INSERT_INSTANCES = f"INSERT INTO instances ({_INSTANCE_LIST}) VALUES ({', '.join('?' for _ in _INSTANCE_COLUMNS)})"
_SELECT_INSTANCES = f"SELECT {_INSTANCE_LIST} FROM instances WHERE run_id = ? ORDER BY position"
# Instance columns of FreeText (NUL replaced on PostgreSQL): the driver's executemany does not apply column types.
_FREE_TEXT = frozenset(c.name for c in schema.instances.columns if isinstance(c.type, schema.FreeText))
_TEXTS_IN = "SELECT hash FROM texts WHERE hash IN ({keys})"


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
        # First: what follows may wait for a lock. Switching a new database to WAL takes it whole, and a process
        # that opens the store while another creates its tables must wait its turn rather than fail "database is
        # locked" after pysqlite's default 5 s.
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer, nor it them
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; a crash loses no committed txn in WAL
        # Checkpoint (copy the WAL into the database, with an fsync) every ~40 MB rather than every 4 MB: a commit
        # that triggers one took ~20 ms of a 10,000-request run's writes. Closing the store checkpoints anyway.
        cursor.execute("PRAGMA wal_autocheckpoint=10000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the write lock up front: a deferred transaction that reads and then writes can fail at once
        # with "database is locked" when another process writes in between; an immediate one waits its turn.
        # Readers stay deferred so they never wait for a writer (WAL).
        immediate = conn.get_execution_options().get("write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _postgresql_setup(engine: Engine) -> None:
    @event.listens_for(engine, "do_connect")
    def _on_connect(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
        # An unreachable server is a one-line error in seconds, not a hang for the OS's TCP timeout (minutes).
        # A connect_timeout in the URL's query wins.
        cparams.setdefault("connect_timeout", 5)


def _driver_sql(conn: Connection, sql: str) -> str:
    """SQL for the driver itself. It is written with `?` placeholders and means the same on SQLite and PostgreSQL
    (ON CONFLICT, excluded); psycopg wants `%s`."""
    return sql if conn.dialect.paramstyle == "qmark" else sql.replace("?", "%s")


def _compact_json(data: dict[str, Any]) -> str:
    """JSON of a Request or Result without the fields that hold their default nothing (None, "", []): the
    dataclasses restore them on reading, and a request row is half the size (a 1,000-request run: ~0.2 MB less)."""
    return orjson.dumps({k: v for k, v in data.items() if v is not None and v != "" and v != []}).decode()


# Result fields that have columns of their own are left out of the result's JSON (~100 bytes a request) and put
# back on reading. `error` stays in the JSON too: there it is exact, where PostgreSQL's column replaces NUL.
_IN_COLUMNS: dict[str, None] = {"ok": None, "latency_s": None, "prompt_tokens": None, "completion_tokens": None}
_RESULT_PARTS = ("result", *_IN_COLUMNS)  # _result's arguments, in order
_RESULTS_IN = f"SELECT key, {', '.join(_RESULT_PARTS)} FROM requests WHERE key IN ({{keys}})"


def _result(result: str, ok: int, latency_s: float | None, prompt_tokens: int | None,
            completion_tokens: int | None) -> Result:
    """A stored Result made whole: its JSON (rows from before hold every field there), then the columns."""
    data = orjson.loads(result)
    data.update(ok=bool(ok), latency_s=latency_s or 0.0, prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens)
    return Result.from_json(data)


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
        elif self.dialect == "postgresql":
            _postgresql_setup(self.engine)
        try:
            # In a write transaction: processes that start at once create the tables one after another. Otherwise
            # two can both find a table missing and both CREATE it: "table already exists" on SQLite, a
            # UniqueViolation on pg_type on PostgreSQL. (PostgreSQL's DDL is transactional, so the wait is whole.)
            with self._write() as conn:
                schema.metadata.create_all(conn)
                self._check_version(conn)
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise HarnessError(f"cannot open database {self.engine.url!r}: {reason}", field="--db") from None

    def _check_version(self, conn: Connection) -> None:
        meta = schema.meta
        version = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
        if version is None:
            if conn.execute(select(schema.requests.c.key).limit(1)).first() is not None:
                version = "1"  # written before the store recorded its version
            else:
                conn.execute(meta.insert(), [{"key": "schema_version", "value": str(schema.SCHEMA_VERSION)}])
                return
        if version == "2":
            migrate_v2(conn)
            conn.execute(meta.update().where(meta.c.key == "schema_version").values(value=str(schema.SCHEMA_VERSION)))
            return
        if version != str(schema.SCHEMA_VERSION):
            raise HarnessError(
                f"the store {self.engine.url!r} has schema version {version}, this harness writes version "
                f"{schema.SCHEMA_VERSION}; use a new --output / --db (or the harness version that wrote it)", field="--db")

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction, committed on success, rolled back on error. Writers take turns on both backends
        (BEGIN IMMEDIATE on SQLite, an advisory lock on PostgreSQL), so a write reads what the one before committed."""
        with self.engine.connect().execution_options(write=True) as conn, conn.begin():
            if self.dialect == "postgresql":
                # Released at commit or rollback. Without it, under READ COMMITTED, two save_run of one run both
                # DELETE then INSERT it (a duplicate key error), and upserts of overlapping keys in different orders
                # can deadlock; with it PostgreSQL behaves as SQLite does, which the store's methods assume.
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_WRITE_LOCK})")
            yield conn

    def _insert(self, table: Any) -> Any:
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        return insert(table)

    @classmethod
    def _keyed(cls, conn: Connection, sql: str, values: Iterable[str], params: Sequence[Any] = ()) -> list[Any]:
        """Rows of `sql` (none for a DELETE), whose `{keys}` is a list of `?` for `values` (after `params`), run in
        chunks that fit SQLite's variable limit, through the driver: SQLAlchemy builds a bind parameter object per
        value of an IN (...), ~15 us each, which was a fifth of storing an answer."""
        values = list(dict.fromkeys(values))
        rows: list[Any] = []
        for start in range(0, len(values), _CHUNK):
            chunk = values[start : start + _CHUNK]
            rows += cls._driver_rows(conn, sql.format(keys=", ".join("?" * len(chunk))), (*params, *chunk))
        return rows

    # --- texts --------------------------------------------------------------------------------------------
    def _save_texts(self, conn: Connection, texts: dict[str, str]) -> None:
        existing = {h for (h,) in self._keyed(conn, _TEXTS_IN, texts)}
        new = {h: t for h, t in texts.items() if h not in existing}
        if not new:
            return
        heads = shared_heads(new)
        for head in set(heads.values()):
            new.setdefault(text_hash(head), head)  # a head is a text of its own, stored whole
        existing |= {h for (h,) in self._keyed(conn, _TEXTS_IN, new)}
        rows = []
        for digest, text in new.items():
            if digest in existing:
                continue
            head = heads.get(digest, "")
            body = text[len(head):]
            rows.append((digest, text_hash(head) if head else None, zlib.compress(body.encode("utf-8"), 6)))
        if rows:
            self._executemany(conn, "INSERT INTO texts (hash, head, body) VALUES (?, ?, ?) ON CONFLICT (hash) DO NOTHING", rows)

    def _executemany(self, conn: Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """The driver's own executemany, for the writes made for every answer (results and their prompts): going
        through SQLAlchemy's statement compilation and per-row parameter handling cost ~100 us a row, most of the
        store's time in a 10,000-request run (see _driver_sql for its placeholders)."""
        conn.exec_driver_sql(_driver_sql(conn, sql), rows)

    def _free_text(self, text: str | None) -> str | None:
        """What schema.FreeText does for SQLAlchemy statements: PostgreSQL rejects NUL in text."""
        if text and self.dialect == "postgresql" and "\x00" in text:
            return text.replace("\x00", "\ufffd")
        return text

    def text_parts(self, hashes: Iterable[str]) -> dict[str, tuple[str | None, str]]:
        """hash -> (hash of its shared head or None, the rest of the text): how the site shows a long few-shot
        head once instead of in every prompt."""
        with self.engine.connect() as conn:
            rows = self._keyed(conn, "SELECT hash, head, body FROM texts WHERE hash IN ({keys})", hashes)
        return {h: (head, zlib.decompress(body).decode("utf-8")) for h, head, body in rows}

    @staticmethod
    def _driver_rows(conn: Connection, sql: str, params: Sequence[Any]) -> list[Any]:
        """A statement through the driver, for those made for every answer or instance (SQLAlchemy's result rows
        cost ~30 us each, half of reading a run back): its rows, or none for a statement that returns none."""
        result = conn.exec_driver_sql(_driver_sql(conn, sql), tuple(params))
        return result.all() if result.returns_rows else []

    def texts(self, hashes: Iterable[str]) -> dict[str, str]:
        parts = self.text_parts(hashes)
        heads = self.text_parts({head for head, _ in parts.values() if head})
        return {h: (heads[head][1] if head else "") + body for h, (head, body) in parts.items()}

    # --- requests -----------------------------------------------------------------------------------------
    def completed(self, keys: Iterable[str]) -> dict[str, Result]:
        """The stored successful results among `keys`."""
        with self.engine.connect() as conn:
            rows = self._keyed(conn, _RESULTS_IN + " AND ok = 1", keys)
            return {key: _result(*parts) for key, *parts in rows}

    def results(self, keys: Iterable[str]) -> dict[str, Result]:
        """Stored results among `keys`, failed ones included."""
        with self.engine.connect() as conn:
            rows = self._keyed(conn, _RESULTS_IN, keys)
            return {key: _result(*parts) for key, *parts in rows}

    def request_rows(self, keys: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """Stored request rows (those of `keys`, or every one), each with its Request JSON made whole again (prompt
        included) and its Result's."""
        with self.engine.connect() as conn:
            found = (conn.exec_driver_sql("SELECT * FROM requests").all() if keys is None
                     else self._keyed(conn, "SELECT * FROM requests WHERE key IN ({keys})", keys))
        rows = {row.key: dict(row._mapping) for row in found}
        prompts = self.texts(r["prompt_hash"] for r in rows.values())
        for row in rows.values():
            request = Request.from_json({**json.loads(row["request"]), "prompt": prompts[row["prompt_hash"]]})
            row["request"] = request.to_json()
            row["result"] = _result(*(row[c] for c in _RESULT_PARTS)).to_json()
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
            values.append((
                key, deployment, model, _compact_json({**request, "prompt": None}), digest,
                int(result.ok), _compact_json({**result.to_json(), **_IN_COLUMNS}), self._free_text(result.error),
                result.latency_s, result.prompt_tokens, result.completion_tokens, stamp,
            ))
        keys = [v[0] for v in values]
        with self._write() as conn:
            self._save_texts(conn, texts)
            self._executemany(conn, _UPSERT_REQUESTS, values)
            self._keyed(conn, "DELETE FROM claims WHERE key IN ({keys})", keys)  # answered: nobody needs to hold them

    def claim(self, keys: Sequence[str], owner: str) -> set[str]:
        """Claim requests for `owner`: returns those it now holds (unclaimed before, or its own) and that no process
        has answered yet. One short write transaction per call."""
        if not keys:
            return set()
        stamp = time.time()
        with self._write() as conn:
            self._executemany(conn, "INSERT INTO claims (key, owner, claimed_at) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING",
                              [(key, owner, stamp) for key in keys])
            mine = {k for (k,) in self._keyed(conn, "SELECT key FROM claims WHERE owner = ? AND key IN ({keys})", keys, (owner,))}
            # A request answered between the caller's lookup and now has no claim left to block it: skip it too.
            done = {k for (k,) in self._keyed(conn, "SELECT key FROM requests WHERE ok = 1 AND key IN ({keys})", mine)}
        return mine - done

    # --- runs ---------------------------------------------------------------------------------------------
    def save_run(self, run: dict[str, Any], instance_rows: list[dict[str, Any]], run_stats: list[dict[str, Any]]) -> None:
        """Replace a run's record, instances and stats in one transaction: readers see the old run or the new one.
        Each instance row carries its prompt text under "prompt" (stored once, in `texts`) and its metric values
        under "stats" (a dict)."""
        run_id = run["run_id"]
        texts: dict[str, str] = {}
        instance_rows = [dict(row) for row in instance_rows]
        for row in instance_rows:
            prompt = row.pop("prompt")
            row["prompt_hash"] = text_hash(prompt)
            start = prompt.find(row["input"]) if row["input"] else -1
            row["input_start"], row["input_end"] = (start, start + len(row["input"])) if start >= 0 else (None, None)
            if start >= 0:
                row["input"] = ""  # the prompt has it
            # 6 significant digits: the run's aggregates are computed before this, and latencies to the femtosecond
            # only cost bytes
            row["stats"] = orjson.dumps({k: float(f"{v:.6g}") for k, v in row["stats"].items()}).decode()
            texts[row["prompt_hash"]] = prompt
        with self._write() as conn:
            self._save_texts(conn, texts)
            for table in (schema.run_stats, schema.instances, schema.runs):
                conn.execute(delete(table).where(table.c.run_id == run_id))
            conn.execute(schema.runs.insert(), [{**run, "updated_at": now()}])
            # Instances through the driver's executemany, as results are (SQLAlchemy's per-row parameter handling
            # was a third of saving a 10,000-instance run); FreeText's NUL rule applied by hand.
            self._executemany(conn, _INSERT_INSTANCES, [
                tuple(self._free_text(row.get(c)) if c in _FREE_TEXT else row.get(c) for c in _INSTANCE_COLUMNS)
                for row in instance_rows])
            if run_stats:
                conn.execute(schema.run_stats.insert(), run_stats)

    def runs(self, suite: str | None = None) -> list[dict[str, Any]]:
        query = select(schema.runs).order_by(schema.runs.c.group_name, schema.runs.c.scenario, schema.runs.c.model)
        if suite is not None:
            query = query.where(schema.runs.c.suite == suite)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def run(self, run_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(schema.runs).where(schema.runs.c.run_id == run_id)).first()
            return dict(row._mapping) if row is not None else None

    def suites(self) -> list[str]:
        with self.engine.connect() as conn:
            return sorted({row[0] for row in conn.execute(select(schema.runs.c.suite))})

    def run_stats(self, run_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(schema.run_stats).where(schema.run_stats.c.run_id == run_id))
            return [dict(row._mapping) for row in rows]

    def instance_stats(self, run_ids: Sequence[str], metric: str) -> Iterator[tuple[str, str, float]]:
        """(run_id, instance_id, value) of one metric over the given runs' instances that have it."""
        table = schema.instances
        query = select(table.c.run_id, table.c.instance_id, table.c.stats).where(table.c.run_id.in_(list(run_ids)))
        with self.engine.connect() as conn:
            for run_id, instance_id, stats in conn.execute(query.order_by(table.c.run_id, table.c.position)):
                value = orjson.loads(stats).get(metric)
                if value is not None:
                    yield run_id, instance_id, value

    def iter_instances(self, run_id: str, batch: int = 1000) -> Iterator[dict[str, Any]]:
        """A run's instances in order, each with its stats, streamed in batches (one query, read a batch at a time:
        a query per batch sorted the run again each time)."""
        heads: dict[str, str] = {}  # a run has a few distinct heads (one per MMLU subject), read once each
        with self.engine.connect().execution_options(stream_results=True) as conn:  # a server-side cursor on PostgreSQL
            result = conn.exec_driver_sql(_driver_sql(conn, _SELECT_INSTANCES), (run_id,))
            while batch_rows := result.fetchmany(batch):
                rows = [dict(zip(_INSTANCE_COLUMNS, r)) for r in batch_rows]
                parts = self.text_parts(r["prompt_hash"] for r in rows)
                wanted = {head for head, _ in parts.values() if head and head not in heads}
                heads.update((h, body) for h, (_, body) in self.text_parts(wanted).items())
                for row in rows:
                    head, rest = parts.get(row["prompt_hash"], (None, ""))
                    row["stats"] = orjson.loads(row["stats"])
                    row["prompt"] = heads[head] + rest if head else rest
                    if row["input_start"] is not None:
                        row["input"] = row["prompt"][row["input_start"]:row["input_end"]]
                    row["prompt_head"] = head  # the hash of its shared head, if it has one (see shared_heads)
                    row["prompt_head_chars"] = len(row["prompt"]) - len(rest)
                    yield row


def open_store(url: str) -> Store:
    try:
        return Store(url)
    except SQLAlchemyError as exc:
        raise HarnessError(f"cannot use database {url!r}: {str(exc).splitlines()[0]}", field="--db") from None

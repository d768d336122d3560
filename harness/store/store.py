"""Store: every read and write of results goes through here, as one SQL text for SQLite and PostgreSQL (see
harness.store.database for the connections it runs on)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from harness.records import Request, Result
from harness.records import digest as content_digest
from harness.errors import HarnessError
from harness.store import schema
from harness.store.database import Conn, Database, database_error_reason, database_errors, open_database
from harness.store.request_rows import (IN_COLUMNS, RESULT_PARTS, RESULTS_IN, UPSERT_REQUESTS, compact_json,
                                        stored_result)
from harness.store.texts import KnownHeads, shared_heads
from harness.store.saved_runs import SavedRuns
from harness.text import clean, clean_value

_CHUNK = 500  # keys per IN (...) query: under SQLite's variable limit, few round trips


def text_hash(text: str) -> str:
    return content_digest(text.encode("utf-8"))


def _column_list(table: str) -> str:
    return ", ".join(f'"{c}"' for c in schema.COLUMNS[table])  # quoted: "references" and "key" are SQL keywords


def _insert(table: str) -> str:
    return f"INSERT INTO {table} ({_column_list(table)}) VALUES ({', '.join('?' for _ in schema.COLUMNS[table])})"


_INSTANCE_COLUMNS = schema.COLUMNS["instances"]
_POSITION = _INSTANCE_COLUMNS.index("position")
_SELECT_INSTANCES = f"SELECT {_column_list('instances')} FROM instances WHERE run_id = ? ORDER BY position"
# Instance columns of the schema's free_text type: outside text, cleaned as it is stored (Store._free_text).
_FREE_TEXT = frozenset(schema.FREE_TEXT["instances"])
_TEXTS_IN = "SELECT hash, head FROM texts WHERE hash IN ({keys})"


def now(timespec: str = "milliseconds") -> str:
    # Milliseconds: a run evaluated again within the same second is still told apart (the site rebuilds for it).
    # A run's record has microseconds: it tells this process's save from another's (see SavedRuns).
    return datetime.now(timezone.utc).isoformat(timespec=timespec)


def sqlite_url(output_dir: Path) -> str:
    return f"sqlite:///{output_dir / 'harness.db'}"


@dataclass
class PreparedInstances:
    """A run's instance rows as save_run writes them, and the texts they need (see Store.prepare_instances)."""

    values: list[tuple[Any, ...]]
    texts: dict[str, str]  # hash -> prompt
    text_rows: list[tuple[str, str | None, str]]  # the texts not stored yet


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        self.db: Database = open_database(url)
        self.dialect = self.db.dialect
        self.known_heads = KnownHeads()
        self.saved_runs = SavedRuns()
        try:
            # In a write transaction: processes that start at once create the tables one after another. Otherwise
            # two can both find a table missing and both CREATE it: "table already exists" on SQLite, a
            # UniqueViolation on pg_type on PostgreSQL. (PostgreSQL's DDL is transactional, so the wait is whole.)
            with self.db.connect(write=True) as conn:
                self.db.create_tables(conn)
                self._check_version(conn)
                self.db.create_views(conn)  # after a migration: the views read this version's tables
        except database_errors() as exc:
            self.db.close()
            raise HarnessError(f"cannot open database {self.db.shown_url}: {database_error_reason(exc)}",
                               field="--db") from None

    def _check_version(self, conn: Conn) -> None:
        found = conn.rows("SELECT value FROM harness_meta WHERE key = 'schema_version'")
        version = found[0][0] if found else None
        if version is None:
            if conn.rows("SELECT key FROM requests LIMIT 1"):
                version = "1"  # written before the store recorded its version
            else:
                conn.execute("INSERT INTO harness_meta (key, value) VALUES ('schema_version', ?)",
                             (str(schema.SCHEMA_VERSION),))
                return
        if version in ("2", "3", "4"):
            from harness.store.migrate import migrate_v2, migrate_v3

            if version == "2":
                migrate_v2(conn)
            if version in ("2", "3"):
                migrate_v3(conn, self.db)
            # 4 -> 5: run_records is new, created above with the other tables; runs made before have no record.
            conn.execute("UPDATE harness_meta SET value = ? WHERE key = 'schema_version'", (str(schema.SCHEMA_VERSION),))
            return
        if version != str(schema.SCHEMA_VERSION):
            raise HarnessError(
                f"the store {self.db.shown_url} has schema version {version}, this harness writes version "
                f"{schema.SCHEMA_VERSION}; use a new --output / --db (or the harness version that wrote it)", field="--db")

    def close(self) -> None:
        self.db.close()

    def checkpoint_in_background(self) -> None:
        """Write what the store holds into its file now, beside what follows, for a command that only reads from
        here on (see SqliteDatabase.checkpoint_in_background)."""
        self.db.checkpoint_in_background()

    def _read(self) -> Any:
        """A read transaction (a context manager of a Conn): it sees one snapshot and never waits for a writer."""
        return self.db.connect()

    def _write(self) -> Any:
        """A write transaction, committed on success, rolled back on error. Writers take turns on both backends
        (BEGIN IMMEDIATE on SQLite, an advisory lock on PostgreSQL), so a write reads what the one before committed."""
        return self.db.connect(write=True)

    @staticmethod
    def _keyed(conn: Conn, sql: str, values: Iterable[str], params: Sequence[Any] = ()) -> list[Any]:
        """Rows of `sql` (none for a DELETE), whose `{keys}` is a list of `?` for `values` (after `params`), run in
        chunks that fit SQLite's variable limit."""
        values = list(dict.fromkeys(values))
        rows: list[Any] = []
        for start in range(0, len(values), _CHUNK):
            chunk = values[start : start + _CHUNK]
            rows += conn.rows(sql.format(keys=", ".join("?" * len(chunk))), (*params, *chunk))
        return rows

    # --- texts --------------------------------------------------------------------------------------------
    def _text_rows(self, texts: dict[str, str]) -> list[tuple[str, str | None, str]]:
        """The `texts` rows (hash, head, body) to insert for those of `texts` not stored yet, with their shared heads.
        Done before the write transaction that inserts them (finding heads took most of a writer batch beside a busy
        event loop, and every other writer, the executor's claims among them, would wait that long). A text stored
        by another writer meanwhile is the same text: its insert does nothing.
        A head is one level deep (the `prompts` view joins once): a head found here that was stored before as a text
        with a head of its own is not used; the text is cut at that one's head instead."""
        with self._read() as conn:
            existing = dict(self._keyed(conn, _TEXTS_IN, texts))
            new = {h: t for h, t in texts.items() if h not in existing}
            if not new:
                return []
            heads = shared_heads(new, self.known_heads)
            head_hashes = {head: self.known_heads.hash_of(head) for head in set(heads.values())}
            existing.update(self._keyed(conn, _TEXTS_IN, set(head_hashes.values()) - existing.keys()))
            # head -> the head it was stored with (a text of its own, stored whole), for heads stored with one
            roots = {head: existing[digest] for head, digest in head_hashes.items() if existing.get(digest)}
        root_texts = self.texts(set(roots.values())) if roots else {}
        for head, root in roots.items():
            head_hashes[root_texts[root]] = root
            existing[root] = None  # stored (whole): not to insert again
        for digest, head in heads.items():
            if head in roots:
                heads[digest] = root_texts[roots[head]]
        for head, digest in head_hashes.items():
            if head not in roots:
                new.setdefault(digest, head)  # a head is a text of its own, stored whole
        head_digests = {digest for head, digest in head_hashes.items() if head not in roots}
        rows = []
        for digest, text in new.items():
            if digest in existing:
                continue
            head = "" if digest in head_digests else heads.get(digest, "")  # a head is stored whole
            rows.append((digest, head_hashes[head] if head else None, self._free_text(text[len(head):])))
        return rows

    @staticmethod
    def _insert_texts(conn: Conn, rows: list[tuple[str, str | None, str]]) -> None:
        if rows:
            conn.executemany("INSERT INTO texts (hash, head, body) VALUES (?, ?, ?) ON CONFLICT (hash) DO NOTHING", rows)

    @staticmethod
    def _free_text(text: str | None) -> str | None:
        """What schema.FreeText does: text as it came, with what cannot be stored or shown (NUL, which PostgreSQL
        rejects, a lone surrogate, a terminal's escape) replaced, on every database alike (harness.text.clean)."""
        return clean(text) if isinstance(text, str) else text

    def text_parts(self, hashes: Iterable[str]) -> dict[str, tuple[str | None, str]]:
        """hash -> (hash of its shared head or None, the rest of the text): how the site shows a long few-shot
        head once instead of in every prompt."""
        with self._read() as conn:
            rows = self._keyed(conn, "SELECT hash, head, body FROM texts WHERE hash IN ({keys})", hashes)
        return {h: (head, body) for h, head, body in rows}

    def texts(self, hashes: Iterable[str]) -> dict[str, str]:
        parts = self.text_parts(hashes)
        wanted = {head for head, _ in parts.values() if head}
        heads = self.text_parts(wanted) if wanted else {}  # a head is stored whole (see _text_rows)
        return {h: (heads[head][1] if head else "") + body for h, (head, body) in parts.items()}

    # --- requests -----------------------------------------------------------------------------------------
    def completed(self, keys: Iterable[str]) -> dict[str, Result]:
        """The stored successful results among `keys`."""
        with self._read() as conn:
            rows = self._keyed(conn, RESULTS_IN + " AND ok = 1", keys)
        return {key: stored_result(*parts) for key, *parts in rows}

    def results(self, keys: Iterable[str]) -> dict[str, Result]:
        """Stored results among `keys`, failed ones included."""
        with self._read() as conn:
            rows = self._keyed(conn, RESULTS_IN, keys)
        return {key: stored_result(*parts) for key, *parts in rows}

    def request_rows(self, keys: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """Stored request rows (those of `keys`, or every one), each with its Request JSON made whole again (prompt
        included) and its Result's."""
        names = schema.COLUMNS["requests"]
        select = f"SELECT {_column_list('requests')} FROM requests"
        with self._read() as conn:
            found = conn.rows(select) if keys is None else self._keyed(conn, select + " WHERE key IN ({keys})", keys)
        rows = {row[0]: dict(zip(names, row)) for row in found}
        prompts = self.texts(r["prompt_hash"] for r in rows.values())
        for row in rows.values():
            request = Request.from_json({**json.loads(row["request"]), "prompt": prompts[row["prompt_hash"]]})
            row["request"] = request.to_json()
            row["result"] = stored_result(*(row[c] for c in RESULT_PARTS)).to_json()
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
            try:
                value, prompt = self._request_row(key, deployment, model, request, result, stamp)
            except (TypeError, ValueError) as exc:  # orjson.JSONEncodeError, UnicodeEncodeError
                # Text that cannot be encoded (a lone surrogate: harness.text): this result is stored failed with
                # the reason, the batch's others as they are. A rerun sends it again.
                failure = Result.failure(f"the answer could not be stored: {clean(str(exc))}", result.latency_s)
                value, prompt = self._request_row(key, deployment, model, clean_value(request), failure, stamp)
            texts[value[4]] = prompt
            values.append(value)
        keys = [v[0] for v in values]
        text_rows = self._text_rows(texts)
        with self._write() as conn:
            self._insert_texts(conn, text_rows)
            conn.executemany(UPSERT_REQUESTS, values)
            self._keyed(conn, "DELETE FROM claims WHERE key IN ({keys})", keys)  # answered: nobody needs to hold them

    def _request_row(self, key: str, deployment: str, model: str, request: dict[str, Any], result: Result,
                     stamp: str) -> tuple[tuple[Any, ...], str]:
        """A result's row of `requests` (UPSERT_REQUESTS's values), and its request's prompt (stored in `texts`)."""
        prompt = request.get("prompt", "")
        value = (key, deployment, model, compact_json({**request, "prompt": None}), text_hash(prompt), int(result.ok),
                 compact_json({**result.to_json(), **IN_COLUMNS}), self._free_text(result.error), result.latency_s,
                 result.prompt_tokens, result.completion_tokens, stamp)
        return value, prompt

    def claim(self, keys: Sequence[str], owner: str) -> set[str]:
        """Claim requests for `owner`: returns those it now holds (unclaimed before, or its own) and that no process
        has answered yet. One short write transaction per call."""
        if not keys:
            return set()
        stamp = time.time()
        with self._write() as conn:
            conn.executemany("INSERT INTO claims (key, owner, claimed_at) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING",
                             [(key, owner, stamp) for key in keys])
            mine = {k for (k,) in self._keyed(conn, "SELECT key FROM claims WHERE owner = ? AND key IN ({keys})", keys, (owner,))}
            # A request answered between the caller's lookup and now has no claim left to block it: skip it too.
            done = {k for (k,) in self._keyed(conn, "SELECT key FROM requests WHERE ok = 1 AND key IN ({keys})", mine)}
        return mine - done

    # --- runs ---------------------------------------------------------------------------------------------
    def prepare_instances(self, instance_rows: list[dict[str, Any]]) -> PreparedInstances:
        """What save_run does to a run's instance rows before its transaction; the runner does it while the run's
        intervals are computed (numpy lets go of the GIL). Each row carries its prompt text under "prompt" (stored
        once, in `texts`) and its metric values under "stats" (a dict)."""
        texts: dict[str, str] = {}
        rows = [dict(row) for row in instance_rows]
        for row in rows:
            prompt = row.pop("prompt")
            row["prompt_hash"] = text_hash(prompt)
            # 6 significant digits: the run's aggregates are computed from the values unrounded, and latencies to
            # the femtosecond only cost bytes
            row["stats"] = orjson.dumps({k: float(f"{v:.6g}") for k, v in row["stats"].items()}).decode()
            texts[row["prompt_hash"]] = prompt
            for column in _FREE_TEXT:
                if column in row:
                    row[column] = self._free_text(row[column])
        values = [_values("instances", row) for row in rows]
        return PreparedInstances(values, texts, self._text_rows(texts))

    def save_run(self, run: dict[str, Any], instance_rows: list[dict[str, Any]] | PreparedInstances,
                 run_stats: list[dict[str, Any]], provenance: dict[str, Any] | None = None) -> None:
        """Replace a run's record, instances and stats in one transaction: readers see the old run or the new one.
        The instance rows as prepare_instances takes them, or what it returned; `provenance`, how the run was made
        (harness.provenance), goes into run_records."""
        run_id = run["run_id"]
        prepared = (instance_rows if isinstance(instance_rows, PreparedInstances)
                    else self.prepare_instances(instance_rows))
        values, texts, text_rows = prepared.values, prepared.texts, prepared.text_rows
        record = _values("runs", {**run, "updated_at": now("microseconds")})
        with self._write() as conn:
            self._insert_texts(conn, text_rows)
            for table in ("run_stats", "instances", "runs", "run_records"):
                conn.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
            conn.executemany(_insert("runs"), [record])
            if provenance is not None:
                conn.execute("INSERT INTO run_records (run_id, record) VALUES (?, ?)",
                             (run_id, json.dumps(provenance, ensure_ascii=False, default=str)))
            conn.executemany(_insert("instances"), values)
            conn.executemany(_insert("run_stats"), [_values("run_stats", row) for row in run_stats])
            heads = dict(self._keyed(conn, "SELECT hash, head FROM texts WHERE hash IN ({keys})", texts))
        self.saved_runs.drop(run_id)
        if len(values) <= self.saved_runs.max_rows:
            try:
                self.saved_runs.put(run_id, record, self._as_read(values, texts, heads))
            except (KeyError, TypeError, ValueError):  # the run is saved: it will be read back instead
                pass

    def _as_read(self, values: list[tuple[Any, ...]], texts: dict[str, str], heads: dict[str, str | None]
                 ) -> list[dict[str, Any]]:
        """Instance rows just written (`values`), as iter_instances reads them back."""
        head_chars = {h: len(text) for h, text in self.texts({h for h in heads.values() if h}).items()}
        rows = []
        for row_values in sorted(values, key=lambda v: v[_POSITION]):
            row = dict(zip(_INSTANCE_COLUMNS, row_values))
            head = heads[row["prompt_hash"]]
            prompt = self._free_text(texts[row["prompt_hash"]]) or ""  # as stored
            rows.append(_instance(row, prompt, head, head_chars[head] if head else 0))
        return rows

    def runs(self, suite: str | None = None) -> list[dict[str, Any]]:
        where, params = (" WHERE suite = ?", (suite,)) if suite is not None else ("", ())
        with self._read() as conn:
            return conn.dicts(f"SELECT * FROM runs{where} ORDER BY group_name, scenario, model", params)

    def run(self, run_id: str) -> dict[str, Any] | None:
        with self._read() as conn:
            found = conn.dicts("SELECT * FROM runs WHERE run_id = ?", (run_id,))
        return found[0] if found else None

    def suites(self) -> list[str]:
        with self._read() as conn:
            return sorted(suite for (suite,) in conn.rows("SELECT DISTINCT suite FROM runs"))

    def run_records(self, run_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """run_id -> how the run was made (harness.provenance), for the runs that have a record."""
        with self._read() as conn:
            rows = self._keyed(conn, "SELECT run_id, record FROM run_records WHERE run_id IN ({keys})", run_ids)
        return {run_id: json.loads(record) for run_id, record in rows}

    def run_stats(self, run_id: str) -> list[dict[str, Any]]:
        with self._read() as conn:
            return conn.dicts("SELECT * FROM run_stats WHERE run_id = ?", (run_id,))

    def instance_stats(self, run_ids: Sequence[str], metric: str) -> Iterator[tuple[str, str, float]]:
        """(run_id, instance_id, value) of one metric over the given runs' instances that have it."""
        for run_id in sorted(set(run_ids)):  # a fixed order: the bootstrap over these values is seeded
            with self._read() as conn:
                rows = conn.rows("SELECT instance_id, stats FROM instances WHERE run_id = ? ORDER BY position", (run_id,))
            for instance_id, stats in rows:
                value = orjson.loads(stats).get(metric)
                if value is not None:
                    yield run_id, instance_id, value

    def scored_instances(self, run_id: str, metric: str) -> list[tuple[str, int, bool, float | None]]:
        """(instance_id, position, answered, value of `metric` or None) of each instance of a run, in position order;
        answered: stored without an error. What paired comparisons match models on (harness.compare)."""
        with self._read() as conn:
            rows = conn.rows("SELECT instance_id, position, error, stats FROM instances WHERE run_id = ? "
                             "ORDER BY position", (run_id,))
        return [(iid, pos, error is None, orjson.loads(stats).get(metric)) for iid, pos, error, stats in rows]

    def iter_instances(self, run_id: str, batch: int = 1000) -> Iterator[dict[str, Any]]:
        """A run's instances in order, each with its stats, streamed in batches (one query, read a batch at a time:
        a query per batch sorted the run again each time). A run this store has just saved is served from what it
        wrote, while the store's record of the run is still that one (SavedRuns)."""
        if run_id in self.saved_runs:
            with self._read() as conn:
                found = conn.rows(f"SELECT {_column_list('runs')} FROM runs WHERE run_id = ?", (run_id,))
            rows = self.saved_runs.get(run_id, found[0] if found else None)
            if rows is not None:
                for row in rows:
                    yield {**row, "stats": dict(row["stats"])}  # a copy: what a caller changes stays its own
                return
        heads: dict[str, str] = {}  # a run has a few distinct heads (one per MMLU subject), read once each
        with self._read() as conn:
            for batch_rows in conn.batches(_SELECT_INSTANCES, (run_id,), batch):
                rows = [dict(zip(_INSTANCE_COLUMNS, r)) for r in batch_rows]
                parts = self.text_parts(r["prompt_hash"] for r in rows)
                wanted = {head for head, _ in parts.values() if head and head not in heads}
                heads.update(self.texts(wanted))
                for row in rows:
                    head, rest = parts.get(row["prompt_hash"], (None, ""))
                    yield _instance(row, heads[head] + rest if head else rest, head, len(heads[head]) if head else 0)

    # --- judgments (harness.judging) ---------------------------------------------------------------------
    def save_judgments(self, pairs: Iterable[tuple[str, str]], rows: Sequence[dict[str, Any]],
                       judge: str | None = None, rubric: str | None = None) -> None:
        """Replace the judgments of each (run_id, other_run_id) of `pairs` (only `judge`'s with `rubric`, when given)
        by `rows`, in one transaction. Each row carries its judge prompt under "prompt" (stored once, in `texts`)."""
        texts: dict[str, str] = {}
        values = []
        for row in rows:
            row = dict(row)
            prompt = row.pop("prompt")
            row["prompt_hash"] = text_hash(prompt)
            texts[row["prompt_hash"]] = prompt
            row["reply"], row["parse_error"] = self._free_text(row.get("reply")), self._free_text(row.get("parse_error"))
            values.append(_values("judgments", row))
        text_rows = self._text_rows(texts)
        with self._write() as conn:
            self._insert_texts(conn, text_rows)
            only = " AND judge = ? AND rubric = ?" if judge is not None else ""
            for run_id, other in dict.fromkeys(pairs):
                conn.execute("DELETE FROM judgments WHERE run_id = ? AND other_run_id = ?" + only,
                             (run_id, other, *((judge, rubric) if judge is not None else ())))
            conn.executemany(_insert("judgments"), values)

    def judgments(self, run_ids: Iterable[str], prompts: bool = False) -> list[dict[str, Any]]:
        """The judgments of the given runs (as the judged run or, pairwise, the other one); with `prompts`, each
        with its judge prompt whole under "prompt"."""
        ids = sorted(set(run_ids))
        with self._read() as conn:
            rows = self._keyed(conn, f"SELECT {_column_list('judgments')} FROM judgments WHERE run_id IN ({{keys}})", ids)
            rows += self._keyed(conn, f"SELECT {_column_list('judgments')} FROM judgments "
                                      "WHERE other_run_id IN ({keys}) AND other_run_id <> ''", ids)
        names = schema.COLUMNS["judgments"]
        found = list({tuple(r[:7]): dict(zip(names, r)) for r in rows}.values())  # a pair within run_ids: once
        if prompts:
            texts = self.texts({r["prompt_hash"] for r in found})
            for row in found:
                row["prompt"] = texts.get(row["prompt_hash"], "")
        return found


def _instance(row: dict[str, Any], prompt: str, head: str | None, head_chars: int) -> dict[str, Any]:
    """A stored instance row as iter_instances gives it: its stats parsed, its prompt whole (`head_chars` of it the
    shared head whose hash is `head`, if any: see shared_heads)."""
    row["stats"] = orjson.loads(row["stats"])
    row["prompt"] = prompt
    row["prompt_head"] = head
    row["prompt_head_chars"] = head_chars
    return row


def _values(table: str, row: dict[str, Any]) -> tuple[Any, ...]:
    """A row's values in the table's column order, the schema's defaults for those it leaves out."""
    defaults = schema.DEFAULTS[table]
    return tuple([row[c] if c in row else defaults.get(c) for c in schema.COLUMNS[table]])


def open_store(url: str) -> Store:
    return Store(url)

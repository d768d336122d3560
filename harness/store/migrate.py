"""Bringing a store written by an earlier schema version up to this one, in place, in the caller's write
transaction (so a store is migrated whole or not at all, and processes opening it at once take turns)."""

from __future__ import annotations

import json
import zlib

from harness.records import DIGEST_HEX
from harness.store.database import Conn, Database
from harness.text import clean

_BATCH = 1000  # rows per executemany


def migrate_v2(conn: Conn) -> None:
    """Version 2 -> 3: keys and text hashes keep their first DIGEST_HEX hex digits (exactly what version 3 computes
    for the same content), and instances gain input_start / input_end (NULL: the input is stored whole, as before)."""
    n = DIGEST_HEX
    for table, columns in (("texts", ("hash", "head")), ("requests", ("key", "prompt_hash")), ("claims", ("key",)),
                           ("instances", ("prompt_hash",))):
        conn.execute(f"UPDATE {table} SET " + ", ".join(f"{c} = substr({c}, 1, {n})" for c in columns))
    for column in ("input_start", "input_end"):
        conn.execute(f"ALTER TABLE instances ADD COLUMN {column} INTEGER")
    rows = conn.rows("SELECT run_id, instance_id, request_keys FROM instances")
    conn.executemany("UPDATE instances SET request_keys = ? WHERE run_id = ? AND instance_id = ?", [
        (json.dumps([k[:n] for k in json.loads(keys)], separators=(",", ":")), run_id, instance_id)
        for run_id, instance_id, keys in rows])


def migrate_v3(conn: Conn, db: Database) -> None:
    """Version 3 -> 4: texts become TEXT (they were zlib-compressed UTF-8 in a BLOB column), a head one level deep
    (a text cut at a head that had a head of its own is cut at that one instead, so one join puts any text back
    together), and an instance's input its own text again (it was prompt[input_start:input_end] where the prompt held
    it, with `input` ""): the two columns go."""
    stored = {h: (head, zlib.decompress(bytes(body)).decode("utf-8"))
              for h, head, body in conn.rows("SELECT hash, head, body FROM texts")}
    whole: dict[str, str] = {}

    def text_of(digest: str) -> str:
        found = whole.get(digest)
        if found is None:
            chain = []  # iterative: a chain of heads has no depth limit
            while digest not in whole:
                chain.append(digest)
                head = stored[digest][0]
                if head is None:
                    break
                digest = head
            for link in reversed(chain):
                head, body = stored[link]
                whole[link] = (whole[head] if head is not None else "") + body
            found = whole[chain[0]] if chain else whole[digest]
        return found

    def root_of(digest: str) -> str:
        while stored[digest][0] is not None:
            digest = stored[digest][0]
        return digest

    rows = []
    for digest, (head, _) in stored.items():
        text = text_of(digest)
        root = root_of(head) if head is not None else None
        cut = len(text_of(root)) if root is not None else 0
        rows.append((digest, root, clean(text[cut:])))

    # A BLOB column becomes TEXT by rebuilding the table (SQLite cannot change a column's type in place).
    conn.execute(db.table_ddl("texts", "texts_v4"))
    for start in range(0, len(rows), _BATCH):
        conn.executemany("INSERT INTO texts_v4 (hash, head, body) VALUES (?, ?, ?)", rows[start:start + _BATCH])
    conn.execute("DROP TABLE texts")
    conn.execute("ALTER TABLE texts_v4 RENAME TO texts")

    cut_inputs = conn.rows("SELECT run_id, instance_id, prompt_hash, input_start, input_end FROM instances "
                           "WHERE input_start IS NOT NULL")
    updates = [(clean(text_of(prompt_hash)[start:end]), run_id, instance_id)
               for run_id, instance_id, prompt_hash, start, end in cut_inputs]
    for start in range(0, len(updates), _BATCH):
        conn.executemany("UPDATE instances SET input = ? WHERE run_id = ? AND instance_id = ?",
                         updates[start:start + _BATCH])
    for column in ("input_start", "input_end"):
        conn.execute(f"ALTER TABLE instances DROP COLUMN {column}")

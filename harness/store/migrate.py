"""Bringing a store written by an earlier schema version up to this one, in place."""

from __future__ import annotations

import json

from harness.clients.request import DIGEST_HEX
from harness.store.database import Conn


def migrate_v2(conn: Conn) -> None:
    """Version 2 -> 3, in the caller's write transaction: keys and text hashes keep their first DIGEST_HEX hex
    digits (exactly what version 3 computes for the same content), and instances gain input_start / input_end (NULL:
    the input is stored whole, as before)."""
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

"""Bringing a store written by an earlier schema version up to this one, in place."""

from __future__ import annotations

import json

from sqlalchemy import Connection, bindparam, select

from harness.clients.request import DIGEST_HEX
from harness.store import schema


def migrate_v2(conn: Connection) -> None:
    """Version 2 -> 3, in the caller's write transaction: keys and text hashes keep their first DIGEST_HEX hex
    digits (exactly what version 3 computes for the same content), and instances gain input_start / input_end (NULL:
    the input is stored whole, as before)."""
    n = DIGEST_HEX
    for table, columns in (("texts", ("hash", "head")), ("requests", ("key", "prompt_hash")), ("claims", ("key",)),
                           ("instances", ("prompt_hash",))):
        conn.exec_driver_sql(f"UPDATE {table} SET " + ", ".join(f"{c} = substr({c}, 1, {n})" for c in columns))
    for column in ("input_start", "input_end"):
        conn.exec_driver_sql(f"ALTER TABLE instances ADD COLUMN {column} INTEGER")
    table = schema.instances
    rows = conn.execute(select(table.c.run_id, table.c.instance_id, table.c.request_keys)).all()
    changed = [{"r": run_id, "i": instance_id, "k": json.dumps([k[:n] for k in json.loads(keys)], separators=(",", ":"))}
               for run_id, instance_id, keys in rows]
    if changed:
        conn.execute(table.update().where(table.c.run_id == bindparam("r"), table.c.instance_id == bindparam("i"))
                     .values(request_keys=bindparam("k")), changed)

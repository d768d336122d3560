"""harness.store.schema's tables as SQLAlchemy Tables, for the databases reached through SQLAlchemy (PostgreSQL):
imported only when one is opened, so a SQLite store never pays SQLAlchemy's import."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Dialect, Float, Integer, MetaData, String, Table, Text, TypeDecorator
from sqlalchemy.types import TypeEngine

from harness.store.schema import TABLES, Col
from harness.text import clean


class FreeText(TypeDecorator[str]):
    """A schema "free_text" column: text from outside, with what cannot be stored or shown (NUL, which PostgreSQL
    rejects, lone surrogates, terminal escapes) stored as U+FFFD rather than failing the whole write
    (harness.text.clean, which the store's own SQL applies too: Store._free_text)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return clean(value) if isinstance(value, str) else value


def _type(col: Col) -> TypeEngine[Any] | type[TypeEngine[Any]]:
    if col.type == "string":
        return String(col.length) if col.length else String
    return {"text": Text, "free_text": FreeText, "integer": Integer, "float": Float}[col.type]


metadata = MetaData()

for _name, _cols in TABLES.items():
    Table(_name, metadata, *(Column(c.name, _type(c), primary_key=c.key, nullable=c.null, default=c.default)
                             for c in _cols))

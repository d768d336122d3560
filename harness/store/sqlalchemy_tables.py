"""harness.store.schema's tables as SQLAlchemy Tables, for the databases reached through SQLAlchemy (PostgreSQL):
imported only when one is opened, so a SQLite store never pays SQLAlchemy's import."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Dialect, Float, Integer, MetaData, String, Table, Text, TypeDecorator
from sqlalchemy.types import TypeEngine

from harness.store.schema import TABLES, Col


class FreeText(TypeDecorator[str]):
    """A schema "free_text" column: PostgreSQL rejects NUL (U+0000) in text, which SQLite keeps and a model or a
    server can send; there it is stored as U+FFFD, the replacement character, rather than failing the whole write."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, str) and dialect.name == "postgresql" and "\x00" in value:
            return value.replace("\x00", "\ufffd")
        return value


def _type(col: Col) -> TypeEngine[Any] | type[TypeEngine[Any]]:
    if col.type == "string":
        return String(col.length) if col.length else String
    return {"text": Text, "free_text": FreeText, "integer": Integer, "float": Float}[col.type]


metadata = MetaData()

for _name, _cols in TABLES.items():
    Table(_name, metadata, *(Column(c.name, _type(c), primary_key=c.key, nullable=c.null, default=c.default)
                             for c in _cols))

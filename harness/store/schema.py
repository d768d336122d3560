"""Tables. Requests are keyed by the hash of everything that determines their answer, so they are shared by every
run (and every process) that sends the same request, and a rerun finds them.

The same tables serve SQLite and PostgreSQL. Names that come from the user (suites, models, scenarios, instance ids,
run ids built from them) have no length limit: SQLite never enforced one, so a limit would only make PostgreSQL
reject a run that SQLite took."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Dialect, Float, Integer, LargeBinary, MetaData, String, Table, Text, TypeDecorator

from harness.text import clean


class FreeText(TypeDecorator[str]):
    """Text as it came (model outputs, server errors, dataset inputs). What cannot be stored or shown (NUL, which
    PostgreSQL rejects in text, lone surrogates, terminal escapes) is stored as U+FFFD, the replacement character,
    rather than failing the whole write: harness.text.clean, which the store applies to these columns itself (its
    SQL bypasses SQLAlchemy's types; layout.FREE_TEXT lists them)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return clean(value) if isinstance(value, str) else value


metadata = MetaData()

# Bumped when a table changes shape. A store of version 2 is migrated in place when opened (harness.store.migrate); any
# other version is refused with a clear message instead of failing later on a missing column.
# 3: keys and text hashes are 32 hex digits (were 64); an instance's input may be stored as its place in the prompt.
SCHEMA_VERSION = 3

meta = Table(
    "harness_meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String, nullable=False),
)

runs = Table(
    "runs", metadata,
    Column("run_id", String, primary_key=True),
    Column("suite", String, nullable=False),
    Column("model", String, nullable=False),
    Column("scenario", String, nullable=False),
    Column("group_name", String, nullable=False),
    Column("method", String(64), nullable=False),
    Column("main_metric", String(100), nullable=False),
    Column("adapter_spec", Text, nullable=False),  # JSON
    Column("metrics", Text, nullable=False),  # JSON list
    Column("instances", Integer, nullable=False, default=0),
    Column("failed_requests", Integer, nullable=False, default=0),
    Column("truncated_instances", Integer, nullable=False, default=0),
    Column("requests", Integer, nullable=False, default=0),  # distinct requests the run needed
    # Everything the run's results depend on (runner.run_fingerprint): a rerun with the same one skips the run.
    Column("fingerprint", String(64), nullable=False, default=""),
    Column("server", Text, nullable=False, default="{}"),  # JSON: what answered (e.g. vLLM's version and model)
    Column("updated_at", String(40), nullable=False),
)

# Prompts, stored once however many requests and instances use them (a multiple-choice item's choices share one;
# a 5-shot prompt is mostly the same few-shot block), zlib-compressed.
texts = Table(
    "texts", metadata,
    Column("hash", String(64), primary_key=True),  # harness.clients.request.digest of the UTF-8 text
    # The text is `head` + body: prompts that share a long head (instructions and few-shot examples) store it once,
    # as a text of its own. NULL when the text is stored whole.
    Column("head", String(64)),
    Column("body", LargeBinary, nullable=False),  # zlib-compressed UTF-8
)

requests = Table(
    "requests", metadata,
    Column("key", String(64), primary_key=True),
    Column("deployment", String, nullable=False),
    Column("model", String, nullable=False),
    Column("request", Text, nullable=False),  # JSON of harness.clients.request.Request, its prompt in `texts`
    Column("prompt_hash", String(64), nullable=False),
    Column("ok", Integer, nullable=False),
    Column("result", Text, nullable=False),  # JSON of harness.clients.request.Result
    Column("error", FreeText),
    Column("latency_s", Float),
    Column("prompt_tokens", Integer),
    Column("completion_tokens", Integer),
    Column("updated_at", String(40), nullable=False),
)

# Which process is answering a request: processes that share a store (several `harness run` of one suite, on one
# machine or many) split the work instead of all sending everything. Rows go when the request's result is stored;
# a claim left by a killed process only defers that request to the end of another process's run.
claims = Table(
    "claims", metadata,
    Column("key", String(64), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("claimed_at", Float, nullable=False),
)

instances = Table(
    "instances", metadata,
    Column("run_id", String, primary_key=True),
    Column("instance_id", String, primary_key=True),
    Column("position", Integer, nullable=False),
    # When the prompt holds the input word for word (most do: it was a fifth of a run's bytes, stored twice), the
    # input is stored as its place in the prompt, prompt[input_start:input_end], and `input` is "".
    Column("input", FreeText, nullable=False),
    Column("input_start", Integer),
    Column("input_end", Integer),
    Column("references", Text, nullable=False),  # JSON [[output, 1 if correct else 0], ...]
    Column("prompt_hash", String(64), nullable=False),  # the prompt as sent, in `texts`
    Column("request_keys", Text, nullable=False),  # JSON list
    Column("prediction", FreeText),
    Column("outputs", Text, nullable=False),  # JSON list
    Column("fewshot_dropped", Integer, nullable=False, default=0),
    Column("error", FreeText),
    Column("stats", Text, nullable=False),  # JSON {metric: value}; none for an instance whose request failed
)

run_stats = Table(
    "run_stats", metadata,
    Column("run_id", String, primary_key=True),
    Column("metric", String(100), primary_key=True),
    Column("mean", Float, nullable=False),
    Column("ci_low", Float, nullable=False),
    Column("ci_high", Float, nullable=False),
    Column("count", Integer, nullable=False),
    Column("lower_is_better", Integer, nullable=False),
)


def layout_module() -> str:
    """The text of harness/store/layout.py: these tables as plain data (SQLite's CREATE statements, each table's
    columns, defaults and FreeText columns), so that opening a SQLite store needs no SQLAlchemy import (~0.3 s of
    every command). tests/test_store.py checks the file is what this returns; `python -m harness.store.schema`
    rewrites it."""
    from pprint import pformat

    from sqlalchemy.dialects import sqlite
    from sqlalchemy.schema import CreateTable

    tables = metadata.sorted_tables
    ddl = [" ".join(str(CreateTable(t, if_not_exists=True).compile(dialect=sqlite.dialect())).split()) for t in tables]
    columns = {t.name: tuple(c.name for c in t.columns) for t in tables}
    defaults = {t.name: {c.name: c.default.arg for c in t.columns if c.default is not None and c.default.is_scalar}
                for t in tables}
    free_text = {t.name: tuple(c.name for c in t.columns if isinstance(c.type, FreeText)) for t in tables}
    lines = [
        '"""Generated by `python -m harness.store.schema` from harness/store/schema.py: do not edit by hand.',
        "",
        "The tables as plain data, so that a SQLite store opens without importing SQLAlchemy (~0.3 s of every",
        'command); tests/test_store.py checks this file is what schema.py generates."""',
        "",
        f"SCHEMA_VERSION = {SCHEMA_VERSION}",
        "",
        "SQLITE_DDL = (",
        *(f"    {statement!r}," for statement in ddl),  # one line each: long, but diffable
        ")",
        "",
        f"COLUMNS = {pformat(columns, width=116, sort_dicts=False)}",
        "",
        f"DEFAULTS = {pformat(defaults, width=116, sort_dicts=False)}",
        "",
        f"FREE_TEXT = {pformat(free_text, width=116, sort_dicts=False)}",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    from pathlib import Path

    Path(__file__).with_name("layout.py").write_text(layout_module(), encoding="utf-8")

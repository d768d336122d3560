"""The store's tables and views, as plain data: the one definition that SQLite's DDL (written here, so a SQLite store
opens without importing SQLAlchemy) and PostgreSQL's SQLAlchemy tables (harness.store.sqlalchemy_tables, imported
only for a server database) are both derived from. docs/store.md describes them for people querying a store.

Requests are keyed by the hash of everything that determines their answer, so they are shared by every run (and
every process) that sends the same request, and a rerun finds them. Every column is plain SQL: text is TEXT, JSON
is TEXT, so sqlite3, psql or any SQL tool shows what is stored. Prompts are kept once each in `texts`, a long head
that many share (instructions and few-shot examples) as a text of its own; the `prompts` view puts them back
together.

Names that come from the user (suites, models, scenarios, instance ids, run ids built from them) have no length
limit: SQLite never enforced one, so a limit would only make PostgreSQL reject a run that SQLite took."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

# Bumped when a table changes shape. A store of version 2 or 3 is migrated in place when opened
# (harness.store.migrate); any other version is refused with a clear message instead of failing later.
# 3: keys and text hashes are 32 hex digits (were 64); an instance's input may be stored as its place in the prompt.
# 4: texts are TEXT (were zlib-compressed BLOBs); an instance's input is always its own text; views for reading.
# 5: run_records, how each run was made (harness.provenance); a version-4 store only gains the empty table.
# (The `judgments` table came without a new version: it is a table of its own, created where missing.)
SCHEMA_VERSION = 5

# string: VARCHAR, of `length` if given. text: TEXT. free_text: TEXT as it came (model outputs, server errors,
# dataset inputs, prompts), which may hold NUL (U+0000): PostgreSQL rejects it in text, so there it is stored as
# U+FFFD, the replacement character, rather than failing the whole write. (JSON text needs nothing: json.dumps
# escapes NUL as \u0000.)
ColumnType = Literal["string", "text", "free_text", "integer", "float"]


@dataclass(frozen=True)
class Col:
    name: str
    type: ColumnType
    length: int | None = None  # for "string"
    null: bool = False  # may be NULL
    key: bool = False  # part of the primary key
    default: Any = None  # what a row written without this column gets (the store fills it in)
    doc: str = ""


KEY_CHARS = 64  # request keys and text hashes (harness.records.digest: 32 hex digits; 64 in version 2)

TABLES: dict[str, tuple[Col, ...]] = {
    "harness_meta": (
        Col("key", "string", 64, key=True, doc="`schema_version`"),
        Col("value", "string", doc="its value"),
    ),
    "runs": (
        Col("run_id", "string", key=True, doc="suite, model, scenario and settings, as the site names the run"),
        Col("suite", "string"),
        Col("model", "string"),
        Col("scenario", "string"),
        Col("group_name", "string", doc="the suite's group the run is shown under"),
        Col("method", "string", 64, doc="the adapter: generation, multiple_choice_joint, ..."),
        Col("main_metric", "string", 100, doc="the metric the run is ranked by"),
        Col("adapter_spec", "text", doc="JSON: the adapter's settings"),
        Col("metrics", "text", doc="JSON list: the metrics computed"),
        Col("instances", "integer", default=0, doc="instances evaluated"),
        Col("failed_requests", "integer", default=0),
        Col("truncated_instances", "integer", default=0, doc="instances whose prompt lost few-shot examples to fit"),
        Col("requests", "integer", default=0, doc="distinct requests the run needed"),
        Col("fingerprint", "string", KEY_CHARS, default="",
            doc="everything the run's results depend on: a rerun with the same one skips the run"),
        Col("server", "text", default="{}", doc="JSON: what answered (e.g. vLLM's version and model)"),
        Col("updated_at", "string", 40, doc="when the run was saved (UTC, ISO 8601)"),
    ),
    # Every text is stored once however many requests and instances use it (a multiple-choice item's choices share
    # one prompt; a 5-shot prompt is mostly the same few-shot block). A text is `head`'s text + `body`; a head is a
    # text of its own whose head is NULL (one level only, so one join puts any text back together: the `prompts`
    # view).
    "texts": (
        Col("hash", "string", KEY_CHARS, key=True, doc="harness.records.digest of the UTF-8 text"),
        Col("head", "string", KEY_CHARS, null=True, doc="hash of the shared head the text begins with; NULL: whole"),
        Col("body", "free_text", doc="the text after its head (all of it when `head` is NULL)"),
    ),
    "requests": (
        Col("key", "string", KEY_CHARS, key=True, doc="hash of the deployment, model and request"),
        Col("deployment", "string"),
        Col("model", "string"),
        Col("request", "text", doc="JSON of harness.records.Request, its prompt left out (it is in `texts`)"),
        Col("prompt_hash", "string", KEY_CHARS, doc="the prompt, in `texts`"),
        Col("ok", "integer", doc="1: answered; 0: failed (a rerun sends it again)"),
        Col("result", "text", doc="JSON of harness.records.Result (the columns below left out)"),
        Col("error", "free_text", null=True, doc="why it failed"),
        Col("latency_s", "float", null=True),
        Col("prompt_tokens", "integer", null=True),
        Col("completion_tokens", "integer", null=True),
        Col("updated_at", "string", 40),
    ),
    # Which process is answering a request: processes that share a store (several `harness run` of one suite, on one
    # machine or many) split the work instead of all sending everything. Rows go when the request's result is
    # stored; a claim left by a killed process only defers that request to the end of another process's run.
    "claims": (
        Col("key", "string", KEY_CHARS, key=True, doc="the request's key"),
        Col("owner", "string", 64, doc="the process answering it"),
        Col("claimed_at", "float", doc="Unix time"),
    ),
    "instances": (
        Col("run_id", "string", key=True),
        Col("instance_id", "string", key=True, doc="the scenario's id of the item"),
        Col("position", "integer", doc="order within the run"),
        Col("input", "free_text", doc="the item's input, as the dataset gave it"),
        Col("references", "text", doc="JSON [[output, 1 if correct else 0], ...]"),
        Col("prompt_hash", "string", KEY_CHARS, doc="the prompt as sent, in `texts`"),
        Col("request_keys", "text", doc="JSON list of the requests' keys"),
        Col("prediction", "free_text", null=True, doc="the answer the metrics scored"),
        Col("outputs", "text", doc="JSON list: the model's raw outputs"),
        Col("fewshot_dropped", "integer", default=0, doc="few-shot examples left out to fit the context"),
        Col("error", "free_text", null=True, doc="why the instance has no answer"),
        Col("stats", "text", doc="JSON {metric: value}"),
    ),
    "run_stats": (
        Col("run_id", "string", key=True),
        Col("metric", "string", 100, key=True),
        Col("mean", "float"),
        Col("ci_low", "float", doc="95% bootstrap interval"),
        Col("ci_high", "float"),
        Col("count", "integer", doc="instances with a value"),
        Col("lower_is_better", "integer"),
    ),
    # A judge's verdict on a candidate's answer (harness.judging): one row per judge request. Single and
    # reference grading judge one run's answer (`other_run_id` ""); pairwise comparison judges the answers of two
    # runs to one instance, asked in both orders (`ordering` ab: run_id's answer shown first; ba: other_run_id's).
    # The judge's request (its prompt and raw reply, cached like any request) is `request_key` in `requests`.
    "judgments": (
        Col("run_id", "string", key=True, doc="the run whose answer is judged (pairwise: answer A's)"),
        Col("other_run_id", "string", key=True, default="", doc="pairwise: the run of answer B; else ''"),
        Col("instance_id", "string", key=True),
        Col("judge", "string", key=True, doc="the judge's deployment"),
        Col("rubric", "string", key=True, doc="the rubric's name"),
        Col("turn", "integer", key=True, doc="the conversation turn judged, from 1"),
        Col("ordering", "string", 8, key=True, doc="single, ab or ba"),
        Col("rubric_hash", "string", 64, doc="sha256 of the rubric file: its version"),
        Col("kind", "string", 16, doc="single, reference, pairwise or refusal"),
        Col("request_key", "string", KEY_CHARS, doc="the judge's request, in `requests`"),
        Col("prompt_hash", "string", KEY_CHARS, doc="the judge's prompt as shown (messages rendered), in `texts`"),
        Col("reply", "free_text", null=True, doc="the judge's raw reply; NULL when its request failed"),
        Col("verdict", "string", null=True, doc="the parsed verdict (a score, first/second/tie, a label); NULL: none"),
        Col("parse_error", "free_text", null=True, doc="why the reply has no verdict (or why the request failed)"),
        Col("self_judged", "integer", default=0,
            doc="the judge is the candidate or declares its family: 1 (pairwise: 1 answer A's model, 2 B's, 3 both)"),
        Col("length_diff", "integer", null=True, doc="pairwise: characters of answer A minus answer B"),
    ),
    # How a run was made, to reproduce it: command, suite entry, versions, deployment settings (no secrets), data
    # files and their sha256, seeds, start and end (harness.provenance; docs/results.md lists the fields).
    "run_records": (
        Col("run_id", "string", key=True),
        Col("record", "text", doc="JSON: see docs/results.md"),
    ),
}

# Views for reading a store with plain SQL, in creation order (a view may use one before it). The SQL is the same on
# SQLite and PostgreSQL.
VIEWS: dict[str, str] = {
    # Every text, whole: its head's text and its body.
    "prompts": (
        "SELECT t.hash AS hash, COALESCE(h.body, '') || t.body AS text "
        "FROM texts t LEFT JOIN texts h ON h.hash = t.head"
    ),
    # Each instance with its run's names and its prompt as sent.
    "instance_details": (
        "SELECT i.run_id AS run_id, r.suite AS suite, r.model AS model, r.scenario AS scenario, "
        "i.instance_id AS instance_id, i.position AS position, i.input AS input, p.text AS prompt, "
        'i."references" AS "references", i.prediction AS prediction, i.outputs AS outputs, i.stats AS stats, '
        "i.error AS error, i.request_keys AS request_keys "
        "FROM instances i JOIN runs r ON r.run_id = i.run_id LEFT JOIN prompts p ON p.hash = i.prompt_hash"
    ),
    # Each request with its prompt.
    "request_details": (
        'SELECT q."key" AS "key", q.deployment AS deployment, q.model AS model, p.text AS prompt, '
        "q.request AS request, q.ok AS ok, q.result AS result, q.error AS error, q.latency_s AS latency_s, "
        "q.prompt_tokens AS prompt_tokens, q.completion_tokens AS completion_tokens, q.updated_at AS updated_at "
        "FROM requests q LEFT JOIN prompts p ON p.hash = q.prompt_hash"
    ),
    # Each run's aggregate metrics, with the run's names.
    "run_scores": (
        "SELECT r.suite AS suite, r.model AS model, r.scenario AS scenario, r.group_name AS group_name, "
        's.metric AS metric, s.mean AS mean, s.ci_low AS ci_low, s.ci_high AS ci_high, s."count" AS "count", '
        "s.lower_is_better AS lower_is_better, r.run_id AS run_id "
        "FROM run_stats s JOIN runs r ON r.run_id = s.run_id"
    ),
}

COLUMNS: dict[str, tuple[str, ...]] = {table: tuple(c.name for c in cols) for table, cols in TABLES.items()}
DEFAULTS: dict[str, dict[str, Any]] = {table: {c.name: c.default for c in cols if c.default is not None}
                                       for table, cols in TABLES.items()}
FREE_TEXT: dict[str, frozenset[str]] = {table: frozenset(c.name for c in cols if c.type == "free_text")
                                        for table, cols in TABLES.items()}

_SQLITE_TYPES = {"text": "TEXT", "free_text": "TEXT", "integer": "INTEGER", "float": "FLOAT"}


def _sqlite_type(col: Col) -> str:
    if col.type == "string":
        return f"VARCHAR({col.length})" if col.length else "VARCHAR"
    return _SQLITE_TYPES[col.type]


def sqlite_table_ddl(table: str, name: str | None = None) -> str:
    """SQLite's CREATE TABLE for `table` (under `name`, for a migration that rebuilds it)."""
    cols = TABLES[table]
    parts = [f'"{c.name}" {_sqlite_type(c)}' + ("" if c.null else " NOT NULL") for c in cols]
    parts.append("PRIMARY KEY (" + ", ".join(f'"{c.name}"' for c in cols if c.key) + ")")
    return f"CREATE TABLE IF NOT EXISTS {name or table} ({', '.join(parts)})"


SQLITE_DDL: tuple[str, ...] = tuple(sqlite_table_ddl(table) for table in TABLES)

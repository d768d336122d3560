"""Tables. Requests are keyed by the hash of everything that determines their answer, so they are shared by every
run (and every process) that sends the same request, and a rerun finds them."""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, LargeBinary, MetaData, String, Table, Text

metadata = MetaData()

runs = Table(
    "runs", metadata,
    Column("run_id", String(400), primary_key=True),
    Column("suite", String(200), nullable=False),
    Column("model", String(200), nullable=False),
    Column("scenario", String(400), nullable=False),
    Column("group_name", String(200), nullable=False),
    Column("method", String(64), nullable=False),
    Column("main_metric", String(100), nullable=False),
    Column("adapter_spec", Text, nullable=False),  # JSON
    Column("metrics", Text, nullable=False),  # JSON list
    Column("instances", Integer, nullable=False, default=0),
    Column("failed_requests", Integer, nullable=False, default=0),
    Column("truncated_instances", Integer, nullable=False, default=0),
    Column("updated_at", String(40), nullable=False),
)

# Prompts, stored once however many requests and instances use them (a multiple-choice item's choices share one;
# a 5-shot prompt is mostly the same few-shot block), zlib-compressed.
texts = Table(
    "texts", metadata,
    Column("hash", String(64), primary_key=True),  # sha256 of the UTF-8 text
    Column("body", LargeBinary, nullable=False),
)

requests = Table(
    "requests", metadata,
    Column("key", String(64), primary_key=True),
    Column("deployment", String(200), nullable=False),
    Column("model", String(200), nullable=False),
    Column("request", Text, nullable=False),  # JSON of harness.clients.request.Request, its prompt in `texts`
    Column("prompt_hash", String(64), nullable=False),
    Column("ok", Integer, nullable=False),
    Column("result", Text, nullable=False),  # JSON of harness.clients.request.Result
    Column("error", Text),
    Column("latency_s", Float),
    Column("prompt_tokens", Integer),
    Column("completion_tokens", Integer),
    Column("updated_at", String(40), nullable=False),
)

instances = Table(
    "instances", metadata,
    Column("run_id", String(400), primary_key=True),
    Column("instance_id", String(200), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("input", Text, nullable=False),
    Column("references", Text, nullable=False),  # JSON [{"output", "correct"}]
    Column("prompt_hash", String(64), nullable=False),  # the prompt as sent, in `texts`
    Column("request_keys", Text, nullable=False),  # JSON list
    Column("prediction", Text),
    Column("outputs", Text, nullable=False),  # JSON list
    Column("fewshot_dropped", Integer, nullable=False, default=0),
    Column("error", Text),
)

instance_stats = Table(
    "instance_stats", metadata,
    Column("run_id", String(400), primary_key=True),
    Column("instance_id", String(200), primary_key=True),
    Column("metric", String(100), primary_key=True),
    Column("value", Float, nullable=False),
)

run_stats = Table(
    "run_stats", metadata,
    Column("run_id", String(400), primary_key=True),
    Column("metric", String(100), primary_key=True),
    Column("mean", Float, nullable=False),
    Column("ci_low", Float, nullable=False),
    Column("ci_high", Float, nullable=False),
    Column("count", Integer, nullable=False),
    Column("lower_is_better", Integer, nullable=False),
)

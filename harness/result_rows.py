"""A store's results as plain rows (dicts): runs, scores, instances and requests, one row per thing. The one reading
of a store that `harness export` writes to files, `harness.results` turns into pandas DataFrames and `harness diff`
compares; docs/results.md describes every column.

JSON columns come back parsed (dicts and lists); each instance's metric values are columns of their own, named
`metric.<name>` (METRIC_PREFIX), so that a table of instances has one row per instance."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from harness.errors import HarnessError
from harness.store.store import Store, open_store, sqlite_url

METRIC_PREFIX = "metric."
_CHUNK = 500  # keys per IN (...) query, as the store's own


def is_url(location: str) -> bool:
    return "://" in location


def open_results(output: str | Path | None = None, db: str | None = None) -> Store:
    """The store of an output folder (its harness.db), or of a database URL (`db`, or `output` written as a URL).
    A folder without a store is an error rather than a new empty store."""
    if db is None and output is not None and is_url(str(output)):
        db = str(output)
    if db is not None:
        return open_store(db)
    folder = Path(output if output is not None else "out")
    if folder.is_file():  # the store's file itself
        return open_store(f"sqlite:///{folder}")
    if not (folder / "harness.db").is_file():
        raise HarnessError("no store here (harness.db): run `harness run` with this --output first, or pass --db",
                           path=str(folder))
    return open_store(sqlite_url(folder))


def _loads(text: str | None, default: Any) -> Any:
    if text is None or text == "":
        return default
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return default


def _where_suite(suite: str | None, alias: str = "r") -> tuple[str, tuple[Any, ...]]:
    return (f" WHERE {alias}.suite = ?", (suite,)) if suite is not None else ("", ())


def check_suite(store: Store, suite: str | None) -> None:
    """A --suite that names no suite in the store is a mistake to report, not an empty table."""
    if suite is not None and suite not in store.suites():
        names = ", ".join(store.suites()) or "none"
        raise HarnessError(f"no suite {suite!r} in the store (has: {names})", field="--suite")


# --- runs ---------------------------------------------------------------------------------------------------------

def run_rows(store: Store, suite: str | None = None) -> list[dict[str, Any]]:
    """One row per run: the `runs` table's columns (`adapter_spec`, `metrics` and `server` parsed from JSON) and the
    run's reproduce record (`record`, a dict; None for a run stored before records were kept). Tokens, latency and
    cost are per-instance metrics (`metric.cost_usd` in instance rows) and their means are scores."""
    where, params = _where_suite(suite)
    with store.db.connect() as conn:
        runs = conn.dicts(f"SELECT r.* FROM runs r{where} ORDER BY r.suite, r.group_name, r.scenario, r.model", params)
        records = dict(conn.rows("SELECT run_id, record FROM run_records"))
    return [{**run, "adapter_spec": _loads(run["adapter_spec"], {}), "metrics": _loads(run["metrics"], []),
             "server": _loads(run["server"], {}), "record": _loads(records.get(run["run_id"]), None)}
            for run in runs]


# --- scores -------------------------------------------------------------------------------------------------------

def score_rows(store: Store, suite: str | None = None) -> list[dict[str, Any]]:
    """One row per run and metric: `suite`, `model`, `scenario`, `group_name`, `run_id`, `metric`, `mean`, the 95%
    bootstrap interval `ci_low`..`ci_high`, `count` (instances with a value), `lower_is_better` and `is_main` (the
    metric the run is ranked by)."""
    where, params = _where_suite(suite)
    with store.db.connect() as conn:
        rows = conn.dicts(
            "SELECT r.suite AS suite, r.model AS model, r.scenario AS scenario, r.group_name AS group_name, "
            "r.run_id AS run_id, s.metric AS metric, s.mean AS mean, s.ci_low AS ci_low, s.ci_high AS ci_high, "
            's."count" AS "count", s.lower_is_better AS lower_is_better, r.main_metric AS main_metric '
            f"FROM run_stats s JOIN runs r ON r.run_id = s.run_id{where} "
            "ORDER BY r.suite, r.group_name, r.scenario, r.model, s.metric", params)
    for row in rows:
        row["lower_is_better"] = bool(row["lower_is_better"])
        row["is_main"] = row.pop("main_metric") == row["metric"]
    return rows


# --- instances ----------------------------------------------------------------------------------------------------

_INSTANCES = (
    "SELECT r.suite AS suite, r.model AS model, r.scenario AS scenario, r.group_name AS group_name, "
    "i.run_id AS run_id, i.instance_id AS instance_id, i.position AS position, i.input AS input, "
    "{prompt} AS prompt, i.prompt_hash AS prompt_hash, i.\"references\" AS \"references\", "
    "i.prediction AS prediction, i.outputs AS outputs, i.error AS error, i.fewshot_dropped AS fewshot_dropped, "
    "i.request_keys AS request_keys, r.main_metric AS main_metric, i.stats AS stats "
    "FROM instances i JOIN runs r ON r.run_id = i.run_id{join}{where} ORDER BY r.suite, i.run_id, i.position"
)


def metric_names(store: Store, suite: str | None = None) -> list[str]:
    """Every metric some instance of the suite (or store) has a value of, sorted."""
    where, params = _where_suite(suite)
    names: set[str] = set()
    with store.db.connect() as conn:
        for batch in conn.batches(f"SELECT i.stats FROM instances i JOIN runs r ON r.run_id = i.run_id{where}",
                                  params, 1000):
            for (stats,) in batch:
                names.update(_loads(stats, {}))
    return sorted(names)


def instance_rows(store: Store, suite: str | None = None, prompts: bool = True) -> Iterator[dict[str, Any]]:
    """One row per instance of every run, streamed: `suite`, `model`, `scenario`, `group_name`, `run_id`,
    `instance_id`, `position`, `perturbation` (the perturbation that rewrote this copy of an instance, else None),
    `input`, `prompt` (whole, as sent; left out when `prompts` is False), `prompt_hash`, `references` ([[output, 1 if
    correct else 0], ...]), `correct_references` (the correct outputs), `prediction`, `outputs`, `error`,
    `fewshot_dropped`, `request_keys`, `main_metric`, `main_score` (the value of the run's main metric) and one
    `metric.<name>` column per metric the instance has a value of."""
    where, params = _where_suite(suite)
    sql = _INSTANCES.format(prompt="p.text" if prompts else "NULL",
                            join=" LEFT JOIN prompts p ON p.hash = i.prompt_hash" if prompts else "", where=where)
    with store.db.connect() as conn:
        for batch in conn.batches(sql, params, 1000):
            for values in batch:
                yield _instance_row(dict(zip(_INSTANCE_NAMES, values)), prompts)


_INSTANCE_NAMES = ("suite", "model", "scenario", "group_name", "run_id", "instance_id", "position", "input", "prompt",
                   "prompt_hash", "references", "prediction", "outputs", "error", "fewshot_dropped", "request_keys",
                   "main_metric", "stats")


def _instance_row(row: dict[str, Any], prompts: bool) -> dict[str, Any]:
    stats = _loads(row.pop("stats"), {})
    references = _loads(row["references"], [])
    if references and isinstance(references[0], dict):  # stores before version 3 kept {"output", "correct"}
        references = [[r.get("output", ""), int(bool(r.get("correct")))] for r in references]
    instance_id = row["instance_id"]
    out = {
        **{k: row[k] for k in ("suite", "model", "scenario", "group_name", "run_id", "instance_id", "position")},
        "perturbation": instance_id.rpartition("~")[2] if "~" in instance_id else None,
        "input": row["input"],
        **({"prompt": row["prompt"]} if prompts else {}),
        "prompt_hash": row["prompt_hash"], "references": references,
        "correct_references": [r[0] for r in references if len(r) > 1 and r[1]],
        "prediction": row["prediction"], "outputs": _loads(row["outputs"], []), "error": row["error"],
        "fewshot_dropped": row["fewshot_dropped"], "request_keys": _loads(row["request_keys"], []),
        "main_metric": row["main_metric"], "main_score": stats.get(row["main_metric"]),
    }
    out.update({METRIC_PREFIX + name: value for name, value in sorted(stats.items())})
    return out


# --- requests -----------------------------------------------------------------------------------------------------

_REQUEST_NAMES = ("key", "deployment", "model", "prompt", "request", "ok", "result", "error", "latency_s",
                  "prompt_tokens", "completion_tokens", "updated_at")


def request_rows(store: Store, suite: str | None = None) -> Iterator[dict[str, Any]]:
    """One row per distinct request (of the suite's runs, or every one stored): `key`, `deployment`, `model`,
    `prompt` (whole), `request` (its settings: kind, max tokens, stop, ...), `ok`, `completions` (the texts that came
    back), `result` (all of it: logprobs, the prompt as a chat template rendered it, ...), `error`, `latency_s`,
    `prompt_tokens`, `completion_tokens`, `updated_at`. A request that several runs share is one row."""
    columns = ", ".join('"' + name + '"' for name in _REQUEST_NAMES)
    select = f"SELECT {columns} FROM request_details"
    with store.db.connect() as conn:
        if suite is None:
            batches: Iterator[list[tuple[Any, ...]]] = conn.batches(select + ' ORDER BY "key"', (), 1000)
        else:
            keys: set[str] = set()
            for (request_keys,) in conn.rows("SELECT i.request_keys FROM instances i JOIN runs r "
                                             "ON r.run_id = i.run_id WHERE r.suite = ?", (suite,)):
                keys.update(_loads(request_keys, []))
            ordered = sorted(keys)
            batches = (conn.rows(select + f' WHERE "key" IN ({", ".join("?" * len(chunk))}) ORDER BY "key"', chunk)
                       for chunk in (ordered[s:s + _CHUNK] for s in range(0, len(ordered), _CHUNK)))
        for batch in batches:
            for values in batch:
                row = dict(zip(_REQUEST_NAMES, values))
                result = _loads(row["result"], {})
                request = _loads(row["request"], {})
                request.pop("prompt", None)  # null here: the prompt is its own column
                yield {**row, "ok": bool(row["ok"]), "request": request,
                       "completions": list(result.get("texts") or []) if isinstance(result, dict) else [],
                       "result": result}

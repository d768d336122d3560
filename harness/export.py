"""Results out of the store, as files other tools read:

- `harness summarize --format text|csv|json|markdown`: each suite's leaderboard tables (format_summary);
- `harness export --to DIR --format csv|jsonl|parquet`: runs, scores, instances and requests, one file per table
  (export_tables; the rows are harness.result_rows');
- beside the site's pages, a CSV and a JSON file of every table the site shows: the leaderboards
  (leaderboard.csv/.json) and each group's table (groups/<group>.csv/.json) (write_table_files, called by the
  site builder).

Values are written exactly as stored, model outputs included: a spreadsheet that runs formulas it finds in a cell
("=...") should import the CSV as text."""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.names import slug
from harness.report import Leaderboard, Report, RunInfo, Score

SUMMARY_FORMATS = ("text", "csv", "json", "markdown")
EXPORT_FORMATS = ("csv", "jsonl", "parquet")
TABLES = ("runs", "scores", "instances", "requests")

# The long form of a leaderboard: one row per model and group (a model's win rate repeats on its rows).
BOARD_COLUMNS = ("suite", "table", "model", "win_rate", "group", "metric", "lower_is_better", "mean", "ci_low",
                 "ci_high", "count")
GROUP_COLUMNS = ("suite", "group", "model", "scenario", "run_id", "method", "instances", "failed_requests", "metric",
                 "is_main", "lower_is_better", "mean", "ci_low", "ci_high", "count")


def _number(value: float | None) -> float | None:
    """NaN and infinities are not JSON: they are written as null (an empty CSV cell)."""
    return value if value is None or math.isfinite(value) else None


def _score(score: Score | None) -> dict[str, Any]:
    if score is None:
        return {"mean": None, "ci_low": None, "ci_high": None, "count": None}
    return {"mean": _number(score.mean), "ci_low": _number(score.ci_low), "ci_high": _number(score.ci_high),
            "count": score.count}


def _boards(report: Report) -> list[tuple[str, str, Leaderboard]]:
    """(name, description, leaderboard) of every table the summary and the site show: accuracy first."""
    main = ("accuracy", "Each group's main metric, and each model's mean win rate over the groups.", report.leaderboard)
    return [main, *((a.name, a.description, a.leaderboard) for a in report.aspects)]


def _ranked(board: Leaderboard) -> list[str]:
    """Models by mean win rate, best first, those without one last (as the text table and the site order them)."""
    def key(model: str) -> tuple[bool, float]:
        rate = _number(board.win_rates.get(model))
        return (rate is None, -(rate or 0.0))

    return sorted(board.models, key=key)


def board_rows(report: Report) -> list[dict[str, Any]]:
    """Every leaderboard of the report in long form (BOARD_COLUMNS)."""
    rows = []
    for name, _, board in _boards(report):
        for model in _ranked(board):
            for column in board.columns:
                score = board.cells.get((model, column.group))
                if score is None:
                    continue
                rows.append({"suite": report.suite, "table": name, "model": model,
                             "win_rate": _number(board.win_rates.get(model)), "group": column.group,
                             "metric": column.metric, "lower_is_better": column.lower_is_better, **_score(score)})
    return rows


def board_json(report: Report) -> dict[str, Any]:
    """The report's leaderboards as one JSON object: per table its columns and its rows, best model first."""
    tables = []
    for name, description, board in _boards(report):
        rows = [{"model": model, "win_rate": _number(board.win_rates.get(model)),
                 "failed_requests": board.failed_requests.get(model, 0),
                 "cells": {c.group: _score(board.cells[(model, c.group)]) for c in board.columns
                           if (model, c.group) in board.cells}}
                for model in _ranked(board)]
        columns = [{"group": c.group, "metric": c.metric, "lower_is_better": c.lower_is_better,
                    "description": c.description} for c in board.columns]
        tables.append({"name": name, "description": description, "columns": columns, "rows": rows})
    return {"suite": report.suite, "created_at": report.created_at, "tables": tables}


def group_rows(report: Report, group: str) -> list[dict[str, Any]]:
    """A group's table as the site shows it, in long form (GROUP_COLUMNS): each of its runs' metrics."""
    rows = []
    for run in sorted((r for r in report.runs if r.group == group), key=lambda r: (r.model, r.scenario, r.run_id)):
        for metric in sorted(run.scores, key=lambda m: (m != run.main_metric, m)):
            score = run.scores[metric]
            rows.append({"suite": report.suite, "group": group, **_run_fields(run), "metric": metric,
                         "is_main": metric == run.main_metric, "lower_is_better": score.lower_is_better,
                         **_score(score)})
    return rows


def _run_fields(run: RunInfo) -> dict[str, Any]:
    return {"model": run.model, "scenario": run.scenario, "run_id": run.run_id, "method": run.method,
            "instances": run.instances, "failed_requests": run.failed_requests}


def group_json(report: Report, group: str) -> dict[str, Any]:
    column = next((c for c in report.leaderboard.columns if c.group == group), None)
    summary = [{"model": model, "win_rate": _number(report.leaderboard.win_rates.get(model)),
                **_score(report.leaderboard.cells.get((model, group)))}
               for model in _ranked(report.leaderboard) if (model, group) in report.leaderboard.cells]
    runs = [{**_run_fields(run), "main_metric": run.main_metric,
             "scores": {m: {**_score(s), "lower_is_better": s.lower_is_better} for m, s in sorted(run.scores.items())}}
            for run in report.runs if run.group == group]
    return {"suite": report.suite, "group": group, "metric": column.metric if column else None,
            "description": column.description if column else "", "summary": summary, "runs": runs}


# --- the site's table files -------------------------------------------------------------------------------------

def leaderboard_file(ext: str) -> str:
    """The leaderboard's table file (ext "csv" or "json"), relative to the site's root."""
    return f"leaderboard.{ext}"


def group_table_file(group: str, ext: str) -> str:
    """A group's table file (ext "csv" or "json"), relative to the site's root, beside the group's page."""
    return f"groups/{slug(group)}.{ext}"


def write_table_files(report: Report, site_dir: Path) -> list[Path]:
    """A CSV and a JSON file of each table the site shows (leaderboard_file, group_table_file); returns them."""
    site_dir = Path(site_dir)
    written = [
        _write_text(site_dir / leaderboard_file("csv"), _csv_text(BOARD_COLUMNS, board_rows(report))),
        _write_text(site_dir / leaderboard_file("json"), _json_text(board_json(report))),
    ]
    for group in dict.fromkeys([*(c.group for c in report.leaderboard.columns), *(r.group for r in report.runs)]):
        written.append(_write_text(site_dir / group_table_file(group, "csv"),
                                   _csv_text(GROUP_COLUMNS, group_rows(report, group))))
        written.append(_write_text(site_dir / group_table_file(group, "json"), _json_text(group_json(report, group))))
    return written


def _write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="")
    return path


def _json_text(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=1, allow_nan=False) + "\n"


def _csv_cell(value: Any) -> Any:
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, allow_nan=False, default=str)
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    return "" if value is None else value


def _csv_text(columns: Iterable[str], rows: Iterable[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    _write_csv(buffer, list(columns), rows)
    return buffer.getvalue()


def _write_csv(stream: Any, columns: list[str], rows: Iterable[dict[str, Any]]) -> None:
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_cell(row.get(c)) for c in columns])


# --- harness summarize ------------------------------------------------------------------------------------------

def format_summary(reports: list[Report], fmt: str) -> str:
    """Each suite's leaderboard tables in one of SUMMARY_FORMATS; in text and markdown each under its suite's name."""
    if fmt == "json":
        return _json_text({"suites": [board_json(r) for r in reports]}).rstrip("\n")
    if fmt == "csv":
        return _csv_text(BOARD_COLUMNS, (row for r in reports for row in board_rows(r))).rstrip("\n")
    if fmt == "markdown":
        return "\n\n".join(_markdown(r) for r in reports)
    from harness.names import visible
    from harness.summary import format_table

    return "\n\n".join(f"suite: {visible(r.suite)}\n\n{format_table(r)}" for r in reports)


def _md(text: str) -> str:
    """A table cell: its pipes escaped, its line breaks spaces, control characters shown as escapes."""
    from harness.names import visible

    return visible(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _markdown(report: Report) -> str:
    parts = [f"## {_md(report.suite)}"]
    for name, _, board in _boards(report):
        if not board.columns:
            continue
        header = ["model", "win rate", *(f"{c.group} ({c.metric}{', lower better' if c.lower_is_better else ''})"
                                         for c in board.columns)]
        lines = ["| " + " | ".join(_md(h) for h in header) + " |", "|" + "---|" * len(header)]
        for model in _ranked(board):
            rate = _number(board.win_rates.get(model))
            cells = []
            for c in board.columns:
                s = board.cells.get((model, c.group))
                cells.append("-" if s is None else f"{s.mean:.3f} [{s.ci_low:.3f}, {s.ci_high:.3f}]")
            lines.append("| " + " | ".join([_md(model), "-" if rate is None else f"{rate:.3f}", *cells]) + " |")
        parts.append(f"### {name}\n\n" + "\n".join(lines))
    return "\n\n".join(parts)


# --- harness export ---------------------------------------------------------------------------------------------

def check_format(fmt: str) -> None:
    """Parquet needs pyarrow (the `results` extra): said before anything is read."""
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
            import pyarrow.parquet  # noqa: F401
        except ImportError:
            raise HarnessError("parquet needs pyarrow: pip install 'harness[results]'",
                               field="--format") from None


def export_tables(store: Any, suite: str | None, fmt: str, to: Path) -> dict[str, tuple[Path, int]]:
    """Write runs, scores, instances and requests (of `suite`, or all) into `to`, one file per table named
    <table>.<fmt>; returns each table's file and row count. A file appears whole or not at all."""
    from harness import result_rows

    check_format(fmt)
    to = Path(to)
    try:
        to.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HarnessError(f"cannot create the folder: {exc.strerror}", path=str(to), field="--to") from None
    metrics = result_rows.metric_names(store, suite)
    instance_columns = [*_INSTANCE_BASE, *(result_rows.METRIC_PREFIX + m for m in metrics)]
    tables: dict[str, tuple[list[str], Iterable[dict[str, Any]]]] = {
        "runs": (_RUN_COLUMNS, result_rows.run_rows(store, suite)),
        "scores": (_SCORE_COLUMNS, result_rows.score_rows(store, suite)),
        "instances": (instance_columns, result_rows.instance_rows(store, suite)),
        "requests": (_REQUEST_COLUMNS, result_rows.request_rows(store, suite)),
    }
    written = {}
    for name, (columns, rows) in tables.items():
        path = to / f"{name}.{fmt}"
        written[name] = (path, _write_table(path, fmt, columns, rows))
    return written


_RUN_COLUMNS = ["run_id", "suite", "model", "scenario", "group_name", "method", "main_metric", "adapter_spec",
                "metrics", "instances", "failed_requests", "truncated_instances", "requests", "fingerprint", "server",
                "updated_at", "record"]
_SCORE_COLUMNS = ["suite", "model", "scenario", "group_name", "run_id", "metric", "mean", "ci_low", "ci_high", "count",
                  "lower_is_better", "is_main"]
_INSTANCE_BASE = ["suite", "model", "scenario", "group_name", "run_id", "instance_id", "position", "perturbation",
                  "input", "prompt", "prompt_hash", "references", "correct_references", "prediction", "outputs",
                  "error", "fewshot_dropped", "request_keys", "main_metric", "main_score"]
_REQUEST_COLUMNS = ["key", "deployment", "model", "prompt", "request", "ok", "completions", "result", "error",
                    "latency_s", "prompt_tokens", "completion_tokens", "updated_at"]


def _write_table(path: Path, fmt: str, columns: list[str], rows: Iterable[dict[str, Any]]) -> int:
    partial = path.with_name(path.name + ".part")
    try:
        if fmt == "parquet":
            count = _write_parquet(partial, columns, rows)
        else:
            with open(partial, "w", encoding="utf-8", newline="") as stream:
                write = _write_csv_counted if fmt == "csv" else _write_jsonl
                count = write(stream, columns, rows)
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise HarnessError(f"cannot write: {exc.strerror}", path=str(path), field="--to") from None
    return count


def _counted(rows: Iterable[dict[str, Any]], counter: list[int]) -> Iterator[dict[str, Any]]:
    for row in rows:
        counter[0] += 1
        yield row


def _write_csv_counted(stream: Any, columns: list[str], rows: Iterable[dict[str, Any]]) -> int:
    counter = [0]
    _write_csv(stream, columns, _counted(rows, counter))
    return counter[0]


def _write_jsonl(stream: Any, columns: list[str], rows: Iterable[dict[str, Any]]) -> int:
    count = 0
    for row in rows:
        values = {c: row.get(c) for c in columns}
        values = {c: (None if isinstance(v, float) and not math.isfinite(v) else v) for c, v in values.items()}
        stream.write(json.dumps(values, ensure_ascii=False, allow_nan=False, default=str) + "\n")
        count += 1
    return count


def _write_parquet(path: Path, columns: list[str], rows: Iterable[dict[str, Any]]) -> int:
    """Nested values (dicts, lists) as JSON text: one type per column, whatever each row holds."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def cell(value: Any) -> Any:
        return json.dumps(value, ensure_ascii=False, default=str) if isinstance(value, (dict, list, tuple)) else value

    data: dict[str, list[Any]] = {c: [] for c in columns}
    for row in rows:
        for c in columns:
            data[c].append(cell(row.get(c)))
    types = {c: pa.float64() for c in columns if c.startswith("metric.") or c in ("main_score", "mean", "ci_low",
                                                                                   "ci_high", "latency_s")}
    table = pa.table({c: pa.array(v, type=types.get(c)) for c, v in data.items()})
    pq.write_table(table, path)
    return table.num_rows


# --- the commands -------------------------------------------------------------------------------------------------

def for_terminal(text: str, stream: Any) -> str:
    """CSV or JSON as it is when it goes to a file or a pipe; on a terminal each line with its control characters
    escaped (harness.names.visible), so that a name or an output cannot act on the terminal."""
    from harness.names import visible

    isatty = getattr(stream, "isatty", None)
    if isatty is None or not isatty():
        return text
    return "\n".join(visible(line) for line in text.split("\n"))


def cmd_summarize(store: Any, suite: str | None, fmt: str) -> str:
    """`harness summarize`: every suite in the store, each under its name, or the one --suite names."""
    from harness.result_rows import check_suite
    from harness.summary import build_report

    check_suite(store, suite)
    names = [suite] if suite is not None else store.suites()
    if not names:
        raise HarnessError("the store has no runs yet; run `harness run SUITE.yaml` first")
    return format_summary([build_report(store, name) for name in names], fmt)


def cmd_export(args: Any) -> int:
    """`harness export`: the tables into --to, one line per file written."""
    from harness.names import visible
    from harness.result_rows import check_suite, open_results

    check_format(args.format)
    store = open_results(args.output, args.db)
    try:
        check_suite(store, args.suite)
        written = export_tables(store, args.suite, args.format, Path(args.to))
    finally:
        store.close()
    for name, (path, count) in written.items():
        print(visible(f"{name}: {count} rows -> {path}"))
    return 0

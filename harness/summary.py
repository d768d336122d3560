"""Summary: reads a suite's runs from the store into a Report — the model × group table of main scores with
confidence intervals and each model's mean win rate — which the CLI prints and the site renders."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import orjson

from harness.metrics.registry import corpus_metric_registry, lower_is_better, metric_registry
from harness.metrics.stats import bootstrap_ci
from harness.names import visible
from harness.report import Aspect, InstanceView, Leaderboard, LeaderboardColumn, Report, RunInfo, Score
from harness.scenarios.base import scenario_class
from harness.scoring import corpus_interval, corpus_stats
from harness.store.store import Store
from harness.rank_intervals import RANK_NOTE, add_uncertainty, rank_cells
from harness.win_rate import by_win_rate, mean_win_rates


# HELM's axes beyond accuracy: (name, what it measures, the metric(s) of a run that measure it, in preference order).
# A group gets a column in an aspect's table when its runs report one of the metrics.
ASPECTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("robustness", "The main metric, per instance the worst of the original and its robustness perturbations "
     "(typos, casing, contractions, whitespace, misspellings).", ("{main}@robustness",)),
    ("fairness", "The main metric, per instance the worst of the original and its fairness perturbations "
     "(dialect, gender pronouns, first names).", ("{main}@fairness",)),
    ("calibration", "Expected calibration error of the multiple-choice probabilities (10 equal-mass bins).",
     ("ece_10_bin",)),
    ("bias", "BBQ: how far answers lean towards social stereotypes (absolute bias score; 0 is unbiased).",
     ("bbq_abs_bias_ambiguous", "bbq_abs_bias_disambiguated")),
    ("efficiency", "Seconds per instance, as the client measured it.", ("latency_s",)),
    # What a protocol (harness.protocols) costs and what its samples' agreement tells, beside the plain runs
    # (PROTOCOL_ASPECTS: shown where a suite has protocol runs).
    ("requests", "Requests per instance: a protocol's samples (self-consistency asks for them in one request) and "
     "every debate message count.", ("requests",)),
    ("tokens", "Completion tokens per instance, summed over its requests (the prompt tokens are in the runs).",
     ("completion_tokens",)),
    ("agreement", "AUROC of the samples' agreement with their majority for telling right answers from wrong "
     "(0.5: no signal); self-consistency and debate runs.", ("agreement_auroc",)),
)
PROTOCOL_ASPECTS = ("requests", "tokens", "agreement")


def _score(row: dict[str, Any]) -> Score:
    return Score(row["metric"], row["mean"], row["ci_low"], row["ci_high"], row["count"], bool(row["lower_is_better"]))


def _references(text: str) -> list[Any]:
    """Stored references: [output, correct] pairs, used as they are (stores written before held {"output",
    "correct"} dicts)."""
    refs = orjson.loads(text)
    if refs and isinstance(refs[0], dict):
        return [(r.get("output", ""), bool(r.get("correct"))) for r in refs]
    return refs


class StoredInstances:
    """The site's InstanceSource: each run's instances read from the store as its pages are written (those of a
    run this process has just saved, the store serves from memory: harness/store/saved_runs.py)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def instances(self, run_id: str) -> Iterator[InstanceView]:
        for row in self._store.iter_instances(run_id):
            yield InstanceView(
                instance_id=row["instance_id"], input=row["input"], references=_references(row["references"]),
                prompt=row["prompt"], outputs=orjson.loads(row["outputs"]), prediction=row["prediction"] or "",
                stats=row["stats"], fewshot_dropped=row["fewshot_dropped"], error=row["error"],
                prompt_head=row["prompt_head"], prompt_head_chars=row["prompt_head_chars"],
            )

    def texts(self, hashes: list[str]) -> dict[str, str]:
        return self._store.texts(hashes)


def build_runs(store: Store, suite: str, models: list[str] | None = None) -> list[RunInfo]:
    """The suite's runs in the store (those of `models`, if given), each with its aggregated scores."""
    rows = store.runs(suite)
    if models is not None:
        rows = [r for r in rows if r["model"] in models]
    runs: list[RunInfo] = []
    records = store.run_records([r["run_id"] for r in rows])  # for the site's reproduce box
    for row in rows:
        scores = {s.metric: s for s in map(_score, store.run_stats(row["run_id"]))}
        runs.append(RunInfo(
            run_id=row["run_id"], model=row["model"], scenario=row["scenario"], group=row["group_name"],
            method=row["method"], main_metric=row["main_metric"], adapter_spec=json.loads(row["adapter_spec"]),
            scores=scores, instances=row["instances"], failed_requests=row["failed_requests"],
            truncated_instances=row["truncated_instances"], server=json.loads(row["server"] or "{}"),
            updated_at=row.get("updated_at") or "", fingerprint=row.get("fingerprint") or "",
            record=records.get(row["run_id"]),
        ))
    return runs


def build_report(store: Store, suite: str, models: list[str] | None = None) -> Report:
    runs = build_runs(store, suite, models)
    model_order = list(dict.fromkeys(models or [r.model for r in runs]))
    model_order = [m for m in model_order if any(r.model == m for r in runs)]
    by_cell: dict[tuple[str, str], list[RunInfo]] = defaultdict(list)
    columns: dict[str, LeaderboardColumn] = {}
    for run in runs:
        by_cell[(run.model, run.group)].append(run)
        if run.group not in columns:
            scenario = scenario_class(run.scenario.split(":")[0])
            description = scenario.description if scenario else ""
            columns[run.group] = LeaderboardColumn(run.group, run.main_metric, lower_is_better(run.main_metric), description)
    cells = {cell: _cell(store, group_runs) for cell, group_runs in by_cell.items()}
    from harness.judging.report_hooks import add_judging

    judging = add_judging(store, runs, columns, cells)  # a Bradley–Terry column per pairwise entry
    leaderboard = _leaderboard(model_order, columns, cells, runs)
    leaderboard.marks = dict(judging.self_judged)
    report = Report(suite, datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), leaderboard, runs)
    report.judging = judging if judging else None
    report.aspects = _aspects(store, model_order, columns, by_cell, runs)
    add_uncertainty(report, store)
    return report


def _leaderboard(models: list[str], columns: dict[str, LeaderboardColumn], cells: dict[tuple[str, str], Score],
                 runs: list[RunInfo]) -> Leaderboard:
    table = {m: {g: (cells[(m, g)].mean if (m, g) in cells else None) for g in columns} for m in models}
    win_rates = mean_win_rates(table, {g: c.lower_is_better for g, c in columns.items()})
    failed = {m: sum(r.failed_requests for r in runs if r.model == m) for m in models}
    return Leaderboard(models, list(columns.values()), cells, win_rates, failed)


def _aspects(store: Store, models: list[str], main_columns: dict[str, LeaderboardColumn],
             by_cell: dict[tuple[str, str], list[RunInfo]], runs: list[RunInfo]) -> list[Aspect]:
    aspects = []
    with_protocols = any("protocol" in r.adapter_spec for r in runs)
    for name, description, candidates in ASPECTS:
        if name in PROTOCOL_ASPECTS and not with_protocols:  # a plain suite's cost tables would only repeat its runs
            continue
        columns: dict[str, LeaderboardColumn] = {}
        cells: dict[tuple[str, str], Score] = {}
        for group, main in main_columns.items():
            group_runs = [r for r in runs if r.group == group]
            names = [c.format(main=main.metric) for c in candidates]
            metric = next((n for n in names if any(n in r.scores for r in group_runs)), None)
            if metric is None:
                continue
            columns[group] = LeaderboardColumn(group, metric, lower_is_better(metric), main.description)
            for model in models:
                cell_runs = [r for r in by_cell.get((model, group), []) if metric in r.scores]
                if cell_runs:
                    cells[(model, group)] = _cell(store, cell_runs, metric)
        if columns:
            aspects.append(Aspect(name, description, _leaderboard(models, columns, cells, runs)))
    return aspects


def _cell(store: Store, runs: list[RunInfo], metric: str | None = None) -> Score:
    """A model's score on a group: its run's score, or, when the group has several runs (e.g. MMLU by subject), the
    value over all their instances with a CI from resampling those instances (a corpus metric such as ECE is
    computed again over the pooled instances)."""
    metric = metric or runs[0].main_metric
    if len(runs) == 1 and metric in runs[0].scores:
        return runs[0].scores[metric]
    run_ids = [r.run_id for r in runs]
    corpus = corpus_metric_registry().get(metric)
    if corpus is not None:
        owners = metric_registry()
        values: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
        for stat in corpus_stats(corpus, owners):
            for run_id, instance_id, value in store.instance_stats(run_ids, stat):
                values[(run_id, instance_id)][stat] = value
        mean, low, high = corpus_interval(corpus, owners, list(values.values()))
        return Score(metric, mean, low, high, len(values), corpus.lower_is_better)
    flat = [v for _, _, v in store.instance_stats(run_ids, metric)]
    mean, low, high = bootstrap_ci(flat)
    return Score(metric, mean, low, high, len(flat), lower_is_better(metric))


def format_table(report: Report) -> str:
    """The leaderboard as plain text, models sorted by mean win rate; then, when the suite measured them, the
    robustness, fairness, calibration and bias tables (efficiency is on the site)."""
    parts = [_format_board(report.leaderboard)]
    for aspect in report.aspects:
        if aspect.name != "efficiency":
            parts.append(f"{aspect.name}:\n" + _format_board(aspect.leaderboard, failed=False))
    if report.judging:
        from harness.judging.report_hooks import format_judging

        parts.append(format_judging(report.judging))
    from harness.format_sensitivity import format_text

    sweeps = format_text(report)  # groups expanded over prompt formats (harness.expand): spread and order flips
    if sweeps:
        parts.append(sweeps)
    return "\n\n".join(parts)


def _format_board(board: Leaderboard, failed: bool = True) -> str:
    order = by_win_rate(board.models, board.win_rates)
    # Names from suites and models files are printed with their control characters escaped (harness.names).
    header = ["model", "win rate", *[visible(f"{c.group} ({c.metric}{', lower better' if c.lower_is_better else ''})")
                                     for c in board.columns]]
    lines = [header]
    for model in order:
        wr = board.win_rates.get(model)
        cells = []
        for col in board.columns:
            s = board.cells.get((model, col.group))
            mark = " [self-judged]" if (model, col.group) in board.marks else ""
            cells.append("-" if s is None or s.mean != s.mean  # NaN: no instance has the metric (judged: no verdict)
                         else f"{s.mean:.3f} [{s.ci_low:.3f}, {s.ci_high:.3f}]{mark}")
        lines.append([visible(model), "-" if wr is None else f"{wr:.3f}", *cells])
    if board.ranks:  # the main board: rank and win-rate intervals, and which rows are told apart
        lines = [[row[0], *extra, *row[2:]] for row, extra in zip(lines, rank_cells(board, order))]
    widths = [max(len(row[i]) for row in lines) for i in range(len(lines[0]))]
    out = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in lines]
    counts = {m: n for m, n in board.failed_requests.items() if n}
    if failed and counts:
        out.append("failed requests: " + ", ".join(f"{visible(m)}: {n}" for m, n in counts.items()))
    if board.ranks:
        out.append(RANK_NOTE)
    return "\n".join(out)

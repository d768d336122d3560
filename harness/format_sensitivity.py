"""The parts of an expanded group (harness.expand) and, where the expansion changed only how prompts are written (the
prompt fields: instructions, prefixes, suffixes, separator), how much each model's score moves with the format and
whether the models' order flips. A leaderboard that flips with the answer prefix is measuring the prompt.

Everything is read from the stored runs: a run's settings are its scenario's args (in its full name) and its adapter
spec, and the parts of a group are the settings that differ between its runs."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

from harness.expand import PROMPT_FIELDS, shown
from harness.report import Report, RunInfo, Score


def _suite_keys() -> dict[str, str]:
    """AdapterSpec field -> the suite key that sets it (max_train_instances -> shots)."""
    from harness.run_spec import ADAPTER_FIELDS

    return {attr: key for key, (attr, _) in ADAPTER_FIELDS.items()}


def settings(run: RunInfo) -> dict[str, str]:
    """A run's settings as a suite names them: scenario, its args (defaults filled in) and adapter fields."""
    from harness.scenarios.base import scenario_class

    base, _, arg_text = run.scenario.partition(":")
    cls = scenario_class(base)
    out = {"scenario": base}
    out.update({k: str(v) for k, v in (cls.args if cls else {}).items()})
    for part in filter(None, arg_text.split(",")):
        key, _, value = part.partition("=")
        out[key] = value
    keys = _suite_keys()
    for attr, value in run.adapter_spec.items():
        key = keys.get(attr, attr)
        out[key] = shown(key, value) if not isinstance(value, (list, dict)) else repr(value)
    return out


def varying(runs: list[RunInfo]) -> list[str]:
    """The settings whose value differs between the runs, in the order settings() gives them."""
    all_settings = [settings(r) for r in runs]
    keys = list(dict.fromkeys(k for s in all_settings for k in s))
    return [k for k in keys if len({s.get(k) for s in all_settings}) > 1]


def label(run_settings: dict[str, str], keys: list[str]) -> str:
    return ", ".join(f"{k}={run_settings.get(k, '')}" for k in keys)


@dataclass
class Parts:
    """An expanded group: its parts (labels, in run order) and each (part, model)'s run."""

    keys: list[str]
    labels: list[str]
    models: list[str]
    runs: dict[tuple[str, str], RunInfo] = field(default_factory=dict)

    def score(self, part: str, model: str, metric: str) -> Score | None:
        run = self.runs.get((part, model))
        return run.scores.get(metric) if run else None


def group_parts(runs: list[RunInfo], models: list[str]) -> Parts | None:
    """The parts of a group whose runs differ in their settings; None for a group of one run per model."""
    keys = varying(runs)
    if not keys:
        return None
    parts = Parts(keys, [], [m for m in models if any(r.model == m for r in runs)])
    for run in runs:
        name = label(settings(run), keys)
        while (name, run.model) in parts.runs:  # two entries alike in every setting shown: tell them apart
            name += " (again)"
        parts.runs[(name, run.model)] = run
        if name not in parts.labels:
            parts.labels.append(name)
    return parts


@dataclass(frozen=True)
class Spread:
    low: float
    high: float
    worst: str  # the format with the worst score
    best: str

    @property
    def range(self) -> float:
        return self.high - self.low


@dataclass(frozen=True)
class Flip:
    """Two models whose order differs between formats: `first` is ahead with `first_ahead`, `second` with
    `second_ahead`."""

    first: str
    second: str
    first_ahead: tuple[str, ...]
    second_ahead: tuple[str, ...]


@dataclass
class FormatSweep:
    group: str
    metric: str
    lower_is_better: bool
    formats: list[str]
    models: list[str]
    scores: dict[tuple[str, str], float]  # (model, format) -> score over that format's runs
    spreads: dict[str, Spread]
    rankings: dict[str, list[str]]  # format -> models, best first
    flips: list[Flip]
    taus: dict[tuple[str, str], float]  # (format, format) -> Kendall tau of the two rankings

    def order(self, fmt: str) -> str:
        """A format's ranking as text, best first: `a > b = c` (equal scores tie)."""
        from harness.names import visible

        ranked = self.rankings[fmt]
        out = visible(ranked[0]) if ranked else ""
        for before, model in zip(ranked, ranked[1:]):
            tied = self.scores[(before, fmt)] == self.scores[(model, fmt)]
            out += (" = " if tied else " > ") + visible(model)
        return out

    @property
    def min_tau(self) -> tuple[float, tuple[str, str]] | None:
        finite = [(t, pair) for pair, t in self.taus.items() if not math.isnan(t)]
        return min(finite) if finite else None


def kendall_tau(a: dict[str, float], b: dict[str, float]) -> float:
    """Kendall's tau-a between two scorings of the same models (pairs tied in either count as neither)."""
    models = [m for m in a if m in b]
    pairs = list(itertools.combinations(models, 2))
    if not pairs:
        return math.nan
    total = 0.0
    for x, y in pairs:
        total += _sign(a[x] - a[y]) * _sign(b[x] - b[y])
    return total / len(pairs)


def _sign(value: float) -> int:
    return (value > 0) - (value < 0)


def swept_prompt_fields(runs: list[RunInfo]) -> list[str]:
    """The prompt fields that differ between runs of one model alike in every other setting: a sweep. A prompt field
    that differs only with another setting (LegalBench's answer prefix is its task's) is not one."""
    keys = [k for k in varying(runs) if k in PROMPT_FIELDS]
    formats_of: dict[tuple[Any, ...], set[tuple[str, ...]]] = {}
    for run in runs:
        run_settings = settings(run)
        rest = tuple(sorted((k, v) for k, v in run_settings.items() if k not in PROMPT_FIELDS))
        formats_of.setdefault((run.model, rest), set()).add(tuple(run_settings.get(k, "") for k in keys))
    return [k for i, k in enumerate(keys) if any(len({f[i] for f in fs}) > 1 for fs in formats_of.values())]


def format_sweep(group: str, runs: list[RunInfo], models: list[str]) -> FormatSweep | None:
    """The format sweep of a group whose runs differ in prompt fields; None when none differ. A format's score for
    a model is the instance-weighted mean of its runs' main-metric means (its runs of that format: all subjects,
    say), which is the mean over their instances."""
    keys = swept_prompt_fields(runs)
    if not keys:
        return None
    metric = runs[0].main_metric
    lower = any(r.scores[metric].lower_is_better for r in runs if metric in r.scores)
    sums: dict[tuple[str, str], list[float]] = {}
    formats: list[str] = []
    for run in runs:
        fmt = label(settings(run), keys)
        if fmt not in formats:
            formats.append(fmt)
        score = run.scores.get(metric)
        if score is None or not math.isfinite(score.mean) or score.count <= 0:
            continue
        total = sums.setdefault((run.model, fmt), [0.0, 0.0])
        total[0] += score.mean * score.count
        total[1] += score.count
    scores = {cell: s / n for cell, (s, n) in sums.items()}
    models = [m for m in models if any((m, f) in scores for f in formats)]
    better = (lambda x, y: x < y) if lower else (lambda x, y: x > y)
    spreads = {}
    for model in models:
        mine = [(scores[(model, f)], f) for f in formats if (model, f) in scores]
        low, high = min(mine), max(mine)
        worst, best = (high, low) if lower else (low, high)
        spreads[model] = Spread(low[0], high[0], worst[1], best[1])
    rankings = {f: sorted((m for m in models if (m, f) in scores), key=lambda m: scores[(m, f)], reverse=not lower)
                for f in formats}
    flips = []
    for first, second in itertools.combinations(models, 2):
        both = [f for f in formats if (first, f) in scores and (second, f) in scores]
        first_ahead = tuple(f for f in both if better(scores[(first, f)], scores[(second, f)]))
        second_ahead = tuple(f for f in both if better(scores[(second, f)], scores[(first, f)]))
        if first_ahead and second_ahead:
            flips.append(Flip(first, second, first_ahead, second_ahead))
    by_format = {f: {m: scores[(m, f)] for m in models if (m, f) in scores} for f in formats}
    taus = {(a, b): kendall_tau(by_format[a], by_format[b]) for a, b in itertools.combinations(formats, 2)}
    return FormatSweep(group, metric, lower, formats, models, scores, spreads, rankings, flips, taus)


def report_sweeps(report: Report) -> list[FormatSweep]:
    """The format sweep of each of the report's groups that has one, in leaderboard column order."""
    groups = list(dict.fromkeys([*(c.group for c in report.leaderboard.columns), *(r.group for r in report.runs)]))
    sweeps = []
    for group in groups:
        sweep = format_sweep(group, [r for r in report.runs if r.group == group], report.leaderboard.models)
        if sweep is not None:
            sweeps.append(sweep)
    return sweeps


def flips_text(sweep: FormatSweep) -> str:
    """The verdict: whether the order of the models flips between formats."""
    if not sweep.flips:
        return "order flips between formats: no (no two models swap places between formats; ties are no swap)"
    pairs = len(sweep.models) * (len(sweep.models) - 1) // 2
    return f"order flips between formats: yes ({len(sweep.flips)} of {pairs} pairs of models)"


def flip_text(flip: Flip) -> str:
    """Where one pair of models swaps places."""
    return (f"{flip.first} ahead of {flip.second} with {' | '.join(flip.first_ahead)}; {flip.second} ahead with "
            f"{' | '.join(flip.second_ahead)}")


def format_text(report: Report) -> str:
    """Each format sweep as plain text: per model the spread of its score across formats, then whether the order of
    the models flips and the lowest Kendall tau between two formats' rankings."""
    from harness.names import visible

    blocks = []
    for sweep in report_sweeps(report):
        arrow = ", lower better" if sweep.lower_is_better else ""
        rows = [["model", "min", "max", "range", "worst format", "best format"]]
        for model in sweep.models:
            s = sweep.spreads[model]
            rows.append([visible(model), f"{s.low:.3f}", f"{s.high:.3f}", f"{s.range:.3f}", visible(s.worst),
                         visible(s.best)])
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = [f"format sensitivity: {visible(sweep.group)} ({sweep.metric}{arrow}, {len(sweep.formats)} formats)"]
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        lines.append(visible(flips_text(sweep)))
        lines += ["  " + visible(flip_text(flip)) for flip in sweep.flips]
        tau = sweep.min_tau
        if tau is not None:
            lines.append(f"lowest Kendall tau between two formats' rankings: {tau[0]:+.2f} "
                         f"({visible(tau[1][0])} vs {visible(tau[1][1])})")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def site_context(group: str, runs: list[RunInfo], models: list[str]) -> dict[str, Any]:
    """What the group page shows of an expanded group: its parts table and its format sweep (each None if none)."""
    from harness.names import visible

    parts = group_parts(runs, models)
    sweep = format_sweep(group, runs, models) if parts else None
    part_of = {run.run_id: name for (name, _), run in parts.runs.items()} if parts else {}
    return {"parts": parts, "part_of": part_of, "sweep": sweep, "sweep_flips": flips_text(sweep) if sweep else "",
            "flip_lines": [visible(flip_text(flip)) for flip in sweep.flips] if sweep else []}

"""Comparison pages: compare/<a>--<b>.html, two models side by side.

Per scenario group: both main scores with their intervals and the difference. Where harness.compare's paired test is
available, its result (the difference over the instances both models answered, with its own interval) is shown as
well; `paired_result` is the one place it plugs in. Then the instances where the two disagree (their main metric
differs), the prompt once and both answers side by side.

A run's instances are streamed, never held: the main metric's value per instance is kept (one float each), and the
texts only of the few disagreements shown.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.report import InstanceView, Report, RunInfo, Score
from harness.site.format import clip

SHOWN = 40  # disagreements shown per scenario
TEXT_CHARS = 4000  # of a prompt or an answer on this page; the run page has them whole


def paired_result(a: Sequence[float], b: Sequence[float], lower_is_better: bool) -> Any | None:
    """The paired test of two models over the same instances (a[i] and b[i]: one instance): harness.compare's
    paired_test when this version has it, else None (the page then shows each side's own interval). The template
    reads `diff` (A - B), `ci_low`, `ci_high` and `p_value` of what this returns."""
    try:
        from harness.compare import paired_test  # type: ignore[attr-defined]
    except ImportError:
        return None
    result = paired_test(list(a), list(b))
    return result if getattr(result, "n", 1) else None


@dataclass
class Disagreement:
    instance_id: str
    scenario: str
    prompt: Any
    prompt_b: Any  # None when B's prompt is the same text
    answer_a: Any
    answer_b: Any
    value_a: float
    value_b: float
    run_a: str
    run_b: str


@dataclass
class Difference:
    group: str
    metric: str
    lower_is_better: bool
    a: Score | None
    b: Score | None
    diff: float | None  # a's mean minus b's
    paired: Any = None
    common: int = 0  # instances both answered
    a_better: int = 0
    b_better: int = 0
    disagreements: list[Disagreement] = field(default_factory=list)


def _original(inst: InstanceView) -> bool:
    return "~" not in inst.instance_id  # a perturbed copy is "<id>~<perturbation>" (harness.runner)


def _value(inst: InstanceView, metric: str) -> float | None:
    v = inst.stats.get(metric)
    return v if v is not None and math.isfinite(v) else None


def _setting(run: RunInfo) -> tuple[str, str]:
    """What makes two models' runs comparable instance by instance: the same scenario under the same adapter
    settings (a group may hold several runs of one scenario, e.g. one per seed)."""
    return run.scenario, json.dumps(run.adapter_spec, sort_keys=True, default=str)


class ValueCache:
    """Each run's main-metric value per original instance, read once per build however many pairs use the run."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self.values: dict[str, dict[str, float]] = {}

    def get(self, run: RunInfo) -> dict[str, float]:
        if run.run_id not in self.values:
            found: dict[str, float] = {}
            for inst in self.instances(run):
                v = _value(inst, run.main_metric)
                if v is not None and _original(inst):
                    found[inst.instance_id] = v
            self.values[run.run_id] = found
        return self.values[run.run_id]

    def instances(self, run: RunInfo) -> Iterator[InstanceView]:
        return self.report.iter_instances(run.run_id) if run.run_id in self.report.instances else iter(())


def _texts(cache: ValueCache, run: RunInfo, wanted: set[str]) -> dict[str, tuple[str, str]]:
    out = {}
    for inst in cache.instances(run):
        if inst.instance_id in wanted:
            out[inst.instance_id] = (inst.prompt, inst.prediction)
            if len(out) == len(wanted):
                break
    return out


def compare_context(report: Report, a: str, b: str, cell_runs: Mapping[tuple[str, str], list[RunInfo]],
                    cache: ValueCache, paired: Callable[..., Any] = paired_result) -> dict[str, Any]:
    lb = report.leaderboard
    rows = []
    for col in lb.columns:
        sa, sb = lb.cells.get((a, col.group)), lb.cells.get((b, col.group))
        diff = sa.mean - sb.mean if sa and sb and math.isfinite(sa.mean) and math.isfinite(sb.mean) else None
        row = Difference(col.group, col.metric, col.lower_is_better, sa, sb, diff)
        runs_b = {_setting(r): r for r in cell_runs.get((b, col.group), [])}
        va_all: list[float] = []
        vb_all: list[float] = []
        for run_a in cell_runs.get((a, col.group), []):
            run_b = runs_b.get(_setting(run_a))
            if run_b is None or run_b.main_metric != run_a.main_metric:
                continue
            va, vb = cache.get(run_a), cache.get(run_b)
            common = [i for i in va if i in vb]
            va_all += [va[i] for i in common]
            vb_all += [vb[i] for i in common]
            differ = [i for i in common if va[i] != vb[i]]
            better = (lambda x, y: x < y) if col.lower_is_better else (lambda x, y: x > y)
            row.a_better += sum(1 for i in differ if better(va[i], vb[i]))
            row.b_better += sum(1 for i in differ if better(vb[i], va[i]))
            room = SHOWN - len(row.disagreements)
            if room > 0 and differ:
                wanted = set(differ[:room])
                ta, tb = _texts(cache, run_a, wanted), _texts(cache, run_b, wanted)
                for i in differ[:room]:
                    if i not in ta or i not in tb:
                        continue
                    (pa, ans_a), (pb, ans_b) = ta[i], tb[i]
                    row.disagreements.append(Disagreement(
                        i, run_a.scenario, clip(pa, TEXT_CHARS), None if pb == pa else clip(pb, TEXT_CHARS),
                        clip(ans_a, TEXT_CHARS), clip(ans_b, TEXT_CHARS), va[i], vb[i], run_a.run_id, run_b.run_id))
        row.common = len(va_all)
        if va_all:
            row.paired = paired(va_all, vb_all, col.lower_is_better)
        rows.append(row)
    return {"a": a, "b": b, "rows": rows}

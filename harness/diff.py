"""`harness diff A B`: what changed between two stores (output folders or database URLs), or between two suites of
one store: runs on one side only, scores that moved beyond their intervals, instances whose outcome flipped (the
value of the run's main metric changed) and prompts that changed (same run, same instance, another prompt hash).

Runs are paired by run id; those left over by their readable name (scenario, arguments, method, shots, model: the
run id without its settings hash) where that pairs exactly one run on each side, so that two suites of one store
that ran a scenario with other settings (more instances, say) are still compared on the instances they share."""

from __future__ import annotations

import json
import math
import sys
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from harness.names import visible
from harness.result_rows import check_suite, instance_rows, open_results, run_rows, score_rows
from harness.store.store import Store

SHOWN = 50  # lines per section in the text output; --format json lists everything
# Metrics that differ from run to run of the same requests (the clock): not reported as moved.
NOISY = frozenset({"latency_s"})


@dataclass
class Side:
    location: str  # as the user gave it (a URL without its password)
    suite: str | None
    store: Store


def readable(run_id: str) -> str:
    """A run id without its settings hash (harness.run_spec.RunSpec.run_id appends "-" and 8 hex digits)."""
    head, sep, tail = run_id.rpartition("-")
    return head if sep and len(tail) == 8 and all(c in "0123456789abcdef" for c in tail) else run_id


def pair_runs(a: list[str], b: list[str]) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """(pairs of run ids, runs only in A, runs only in B): by run id, then by readable name where unambiguous."""
    same = sorted(set(a) & set(b))
    rest_a = [r for r in a if r not in set(same)]
    rest_b = [r for r in b if r not in set(same)]
    by_name_a, by_name_b = defaultdict(list), defaultdict(list)
    for run_id in rest_a:
        by_name_a[readable(run_id)].append(run_id)
    for run_id in rest_b:
        by_name_b[readable(run_id)].append(run_id)
    pairs = [(r, r) for r in same]
    for name, runs in sorted(by_name_a.items()):
        if len(runs) == 1 and len(by_name_b.get(name, [])) == 1:
            pairs.append((runs[0], by_name_b[name][0]))
    paired_a = {p[0] for p in pairs}
    paired_b = {p[1] for p in pairs}
    return pairs, sorted(set(a) - paired_a), sorted(set(b) - paired_b)


def _finite(*values: Any) -> bool:
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)


def _moved(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """The two intervals do not overlap."""
    if not _finite(a["ci_low"], a["ci_high"], b["ci_low"], b["ci_high"]):
        return False
    return b["ci_low"] > a["ci_high"] or b["ci_high"] < a["ci_low"]


def _score(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("mean", "ci_low", "ci_high", "count")}


def compare(a: Side, b: Side) -> dict[str, Any]:
    """The differences between A and B as plain data (what --format json prints)."""
    runs_a = {r["run_id"]: r for r in run_rows(a.store, a.suite)}
    runs_b = {r["run_id"]: r for r in run_rows(b.store, b.suite)}
    pairs, only_a, only_b = pair_runs(list(runs_a), list(runs_b))

    def named(run: dict[str, Any]) -> dict[str, Any]:
        return {"run_id": run["run_id"], "suite": run["suite"], "model": run["model"], "scenario": run["scenario"]}

    scores_a: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    scores_b: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for rows, into in ((score_rows(a.store, a.suite), scores_a), (score_rows(b.store, b.suite), scores_b)):
        for row in rows:
            into[row["run_id"]][row["metric"]] = row
    outcomes_a = _outcomes(a)
    outcomes_b = _outcomes(b)

    moved, flipped, prompts = [], [], []
    compared_instances = 0
    for run_a, run_b in pairs:
        where = {**named(runs_a[run_a]), **({"run_id_b": run_b} if run_b != run_a else {})}
        for metric in sorted((set(scores_a[run_a]) & set(scores_b[run_b])) - NOISY):
            sa, sb = scores_a[run_a][metric], scores_b[run_b][metric]
            if _moved(sa, sb):
                moved.append({**where, "metric": metric, "is_main": sa["is_main"], "a": _score(sa), "b": _score(sb)})
        instances_a, instances_b = outcomes_a.get(run_a, {}), outcomes_b.get(run_b, {})
        for instance_id in sorted(set(instances_a) & set(instances_b), key=lambda i: instances_a[i][2]):
            compared_instances += 1
            (value_a, hash_a, _), (value_b, hash_b, _) = instances_a[instance_id], instances_b[instance_id]
            if value_a != value_b and not (value_a is None and value_b is None):
                flipped.append({**where, "instance_id": instance_id, "metric": runs_a[run_a]["main_metric"],
                                "a": value_a, "b": value_b})
            if hash_a != hash_b:
                prompts.append({**where, "instance_id": instance_id, "a": hash_a, "b": hash_b})
    return {
        "a": {"location": a.location, "suite": a.suite}, "b": {"location": b.location, "suite": b.suite},
        "runs_compared": len(pairs), "instances_compared": compared_instances,
        "runs_only_in_a": [named(runs_a[r]) for r in only_a], "runs_only_in_b": [named(runs_b[r]) for r in only_b],
        "moved_scores": moved, "flipped_instances": flipped, "changed_prompts": prompts,
    }


def _outcomes(side: Side) -> dict[str, dict[str, tuple[Any, str, int]]]:
    """run id -> instance id -> (its main metric's value, its prompt's hash, its position)."""
    found: dict[str, dict[str, tuple[Any, str, int]]] = defaultdict(dict)
    for row in instance_rows(side.store, side.suite, prompts=False):
        value = row["main_score"]
        if isinstance(value, float) and math.isnan(value):
            value = None
        found[row["run_id"]][row["instance_id"]] = (value, row["prompt_hash"], row["position"])
    return found


def _interval(score: dict[str, Any]) -> str:
    if not _finite(score["mean"], score["ci_low"], score["ci_high"]):
        return f"{score['mean']}"
    return f"{score['mean']:.3f} [{score['ci_low']:.3f}, {score['ci_high']:.3f}]"


def format_text(result: dict[str, Any]) -> str:
    def side(s: dict[str, Any]) -> str:
        return s["location"] + (f" (suite {s['suite']})" if s["suite"] else "")

    def where(item: dict[str, Any]) -> str:
        return f"{item['model']}  {item['scenario']}"

    lines = [f"A: {side(result['a'])}", f"B: {side(result['b'])}",
             f"{result['runs_compared']} runs and {result['instances_compared']} instances compared; "
             f"{len(result['runs_only_in_a'])} runs only in A, {len(result['runs_only_in_b'])} only in B"]
    sections: list[tuple[str, list[Any], Any]] = [
        ("runs only in A", result["runs_only_in_a"], lambda r: f"{where(r)}  {r['run_id']}"),
        ("runs only in B", result["runs_only_in_b"], lambda r: f"{where(r)}  {r['run_id']}"),
        ("scores that moved beyond their intervals", result["moved_scores"],
         lambda m: f"{where(m)}  {m['metric']}  {_interval(m['a'])} -> {_interval(m['b'])}"),
        ("instances whose outcome flipped", result["flipped_instances"],
         lambda f: f"{where(f)}  {f['instance_id']}  {f['metric']} {f['a']} -> {f['b']}"),
        ("prompts that changed", result["changed_prompts"], lambda p: f"{where(p)}  {p['instance_id']}"),
    ]
    for title, items, line in sections:
        if not items:
            continue
        lines += ["", f"{title} ({len(items)}):"]
        lines += [f"  {line(item)}" for item in items[:SHOWN]]
        if len(items) > SHOWN:
            lines.append(f"  ... and {len(items) - SHOWN} more (--format json lists them all)")
    if not any(items for _, items, _ in sections):
        lines.append("no differences")
    return "\n".join(visible(line) for line in lines)


def cmd_diff(args: Any) -> int:
    """`harness diff A B [--suite S | --suite-a SA --suite-b SB] [--format text|json]`."""
    suite_a = args.suite_a or args.suite
    suite_b = args.suite_b or args.suite
    sides = []
    try:
        for location, suite in ((args.a, suite_a), (args.b, suite_b)):
            store = open_results(location)
            sides.append(Side(store.db.shown_url if "://" in location else location, suite, store))
            check_suite(store, suite)
        result = compare(*sides)
    finally:
        for side in sides:
            side.store.close()
    if args.format == "json":
        from harness.export import for_terminal

        print(for_terminal(json.dumps(result, ensure_ascii=False, indent=1, default=str), sys.stdout))
    else:
        print(format_text(result))
    return 0

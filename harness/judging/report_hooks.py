"""Where the report meets judging: the summary asks here for a suite's judging report and its leaderboard columns,
and for the judging section of the text summary."""

from __future__ import annotations

import math
from typing import Any

from harness.judging.views import BT_METRIC, BT_SUFFIX, JudgingReport, build_judging
from harness.names import visible
from harness.report import LeaderboardColumn, Score

EMBEDDED_NOTE = ("A judge is only as good as its model: the embedded one is small and judges poorly. Its position "
                 "consistency and its agreement with other judges say how far to trust its scores.")


def _embedded() -> set[str]:
    """The packaged deployments served by the embedded model."""
    try:
        from harness.clients.deployment import load_deployments

        return {d.name for d in load_deployments().values() if d.client == "embedded"}
    except Exception:  # noqa: BLE001  (a note on the page, not worth failing a report for)
        return set()


def add_judging(store: Any, runs: list[Any], columns: dict[str, LeaderboardColumn],
                cells: dict[tuple[str, str], Score]) -> JudgingReport:
    """The runs' judging report; each pairwise entry's Bradley–Terry scores become a leaderboard column (added to
    `columns` and `cells`) after its group's."""
    judging = build_judging(store, runs, _embedded)
    for arena in judging.arenas:
        name = arena.group + BT_SUFFIX
        columns[name] = LeaderboardColumn(
            name, BT_METRIC, False, "Bradley–Terry score (Elo scale, mean 1000) from the pairwise judges' verdicts, "
            "counted only where both orders agree, with a 95% bootstrap interval over battles.")
        for model, (score, low, high) in arena.scores.items():
            count = sum(1 for (a, b) in arena.matrix if a == model)
            cells[(model, name)] = Score(BT_METRIC, score, low, high, count)
    return judging


def _num(x: float | None, digits: int = 3) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def format_judging(judging: JudgingReport) -> str:
    """The judges' table and each pairwise ranking, as plain text."""
    lines = ["judges:"]
    head = ["group", "judge", "rubric", "kind", "judgments", "unparsed", "mean", "position consistency",
            "length corr.", "self-judged"]
    table = [head]
    for j in judging.judges:
        table.append([visible(j.group), visible(j.judge) + (" (embedded)" if j.embedded else ""), visible(j.rubric),
                      j.kind, str(j.judgments), str(j.unparsed), _num(j.mean_verdict),
                      _num(j.consistency) + (f" of {j.comparisons}" if j.kind == "pairwise" else ""),
                      _num(j.length_correlation), ", ".join(visible(m) for m in j.self_judged) or "-"])
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in table]
    for row in judging.agreement:
        lines.append(f"agreement on {visible(row.group)} ({row.kind}): {row.statistic} = {_num(row.value)} over "
                     f"{row.items} items, judges {', '.join(visible(n) for n in row.judges)}")
    for arena in judging.arenas:
        lines.append(f"\nBradley–Terry on {visible(arena.group)} ({arena.battles} battles; judges "
                     f"{', '.join(visible(j) for j in arena.judges)}):")
        for model, (score, low, high) in sorted(arena.scores.items(), key=lambda kv: -kv[1][0]):
            mark = " [self-judged]" if model in arena.self_judged else ""
            lines.append(f"  {visible(model)}  {score:.0f} [{low:.0f}, {high:.0f}]{mark}")
    if any(j.embedded for j in judging.judges):
        lines.append("\n" + EMBEDDED_NOTE)
    if judging.self_judged:
        lines.append("[self-judged]: the judge is the model itself or declares the same family; its verdicts may "
                     "favour it.")
    return "\n".join(lines)

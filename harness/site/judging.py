"""The judging page (judging.html): what harness.judging.views read from a suite's judgments, as a page."""

from __future__ import annotations

from typing import Any

from harness.judging.report_hooks import EMBEDDED_NOTE
from harness.judging.views import BT_METRIC
from harness.report import Report

__all__ = ["BT_METRIC", "judging_context"]


def judging_context(report: Report) -> dict[str, Any]:
    judging = report.judging
    arenas = []
    for arena in judging.arenas:
        models = sorted(arena.scores, key=lambda m: -arena.scores[m][0])
        arenas.append({"arena": arena, "models": models,
                       "matrix": [[arena.matrix.get((a, b)) for b in models] for a in models]})
    return {"judges": judging.judges, "agreement": judging.agreement, "arenas": arenas,
            "embedded": any(j.embedded for j in judging.judges), "embedded_note": EMBEDDED_NOTE}

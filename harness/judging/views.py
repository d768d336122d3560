"""What the report shows of a suite's judgments, read from the `judgments` table: per judge its counts, parse
failures, position consistency (pairwise), length bias and self-judged cells; several judges' agreement; and per
pairwise entry a Bradley–Terry ranking with bootstrap intervals and a win-rate matrix (harness.judging.bradley_terry),
which the leaderboard shows as a column.

A pairwise comparison is asked in both orders. With answer A shown first (ab) a verdict "first" means A wins; with B
shown first (ba) "first" means B wins. The comparison counts only where both replies have a verdict: as A's win or
loss where the two orders agree, as a tie where they do not (a judge that always prefers the first answer gets
nothing but ties). Its position consistency is the fraction of comparisons whose two verdicts agree."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from harness.judging.rubric import FIRST, SECOND, TIE

BT_METRIC = "bradley_terry"  # the leaderboard column's metric
BT_SUFFIX = " · Bradley–Terry"  # the column's name: the group's, then this

_AS_A = {("ab", FIRST): 1.0, ("ab", SECOND): 0.0, ("ba", FIRST): 0.0, ("ba", SECOND): 1.0,
         ("ab", TIE): 0.5, ("ba", TIE): 0.5}


@dataclass
class JudgeSummary:
    """One judge with one rubric on one group."""

    group: str
    judge: str
    rubric: str
    kind: str
    versions: list[str]  # rubric file sha256s seen (one, unless the rubric changed between runs)
    judgments: int
    unparsed: int
    failed: int  # of the unparsed: the request itself failed
    self_judged: list[str]  # models this judge judged while being them or of their family
    mean_verdict: float | None = None  # single, reference: mean score; refusal: refusal rate
    comparisons: int = 0  # pairwise: comparisons with both orders parsed
    consistency: float | None = None  # pairwise: fraction of those whose two orders agree
    length_correlation: float | None = None  # pairwise: Pearson of A's outcome with len(A) - len(B)
    win_rates: dict[str, tuple[float, float]] = field(default_factory=dict)  # model -> (win rate, length-controlled)
    embedded: bool = False


@dataclass
class Arena:
    """A pairwise entry's ranking: every pairwise judge's counted comparisons as battles."""

    group: str
    scores: dict[str, tuple[float, float, float]]  # model -> (Bradley–Terry score, ci_low, ci_high)
    battles: int
    matrix: dict[tuple[str, str], float]  # (a, b) -> a's win rate against b
    judges: list[str]
    self_judged: list[str]


@dataclass
class AgreementRow:
    group: str
    kind: str  # grading or pairwise
    judges: list[str]
    statistic: str  # Cohen's kappa (two judges) or Krippendorff's alpha (more)
    value: float
    items: int


@dataclass
class JudgingReport:
    judges: list[JudgeSummary] = field(default_factory=list)
    arenas: list[Arena] = field(default_factory=list)
    agreement: list[AgreementRow] = field(default_factory=list)
    self_judged: dict[tuple[str, str], str] = field(default_factory=dict)  # (model, group) -> why it is marked
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # run_id -> its judgments (site)

    def __bool__(self) -> bool:
        return bool(self.judges)


def _finite(x: float) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def build_judging(store: Any, runs: Iterable[Any], embedded: Callable[[], set[str]] = set) -> JudgingReport:
    """The judging report of these runs (harness.report.RunInfo); `embedded()`: the deployments that are the
    embedded model, whose judging the report warns about (asked only where there are judgments)."""
    info = {r.run_id: r for r in runs}
    rows = [j for j in store.judgments(info, prompts=True) if j["run_id"] in info
            and (not j["other_run_id"] or j["other_run_id"] in info)]
    out = JudgingReport()
    if not rows:
        return out
    from harness.judging.agreement import cohen_kappa, krippendorff_alpha
    from harness.judging.bradley_terry import bradley_terry_intervals, win_rate_matrix
    from harness.judging.length_control import length_controlled_win_rate, length_correlation

    embedded_judges = embedded()
    for row in rows:
        out.examples.setdefault(row["run_id"], []).append(row)
        if row["other_run_id"]:
            out.examples.setdefault(row["other_run_id"], []).append(row)
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(info[row["run_id"]].group, row["judge"], row["rubric"])].append(row)
    battles_by_group: dict[str, list[tuple[str, str, float]]] = defaultdict(list)
    arena_judges: dict[str, list[str]] = defaultdict(list)
    arena_self: dict[str, set[str]] = defaultdict(set)
    graded: dict[tuple[str, str], dict[tuple[str, str, int], str]] = defaultdict(dict)  # (group, kind) -> judge's
    for (group, judge, rubric), found in groups.items():
        kind = found[0]["kind"]
        # self_judged: 1 the judged run's model (pairwise: answer A's), 2 answer B's, 3 both
        marked = sorted({info[r["run_id"]].model for r in found if (r["self_judged"] or 0) & 1}
                        | {info[r["other_run_id"]].model for r in found if (r["self_judged"] or 0) & 2})
        summary = JudgeSummary(
            group, judge, rubric, kind, sorted({r["rubric_hash"] for r in found}), len(found),
            sum(r["verdict"] is None for r in found),
            sum(r["verdict"] is None and r["reply"] is None for r in found), marked, embedded=judge in embedded_judges)
        if kind != "pairwise":
            values = [float(r["verdict"]) if kind != "refusal" else float(r["verdict"] in _refusals(r))
                      for r in found if r["verdict"] is not None]
            summary.mean_verdict = sum(values) / len(values) if values else None
            for r in found:
                if r["self_judged"]:
                    model = info[r["run_id"]].model
                    out.self_judged[(model, group)] = f"judged by {judge}, itself or of its family"
                if r["verdict"] is not None:
                    graded[(group, "grading")].setdefault((r["run_id"], r["instance_id"], r["turn"]), "")
                    graded[(group, f"grading:{judge}:{rubric}")][(r["run_id"], r["instance_id"], r["turn"])] = r["verdict"]
        else:
            pairs: dict[tuple[str, str, str, int], dict[str, dict[str, Any]]] = defaultdict(dict)
            for r in found:
                pairs[(r["run_id"], r["other_run_id"], r["instance_id"], r["turn"])][r["ordering"]] = r
            battles, diffs, agree = [], [], 0
            for (a_run, b_run, instance_id, turn), orders in pairs.items():
                ab, ba = orders.get("ab"), orders.get("ba")
                if ab is None or ba is None or ab["verdict"] is None or ba["verdict"] is None:
                    continue
                first, second = _AS_A[("ab", ab["verdict"])], _AS_A[("ba", ba["verdict"])]
                agree += first == second
                outcome = first if first == second else 0.5
                a, b = info[a_run].model, info[b_run].model
                battles.append((a, b, outcome))
                diffs.append(float(ab["length_diff"] or 0))
                graded[(group, f"pairwise:{judge}:{rubric}")][(a_run, b_run, instance_id, turn)] = str(outcome)
                graded[(group, "pairwise")].setdefault((a_run, b_run, instance_id, turn), "")
            summary.comparisons = len(battles)
            if battles:
                summary.consistency = agree / len(battles)
                outcomes = [o for _, _, o in battles]
                summary.length_correlation = _finite(length_correlation(outcomes, diffs)["pearson"])
                for model in sorted({m for a, b, _ in battles for m in (a, b)}):
                    mine = [(o if a == model else 1 - o, d if a == model else -d)
                            for (a, b, o), d in zip(battles, diffs) if model in (a, b)]
                    raw = sum(o for o, _ in mine) / len(mine)
                    lc = length_controlled_win_rate([o for o, _ in mine], [d for _, d in mine])
                    summary.win_rates[model] = (raw, lc)
                battles_by_group[group] += battles
                arena_judges[group].append(judge)
                arena_self[group].update(marked)
        out.judges.append(summary)
    for group, battles in battles_by_group.items():
        scores = bradley_terry_intervals(battles, resamples=1000, seed=0)
        out.arenas.append(Arena(group, scores, len(battles), win_rate_matrix(battles), arena_judges[group],
                                sorted(arena_self[group])))
        for model in arena_self[group]:
            out.self_judged[(model, group + BT_SUFFIX)] = "a pairwise judge is this model or of its family"
    out.agreement = _agreement(graded, cohen_kappa, krippendorff_alpha)
    return out


def _refusals(row: dict[str, Any]) -> tuple[str, ...]:
    from harness.judging.rubric import load_rubric

    try:
        return load_rubric(row["rubric"]).refusal
    except Exception:  # noqa: BLE001  (a user's rubric file moved since: its labels as XSTest names them)
        return ("2_full_refusal", "3_partial_refusal")


def _agreement(graded: dict[tuple[str, str], dict[Any, str]], kappa: Any, alpha: Any) -> list[AgreementRow]:
    """Per group and kind, where several judges judged the same items: Cohen's kappa of two judges' verdicts on the
    items both judged, or Krippendorff's alpha (nominal) of three or more, missing verdicts allowed."""
    out = []
    for (group, kind), items in graded.items():
        if ":" in kind:
            continue
        judges = sorted(k for g, k in graded if g == group and k.startswith(kind + ":"))
        if len(judges) < 2:
            continue
        names = [j.split(":", 1)[1] for j in judges]
        if len(judges) == 2:
            a, b = graded[(group, judges[0])], graded[(group, judges[1])]
            both = sorted(a.keys() & b.keys(), key=str)
            if len(both) < 2:
                continue
            value = kappa([a[k] for k in both], [b[k] for k in both])
            out.append(AgreementRow(group, kind, names, "Cohen's kappa", value, len(both)))
        else:
            keys = sorted(items, key=str)
            ratings = [[graded[(group, j)].get(k) for k in keys] for j in judges]
            value = alpha(ratings)
            out.append(AgreementRow(group, kind, names, "Krippendorff's alpha", value, len(keys)))
    return out

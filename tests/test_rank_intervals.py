"""Rank intervals (harness.rank_intervals): resampled instances, the same draws for every model of a scenario,
ranks and mean win rates recomputed together; and how the text table and the site show them."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from conftest import Instances

from harness.compare import GroupScores
from harness.report import (Leaderboard, LeaderboardColumn, PairedComparison, RankInterval, Report, RunInfo,
                            Score)
from harness.rank_intervals import leaderboard_order, rank_intervals
from harness.summary import format_table
from harness.win_rate import mean_win_rates


def _scores(values: list[float], scenario: str = "s") -> GroupScores:
    keys = [(scenario, "{}", f"i{i}") for i in range(len(values))]
    return GroupScores("exact_match", False, dict(zip(keys, values)), set(keys), set(keys))


def _board(per_model: dict[str, dict[str, list[float]]]) -> tuple[Leaderboard, dict]:
    """A leaderboard whose cells are the means of the given per-instance values, with HELM win rates."""
    groups = list(dict.fromkeys(g for cells in per_model.values() for g in cells))
    columns = [LeaderboardColumn(g, "exact_match") for g in groups]
    cells, scores = {}, {}
    for model, by_group in per_model.items():
        for group, values in by_group.items():
            mean = float(np.mean(values))
            cells[(model, group)] = Score("exact_match", mean, mean, mean, len(values))
            scores[(model, group)] = _scores(values, group)
    table = {m: {g: (cells[(m, g)].mean if (m, g) in cells else None) for g in groups} for m in per_model}
    wins = mean_win_rates(table, {g: False for g in groups})
    return Leaderboard(list(per_model), columns, cells, wins), scores


def _bits(rng: np.random.Generator, n: int, p: float) -> list[float]:
    return list((rng.random(n) < p).astype(float))


def test_a_clearly_better_model_is_ranked_first_for_sure_and_separable() -> None:
    rng = np.random.default_rng(1)
    board, scores = _board({
        "strong": {"a": _bits(rng, 200, 0.9), "b": _bits(rng, 200, 0.9)},
        "weak1": {"a": _bits(rng, 200, 0.3), "b": _bits(rng, 200, 0.3)},
        "weak2": {"a": _bits(rng, 200, 0.3), "b": _bits(rng, 200, 0.3)},
    })
    ranks = rank_intervals(board, scores)
    assert (ranks["strong"].rank_low, ranks["strong"].rank_high) == (1, 1)
    assert ranks["strong"].above_next is True
    order = leaderboard_order(board)
    assert ranks["strong"].next_model == order[1]
    # the two weak models are noise apart: their ranks overlap and their order is not separable
    assert (ranks[order[1]].rank_low, ranks[order[1]].rank_high) == (2, 3)
    assert (ranks[order[2]].rank_low, ranks[order[2]].rank_high) == (2, 3)
    assert ranks[order[1]].above_next is False and ranks[order[2]].above_next is None
    for model, ri in ranks.items():  # the intervals hold the leaderboard's own values
        assert ri.win_rate_low <= board.win_rates[model] <= ri.win_rate_high


def test_all_models_see_the_same_resampled_instances() -> None:
    # Two models with identical per-instance values and a third better by one instance in 100: resampled together,
    # the twins tie in every draw, so they always share a rank, and the third is never below them (all three tie
    # in the draws without that instance). Resampled independently, the twins would part and the third would often
    # fall behind.
    rng = np.random.default_rng(2)
    base = _bits(rng, 100, 0.5)
    better = list(base)
    better[better.index(0.0)] = 1.0
    board, scores = _board({"twin1": {"a": base}, "twin2": {"a": list(base)}, "better": {"a": better}})
    ranks = rank_intervals(board, scores)
    assert (ranks["better"].rank_low, ranks["better"].rank_high) == (1, 1)
    assert (ranks["twin1"].rank_low, ranks["twin1"].rank_high) == (1, 2)
    twins = [ranks[m] for m in ("twin1", "twin2")]
    assert len({(r.rank_low, r.rank_high, r.win_rate_low, r.win_rate_high) for r in twins}) == 1
    assert (twins[0].win_rate_low, twins[0].win_rate_high) == (0.25, 0.5)  # below "better", or all three tied
    assert [ranks[m].above_next for m in leaderboard_order(board)] == [False, False, None]


def test_seeded_and_the_same_every_time() -> None:
    rng = np.random.default_rng(3)
    per_model = {f"m{i}": {"a": _bits(rng, 60, 0.5), "b": _bits(rng, 60, 0.5)} for i in range(5)}
    board, scores = _board(per_model)
    assert rank_intervals(board, scores) == rank_intervals(board, scores)
    assert rank_intervals(board, scores, seed=1) != rank_intervals(board, scores)


def test_a_model_without_a_cell_stays_without_one_and_fixed_columns_stay_fixed() -> None:
    rng = np.random.default_rng(4)
    board, scores = _board({
        "x": {"a": _bits(rng, 50, 0.8), "b": _bits(rng, 50, 0.8)},
        "y": {"a": _bits(rng, 50, 0.2)},
        "none": {},
    })
    del scores[("x", "b")]  # column b has no per-instance values (e.g. a corpus metric): kept as it is
    ranks = rank_intervals(board, scores)
    assert "none" not in ranks
    assert ranks["x"].rank_low == ranks["x"].rank_high == 1
    assert ranks["y"].next_model is None and ranks["y"].above_next is None


def _report(board: Leaderboard, comparisons: dict[str, list[PairedComparison]]) -> Report:
    runs = [RunInfo(f"{m}-{c.group}", m, c.group, c.group, "generation", "exact_match", {}, {}, 10, 0, 0)
            for m in board.models for c in board.columns if (m, c.group) in board.cells]
    return Report("suite", "now", board, runs, comparisons=comparisons)


def _three_models() -> Leaderboard:
    cells = {(m, "qa"): Score("exact_match", v, v - 0.05, v + 0.05, 100) for m, v in
             (("top", 0.9), ("mid", 0.5), ("low", 0.45))}
    board = Leaderboard(["low", "mid", "top"], [LeaderboardColumn("qa", "exact_match")], cells,
                        {"top": 1.0, "mid": 0.5, "low": 0.0})
    board.ranks = {"top": RankInterval(1, 1, 1.0, 1.0, "mid", True), "mid": RankInterval(2, 3, 0.0, 0.5, "low", False),
                   "low": RankInterval(2, 3, 0.0, 0.5, None, None)}
    return board


def test_text_table_has_rank_intervals_and_separability() -> None:
    text = format_table(_report(_three_models(), {}))
    lines = text.splitlines()
    assert re.match(r"model\s+rank\s+win rate \[95%\]\s+> next\s+qa", lines[0])
    assert re.match(r"top\s+1\s+1\.000 \[1\.00, 1\.00\]\s+yes\s+0\.900", lines[1])
    assert re.match(r"mid\s+2\u20133\s+0\.500 \[0\.00, 0\.50\]\s+no\s+0\.500", lines[2])
    assert re.match(r"low\s+2\u20133\s+0\.000 \[0\.00, 0\.50\]\s+0\.450", lines[3])
    assert "> next: the mean win rate is above the next row's in at least 97.5%" in text


def test_site_shows_rank_intervals_separability_and_paired_comparisons(tmp_path: Path) -> None:
    from harness.site.build import build_site

    evil = "<b>x</b>"
    comparisons = {"qa": [
        PairedComparison("qa", "exact_match", "top", "mid", 100, 2, 0.9, 0.5, 0.4, 0.3, 0.5, 0.0001),
        PairedComparison("qa", "exact_match", "mid", "low", 98, 4, 0.5, 0.45, 0.05, -0.07, 0.17, 0.42),
        PairedComparison("qa", "exact_match", "top", "low", 0, 102, *[float("nan")] * 6),
    ]}
    board = _three_models()
    board.models.append(evil)
    index = build_site(_report(board, comparisons), tmp_path / "site", Instances())
    html = index.read_text()
    assert re.search(r'<tr id="m-top" class="apart">', html)  # the line under a separable row
    assert re.search(r'class="rank-ci"[^>]*>2\u20133</span>', html)
    assert re.search(r'class="wr-ci"[^>]*>\[0\.00, 0\.50\]</span>', html)
    table = html.split('id="leaderboard"')[1].split("</table>")[0]
    assert table.count(">separable</span>") == 1 and table.count("≈ not separable") == 1
    assert "Rank intervals." in html  # and the explanation under the table
    group = (tmp_path / "site" / "groups" / "qa.html").read_text()
    assert "Paired comparisons" in group and "every pair of models" in group
    rows = re.findall(r"<tr>\s*<th scope=\"row\" class=\"pair-model\">(.*?)</th>\s*<td class=\"pair-model\">(.*?)</td>"
                      r"(.*?)</tr>", group, re.S)
    assert [(a, b) for a, b, _ in rows] == [("top", "mid"), ("mid", "low"), ("top", "low")]
    assert "+0.400" in rows[0][2] and "[+0.300, +0.500]" in rows[0][2] and "&lt;0.001" in rows[0][2]
    assert "top better" in rows[0][2] and "not separable" in rows[1][2] and "0.420" in rows[1][2]
    assert "no instance answered by both" in rows[2][2]
    # names in the comparisons are escaped like every other name
    hostile = {"qa": [PairedComparison("qa", "exact_match", evil, "top", 5, 0, 0.2, 0.9, -0.7, -0.9, -0.5, 0.01)]}
    build_site(_report(board, hostile), tmp_path / "hostile", Instances())
    group = (tmp_path / "hostile" / "groups" / "qa.html").read_text()
    assert "&lt;b&gt;x&lt;/b&gt;" in group and evil not in group and "top better" in group


def test_batched_win_rates_are_helms_mean_win_rates() -> None:
    from harness.win_rate import mean_win_rates_batch

    rng = np.random.default_rng(9)
    directions = [False, True, None, False, True]
    values = rng.integers(0, 4, size=(300, 6, len(directions))).astype(float) / 4  # many ties
    values[rng.random(values.shape) < 0.25] = np.nan  # and missing cells, some columns with < 2 models
    batch = mean_win_rates_batch(values, directions)
    models, columns = [f"m{i}" for i in range(6)], [f"c{j}" for j in range(len(directions))]
    for r in range(values.shape[0]):
        table = {m: {c: values[r, i, j] for j, c in enumerate(columns)} for i, m in enumerate(models)}
        expected = mean_win_rates(table, dict(zip(columns, directions)))
        got = [None if np.isnan(v) else float(v) for v in batch[r]]
        assert got == [pytest.approx(expected[m]) if expected[m] is not None else None for m in models]

"""harness.results: the DataFrames against what the store holds, and every Python snippet of docs/results.md run as
written on a store built by `harness run` (MMLU and BoolQ on chance and on the stub server), its results checked
against the store read directly."""

from __future__ import annotations

import contextlib
import io
import json
import re
import sqlite3
from pathlib import Path

import pytest

from conftest import ROOT, run_cli
from harness.errors import HarnessError
from harness.results import instances_df, metric_columns, requests_df, runs_df, scores_df
from results_stores import start_answering_stub, write_models

DOC = ROOT / "docs" / "results.md"


@pytest.fixture()
def store(tmp_path: Path, stub_factory) -> Path:
    """tmp_path/out: MMLU (20 instances over several subjects) and BoolQ (5) on chance and on the stub (which answers
    every request "Paris", at a price per token)."""
    stub = start_answering_stub(stub_factory, tmp_path)
    models = write_models(tmp_path, stub)
    suite = tmp_path / "compare.yaml"
    suite.write_text("name: demo\nmodels: [chance, stub]\nentries:\n"
                     "  - scenario: mmlu\n    method: multiple_choice_joint\n    max_instances: 20\n"
                     "  - scenario: boolq\n    max_instances: 5\n")
    done = run_cli("run", str(suite), "--models-file", str(models), "--output", str(tmp_path / "out"), "--no-site",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return tmp_path / "out"


def query(out: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(out / "harness.db") as conn:
        return conn.execute(sql).fetchall()


def snippets() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def run_snippet(code: str, cwd: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[dict, str]:
    monkeypatch.chdir(cwd)
    printed = io.StringIO()
    namespace: dict = {}
    with contextlib.redirect_stdout(printed):
        exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102  (the doc's own code)
    return namespace, printed.getvalue()


def test_the_docs_analyses_run_and_say_what_the_store_holds(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outs = [run_snippet(code, store.parent, monkeypatch) for code in snippets()]
    assert len(outs) >= 4
    found = {name: (ns, printed) for ns, printed in outs for name in ("by_subject", "disagree", "per_model", "record")
             if name in ns}
    assert set(found) == {"by_subject", "disagree", "per_model", "record"}

    # the same from the store's SQL, in plain Python
    rows = query(store, "SELECT r.model, r.scenario, i.instance_id, i.stats, i.prediction FROM instances i "
                        "JOIN runs r ON r.run_id = i.run_id")
    main = {"mmlu": "exact_match", "boolq": "quasi_exact_match"}
    score = {(m, s, i): json.loads(stats)[main[s]] for m, s, i, stats, _ in rows}

    by_subject, printed = found["by_subject"]
    expected: dict[tuple[str, str], list[float]] = {}
    for (model, scenario, instance_id), value in score.items():
        if scenario == "mmlu":
            expected.setdefault((instance_id.rsplit("-", 2)[0], model), []).append(value)
    table = by_subject["by_subject"]
    assert len(table.index) > 3 and list(table.columns) == ["chance", "stub"]
    for (subject, model), values in expected.items():
        assert table.loc[subject, model] == pytest.approx(sum(values) / len(values))
    assert table.index[0] in printed

    disagree, printed = found["disagree"]
    expected_ids = {(s, i) for (m, s, i), v in score.items() if m == "chance" and v != score[("stub", s, i)]}
    assert expected_ids and set(disagree["disagree"].index) == expected_ids
    assert f"chance and stub disagree on {len(expected_ids)} of 25 instances" in printed
    assert "Paris" in printed  # the stub's answer to the first of them, and that instance's whole prompt
    scenario, instance_id = disagree["disagree"].index[0]
    (prompt,), = query(store, "SELECT p.text FROM instances i JOIN prompts p ON p.hash = i.prompt_hash "
                              f"WHERE i.instance_id = '{instance_id}' LIMIT 1")
    assert prompt in printed

    per_model, _ = found["per_model"]
    costs = {m: sum(json.loads(stats)["cost_usd"] for mm, _, _, stats, _ in rows if mm == m)
             for m in ("chance", "stub")}
    frame = per_model["per_model"]
    assert frame.loc["stub", "cost_usd"] == pytest.approx(costs["stub"]) and costs["stub"] > 0
    assert frame.loc["chance", "cost_usd"] == 0
    for model in ("chance", "stub"):
        values = [v for (m, _, _), v in score.items() if m == model]
        assert frame.loc[model, "score"] == pytest.approx(sum(values) / len(values))
        assert frame.loc[model, "instances"] == 25

    record, printed = found["record"]
    assert record["record"]["command"]["argv"][3:5] == ["run", str(store.parent / "compare.yaml")]
    assert "scenario: boolq" in printed or "scenario: mmlu" in printed


def test_the_frames_hold_one_row_per_thing_with_the_stored_values(store: Path) -> None:
    runs = runs_df(store)
    assert sorted(runs.run_id) == sorted(r for (r,) in query(store, "SELECT run_id FROM runs"))
    assert all(isinstance(r, dict) and r["deployment"]["name"] == m for r, m in zip(runs.record, runs.model))

    scores = scores_df(db=f"sqlite:///{store / 'harness.db'}", suite="demo")
    stored = query(store, "SELECT run_id, metric, mean, ci_low, ci_high, count FROM run_stats")
    assert sorted(map(tuple, scores[["run_id", "metric", "mean", "ci_low", "ci_high", "count"]].values.tolist())) \
        == sorted(map(tuple, map(list, stored)))
    assert scores[scores.is_main].metric.tolist().count("exact_match") == 2

    instances = instances_df(store)
    assert len(instances) == 50 and instances.perturbation.isna().all()
    assert {"metric.exact_match", "metric.quasi_exact_match", "metric.cost_usd"} <= set(metric_columns(instances))
    prompts = dict(query(store, "SELECT hash, text FROM prompts"))
    assert (instances.prompt == instances.prompt_hash.map(prompts)).all()  # whole, as sent
    boolq = instances[instances.scenario == "boolq"]
    assert boolq["metric.exact_match"].isna().all() and (boolq.main_score == boolq["metric.quasi_exact_match"]).all()
    assert "prompt" not in instances_df(store, prompts=False).columns

    requests = requests_df(store)
    assert len(requests) == len(query(store, "SELECT key FROM requests"))
    stub = requests[requests.deployment == "stub"]
    assert (stub.completions.map(tuple) == ("Paris",)).all() and stub.prompt.isin(prompts.values()).all()


def test_a_missing_store_or_suite_is_an_error_not_an_empty_store(tmp_path: Path, store: Path) -> None:
    with pytest.raises(HarnessError, match="no store here"):
        runs_df(tmp_path / "elsewhere")
    assert not (tmp_path / "elsewhere").exists()
    with pytest.raises(HarnessError, match="no suite 'nope'"):
        scores_df(store, suite="nope")

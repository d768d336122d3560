"""`harness diff`: two stores, or two suites of one store, that differ in one scenario report exactly that scenario:
its score moved beyond its interval, its instances' outcomes flipped, its changed prompt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli
from harness.diff import pair_runs, readable
from results_stores import run_suite, start_answering_stub, write_models, write_suite

# alpha's references no longer match the stub's answer, and its second question is worded differently
CHANGED_ALPHA = [("alpha question 0?", "Rome"), ("alpha question one?", "Rome"), ("alpha question 2?", "Rome")]


def diff(*args: str, cwd: Path) -> str:
    done = run_cli("diff", *args, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture()
def two_stores(tmp_path: Path, stub_factory) -> tuple[Path, Path]:
    stub = start_answering_stub(stub_factory, tmp_path)
    for side, alpha in (("a", None), ("b", CHANGED_ALPHA)):
        folder = tmp_path / side
        run_suite(write_suite(folder, alpha=alpha), tmp_path / f"out_{side}", write_models(folder, stub))
    return tmp_path / "out_a", tmp_path / "out_b"


def test_two_stores_that_differ_in_one_scenario_report_exactly_that_scenario(two_stores: tuple[Path, Path]) -> None:
    a, b = two_stores
    result = json.loads(diff(str(a), str(b), "--format", "json", cwd=a.parent))
    assert result["runs_compared"] == 2 and result["instances_compared"] == 6
    assert result["runs_only_in_a"] == result["runs_only_in_b"] == []
    moved = {(m["scenario"], m["metric"]) for m in result["moved_scores"]}
    assert ("alpha", "exact_match") in moved and {scenario for scenario, _ in moved} == {"alpha"}
    main = next(m for m in result["moved_scores"] if m["metric"] == "exact_match")
    assert main["is_main"] and main["a"]["mean"] == 1.0 and main["b"]["mean"] == 0.0
    assert [(f["scenario"], f["instance_id"], f["a"], f["b"]) for f in result["flipped_instances"]] == [
        ("alpha", f"alpha-{i}", 1.0, 0.0) for i in range(3)]
    assert [(p["scenario"], p["instance_id"]) for p in result["changed_prompts"]] == [("alpha", "alpha-1")]

    text = diff(str(a), str(b), cwd=a.parent)
    assert "beta" not in text
    assert "scores that moved beyond their intervals" in text and "instances whose outcome flipped (3):" in text
    assert "prompts that changed (1):\n  stub  alpha  alpha-1" in text
    assert "exact_match  1.000 [1.000, 1.000] -> 0.000 [0.000, 0.000]" in text


def test_a_store_against_itself_has_no_differences(two_stores: tuple[Path, Path]) -> None:
    a, _ = two_stores
    assert diff(str(a), f"sqlite:///{a / 'harness.db'}", cwd=a.parent).endswith("no differences\n")


def test_two_suites_of_one_store_are_paired_by_run_name(tmp_path: Path, stub_factory) -> None:
    """The second suite evaluates fewer instances, so its run ids differ: runs pair by scenario, method, shots and
    model, and the instances both evaluated are compared."""
    stub = start_answering_stub(stub_factory, tmp_path)
    out = tmp_path / "out"
    run_suite(write_suite(tmp_path / "a", suite="before"), out, write_models(tmp_path / "a", stub))
    run_suite(write_suite(tmp_path / "b", suite="after", alpha=CHANGED_ALPHA), out, write_models(tmp_path / "b", stub),
              "--max-instances", "2")
    result = json.loads(diff(str(out), str(out), "--suite-a", "before", "--suite-b", "after", "--format", "json",
                             cwd=tmp_path))
    assert result["runs_compared"] == 2 and result["instances_compared"] == 4
    assert {f["scenario"] for f in result["flipped_instances"]} == {"alpha"}
    assert len(result["flipped_instances"]) == 2
    assert all(m["scenario"] == "alpha" for m in result["moved_scores"])
    assert all(p["scenario"] == "alpha" for p in result["changed_prompts"])


def test_an_unknown_suite_or_a_missing_store_is_one_line(two_stores: tuple[Path, Path]) -> None:
    a, b = two_stores
    done = run_cli("diff", str(a), str(b), "--suite-b", "nope", cwd=a.parent)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "no suite 'nope'" in done.stderr
    done = run_cli("diff", str(a), str(a.parent / "missing"), cwd=a.parent)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "no store here" in done.stderr
    assert not (a.parent / "missing").exists()


def test_runs_pair_by_id_then_by_unambiguous_name() -> None:
    assert readable("mmlu,generation,0shot@m-0123abcd") == "mmlu,generation,0shot@m"
    assert readable("no-hash-here") == "no-hash-here"
    pairs, only_a, only_b = pair_runs(
        ["x@m-00000001", "y@m-00000002", "z@m-00000003", "z@m-00000004"],
        ["x@m-00000001", "y@m-0000000f", "z@m-00000005"])
    assert pairs == [("x@m-00000001", "x@m-00000001"), ("y@m-00000002", "y@m-0000000f")]
    assert only_a == ["z@m-00000003", "z@m-00000004"] and only_b == ["z@m-00000005"]

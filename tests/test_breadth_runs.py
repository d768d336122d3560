"""Every shipped scenario runs offline through `harness run`, with its default method and metrics, on the chance
baseline and on the embedded model; and the shipped suites load."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from harness.run_spec import load_suite
from harness.scenarios.base import scenario_registry

from harness.judging.stats import is_judge_stat

# Scenarios scored by a judge (MT-Bench) need a judge deployment: tests/test_judging.py runs them with a stub judge.
SHIPPED = sorted(name for name, cls in scenario_registry().items()
                 if cls.data_shipped in ("full", "sample") and not is_judge_stat(cls.main_metric))


def suite_of_every_shipped_scenario(models: str, n: int, max_tokens: int | None) -> str:
    lines = [f"name: breadth\nmodels: [{models}]\ndefaults:\n  max_instances: {n}\nentries:\n"]
    for name in SHIPPED:
        lines.append(f"  - scenario: {name}\n")
        if max_tokens is not None and scenario_registry()[name].default_method == "generation":
            lines.append(f"    max_tokens: {max_tokens}\n")
    return "".join(lines)


def run(tmp_path: Path, suite: str, timeout: int) -> tuple[subprocess.CompletedProcess[str], dict[str, dict[str, float]]]:
    (tmp_path / "suite.yaml").write_text(suite)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "harness", "run", "suite.yaml", "--output", "out", "--no-site"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=timeout, env=env)
    scores: dict[str, dict[str, float]] = {}
    if (tmp_path / "out" / "harness.db").exists():
        with sqlite3.connect(tmp_path / "out" / "harness.db") as conn:
            for scenario, metric, mean in conn.execute(
                    "SELECT r.scenario, s.metric, s.mean FROM runs r JOIN run_stats s ON s.run_id = r.run_id"):
                scores.setdefault(scenario, {})[metric] = mean
    return proc, scores


def test_shipped_scenarios_are_the_expected_ones() -> None:
    assert {"mmlu", "gsm8k", "hellaswag", "arc_challenge", "arc_easy", "boolq", "truthfulqa", "natural_qa",
            "openbookqa", "med_qa", "humaneval", "ifeval", "bbq"} <= set(SHIPPED)


def test_every_shipped_scenario_runs_on_chance(tmp_path: Path) -> None:
    proc, scores = run(tmp_path, suite_of_every_shipped_scenario("chance", 12, None), timeout=600)
    assert proc.returncode == 0, proc.stderr
    registry = scenario_registry()
    for name in SHIPPED:
        main = registry[name].main_metric
        assert main in scores[name], (name, sorted(scores[name]))
        # accuracies are fractions; language modelling's bits per byte are not (chance: uniform bytes, 8 bits)
        assert 0.0 <= scores[name][main] <= (8.0 if main == "bits_per_byte" else 1.0)
    # chance answers generation with "": no HumanEval test passes, no exact answer matches
    assert scores["humaneval"]["pass@1"] == 0.0 and scores["gsm8k"]["answer_number_match"] == 0.0
    assert scores["package_readmes"]["bits_per_byte"] == pytest.approx(8.0)
    assert "ifeval_instruction_strict" not in scores["ifeval"] or scores["ifeval"]["ifeval_prompt_strict"] >= 0


@pytest.mark.slow
def test_every_shipped_scenario_runs_on_the_embedded_model(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="the embedded extra is not installed")
    suite = suite_of_every_shipped_scenario("google/gemma-3-270m", 2, 24)
    proc, scores = run(tmp_path, suite, timeout=1200)
    assert proc.returncode == 0, proc.stderr
    assert " 0 failed" in proc.stdout
    registry = scenario_registry()
    for name in SHIPPED:
        assert registry[name].main_metric in scores[name], name


@pytest.mark.parametrize("suite", ["lite", "classic", "capabilities", "demo"])
def test_shipped_suites_load(suite: str) -> None:
    loaded = load_suite(suite)  # a shipped suite, by name
    assert loaded.run_specs and loaded.name == suite
    groups = {spec.group for spec in loaded.run_specs}
    assert len(groups) >= 5
    if suite == "classic":
        perturbed = [s for s in loaded.run_specs if s.perturbations]
        assert perturbed and {"typos", "dialect"} <= set(perturbed[0].perturbations)
        assert any("ece_10_bin" in s.metrics for s in loaded.run_specs)
        assert any("bbq_abs_bias_ambiguous" in s.metrics for s in loaded.run_specs)


def test_missing_download_names_the_prefetch_command_and_offline_skips_it(tmp_path: Path) -> None:
    (tmp_path / "suite.yaml").write_text(
        "name: mixed\nmodels: [chance]\nentries:\n  - {scenario: boolq, max_instances: 5}\n  - scenario: math\n")
    env = {**os.environ, "HARNESS_CACHE": str(tmp_path / "empty-cache")}
    cmd = [sys.executable, "-m", "harness", "run", "suite.yaml", "--output", "out", "--no-site"]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "data not downloaded for math" in proc.stderr and "harness prefetch suite.yaml" in proc.stderr
    assert not (tmp_path / "out" / "harness.db").exists() or "boolq" not in proc.stdout  # nothing ran
    proc = subprocess.run([*cmd, "--offline"], cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "skipping 1 entries" in proc.stderr and "math" in proc.stderr and "boolq" in proc.stdout


@pytest.mark.parametrize("suite", ["lite", "classic", "capabilities"])
def test_shipped_suites_run_offline_on_chance(tmp_path: Path, suite: str) -> None:
    """The [offline] part of each HELM suite runs on a fresh clone; the [download] part is listed, not fatal."""
    env = {**os.environ, "HARNESS_CACHE": str(tmp_path / "empty-cache")}
    proc = subprocess.run([sys.executable, "-m", "harness", "run", suite,
                           "--models", "chance", "--offline", "--max-instances", "5", "--output", "out", "--no-site"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "--offline: skipping" in proc.stderr and " 0 failed" in proc.stdout
    assert f"`harness prefetch {suite}` fetches it" in proc.stderr  # the shipped suite by the name it was run with
    offline = [s for s in load_suite(suite).run_specs
               if scenario_registry()[s.scenario].data_shipped != "download"]
    assert f"\n{len(offline)} runs," in proc.stdout

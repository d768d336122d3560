"""Perturbations, worst cases and calibration through the real CLI (chance baseline): what is stored per instance,
what the run reports, and the aspect tables of the summary and the site."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from conftest import stored_instances
from harness.perturbations import GROUPS, get_perturbation

SUITE = """\
name: perturbed
models: [chance]
entries:
  - scenario: boolq
    method: multiple_choice_separate
    max_instances: 40
    metrics: [exact_match, ece_10_bin, ece_1_bin]
    perturbations: [robustness, dialect]
"""


def test_perturbed_run_reports_worst_cases_in_their_own_direction(tmp_path: Path) -> None:
    (tmp_path / "suite.yaml").write_text(SUITE)
    proc = subprocess.run([sys.executable, "-m", "harness", "run", "suite.yaml", "--output", "out"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "robustness:" in proc.stdout and "fairness:" in proc.stdout and "calibration:" in proc.stdout

    perturbations = [*GROUPS["robustness"], "dialect"]
    with sqlite3.connect(tmp_path / "out" / "harness.db") as conn:
        (instances,) = conn.execute("SELECT instances FROM runs").fetchone()
        stats = {m: (mean, lower) for m, mean, lower in conn.execute("SELECT metric, mean, lower_is_better FROM run_stats")}
    rows = {r["instance_id"]: (r["input"], r["stats"]) for r in stored_instances(tmp_path / "out" / "harness.db")}
    assert instances == 40 and len(rows) == 40 * (1 + len(perturbations))
    assert stats["exact_match@robustness"][0] <= stats["exact_match"][0]
    assert stats["exact_match@fairness"][0] <= stats["exact_match"][0]
    assert stats["ece_10_bin"][1] == 1 and stats["exact_match@robustness"][1] == 0
    assert all(f"exact_match@{p}" in stats for p in perturbations)
    assert not any(m.startswith("ece_10_bin@") for m in stats)  # corpus metrics are not perturbed per instance

    originals = {i: v for i, v in rows.items() if "~" not in i}
    changed = 0
    for inst_id, (text, values) in originals.items():
        robust = [rows[f"{inst_id}~{p}"][1]["exact_match"] for p in GROUPS["robustness"]]
        assert values["exact_match@robustness"] == min([values["exact_match"], *robust])
        assert values["exact_match@fairness"] == min(values["exact_match"], rows[f"{inst_id}~dialect"][1]["exact_match"])
        for name in perturbations:  # the stored copy is the perturbation of the original, seeded by its id
            assert rows[f"{inst_id}~{name}"][0] == get_perturbation(name).apply(text, 0, inst_id)
            changed += rows[f"{inst_id}~{name}"][0] != text
    assert changed > 40 * 3  # most perturbations change most BoolQ questions

    index = (tmp_path / "out" / "site" / "perturbed" / "index.html").read_text()
    for aspect in ("robustness", "fairness", "calibration", "efficiency"):
        assert f'id="aspect-{aspect}"' in index
    assert "exact_match@robustness" in index and "ece_10_bin" in index


def test_unknown_perturbation_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "suite.yaml").write_text(SUITE.replace("[robustness, dialect]", "[robustness, pig_latin]"))
    proc = subprocess.run([sys.executable, "-m", "harness", "run", "suite.yaml", "--output", "out"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("harness: error: suite.yaml:8: perturbations: ") and "pig_latin" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1

"""HumanEval: the pass@k estimator, the code_pass metric through the sandbox, the scenario's rows, and the shipped
problems (every canonical solution passes its tests; an empty completion passes none)."""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import sys
import time
from fractions import Fraction
from math import comb
from pathlib import Path

import pytest

from harness.adapters.base import Prediction
from harness.instance import Instance
from harness.metrics.code import code_pass, pass_at_k, passes, program_for
from harness.scenarios.base import data_root
from harness.scenarios.humaneval import STOP_SEQUENCES, HumanEvalScenario

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox's limits are Linux's")

ADD = Instance("HumanEval/x", 'def add(a: int, b: int) -> int:\n    """Sum."""\n', (), "test",
               {"test": "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(0, 0) == 0\n",
                "entry_point": "add"})


@pytest.mark.parametrize(("n", "c", "k", "expected"), [
    (1, 0, 1, 0.0),
    (1, 1, 1, 1.0),
    (10, 3, 1, 0.3),                      # pass@1 is c/n
    (10, 3, 5, 1 - 21 / 252),             # 1 - C(7,5)/C(10,5) = 11/12
    (10, 0, 10, 0.0),
    (10, 1, 10, 1.0),                     # any 10 of 10 include the passing one
    (5, 1, 5, 1.0),
    (20, 2, 10, 1 - 43758 / 184756),      # 1 - C(18,10)/C(20,10)
    (6, 2, 5, 1.0),                       # n - c = 4 < k: every 5-subset holds a pass
])
def test_pass_at_k_matches_hand_computed_values(n: int, c: int, k: int, expected: float) -> None:
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_is_stable_where_binomials_are_huge() -> None:
    n, c, k = 1000, 7, 100  # C(1000, 100) ~ 6e139: the ratio of floats would lose the answer
    exact = 1 - Fraction(comb(n - c, k), comb(n, k))
    assert pass_at_k(n, c, k) == pytest.approx(float(exact), rel=1e-12)


def test_pass_at_k_rejects_impossible_counts() -> None:
    for n, c, k in ((3, 4, 1), (3, 1, 4), (3, 1, 0)):
        with pytest.raises(ValueError):
            pass_at_k(n, c, k)


def test_program_is_prompt_completion_tests_and_check_call() -> None:
    program = program_for(ADD, "    return a + b\n")
    assert program == (ADD.input + "    return a + b\n" + "\n" + ADD.extra["test"] + "\ncheck(add)\n")


@linux_only
def test_code_pass_counts_passing_samples() -> None:
    right, wrong, loop = "    return a + b\n", "    return a - b\n", "    while True:\n        pass\n"
    pred = Prediction(text=right, completions=[right, wrong, wrong, right, wrong])
    stats = code_pass(ADD, pred, None)  # type: ignore[arg-type]
    assert stats["pass@1"] == pytest.approx(2 / 5)
    assert stats["pass@5"] == 1.0  # 5 of 5 drawn: the passing ones are among them
    assert math.isnan(stats["pass@10"])  # only 5 samples
    single = code_pass(ADD, Prediction(text=wrong, completions=[wrong]), None)  # type: ignore[arg-type]
    assert single["pass@1"] == 0.0 and math.isnan(single["pass@5"])
    ten = [right] + [wrong] * 8 + [loop[:-1] + " # never ends\n"]
    assert passes([program_for(ADD, ten[0]), program_for(ADD, ten[1])]) == [True, False]
    stats10 = code_pass(ADD, Prediction(text=right, completions=ten), None)  # type: ignore[arg-type]
    assert stats10["pass@1"] == pytest.approx(0.1)
    assert stats10["pass@5"] == pytest.approx(0.5)  # 1 - C(9,5)/C(10,5) = 1 - 126/252
    assert stats10["pass@10"] == 1.0


def test_code_pass_is_registered_with_its_stats() -> None:
    import harness.metrics.code  # noqa: F401  (until the registry imports it)
    from harness.metrics.registry import metric_registry

    metric = metric_registry()["code_pass"]
    assert metric.outputs == {"pass@1": False, "pass@5": False, "pass@10": False}


def _write_data(root: Path, rows: list[dict[str, object]]) -> None:
    (root / "humaneval").mkdir(parents=True)
    path = root / "humaneval" / "test.jsonl.gz"
    path.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode(), mtime=0))
    (root / "checksums.json").write_text(json.dumps(
        {"humaneval/test.jsonl.gz": hashlib.sha256(path.read_bytes()).hexdigest()}))


def test_scenario_reads_rows_with_tests_and_entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [{"id": f"HumanEval/{i}", "split": "test", "input": ADD.input, "references": ["    return a + b\n"],
             "test": ADD.extra["test"], "entry_point": "add"} for i in range(3)]
    _write_data(tmp_path, rows)
    monkeypatch.setenv("HARNESS_DATA_DIR", str(tmp_path))
    scenario = HumanEvalScenario()
    test = scenario.split("test")
    assert [inst.id for inst in test] == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
    assert test[1].input == ADD.input and test[1].extra == {"test": ADD.extra["test"], "entry_point": "add"}
    assert [r.output for r in test[1].correct_references] == ["    return a + b\n"]
    assert list(scenario.split("train")) == []
    assert (scenario.input_prefix, scenario.input_suffix, scenario.output_prefix, scenario.instructions) == ("",) * 4
    assert scenario.main_metric == "pass@1" and scenario.default_method == "generation"
    assert "\ndef " in STOP_SEQUENCES and scenario.adapter_defaults["max_tokens"] == 512


def _shipped() -> list[Instance]:
    if not (data_root() / "humaneval" / "test.jsonl.gz").is_file():
        pytest.skip("the shipped humaneval/test.jsonl.gz is not there")
    return list(HumanEvalScenario().split("test"))


@linux_only
def test_every_canonical_solution_passes_its_tests() -> None:
    problems = _shipped()
    assert len(problems) == 164
    start = time.monotonic()
    verdicts = passes([program_for(p, p.correct_references[0].output) for p in problems])
    assert [p.id for p, ok in zip(problems, verdicts) if not ok] == []
    assert time.monotonic() - start < 40


@linux_only
def test_an_empty_completion_passes_no_problem() -> None:
    problems = _shipped()
    verdicts = passes([program_for(p, "") for p in problems])
    assert [p.id for p, ok in zip(problems, verdicts) if ok] == []


HOSTILE = '''    import os, sys
    for name in ("ctypes", "_ctypes"):
        sys.modules.pop(name, None)
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        for line in open("/proc/self/mountinfo"):
            libc.mount(None, line.split()[4].encode(), None, 32 | 4096, None)
    except Exception:
        pass
    try:
        import _io
        _io.FileIO(TARGET, "w").write(b"escaped")
    except Exception:
        pass
    for fd in range(64):
        try:
            os.write(fd, b"PASS passed\\n")
        except OSError:
            pass
    os._exit(0)
'''


@linux_only
def test_harness_run_scores_a_hostile_completion_as_failing(tmp_path: Path) -> None:
    """Through `harness run` against a server whose every completion escapes the guard, tries to remount and write
    outside, forges a pass on every descriptor and exits 0: pass@1 is 0 and nothing is written."""
    import sqlite3

    from conftest import run_cli, start_stub_process

    target = tmp_path / "escaped.txt"
    completion = tmp_path / "completion.py"
    completion.write_text(HOSTILE.replace("TARGET", repr(str(target))))
    data = tmp_path / "data"
    _write_data(data, [{"id": f"HumanEval/{i}", "split": "test", "input": ADD.input, "references": [""],
                        "test": ADD.extra["test"], "entry_point": "add"} for i in range(2)])
    stub = start_stub_process("--latency", "0", "--completion-file", str(completion))
    try:
        (tmp_path / "models.yaml").write_text(
            f"- name: local/stub\n  client: openai-compatible\n  base_url: {stub.base_url}\n  model: stub-model\n")
        (tmp_path / "suite.yaml").write_text("entries:\n  - scenario: humaneval\n    max_instances: 2\n")
        proc = run_cli("run", "suite.yaml", "--models", "local/stub", "--models-file", "models.yaml", "--output", "out",
                       "--no-site", cwd=tmp_path, env={"HARNESS_DATA_DIR": str(data)})
    finally:
        stub.stop()
    assert proc.returncode == 0, proc.stderr
    with sqlite3.connect(tmp_path / "out" / "harness.db") as conn:
        scores = dict(conn.execute("SELECT metric, mean FROM run_stats WHERE metric = 'pass@1'").fetchall())
    assert not target.exists()
    assert scores == {"pass@1": 0.0}

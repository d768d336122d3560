"""Paired comparison of two models (harness.compare): the test on data with known answers, its calibration in
simulation, and `harness compare` end to end against stores written through the stub server."""

from __future__ import annotations

import math
import re
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli
from harness.compare import PERMUTATIONS, flip_means, paired_test, permutation_p, suite_test
from harness.metrics.stats import bootstrap_ci


# ------------------------------------------------------------------------------------- known answers


def test_identical_values_differ_by_nothing() -> None:
    a = [1.0, 0.0, 1.0, 1.0, 0.0] * 8
    r = paired_test(a, a)
    assert (r.n, r.diff, r.ci_low, r.ci_high, r.p_value) == (40, 0.0, 0.0, 0.0, 1.0)


@pytest.mark.parametrize(("d", "exact"), [
    ([1.0] * 5, 2 / 32),  # only all-plus and all-minus reach |mean| = 1
    ([1.0, 1.0, 1.0, -1.0], 10 / 16),  # |sum| >= 2: sums +-4 (2 ways) and +-2 (8 ways)
    ([0.5, 0.5, 0.5, 0.5, 0.5, 0.5], 2 / 64),
    ([2.0, 1.0, 1.0], 2 / 8),  # |+-2 +- 1 +- 1| = 4 only with all three signs alike
])
def test_p_value_matches_the_exact_sign_flip_test(d: list[float], exact: float) -> None:
    b = np.zeros(len(d))
    p = paired_test(np.array(d), b).p_value
    # Monte Carlo over 10,000 flips: within 4 standard errors of the exact permutation p-value
    assert abs(p - exact) < 4 * math.sqrt(exact * (1 - exact) / PERMUTATIONS) + 1 / PERMUTATIONS


def test_a_clear_difference_has_a_tiny_p_and_an_interval_off_zero() -> None:
    a, b = np.ones(30), np.zeros(30)
    r = paired_test(a, b)
    assert (r.mean_a, r.mean_b, r.diff, r.ci_low, r.ci_high) == (1.0, 0.0, 1.0, 1.0, 1.0)
    assert r.p_value == 1 / (1 + PERMUTATIONS)  # no flip reaches |mean| = 1 but the observed signs (2 / 2**30)


def test_interval_is_the_bootstrap_of_the_differences_and_direction_is_a_minus_b() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.random(80), rng.random(80) + 0.2
    r = paired_test(a, b)
    assert r.diff == pytest.approx(a.mean() - b.mean()) and r.diff < 0
    assert (r.diff, r.ci_low, r.ci_high) == bootstrap_ci(a - b)
    assert r.p_value < 0.01
    assert paired_test(b, a).diff == pytest.approx(-r.diff)


def test_pairing_matters() -> None:
    # B is A plus a small constant: unpaired, the spread of A hides it; paired, every difference is the same.
    rng = np.random.default_rng(3)
    a = rng.random(50)
    r = paired_test(a + 0.05, a)
    assert r.ci_low == pytest.approx(0.05) and r.ci_high == pytest.approx(0.05) and r.p_value < 0.001


def test_sign_flip_draws_agree_between_the_binomial_and_the_per_instance_paths() -> None:
    rng = np.random.default_rng(11)
    few = rng.integers(-2, 3, size=300).astype(float)  # 2 magnitudes: drawn as binomial counts
    many = few + rng.normal(0, 1e-3, size=300)  # 300 magnitudes: drawn as signs per instance
    by_count = flip_means(few, 20_000, np.random.default_rng(0))
    by_sign = flip_means(many, 20_000, np.random.default_rng(0))
    assert by_count.std() == pytest.approx(by_sign.std(), rel=0.03)
    assert abs(by_count.mean()) < 0.01 and abs(by_sign.mean()) < 0.01
    # the flipped means' spread is the exact one: sqrt(sum d^2) / n
    assert by_count.std() == pytest.approx(math.sqrt((few ** 2).sum()) / few.size, rel=0.03)


def test_continuous_p_value_is_close_to_the_normal_approximation() -> None:
    rng = np.random.default_rng(5)
    d = rng.normal(0.08, 1.0, size=600)
    p = paired_test(d, np.zeros_like(d)).p_value
    z = abs(d.mean()) / (math.sqrt((d ** 2).sum()) / d.size)
    assert p == pytest.approx(math.erfc(z / math.sqrt(2)), abs=0.02)


def test_permutation_p_counts_ties_as_reaching() -> None:
    assert permutation_p(0.5, np.array([0.5, -0.5, 0.1, 0.0])) == 3 / 5
    assert permutation_p(0.0, np.zeros(9)) == 1.0


def test_suite_test_averages_groups_and_resamples_within_them() -> None:
    one, two = np.full(400, 0.2), np.full(100, -0.1)
    mean, low, high, p = suite_test([one, two])
    # the mean of the groups' means, not of all 500 differences (which would be 0.14)
    assert mean == pytest.approx(0.05) and low == pytest.approx(0.05) and high == pytest.approx(0.05)
    assert p < 0.001  # random signs within groups: their average has sd 0.007, the observed 0.05 is 7 sd out
    mean, low, high, p = suite_test([np.full(400, 0.2), np.full(400, -0.2)])
    assert mean == pytest.approx(0.0) and p == 1.0
    assert all(math.isnan(v) for v in suite_test([np.array([])]))


def test_unequal_lengths_are_refused() -> None:
    with pytest.raises(ValueError):
        paired_test([1.0, 0.0], [1.0])


# ------------------------------------------------------------------------------------- simulation


def _simulate(repeats: int, n: int, shrink: float, seed: int) -> tuple[float, float, float]:
    """Two models on `repeats` fresh samples of n instances (each instance's difficulty p ~ Beta(2, 2); A answers
    right with probability p, B with shrink * p): the rate of p < 0.05, the coverage of the true difference
    (1 - shrink) * E[p] = (1 - shrink) / 2 by the 95% interval, and the time taken."""
    import time

    rng = np.random.default_rng(seed)
    p = rng.beta(2, 2, size=(repeats, n))
    a = (rng.random((repeats, n)) < p).astype(np.float64)
    b = (rng.random((repeats, n)) < shrink * p).astype(np.float64)
    truth = (1 - shrink) / 2
    start = time.perf_counter()
    results = [paired_test(a[i], b[i], seed=i, permutations=2_000) for i in range(repeats)]
    elapsed = time.perf_counter() - start
    rejected = np.mean([r.p_value < 0.05 for r in results])
    covered = np.mean([r.ci_low <= truth <= r.ci_high for r in results])
    return float(rejected), float(covered), elapsed


def test_false_positive_rate_on_two_identical_models_is_near_alpha() -> None:
    rejected, covered, _ = _simulate(repeats=1_000, n=500, shrink=1.0, seed=20)
    assert 0.03 <= rejected <= 0.07
    assert 0.93 <= covered <= 0.97


def test_interval_covers_the_true_difference_about_95_percent() -> None:
    rejected, covered, _ = _simulate(repeats=1_000, n=500, shrink=0.8, seed=21)
    assert 0.93 <= covered <= 0.97
    assert rejected > 0.5  # and the test sees a true difference of 0.1 at n=500 most of the time


# ------------------------------------------------------------------------------------- end to end

SUITE = """\
name: pairs
entries:
  - scenario: boolq
    max_instances: 40
  - scenario: arc_challenge
    max_instances: 40
"""


def _deployments(tmp_path: Path, steady: str, flaky: str) -> Path:
    """Three deployments on stub servers that answer per model name: two steady, one on a server that fails
    some requests (tried once)."""
    text = ""
    for name, url, model in (("local/m1", steady, "m1"), ("local/m2", steady, "m2"), ("local/flaky", flaky, "m3")):
        text += (f"- name: {name}\n  client: openai-compatible\n  base_url: {url}\n  model: {model}\n"
                 "  max_concurrency: 4\n  max_attempts: 1\n")
    path = tmp_path / "models.yaml"
    path.write_text(text)
    return path


def _table(stdout: str) -> dict[str, list[str]]:
    """`harness compare`'s rows by scenario: the cells after the name and metric."""
    rows = {}
    for line in stdout.splitlines():
        m = re.match(r"(\S+)\s+(?:exact_match|quasi_exact_match)\s+(\d+)\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s+"
                     r"(\[\S+, \S+\])\s+(\S+)$", line)
        if m:
            rows[m.group(1)] = list(m.groups()[1:])
    return rows


def _paired_means(db: Path, model_a: str, model_b: str, group: str, stat: str) -> tuple[int, float, float]:
    """From the store by plain SQL: instances both answered, and each model's mean over them."""
    import json

    with sqlite3.connect(db) as conn:
        def values(model: str) -> dict[str, float]:
            rows = conn.execute("SELECT i.instance_id, i.stats FROM instances i JOIN runs r ON r.run_id = i.run_id "
                                "WHERE r.model = ? AND r.group_name = ? AND i.error IS NULL", (model, group))
            return {iid: json.loads(stats)[stat] for iid, stats in rows}

        a, b = values(model_a), values(model_b)
    both = sorted(a.keys() & b.keys())
    return len(both), float(np.mean([a[k] for k in both])), float(np.mean([b[k] for k in both]))


def test_compare_and_rank_intervals_end_to_end(tmp_path: Path, stub_factory) -> None:
    steady = stub_factory("--latency", "0", "--answers-by-model")
    flaky = stub_factory("--latency", "0", "--answers-by-model", "--fail-rate", "0.25", "--seed", "3")
    (tmp_path / "suite.yaml").write_text(SUITE)
    models = _deployments(tmp_path, steady.base_url, flaky.base_url)
    run = run_cli("run", "suite.yaml", "--models", "chance,local/m1,local/m2,local/flaky", "--models-file",
                  str(models), "--output", "out", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    header = run.stdout.splitlines()[0]
    assert re.match(r"model\s+rank\s+win rate \[95%\]\s+> next\s+arc_challenge", header)
    ranked = [line for line in run.stdout.splitlines()[1:5]]
    assert all(re.match(r"\S+\s+\d(\u2013\d)?\s+\d\.\d{3} \[\d\.\d\d, \d\.\d\d\]", line) for line in ranked), ranked
    summary = run_cli("summarize", "--output", "out", cwd=tmp_path)
    lines = summary.stdout.splitlines()
    assert summary.returncode == 0 and lines[0] == "suite: pairs" and lines[2] == header  # each suite under its name
    summary.stdout = "\n".join(lines[2:])

    def intervals(stdout: str) -> set[tuple[str, ...]]:  # tied rows may come in another order: per model
        return {tuple(line.split()[:5]) for line in stdout.splitlines()[1:5]}

    assert intervals(summary.stdout) == intervals(run.stdout)
    db = tmp_path / "out" / "harness.db"

    # two steady models: every instance paired; the means are those of the store's instances
    proc = run_cli("compare", "local/m1", "local/m2", "--output", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "A = local/m1, B = local/m2" in proc.stdout and "(0 dropped" in proc.stdout
    rows = _table(proc.stdout)
    assert set(rows) == {"boolq", "arc_challenge"}
    for group, stat in (("boolq", "quasi_exact_match"), ("arc_challenge", "exact_match")):
        n, mean_a, mean_b = _paired_means(db, "local/m1", "local/m2", group, stat)
        assert rows[group][:4] == [str(n), "0", f"{mean_a:.3f}", f"{mean_b:.3f}"] and n == 40
        assert rows[group][4] == f"{mean_a - mean_b:+.3f}"
    assert re.search(r"^suite \(mean over scenarios\)\s+main metric, \+ favours A\s+80\s+0\s", proc.stdout, re.M)

    # the flaky deployment: its failed instances are dropped, and said so
    with sqlite3.connect(db) as conn:
        failed = dict(conn.execute("SELECT r.group_name, count(*) FROM instances i JOIN runs r ON r.run_id = i.run_id "
                                   "WHERE r.model = 'local/flaky' AND i.error IS NOT NULL GROUP BY r.group_name"))
    assert sum(failed.values()) > 0
    proc = run_cli("compare", "local/m1", "local/flaky", "--output", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = _table(proc.stdout)
    for group in ("boolq", "arc_challenge"):
        n, dropped = int(rows[group][0]), int(rows[group][1])
        assert dropped == failed.get(group, 0) and n + dropped == 40
    assert f"({sum(failed.values())} dropped" in proc.stdout

    # chance answers boolq's yes/no right about half the time; the stub picks among four letters: told apart
    proc = run_cli("compare", "chance", "local/m1", "--output", "out", cwd=tmp_path)
    rows = _table(proc.stdout)
    low = float(rows["boolq"][5].strip("[]").split(",")[0])
    assert float(rows["boolq"][4]) > 0 and low > 0 and float(rows["boolq"][6].lstrip("<")) < 0.05

    # the site shows the comparisons on the group pages
    group_page = (tmp_path / "out" / "site" / "pairs" / "groups" / "boolq.html").read_text()
    assert "Paired comparisons" in group_page and "every pair of models" in group_page
    assert group_page.count('class="pair-model"') == 2 * 6  # 4 models: all 6 pairs, two names each
    assert 'class="rank-ci"' in (tmp_path / "out" / "site" / "pairs" / "index.html").read_text()


def test_compare_input_errors(tmp_path: Path, stub_factory) -> None:
    steady = stub_factory("--latency", "0", "--answers-by-model")
    (tmp_path / "suite.yaml").write_text("name: tiny\nentries:\n  - scenario: boolq\n    max_instances: 5\n")
    models = _deployments(tmp_path, steady.base_url, steady.base_url)
    assert run_cli("run", "suite.yaml", "--models", "chance,local/m1", "--models-file", str(models), "--output", "out",
                   "--no-site", cwd=tmp_path).returncode == 0
    for args, words in ((("chance", "nobody"), "MODEL_B: no runs of model 'nobody' in suite 'tiny'"),
                        (("nobody", "chance"), "MODEL_A: no runs of model 'nobody'"),
                        (("chance", "chance"), "two different models"),
                        (("chance", "local/m1", "--suite", "other"), "no suite 'other'")):
        proc = run_cli("compare", *args, "--output", "out", cwd=tmp_path)
        assert proc.returncode == 2 and words in proc.stderr and len(proc.stderr.splitlines()) == 1, proc.stderr
        assert proc.stdout == ""


def test_compare_reads_any_store(tmp_path: Path, db_url: str) -> None:
    """--db: the per-instance values come through the Store's SQL, the same on SQLite and PostgreSQL."""
    (tmp_path / "suite.yaml").write_text("name: db\nentries:\n  - scenario: boolq\n    max_instances: 12\n")
    (tmp_path / "models.yaml").write_text("- name: chance2\n  client: chance\n")
    run = run_cli("run", "suite.yaml", "--models", "chance,chance2", "--models-file", "models.yaml", "--db", db_url,
                  "--no-site", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    proc = run_cli("compare", "chance", "chance2", "--db", db_url, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = _table(proc.stdout)
    # the two chance deployments pick with the same seed per prompt: the same answers, no difference
    assert rows["boolq"][:2] == ["12", "0"] and rows["boolq"][4] == "+0.000" and rows["boolq"][6] == "1.000"

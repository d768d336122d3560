"""End to end through the real CLI on the embedded Gemma 3 270M: a few instances of each method."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from conftest import run_cli

pytest.importorskip("torch", reason="the embedded extra is not installed (pip install -e '.[embedded]')")

SUITE = """\
name: embedded-e2e
models: [google/gemma-3-270m, chance]
entries:
  - scenario: arc_challenge
    method: multiple_choice_separate
    max_instances: 6
  - scenario: mmlu
    args: {subject: high_school_geography}
    method: multiple_choice_joint
    shots: 3
    max_instances: 4
  - scenario: gsm8k
    shots: 1
    max_tokens: 24
    stop: ["\\n\\n"]
    max_instances: 2
"""


@pytest.mark.slow
def test_embedded_suite(tmp_path: Path) -> None:
    (tmp_path / "suite.yaml").write_text(SUITE)
    proc = run_cli("run", "suite.yaml", "--output", "out", cwd=tmp_path, env={"HF_HUB_OFFLINE": "1"}, timeout=900)
    assert proc.returncode == 0, proc.stderr
    assert "0 failed" in proc.stdout
    # stderr is a pipe here: the model's loading and the suite's progress are still said, as plain lines
    assert "harness: loading google/gemma-3-270m" in proc.stderr and "google/gemma-3-270m loaded in" in proc.stderr
    assert re.search(r"^progress: runs 6/6 · requests ([\d,]+)/\1 \(100\.0%\)", proc.stderr, re.M), proc.stderr
    with sqlite3.connect(tmp_path / "out" / "harness.db") as conn:
        runs = dict(conn.execute("SELECT model || ' ' || scenario, instances FROM runs").fetchall())
        assert len(runs) == 6
        # every instance of the embedded model was scored, with real token counts
        tokens = conn.execute(
            "SELECT count(*), min(i.stats ->> '$.prompt_tokens') FROM instances i JOIN runs r USING (run_id) "
            "WHERE r.model = 'google/gemma-3-270m' AND i.stats ->> '$.prompt_tokens' IS NOT NULL").fetchone()
        assert tokens[0] == 6 + 4 + 2 and tokens[1] > 0
        outputs = [o for (o,) in conn.execute(
            "SELECT i.outputs FROM instances i JOIN runs r USING (run_id) WHERE r.model = 'google/gemma-3-270m' AND r.method = 'generation'")]
        assert len(outputs) == 2 and all(o != '[""]' for o in outputs)
    site = Path(re.search(r"site: (\S+)", proc.stdout).group(1))
    assert "google/gemma-3-270m" in site.read_text()
    again = run_cli("run", "suite.yaml", "--output", "out", cwd=tmp_path, env={"HF_HUB_OFFLINE": "1"}, timeout=900)
    assert again.returncode == 0 and " 0 sent" in again.stdout
    assert "loading" not in again.stderr  # every run reused: the model is not even loaded

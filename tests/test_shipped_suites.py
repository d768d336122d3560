"""Shipped suites (harness/suites/*.yaml) are named on the command line by name; a user's own file always wins."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.run_spec import load_suite
from harness.suites import SUITES_DIR, resolve_suite, shipped_suites, suite_argument


def test_a_bare_name_is_a_shipped_suite_unless_a_file_has_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert set(shipped_suites()) == {"capabilities", "classic", "demo", "judged", "lite", "offline", "safety"}
    assert resolve_suite("demo") == SUITES_DIR / "demo.yaml" and load_suite("demo").name == "demo"
    assert suite_argument(resolve_suite("demo")) == "demo"
    (tmp_path / "demo").mkdir()  # a folder is no suite file: the shipped suite still runs
    assert resolve_suite("demo") == SUITES_DIR / "demo.yaml"
    for given in ("demo.yaml", "sub/demo", "./demo"):  # a file's name or path: never a shipped suite
        assert resolve_suite(given) == Path(given)
    (tmp_path / "lite").write_text("name: mine\nmodels: [chance]\nentries:\n  - scenario: boolq\n")
    assert resolve_suite("lite") == Path("lite") and load_suite("lite").name == "mine"
    assert suite_argument(SUITES_DIR / "lite.yaml") == str(SUITES_DIR / "lite.yaml")  # `lite` would read the file
    with pytest.raises(HarnessError, match="no shipped suite of that name .shipped: capabilities, classic, demo"):
        resolve_suite("nope")


def test_list_suites_and_run_one_by_name(tmp_path: Path) -> None:
    listed = subprocess.run([sys.executable, "-m", "harness", "list", "suites"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()] == sorted(shipped_suites())
    proc = subprocess.run([sys.executable, "-m", "harness", "run", "demo", "--models", "chance", "--max-instances", "1",
                           "--output", "out", "--no-site"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "\n5 runs," in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "harness", "run", "dmeo"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.startswith("harness: error: dmeo: no such file, and no shipped suite")

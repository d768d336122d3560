"""The end-of-run hint names a command that runs from the user's shell, whether or not harness is on PATH."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

SCRIPT = Path(sys.executable).with_name("harness")


def _hint(command: list[str], cwd: Path, path: str) -> list[str]:
    out = subprocess.run([*command, "run", str(ROOT / "examples/custom/my_scenario.yaml"), "--models", "chance",
                          "--output", "out"], cwd=cwd, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PATH": path})
    assert out.returncode == 0, out.stderr
    line = out.stdout.strip().splitlines()[-1]
    assert line.startswith("open it in a browser, or serve it: ")
    return shlex.split(line.split(": ", 1)[1])


@pytest.mark.skipif(not SCRIPT.exists(), reason="no console script beside this interpreter")
@pytest.mark.parametrize("on_path", [False, True])
def test_the_serve_hint_runs_as_printed(tmp_path: Path, on_path: bool) -> None:
    path = f"{SCRIPT.parent}:/usr/bin:/bin" if on_path else "/usr/bin:/bin"
    hint = _hint([str(SCRIPT)], tmp_path, path)
    assert hint[0] == ("harness" if on_path else str(SCRIPT))
    serve_help = subprocess.run([*hint[:-2], "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                                env={**os.environ, "PATH": path})
    assert serve_help.returncode == 0 and "--port" in serve_help.stdout


def test_the_hint_under_python_m_names_the_interpreter(tmp_path: Path) -> None:
    hint = _hint([sys.executable, "-m", "harness"], tmp_path, "/usr/bin:/bin")
    assert hint[:3] == [sys.executable, "-m", "harness"]

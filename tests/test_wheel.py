"""harness installed from its wheel, as a user gets it with `pip install`: no checkout beside it. The wheel carries
the site's templates, the shipped data and the shipped suites, and `harness run demo` works from an empty folder."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _build_wheel(tmp_path: Path) -> Path:
    """Build from a copy of what the build reads (pyproject.toml, README.md, harness/): the checkout gets no build/
    folder, and a stale one cannot slip files into the wheel."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "harness", src / "harness", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(src), "-w", str(tmp_path / "dist")]
    if importlib.util.find_spec("setuptools") and int(importlib.metadata.version("setuptools").split(".")[0]) >= 68:
        cmd.insert(4, "--no-build-isolation")  # the build backend is here already: no download of it
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = (tmp_path / "dist").glob("harness-*.whl")
    return wheel


def _installed_files(package: Path) -> dict[str, int]:
    return {str(p.relative_to(package)): p.stat().st_mtime_ns for p in package.rglob("*") if p.is_file()}


def test_wheel_runs_a_shipped_suite_with_no_checkout(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    # Nothing of the checkout may be found: no PYTHONPATH, no data or template folder named, a cache of the test's.
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "HARNESS_DATA_DIR", "HARNESS_WEB_DIR", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(HARNESS_CACHE=str(tmp_path / "cache"), PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONDONTWRITEBYTECODE="1")
    # The core dependencies only (from the package index): the chance baseline needs no torch.
    proc = subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)], capture_output=True, text=True,
                          timeout=900, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    work = tmp_path / "empty"
    work.mkdir()
    where = subprocess.run([str(python), "-c", "import harness; print(harness.__file__)"], cwd=work, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    package = Path(where).parent
    assert package.is_relative_to(venv), where  # the installed copy, not the checkout
    before = _installed_files(package)

    harness = str(venv / "bin" / "harness")
    listed = subprocess.run([harness, "list", "suites"], cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and listed.stdout.startswith("capabilities") and "\ndemo " in listed.stdout, listed

    proc = subprocess.run([harness, "run", "demo", "--models", "chance", "--max-instances", "2", "--output", "out"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    index = work / "out" / "site" / "demo" / "index.html"
    assert index.is_file() and (index.parent / "static" / "site.css").is_file()
    assert "chance" in index.read_text(encoding="utf-8")
    with sqlite3.connect(work / "out" / "harness.db") as db:
        runs = db.execute("SELECT count(*) FROM runs WHERE suite = 'demo' AND model = 'chance'").fetchone()[0]
        stats = db.execute("SELECT count(*) FROM run_stats").fetchone()[0]
    assert runs == 5 and stats > 0  # the suite's five entries, each scored

    index.unlink()
    proc = subprocess.run([harness, "site", "--output", "out"], cwd=work, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0 and index.is_file(), proc.stdout + proc.stderr
    assert _installed_files(package) == before  # the install folder is only read (it may be read-only)

"""The suites that ship with harness (this folder's *.yaml, package data), runnable by name: `harness run demo`."""

from __future__ import annotations

import os
from pathlib import Path

from harness.errors import HarnessError

SUITES_DIR = Path(__file__).resolve().parent
SUFFIXES = (".yaml", ".yml")


def shipped_suites() -> dict[str, Path]:
    """Shipped suite name -> its file."""
    return {p.stem: p for p in sorted(SUITES_DIR.glob("*.yaml"))}


def resolve_suite(arg: str | Path) -> Path:
    """The file a suite argument names: the file itself, or, for a bare name (no folder, no .yaml) that is no file
    here, the shipped suite of that name. A user's own file always wins over a shipped suite."""
    path, text = Path(arg), str(arg)
    if path.is_file() or "/" in text or os.sep in text or path.suffix in SUFFIXES:  # `./demo` names a file
        return path
    shipped = shipped_suites()
    if path.name in shipped:
        return shipped[path.name]
    raise HarnessError(f"no such file, and no shipped suite of that name (shipped: {', '.join(shipped)})",
                       path=str(arg))


def suite_argument(path: Path) -> str:
    """How to name this suite file on a command line: a shipped suite by its name (its path is deep inside the
    install), unless a file of that name here would be read instead; any other file by its path."""
    path = Path(path)
    if path.resolve().parent == SUITES_DIR and path.stem in shipped_suites() and not Path(path.stem).is_file():
        return path.stem
    return str(path)

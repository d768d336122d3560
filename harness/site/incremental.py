"""Rewrite only what changed: a manifest beside index.html says what each run's pages (and each comparison page)
were written from, and build_site skips those whose inputs are unchanged.

A run's key is what the store says identifies its content (when it was saved and its fingerprint) plus what its
page shows beside it; a Report made in memory (no `updated_at`) has no key, so its runs are always rewritten. Any
change to harness's code, the templates or static files rewrites everything.
The summary pages (leaderboard, groups, models, plots) depend on every run and are cheap: they are always written.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import harness
from harness.report import RunInfo

MANIFEST = ".harness-pages.json"


def code_key(web: Path) -> str:
    """harness's version and the newest change to its code (the site's, and what reads the store for it) or to the
    templates and static files."""
    package = Path(harness.__file__).resolve().parent
    files = [*package.rglob("*.py"), *(p for sub in ("templates", "static") for p in (web / sub).rglob("*") if p.is_file())]
    newest = max((p.stat().st_mtime_ns for p in files), default=0)
    return f"{harness.__version__}+{newest}+{web}"


def run_key(run: RunInfo, *parts: Any) -> str | None:
    """None when the run has no stored identity (always rewritten)."""
    saved = getattr(run, "updated_at", "")
    if not saved:
        return None
    data = json.dumps([run.run_id, saved, getattr(run, "fingerprint", ""), *parts], default=str, sort_keys=True)
    return hashlib.sha256(data.encode()).hexdigest()


def combined(keys: list[str | None]) -> str | None:
    if any(k is None for k in keys):
        return None
    return hashlib.sha256("\n".join(sorted(k for k in keys if k)).encode()).hexdigest()


class Manifest:
    def __init__(self, out_dir: Path, code: str) -> None:
        self.path = out_dir / MANIFEST
        self.code = code
        self.old: dict[str, str] = {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and data.get("code") == code and isinstance(data.get("pages"), dict):
                self.old = {str(k): str(v) for k, v in data["pages"].items()}
        except (OSError, ValueError):
            pass  # none yet, or unreadable: everything is written
        self.new: dict[str, str] = {}

    def fresh(self, page: str, key: str | None, written: Path) -> bool:
        """Whether `page` was written from `key` and is still there; records the key either way."""
        if key is None:
            return False
        self.new[page] = key
        return self.old.get(page) == key and written.is_file()

    def save(self) -> None:
        # Written last: a build killed half way leaves the old manifest, whose keys the rewritten pages no longer
        # match, so they are written again next time.
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"code": self.code, "pages": self.new}, sort_keys=True), encoding="utf-8")
        tmp.replace(self.path)

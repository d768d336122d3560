"""The "Reproduce this number" box of a run page: how the run was made.

A run's full record (command, suite entry, versions, deployment without secrets, data files with sha256, seeds,
start and end) is shown when the run carries one (`RunInfo.record`, a dict with the keys below); a store without it
gets what it does have: the run id, fingerprint, when it was saved, the server info and adapter spec, and a command
that runs the suite's entry again. Every value is shown as text: a record comes from the store, and is not trusted.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from harness.names import visible
from harness.report import RunInfo

# (key, label) of the record's plain values, in the order shown.
FIELDS = (
    ("harness_version", "harness version"), ("git_commit", "git commit"), ("git_dirty", "uncommitted changes"),
    ("python", "Python"), ("seeds", "seeds"), ("started_at", "started"), ("ended_at", "ended"), ("cwd", "directory"),
)
VALUE_CHARS = 20_000


def _text(value: Any) -> str:
    s = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)
    return visible(s[:VALUE_CHARS])  # control characters as escapes, as every name on the site (harness.names)


def _pairs(value: Any) -> list[tuple[str, str]]:
    """A mapping as sorted (key, text) rows; anything else as one row."""
    if isinstance(value, dict):
        return [(_text(k), _text(v)) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))]
    return [("", _text(value))] if value not in (None, "", [], {}) else []


def _data_files(value: Any) -> list[tuple[str, str]]:
    """[{path, sha256}, ...] or {path: sha256}, as (path, sha256) rows."""
    if isinstance(value, dict):
        return _pairs(value)
    rows = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict):
            rows.append((_text(item.get("path", "")), _text(item.get("sha256", ""))))
        else:
            rows.append((_text(item), ""))
    return rows


def reproduce_context(run: RunInfo, suite: str) -> dict[str, Any]:
    record = getattr(run, "record", None)
    if isinstance(record, dict) and record:
        return {
            "full": True,
            "command": _text(record.get("command", "")),
            "suite_entry": _text(record.get("suite_entry_yaml", "")),
            "facts": [(label, _text(record[key])) for key, label in FIELDS if record.get(key) not in (None, "")],
            "deployment": _pairs(record.get("deployment")),
            "packages": _pairs(record.get("packages")),
            "data_files": _data_files(record.get("data_files")),
        }
    return {
        "full": False,
        "command": visible(f"harness run {shlex.quote(suite)} --models {shlex.quote(run.model)}"),
        "facts": [("run id", _text(run.run_id)), ("fingerprint", getattr(run, "fingerprint", "") or "—"),
                  ("saved", getattr(run, "updated_at", "") or "—"),
                  *((f"server {k}", _text(v)) for k, v in sorted(run.server.items(), key=lambda kv: str(kv[0])))],
        "spec": _text(json.dumps(run.adapter_spec, ensure_ascii=False, indent=1, sort_keys=True, default=str)),
    }

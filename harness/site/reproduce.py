"""The "Reproduce this number" box of a run page: how the run was made.

A run's full record (command, suite entry, versions, deployment without secrets, data files with sha256, seeds,
start and end) is shown when the run carries one (`RunInfo.record`: flat keys, or nested as harness.provenance
writes them; `_get` reads either); a store without it
gets what it does have: the run id, fingerprint, when it was saved, the server info and adapter spec, and a command
that runs the suite's entry again. Every value is shown as text: a record comes from the store, and is not trusted.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from harness.names import visible
from harness.report import RunInfo

VALUE_CHARS = 20_000


def _text(value: Any, lines: bool = False) -> str:
    """A value as shown: control characters as escapes, as every name on the site (harness.names); with `lines`,
    a multi-line text (YAML) keeps its line breaks."""
    s = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)
    s = s[:VALUE_CHARS]
    return "\n".join(visible(line) for line in s.split("\n")) if lines else visible(s)


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


def _get(record: dict[str, Any], *paths: str) -> Any:
    """The first of the dotted paths the record has a value at (records are flat, or nested as harness.provenance
    writes them: command.argv, harness.git.commit, python.version, ...)."""
    for path in paths:
        value: Any = record
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value not in (None, "", [], {}):
            return value
    return None


def _command(value: Any) -> str:
    if isinstance(value, list):
        return shlex.join(str(a) for a in value)
    return "" if value is None else str(value)


def reproduce_context(run: RunInfo, suite: str) -> dict[str, Any]:
    record = getattr(run, "record", None)
    if isinstance(record, dict) and record:
        python = _get(record, "python.version", "python")
        facts = [
            ("harness version", _get(record, "harness_version", "harness.version")),
            ("harness code version", _get(record, "harness.code_version")),
            ("git commit", _get(record, "git_commit", "harness.git.commit")),
            ("uncommitted changes", _get(record, "git_dirty", "harness.git.dirty")),
            ("Python", python if isinstance(python, str) else None),
            ("Python (details)", None if isinstance(python, str) else _get(record, "python")),
            ("suite file", _get(record, "suite.path")),
            ("suite file sha256", _get(record, "suite.sha256")),
            ("scenario", _get(record, "scenario")),
            ("seeds", _get(record, "seeds")),
            ("started", _get(record, "started_at")),
            ("ended", _get(record, "ended_at")),
            ("directory", _get(record, "cwd", "command.cwd")),
        ]
        return {
            "full": True,
            "command": visible(_command(_get(record, "command.argv", "command")))[:VALUE_CHARS],
            "suite_entry": _text(_get(record, "suite_entry_yaml", "entry_yaml") or "", lines=True),
            "facts": [(label, _text(value)) for label, value in facts if value is not None],
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

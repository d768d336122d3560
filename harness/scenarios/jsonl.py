"""Shipped scenario data: gzipped JSONL rows in one schema, read into Instances after a sha256 check.

Row schema (one JSON object a line, written by scenarios/make_samples.py):
    id, split ("train" | "valid" | "test"), input,
    choices + answer (index of the gold choice)   -- multiple choice, or
    references (acceptable answers)               -- generation,
plus scenario-specific fields (subject, rationale, passage, ...), kept in `Instance.extra` as strings.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from harness.errors import HarnessError
from harness.instance import CORRECT, SPLITS, Instance, Reference
from harness.scenarios.base import Scenario, data_root

CHECKSUMS = "checksums.json"
_CORE = {"id", "split", "input", "choices", "answer", "references"}
_GOLD = (CORRECT,)  # one shared tags tuple: loading 14k MMLU rows builds ~70k References

# Keyed by (path, size, mtime_ns): a file replaced on disk (or a different $HARNESS_DATA_DIR) is checked and read
# again, while the common case (every scenario of a suite reading the same file) costs one stat.
_verified: dict[tuple[str, int, int], str] = {}
_loaded: dict[tuple[str, int, int], tuple[Instance, ...]] = {}
_checksums: dict[tuple[str, int, int], dict[str, str]] = {}


def _key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return (str(path), st.st_size, st.st_mtime_ns)


def expected_checksums(root: Path) -> dict[str, str]:
    path = root / CHECKSUMS
    if not path.is_file():
        raise HarnessError(f"no {CHECKSUMS} beside the shipped data (set HARNESS_DATA_DIR?)", path=str(path))
    key = _key(path)
    if key not in _checksums:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise HarnessError(f"unreadable checksum list: {e}", path=str(path)) from e
        if not isinstance(data, dict):
            raise HarnessError("checksum list must be a JSON object of path -> sha256", path=str(path))
        _checksums[key] = data
    return _checksums[key]


def verify(relpath: str, root: Path | None = None) -> Path:
    """The data file's path, after checking its sha256 against checksums.json (once per file version)."""
    return _checked(relpath, root)[0]


def _checked(relpath: str, root: Path | None = None) -> tuple[Path, bytes | None]:
    """(path, bytes read for the check or None when it was already verified): the loader reuses the bytes."""
    root = root or data_root()
    path = root / relpath
    if not path.is_file():
        raise HarnessError("shipped data file is missing (run scenarios/make_samples.py)", path=str(path))
    expected = expected_checksums(root).get(relpath)
    if expected is None:
        raise HarnessError(f"no checksum recorded for {relpath} in {root / CHECKSUMS}", path=str(path))
    key = _key(path)
    if _verified.get(key) == expected:
        return path, None
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise HarnessError(
            f"sha256 mismatch: expected {expected}, found {actual}; the file was changed or corrupted "
            "(restore it, or rebuild with scenarios/make_samples.py)", path=str(path))
    _verified[key] = expected
    return path, data


def _fail(path: Path, line: int, field: str | None, message: str) -> HarnessError:
    return HarnessError(message, path=str(path), line=line, field=field)


def _str_list(row: dict[str, Any], field: str, path: Path, line: int) -> list[str]:
    value = row[field]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise _fail(path, line, field, "must be a non-empty list of strings")
    return value


def parse_row(row: Any, path: Path, line: int) -> Instance:
    """One JSON row -> Instance. MC: references are the choices, the gold one tagged correct. Generation: every
    reference is an acceptable answer, all tagged correct."""
    if not isinstance(row, dict):
        raise _fail(path, line, None, "row must be a JSON object")
    for field in ("id", "split", "input"):
        if not isinstance(row.get(field), str) or (field != "input" and not row[field]):
            raise _fail(path, line, field, "missing or not a non-empty string")
    if row["split"] not in SPLITS:
        raise _fail(path, line, "split", f"{row['split']!r} is not one of {', '.join(SPLITS)}")
    if "choices" in row:
        choices = _str_list(row, "choices", path, line)
        answer = row.get("answer")
        if not isinstance(answer, int) or isinstance(answer, bool) or not 0 <= answer < len(choices):
            raise _fail(path, line, "answer", f"must be an index into the {len(choices)} choices, got {answer!r}")
        refs = tuple([Reference(c, _GOLD if i == answer else ()) for i, c in enumerate(choices)])
    elif "references" in row:
        refs = tuple([Reference(r, _GOLD) for r in _str_list(row, "references", path, line)])
    else:
        raise _fail(path, line, "choices", "a row needs `choices` + `answer` or `references`")
    extra = {k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for k, v in row.items()
             if k not in _CORE}
    return Instance(row["id"], row["input"], refs, row["split"], extra)


def _rows(data: bytes, path: Path) -> list[Any]:
    """Decoded rows of gzipped JSONL. One json.loads over the whole file as an array is ~2x faster than one call a
    line (MMLU: 14k rows); only if that fails are lines parsed one by one, to name the bad line."""
    try:
        text = gzip.decompress(data).decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as e:  # gzip.BadGzipFile is an OSError
        raise HarnessError(f"cannot read gzipped JSONL: {e}", path=str(path)) from e
    try:  # JSON strings cannot hold a raw newline, so newlines are exactly the row boundaries
        rows = json.loads("[" + text.rstrip("\n").replace("\n", ",") + "]")
        if len(rows) == text.count("\n") + (not text.endswith("\n")):
            return rows
    except ValueError:
        pass
    # Slow path, only to name the bad line. Not splitlines(): it would also split at U+2028 inside a string.
    for line, row_text in enumerate(text.removesuffix("\n").split("\n"), 1):
        try:
            json.loads(row_text)
        except ValueError as e:
            raise _fail(path, line, None, f"not valid JSON: {e}") from e
    raise HarnessError("not valid JSONL (a blank line or a row split across lines?)", path=str(path))


def read_instances(path: Path, data: bytes | None = None) -> tuple[Instance, ...]:
    """Every row of one gz JSONL file, in file order; ids must be unique within the file."""
    instances: list[Instance] = []
    seen: set[str] = set()
    for line, row in enumerate(_rows(path.read_bytes() if data is None else data, path), 1):
        inst = parse_row(row, path, line)
        if inst.id in seen:
            raise _fail(path, line, "id", f"duplicate id {inst.id!r}")
        seen.add(inst.id)
        instances.append(inst)
    return tuple(instances)


def load(relpath: str) -> tuple[Instance, ...]:
    """Instances of a shipped file (path relative to the data root), checksum-verified and cached."""
    path, data = _checked(relpath)
    key = _key(path)
    if key not in _loaded:
        _loaded[key] = read_instances(path, data)
    return _loaded[key]


class JsonlScenario(Scenario):
    """A scenario whose data is shipped as `<data root>/<name>/<file>` for each of `data_files`. Not registered
    itself; subclasses set the class attributes and may override `keep()`/`transform()`."""

    data_files: ClassVar[tuple[str, ...]] = ("train.jsonl.gz", "test.jsonl.gz")

    def keep(self, instance: Instance) -> bool:
        return True

    def transform(self, instance: Instance) -> Instance:
        return instance

    def instances(self) -> Iterator[Instance]:
        for file in self.data_files:
            for inst in load(f"{self.name}/{file}"):
                if self.keep(inst):
                    yield self.transform(inst)

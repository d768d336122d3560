"""Shipped scenario data: gzipped JSONL rows in one schema, read into Instances after a sha256 check.

Row schema (one JSON object a line, written by scripts/data/make_samples.py):
    id, split ("train" | "valid" | "test"), input,
    choices + answer (index of the gold choice)   -- multiple choice, or
    references (acceptable answers; may be empty) -- generation,
plus scenario-specific fields (subject, rationale, passage, ...), kept in `Instance.extra` as strings.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import orjson

from harness.errors import HarnessError
from harness.instance import SPLITS, Instance, LazySequence, answer_references, choice_references, extra_fields
from harness.scenarios.base import Scenario, data_root
from harness.text import clean_value

CHECKSUMS = "checksums.json"
# Beside it: each shipped file's rows by split, as runs of line numbers, recorded with the file's sha256 (see load()).
SPLIT_INDEX = "splits.json"
_CORE = {"id", "split", "input", "choices", "answer", "references"}

# Keyed by (path, size, mtime_ns): a file replaced on disk (or a different $HARNESS_DATA_DIR) is checked and read
# again, while the common case (every scenario of a suite reading the same file) costs one stat.
_verified: dict[tuple[str, int, int], str] = {}
_loaded: dict[tuple[str, int, int], dict[str, list[tuple[int, bytes | dict[str, Any]]]]] = {}
# read_ahead() and the run may ask for one file at once, from two threads: it is checked and read once.
# _unpacking says read_ahead is reading it (load() waits for it).
_lock = threading.RLock()
_unpacking: dict[tuple[str, int, int], threading.Event] = {}
_checksums: dict[tuple[str, int, int], dict[str, str]] = {}
_indexes: dict[tuple[str, int, int], dict[str, Any]] = {}


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


def _checked(relpath: str, root: Path | None = None) -> tuple[Path, bytes | None, str]:
    """(path, bytes read for the check or None when it was already verified, its sha256): the loader reuses the
    bytes."""
    with _lock:
        return _check(relpath, root)


def _check(relpath: str, root: Path | None) -> tuple[Path, bytes | None, str]:
    root = root or data_root()
    path = root / relpath
    if not path.is_file():
        raise HarnessError("shipped data file is missing (reinstall harness; in a checkout, "
                           "scripts/data/make_samples.py remakes it)", path=str(path))
    expected = expected_checksums(root).get(relpath)
    if expected is None:
        raise HarnessError(f"no checksum recorded for {relpath} in {root / CHECKSUMS}", path=str(path))
    key = _key(path)
    if _verified.get(key) == expected:
        return path, None, expected
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise HarnessError(
            f"sha256 mismatch: expected {expected}, found {actual}; the file was changed or corrupted "
            "(restore it, or rebuild with scripts/data/make_samples.py)", path=str(path))
    _verified[key] = expected
    return path, data, expected


def _fail(path: Path, line: int, field: str | None, message: str) -> HarnessError:
    return HarnessError(message, path=str(path), line=line, field=field)


def _str_list(row: dict[str, Any], field: str, path: Path, line: int, allow_empty: bool = False) -> list[str]:
    value = row[field]
    if not isinstance(value, list) or not (value or allow_empty) or not all(isinstance(v, str) for v in value):
        raise _fail(path, line, field, "must be a list of strings" if allow_empty else "must be a non-empty list of strings")
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
        refs = choice_references(choices, answer)
    elif "references" in row:
        # empty for scenarios judged without references (IFEval's checkers, HumanEval's tests)
        refs = answer_references(_str_list(row, "references", path, line, allow_empty=True))
    else:
        raise _fail(path, line, "choices", "a row needs `choices` + `answer` or `references`")
    return Instance(row["id"], row["input"], refs, row["split"], extra_fields(row, _CORE))


def _lines(text: bytes) -> list[bytes]:
    """The rows of decompressed JSONL, undecoded. JSON strings cannot hold a raw newline, so newlines are exactly
    the row boundaries (not splitlines(): it would also split at U+2028 inside a string). The final newline's empty
    "line" is dropped after splitting: removesuffix() first would copy the whole text."""
    lines = text.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return lines


def _maybe_unsafe(line: bytes) -> bool:
    """Whether a row that orjson read may hold text to clean (harness.text): an escape (\\u0000, \\ud800, or any
    other: a row written with ensure_ascii is cleaned for nothing), DEL, or a C1 control (its UTF-8 begins with
    0xC2). A raw control byte is not JSON: orjson rejects it. Substring searches, cheaper than a regex: most rows
    hold none of these, and are not looked at string by string."""
    return b"\\u" in line or b"\x7f" in line or b"\xc2" in line


def _decode(line: bytes, path: Path, number: int) -> dict[str, Any]:
    try:
        row = orjson.loads(line)
    except ValueError as e:  # UnicodeDecodeError is a ValueError
        # orjson rejects an escaped lone surrogate and bytes that are not UTF-8: text all the same, read with U+FFFD
        # in their place rather than stop the run.
        try:
            row = json.loads(line.decode("utf-8", "replace"), strict=False)
        except ValueError:
            raise _fail(path, number, None, f"not valid JSON: {e}") from e
        row = clean_value(row)
    else:
        if _maybe_unsafe(line):
            row = clean_value(row)
    if not isinstance(row, dict):
        raise _fail(path, number, None, "row must be a JSON object")
    return row


# A row as make_samples.py writes it starts with its id and split: reading them from the raw bytes sorts 14k MMLU rows
# by split in milliseconds, and only the rows an evaluation uses are decoded. An id with a quote or backslash does not
# match, and such a row (or one with its keys in another order) is decoded whole to find its split.
_ROW_HEAD = re.compile(rb'\{ ?"id": ?("[^"\\]*"|-?\d+), ?"split": ?"([a-z]+)"')


Row = bytes | dict[str, Any]  # a row undecoded, or decoded


def as_dict(row: Row, path: Path, number: int) -> dict[str, Any]:
    return _decode(row, path, number) if isinstance(row, bytes) else row


class LazyInstances(LazySequence):
    """Rows of one split, decoded but turned into Instances (and validated) only when read: an evaluation of 1,000
    of MMLU's 14k rows builds 1,000 Instances, not 14k."""

    def __init__(self, rows: list[tuple[int, dict[str, Any]]], path: Path,
                 transform: Callable[[Instance], Instance] = lambda inst: inst) -> None:
        self._rows = rows  # (line number, decoded row)
        self._path = path
        self._transform = transform
        self._parsed: dict[int, Instance] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def _get(self, index: int) -> Instance:
        inst = self._parsed.get(index)
        if inst is None:
            line, row = self._rows[index]
            inst = self._parsed[index] = self._transform(parse_row(as_dict(row, self._path, line), self._path, line))
        return inst


def _decompress(data: bytes, path: Path) -> bytes:
    try:
        return gzip.decompress(data)
    except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError
        raise HarnessError(f"cannot read gzipped JSONL: {e}", path=str(path)) from e


def split_rows(path: Path, data: bytes | None = None,
               layout: dict[str, list[list[int]]] | None = None) -> dict[str, list[tuple[int, Row]]]:
    """One gz JSONL file's rows grouped by split, as (line, row), in file order; a row stays undecoded bytes until it
    is used. Only what grouping needs is checked here (the split, unique ids); the rest when a row becomes an
    Instance. `layout` (from the split index, for a file whose checksum it was recorded with) says where each
    split's rows are, so they are not looked at one by one."""
    text = _decompress(path.read_bytes() if data is None else data, path)
    lines = _lines(text)
    if layout is not None:
        indexed = _from_layout(lines, layout)
        if indexed is not None:
            return indexed
    groups: dict[str, list[tuple[int, Row]]] = {}
    seen: set[str] = set()
    for number, line in enumerate(lines, 1):
        head = _ROW_HEAD.match(line)
        row: Row
        if head is not None:
            row_id, split = head.group(1).decode("utf-8", "replace"), head.group(2).decode()
            row = line
        else:
            row = _decode(line, path, number)
            row_id, split = json.dumps(row.get("id"), ensure_ascii=False), row.get("split")
        if split not in SPLITS:
            raise _fail(path, number, "split", f"{split!r} is not one of {', '.join(SPLITS)}")
        if row_id in seen:
            raise _fail(path, number, "id", f"duplicate id {json.loads(row_id)!r}")
        seen.add(row_id)
        groups.setdefault(split, []).append((number, row))
    return groups


def split_layout(groups: dict[str, list[tuple[int, Row]]]) -> dict[str, list[list[int]]]:
    """Each split's line numbers as [first, last] runs: what the split index records of a file."""
    layout: dict[str, list[list[int]]] = {}
    for split, rows in groups.items():
        runs: list[list[int]] = []
        for number, _ in rows:
            if runs and runs[-1][1] == number - 1:
                runs[-1][1] = number
            else:
                runs.append([number, number])
        layout[split] = runs
    return layout


def _from_layout(lines: list[bytes], layout: dict[str, list[list[int]]]) -> dict[str, list[tuple[int, Row]]] | None:
    """split_rows's groups from a recorded layout; None when it does not cover exactly these lines."""
    try:
        if not set(layout) <= set(SPLITS) or sum(last - first + 1 for runs in layout.values()
                                                 for first, last in runs) != len(lines):
            return None
        return {split: [pair for first, last in runs for pair in zip(range(first, last + 1), lines[first - 1:last])]
                for split, runs in layout.items()}
    except (TypeError, ValueError):  # a hand-edited index: read the file row by row instead
        return None


def _indexed_layout(relpath: str) -> dict[str, list[list[int]]] | None:
    """The split index's layout of a shipped file, if it was recorded for the checksum the file has (checked before
    this is asked): then the file is byte for byte the one whose every row was checked when the index was written
    (splits known, ids unique), and MMLU's 14k rows need not be looked at one by one again."""
    root = data_root()
    path = root / SPLIT_INDEX
    if not path.is_file():
        return None
    key = _key(path)
    if key not in _indexes:
        try:
            index = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            index = {}
        _indexes[key] = index if isinstance(index, dict) else {}
    entry = _indexes[key].get(relpath)
    if not isinstance(entry, dict) or entry.get("sha256") != expected_checksums(root).get(relpath):
        return None
    layout = entry.get("splits")
    return layout if isinstance(layout, dict) else None


def write_split_index(root: Path) -> Path:
    """Record every shipped JSONL file's layout by split, each row checked as load() would. Run after the data
    changes (`python scripts/data/make_samples.py --index`; making the samples does it too); a file changed since is
    read row by row, as if it had no entry."""
    entries = []
    for relpath, digest in sorted(expected_checksums(root).items()):
        if relpath.endswith(".jsonl.gz"):
            entry = {"sha256": digest, "splits": split_layout(split_rows(root / relpath))}
            entries.append(f" {json.dumps(relpath)}: {json.dumps(entry)}")
    path = root / SPLIT_INDEX
    path.write_text("{\n" + ",\n".join(entries) + "\n}\n", encoding="utf-8")
    return path


def read_instances(path: Path, data: bytes | None = None) -> tuple[Instance, ...]:
    """Every row of one gz JSONL file as an Instance, in file order; ids must be unique within the file."""
    rows = sorted((r for group in split_rows(path, data).values() for r in group), key=lambda r: r[0])
    return tuple(parse_row(as_dict(row, path, line), path, line) for line, row in rows)


def load(relpath: str) -> dict[str, list[tuple[int, Row]]]:
    """Rows of a shipped file (path relative to the data root) by split, checksum-verified and cached."""
    with _lock:
        path, data, _ = _checked(relpath)
        key = _key(path)
        unpacking = _unpacking.get(key)
    if unpacking is not None:
        unpacking.wait()  # read_ahead is reading it
    with _lock:
        if key not in _loaded:
            _loaded[key] = split_rows(path, data, _indexed_layout(relpath))
        return _loaded[key]


def read_ahead(relpath: str) -> None:
    """Read a shipped file for a later load(), in a background thread beside other startup work: checking it and
    decompressing it release the GIL, and splitting and grouping
    its rows by split (holding the GIL) then no longer wait for the run to ask. Errors are left for load() to
    report: it reads the file again."""
    try:
        with _lock:
            path, data, _ = _checked(relpath)
            key = _key(path)
            if key in _loaded or key in _unpacking:
                return
            done = _unpacking[key] = threading.Event()
        try:
            groups = split_rows(path, data, _indexed_layout(relpath))
            with _lock:
                _loaded.setdefault(key, groups)
        finally:
            with _lock:
                del _unpacking[key]
            done.set()
    except (HarnessError, OSError):
        pass


class JsonlScenario(Scenario):
    """A scenario whose data is shipped as `<data root>/<name>/<file>` for each of `data_files`. Not registered
    itself; subclasses set the class attributes and may override `keep_row()`/`transform()`."""

    data_files: ClassVar[tuple[str, ...]] = ("train.jsonl.gz", "test.jsonl.gz")

    # Whether keep_row() looks at rows: when it does, the rows of a split are decoded to ask it.
    filters_rows: ClassVar[bool] = False

    def keep_row(self, row: Any) -> bool:
        """Whether a decoded row belongs to this parameterisation (e.g. one MMLU subject), asked before it becomes
        an Instance; set `filters_rows` when overriding."""
        return True

    def transform(self, instance: Instance) -> Instance:
        return instance

    def split(self, name: str) -> Sequence[Instance]:
        sequences = []
        for file in self.data_files:
            path = data_root() / self.name / file
            group = load(f"{self.name}/{file}").get(name, ())  # MMLU's 14k rows: asked only if filters_rows
            rows = ([(n, row) for n, row in group if self.keep_row(as_dict(row, path, n))] if self.filters_rows
                    else list(group))
            if rows:
                sequences.append(LazyInstances(rows, path, self.transform))
        if len(sequences) == 1:
            return sequences[0]
        return [inst for seq in sequences for inst in seq]

    def read_ahead(self) -> None:
        for file in self.data_files:
            read_ahead(f"{self.name}/{file}")

    def data_fingerprint(self) -> str | None:
        sums = []
        for file in self.data_files:
            relpath = f"{self.name}/{file}"
            _checked(relpath)  # the file on disk is the one its checksum names
            sums.append(f"{relpath}:{expected_checksums(data_root())[relpath]}")
        return hashlib.sha256(repr((sums, sorted(self.kwargs.items()))).encode()).hexdigest()

    def instances(self) -> Iterator[Instance]:
        for file in self.data_files:
            path = data_root() / self.name / file
            groups = load(f"{self.name}/{file}")
            rows = sorted((r for group in groups.values() for r in group), key=lambda r: r[0])
            for line, row in rows:
                decoded = as_dict(row, path, line)
                if self.keep_row(decoded):
                    yield self.transform(parse_row(decoded, path, line))

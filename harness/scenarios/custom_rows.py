"""Rows of a custom scenario's data file (JSONL, gzipped JSONL, CSV or TSV) and their mapping to Instances.

Every error names the file, the physical line and the field: for CSV, the line where the record starts (a quoted
cell may span lines); for JSONL, the line of the object.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import string
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.instance import TEST, TRAIN, VALID, Instance, Reference, answer_references, choice_references, extra_fields
from harness.text import clean, clean_value

DATA_SUFFIXES = (".jsonl", ".jsonl.gz", ".csv", ".csv.gz", ".tsv", ".tsv.gz")
ANSWER_FORMATS = ("auto", "index", "letter", "text")
# Split names as data sets spell them -> the harness's three splits.
SPLIT_NAMES = {"train": TRAIN, "valid": VALID, "validation": VALID, "dev": VALID, "test": TEST}


@dataclass(frozen=True)
class FieldMap:
    """Which data fields hold what. `choices`/`references` are one field (holding a list, or one text) or several
    fields (one text each, e.g. CSV columns). `split` is a field name, or None when `fixed_split` applies."""

    input: str
    id: str | None = None
    choices: str | tuple[str, ...] | None = None
    answer: str | None = None
    references: str | tuple[str, ...] | None = None
    split: str | None = None
    fixed_split: str = TEST
    answer_format: str = "auto"
    references_separator: str | None = None

    def mapped(self) -> set[str]:
        names: set[str] = {self.input}
        for value in (self.id, self.answer, self.split):
            if value:
                names.add(value)
        for group in (self.choices, self.references):
            if isinstance(group, str):
                names.add(group)
            elif group:
                names.update(group)
        return names


def data_kind(path: Path) -> str:
    """"jsonl", "csv" or "tsv" from the file name; anything else is not a data file we read."""
    name = path.name.lower().removesuffix(".gz")
    for kind in ("jsonl", "csv", "tsv"):
        if name.endswith("." + kind):
            return kind
    raise HarnessError(f"data file must end in one of {', '.join(DATA_SUFFIXES)}", path=str(path))


def read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise HarnessError("data file not found", path=str(path)) from None
    except OSError as exc:
        raise HarnessError(f"cannot read data file: {exc.strerror}", path=str(path)) from None
    if path.name.lower().endswith(".gz"):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise HarnessError(f"cannot decompress: {exc}", path=str(path)) from None
    # A spreadsheet's CSV often starts with a byte-order mark. Bytes that are not UTF-8, control characters and
    # (in JSONL, after decoding: _jsonl_rows) lone surrogates are read as U+FFFD: harness.text.
    return clean(raw.decode("utf-8-sig", "replace"))


def iter_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(physical line, row) for every row of the file; blank lines are skipped."""
    kind = data_kind(path)
    text = read_text(path)
    if kind == "jsonl":
        yield from _jsonl_rows(text, path)
    else:
        yield from _csv_rows(text, path, "\t" if kind == "tsv" else ",")


def _jsonl_rows(text: str, path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    # JSON strings cannot hold a raw newline, so "\n" splits rows exactly (str.splitlines would also split at U+2028).
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise HarnessError(f"not valid JSON: {exc}", path=str(path), line=number) from None
        if not isinstance(row, dict):
            raise HarnessError("a row must be a JSON object", path=str(path), line=number)
        # The text was cleaned before (read_text): only an escape (\u0000, a lone \ud800) can still hold anything.
        yield number, clean_value(row) if "\\u" in line else row


def _csv_rows(text: str, path: Path, delimiter: str) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    start = 1  # the physical line where the next record begins
    try:
        for cells in reader:
            number, start = start, reader.line_num + 1
            if not cells or cells == [""]:
                continue
            if header is None:
                header = [c.strip() for c in cells]
                for i, name in enumerate(header):
                    if not name:
                        raise HarnessError(f"column {i + 1} of the header has no name", path=str(path), line=number)
                    if name in header[:i]:
                        raise HarnessError("duplicate column in the header", path=str(path), line=number, field=name)
                continue
            if len(cells) != len(header):
                raise HarnessError(f"{len(cells)} cells, but the header has {len(header)} columns",
                                   path=str(path), line=number)
            yield number, dict(zip(header, cells))
    except csv.Error as exc:
        raise HarnessError(f"malformed CSV: {exc}", path=str(path), line=reader.line_num) from None
    if header is None:
        raise HarnessError("empty CSV file: no header row", path=str(path))


class RowError(Exception):
    """A problem with one field of one row; the caller adds the file and line."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _get(row: dict[str, Any], name: str) -> Any:
    """The row's value for a field; a dotted name reaches into nested JSON objects ("question.stem")."""
    if name in row:
        return row[name]
    value: Any = row
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            raise RowError(name, "missing field")
        value = value[part]
    return value


def _text(value: Any, field: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise RowError(field, f"expected text, got {json.dumps(value)[:40]}")


def _text_list(value: Any, field: str) -> list[str]:
    """A field holding several texts: a JSON list, or in CSV a cell holding a JSON list."""
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            value = json.loads(value)
        except ValueError:
            raise RowError(field, "a cell starting with '[' must be a JSON list of texts") from None
    if not isinstance(value, list):
        raise RowError(field, "expected a list of texts (or map one field per item)")
    return [_text(v, field) for v in value]


def _choices(row: dict[str, Any], fields: str | tuple[str, ...]) -> tuple[list[str], list[int], int, str]:
    """(choices, position of each among the mapped ones, how many were mapped, field to blame). Several fields: empty ones are
    dropped (3-option rows in a 4-column file), remembering positions so that a letter keeps meaning its column."""
    if isinstance(fields, str):
        values = _text_list(_get(row, fields), fields)
        if any(not v.strip() for v in values):
            raise RowError(fields, "a choice is empty")
        return values, list(range(len(values))), len(values), fields
    kept: list[str] = []
    positions: list[int] = []
    for i, name in enumerate(fields):
        value = _text(_get(row, name), name)
        if value.strip():
            kept.append(value)
            positions.append(i)
    return kept, positions, len(fields), fields[0]


def _answer_index(value: Any, choices: list[str], positions: list[int], count: int, fmt: str, field: str) -> int:
    """The gold choice's index in `choices`; `value` is an index (0-based, over the mapped choices), a letter
    (A = the first) or the choice's text, as `fmt` says or, for "auto", in the order text, letter, index."""
    position: int | None = None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise RowError(field, f"expected an index, a letter or a choice's text, got {json.dumps(value)[:40]}")
    text = str(value).strip()
    if fmt in ("auto", "text") and isinstance(value, str) and text in [c.strip() for c in choices]:
        return [c.strip() for c in choices].index(text)
    if fmt in ("auto", "letter") and len(text) == 1 and text.upper() in string.ascii_uppercase:
        position = string.ascii_uppercase.index(text.upper())
    elif fmt in ("auto", "index") and (isinstance(value, int) or text.lstrip("-").isdigit()):
        position = int(text)
    if position is None:
        wanted = {"auto": "a choice's text, a letter or an index", "index": "an index", "letter": "a letter",
                  "text": "the text of one of the choices"}[fmt]
        raise RowError(field, f"{text!r} is not {wanted}")
    if not 0 <= position < count:
        raise RowError(field, f"{text!r} is out of range for {count} choices")
    if position not in positions:
        raise RowError(field, f"{text!r} points at an empty choice")
    return positions.index(position)


def _references(row: dict[str, Any], fields: str | tuple[str, ...], separator: str | None) -> list[str]:
    names = (fields,) if isinstance(fields, str) else fields
    refs: list[str] = []
    for name in names:
        value = _get(row, name)
        if isinstance(value, list) or (isinstance(value, str) and value.lstrip().startswith("[")):
            refs.extend(_text_list(value, name))
        elif separator and isinstance(value, str):
            refs.extend(value.split(separator))
        else:
            refs.append(_text(value, name))
    refs = [r.strip() for r in refs if r.strip()]
    if not refs:
        raise RowError(names[0], "no reference answer (empty)")
    return refs


def to_instance(row: dict[str, Any], line: int, fields: FieldMap, forced_split: str | None = None) -> Instance:
    """One row -> Instance; raises RowError naming the field at fault."""
    text = _text(_get(row, fields.input), fields.input)
    if not text.strip():
        raise RowError(fields.input, "empty input")
    if forced_split is not None:
        split = forced_split
    elif fields.split is not None:
        raw = _text(_get(row, fields.split), fields.split).strip()
        if raw.lower() not in SPLIT_NAMES:
            raise RowError(fields.split, f"unknown split {raw!r} (use {', '.join(SPLIT_NAMES)})")
        split = SPLIT_NAMES[raw.lower()]
    else:
        split = fields.fixed_split
    row_id = str(line)
    if fields.id is not None:
        row_id = _text(_get(row, fields.id), fields.id).strip()
        if not row_id:
            raise RowError(fields.id, "empty id")
    refs: tuple[Reference, ...]
    if fields.choices is not None:
        assert fields.answer is not None
        choices, positions, count, blame = _choices(row, fields.choices)
        if len(choices) < 2:
            raise RowError(blame, f"needs at least 2 choices, found {len(choices)}")
        gold = _answer_index(_get(row, fields.answer), choices, positions, count, fields.answer_format,
                             fields.answer)
        refs = choice_references(choices, gold)
    else:
        assert fields.references is not None
        refs = answer_references(_references(row, fields.references, fields.references_separator))
    return Instance(row_id, text, refs, split, extra_fields(row, fields.mapped()))


def read_instances(path: Path, fields: FieldMap) -> list[Instance]:
    """Every row of the data file as an Instance, in file order; ids must be unique."""
    instances: list[Instance] = []
    first_line: dict[str, int] = {}
    for line, row in iter_rows(path):
        try:
            inst = to_instance(row, line, fields)
        except RowError as exc:
            raise HarnessError(exc.message, path=str(path), line=line, field=exc.field) from None
        if inst.id in first_line:
            raise HarnessError(f"duplicate id {inst.id!r} (first on line {first_line[inst.id]})",
                               path=str(path), line=line, field=fields.id or "id")
        first_line[inst.id] = line
        instances.append(inst)
    return instances

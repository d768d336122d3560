"""YAML loading that remembers line numbers, so that every config error can name its file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from harness.errors import HarnessError


class LineDict(dict):
    """A mapping from YAML that knows the line of itself (`line`) and of each key (`key_lines`), 1-based."""

    line: int = 0
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class LineList(list):
    """A sequence from YAML that knows its own line (`line`) and each item's (`item_lines`), 1-based."""

    line: int = 0
    item_lines: list[int]

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if 0 <= index < len(self.item_lines) else self.line


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in result:
            raise yaml.MarkedYAMLError(problem=f"duplicate key {key!r}", problem_mark=key_node.start_mark)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_yaml(path: str | Path) -> Any:
    """Parse a YAML file; a missing file or a syntax error is a HarnessError naming the file and line."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise HarnessError("no such file", path=str(path)) from None
    except OSError as exc:
        raise HarnessError(f"cannot read: {exc.strerror}", path=str(path)) from None
    text = decode_utf8(raw, path)
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506  (a SafeLoader subclass)
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (NUL, other controls)
        line = text.count("\n", 0, exc.position) + 1
        raise HarnessError(f"YAML syntax error: unacceptable character U+{exc.character:04X}", path=str(path),
                           line=line) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or "invalid YAML"
        raise HarnessError(f"YAML syntax error: {problem}", path=str(path), line=line) from None
    except yaml.YAMLError as exc:
        raise HarnessError(f"YAML syntax error: {exc}", path=str(path)) from None


def decode_utf8(raw: bytes, path: str | Path) -> str:
    """A file's bytes as text; bytes that are not UTF-8 (a latin-1 'café', a binary file) are an error naming the
    file, the line and the first bad byte."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise HarnessError(f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as UTF-8", path=str(path),
                           line=line) from None


def _kind(value: Any) -> str:
    """What a YAML value is, in YAML's words."""
    if value is None:
        return "null"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    return "a string" if isinstance(value, str) else "a number" if isinstance(value, (int, float)) else "a value"


def check_keys(data: Any, allowed: set[str], required: set[str], path: str | Path, what: str,
               line: int | None = None) -> LineDict:
    """Reject a non-mapping, unknown keys and missing required keys, each with file and line. `line` is where data
    sits in its file, for a value that cannot tell (null, a number, a string: an item of a list)."""
    if not isinstance(data, dict):
        line = getattr(data, "line", line)
        raise HarnessError(f"{what} must be a mapping, got {_kind(data)}", path=str(path), line=line)
    assert isinstance(data, LineDict)
    for key in data:
        if key not in allowed:
            raise HarnessError(
                f"unknown key in {what} (allowed: {', '.join(sorted(allowed))})",
                path=str(path), line=data.line_of(key), field=str(key),
            )
    for key in sorted(required):
        if key not in data:
            raise HarnessError(f"missing required key in {what}", path=str(path), line=data.line, field=key)
    return data

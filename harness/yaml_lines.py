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
    line: int = 0


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
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_yaml(path: str | Path) -> Any:
    """Parse a YAML file; a missing file or a syntax error is a HarnessError naming the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HarnessError("no such file", path=str(path)) from None
    except OSError as exc:
        raise HarnessError(f"cannot read: {exc.strerror}", path=str(path)) from None
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506  (a SafeLoader subclass)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or "invalid YAML"
        raise HarnessError(f"YAML syntax error: {problem}", path=str(path), line=line) from None
    except yaml.YAMLError as exc:
        raise HarnessError(f"YAML syntax error: {exc}", path=str(path)) from None


def check_keys(data: Any, allowed: set[str], required: set[str], path: str | Path, what: str) -> LineDict:
    """Reject a non-mapping, unknown keys and missing required keys, each with file and line."""
    if not isinstance(data, dict):
        line = getattr(data, "line", None)
        raise HarnessError(f"{what} must be a mapping", path=str(path), line=line)
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

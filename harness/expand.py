"""Expanders: one suite entry, many runs. A list for a scenario arg or an adapter field runs the cross product of the
values (`subject: [anatomy, astronomy]`, `shots: [0, 5]`), each as its own run in the entry's one group (one
leaderboard column); `ARG: each` runs every value the scenario declares for that arg (Scenario.argument_values:
MMLU's 57 subjects). Model names may be globs (`openai/*`), matched against the known deployments.

Every mistake names the file, the line (an item of a list: its own line) and the field."""

from __future__ import annotations

import fnmatch
import itertools
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.yaml_lines import LineDict, LineList

EACH = "each"
# Entry keys whose value is a list already, or that name one thing per entry: a list there cannot expand.
NOT_EXPANDED = ("scenario", "group", "main_metric", "max_instances", "stop", "pairwise")
# Adapter fields that only change how the prompt is written: expanding them is a format sweep
# (harness.format_sensitivity).
PROMPT_FIELDS = ("instructions", "input_prefix", "input_suffix", "output_prefix", "output_suffix", "instance_separator")

Variant = tuple[tuple[str, str], ...]  # (key, value shown) of each expanded key, in the entry's order


def shown(key: str, value: Any) -> str:
    """A value as a run's name shows it: prompt fields quoted (JSON), so whitespace and newlines can be seen."""
    if key in PROMPT_FIELDS:
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _is_glob(name: str) -> bool:
    return any(c in name for c in "*?[")


def expand_models(names: list[str], known: Iterable[str], fail: Callable[[str, str], HarnessError]) -> list[str]:
    """Names with each glob replaced by the known deployments it matches (sorted), each name once. A glob that
    matches nothing raises fail(name, message)."""
    known = sorted(known)
    out: list[str] = []
    for name in names:
        if not _is_glob(name):
            out.append(name)
            continue
        matched = [k for k in known if fnmatch.fnmatchcase(k, name)]
        if not matched:
            raise fail(name, f"model pattern {name!r} matches no deployment (known: {', '.join(known)})")
        out.extend(matched)
    return list(dict.fromkeys(out))


def _error(message: str, path: Path, line: int, field: str) -> HarnessError:
    return HarnessError(message, path=str(path), line=line, field=field)


def _values(items: Any, key: str, path: Path, line: int) -> list[tuple[Any, int]]:
    """A list's items with their lines; an empty list or an item given twice is an error."""
    if not items:
        raise _error("an empty list expands to no runs: give at least one value", path, line, key)
    out: list[tuple[Any, int]] = []
    for i, item in enumerate(items):
        item_line = items.line_of(i) if isinstance(items, LineList) else line
        if isinstance(item, (list, dict)):
            raise _error(f"a list to expand holds single values, got {item!r}", path, item_line, key)
        if any(item == seen and type(item) is type(seen) for seen, _ in out):
            raise _error(f"{item!r} is listed twice", path, item_line, key)
        out.append((item, item_line))
    return out


def _arg_axes(merged: LineDict, path: Path) -> list[tuple[str, list[tuple[Any, int]]]]:
    """(arg name, [(value, line)]) of each arg given as a list or `each`."""
    from harness.scenarios.base import scenario_class

    args = merged.get("args")
    if not isinstance(args, dict):
        return []
    axes = []
    for arg, value in args.items():
        line = args.line_of(arg) if isinstance(args, LineDict) else merged.line_of("args")
        if value == EACH:
            name = merged.get("scenario")
            cls = scenario_class(name) if isinstance(name, str) else None
            if cls is not None and arg not in cls.args:
                allowed = ", ".join(sorted(cls.args)) or "none"
                raise _error(f"scenario {name!r} has no arg {arg!r} (allowed: {allowed})", path, line, "args")
            values = cls.argument_values(arg) if cls is not None else None
            if values is None:
                what = f"scenario {name!r}" if cls is not None else f"{name!r}"
                raise _error(f"`each` needs the values of {arg!r} declared, and {what} declares none for it"
                             f"{_declared(cls)}; list them instead", path, line, arg)
            axes.append((arg, [(v, line) for v in values]))
        elif isinstance(value, list):
            axes.append((arg, _values(value, arg, path, line)))
    return axes


def _declared(cls: Any) -> str:
    names = sorted(cls.arg_values) if cls is not None else []
    return f" (it declares: {', '.join(names)})" if names else ""


def _check_arg_values(merged: LineDict, path: Path, axes: list[tuple[str, list[tuple[Any, int]]]]) -> None:
    """Each listed arg value on its own (the other args as given, or their defaults), so that a bad one is named at
    its own line: the scenario checks its args when it is made, which reads no data."""
    from harness.scenarios.base import make_scenario, scenario_class

    name = merged.get("scenario")
    if not isinstance(name, str) or scenario_class(name) is None:
        return  # an unknown scenario, or a scenario file: reported when the entry is read
    fixed = {k: v for k, v in merged["args"].items() if k not in {a for a, _ in axes}}
    for arg, values in axes:
        for value, line in values:
            try:
                make_scenario(name, {**fixed, arg: value})
            except HarnessError as exc:
                raise _error(exc.message, path, line, arg) from None


def expand_entry(merged: LineDict, path: Path, adapter_keys: Iterable[str]) -> Iterator[tuple[LineDict, Variant]]:
    """Each run of one entry (its defaults merged in): the entry with one value of each list in place of the list,
    and the values that name it. An entry without lists gives itself and no values."""
    adapter_keys = tuple(adapter_keys)
    for key in NOT_EXPANDED:
        value = merged.get(key)
        if key == "stop":  # a list of strings already; a list of lists would be a sweep, which it is not
            continue
        if isinstance(value, list):
            raise _error(f"takes one value: lists expand scenario args and the adapter fields "
                         f"({', '.join(k for k in adapter_keys if k != 'stop')})", path, merged.line_of(key), key)
    axes: list[tuple[str, list[tuple[Any, int]]]] = []
    arg_axes = _arg_axes(merged, path)
    if arg_axes:
        _check_arg_values(merged, path, arg_axes)
    for key in adapter_keys:
        value = merged.get(key)
        if key == "stop" or key not in merged:
            continue
        if value == EACH:
            raise _error("`each` expands only a scenario arg whose values the scenario declares; list the values",
                         path, merged.line_of(key), key)
        if isinstance(value, list):
            axes.append((key, _values(value, key, path, merged.line_of(key))))
    all_axes = [("args", arg, values) for arg, values in arg_axes] + [("", key, values) for key, values in axes]
    if not all_axes:
        yield merged, ()
        return
    for combination in itertools.product(*(values for _, _, values in all_axes)):
        entry = LineDict(merged)
        entry.line, entry.key_lines = merged.line, dict(merged.key_lines)
        if arg_axes:  # a copy: the entry's own args (and the defaults') are left as they are
            args = merged["args"]
            new_args = LineDict(args)
            new_args.line = getattr(args, "line", merged.line_of("args"))
            new_args.key_lines = dict(getattr(args, "key_lines", {}))
            entry["args"] = new_args
        variant = []
        for (where, key, _), (value, line) in zip(all_axes, combination):
            if where == "args":
                entry["args"][key] = value
                entry["args"].key_lines[key] = line
                entry.key_lines["args"] = line
            else:
                entry[key] = value
                entry.key_lines[key] = line  # an error about this value names its item's line
            variant.append((key, shown(key, value)))
        yield entry, tuple(variant)

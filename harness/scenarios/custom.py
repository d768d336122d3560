"""Custom scenarios without code: a YAML file names a JSONL or CSV file, maps its fields, and sets the adapter
method, prompt parts and metrics. A suite entry `scenario: path/to/my_scenario.yaml` (relative to the suite) loads
one, and `harness run my_scenario.yaml` runs one on its own.

    name: pet_care                       # the scenario's name in run ids and on the leaderboard
    data: pet_care.csv                   # relative to this file: .jsonl, .jsonl.gz, .csv, .tsv (optionally .gz)
    fields: {input: question, choices: [a, b, c, d], answer: answer, split: split}
    method: multiple_choice_joint
    metrics: [exact_match]

The file is read and every row checked when the suite is loaded, so a bad row stops the run before anything is
sent. Each file becomes a Scenario subclass registered under its `name`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

from harness.errors import HarnessError
from harness.instance import SPLITS, TEST, TRAIN, Instance
from harness.scenarios import BUILT_IN, base, import_built_in
from harness.scenarios.custom_rows import ANSWER_FORMATS, FieldMap, RowError, read_instances, to_instance
from harness.yaml_lines import LineDict, check_keys, load_yaml

PROMPT_KEYS = {"instructions", "input_prefix", "input_suffix", "output_prefix"}
# Adapter settings a scenario file may default (a suite entry still overrides each), by their suite-entry names.
ADAPTER_KEYS = {"method", "shots", "output_suffix", "instance_separator", "max_tokens", "stop", "temperature",
                "num_outputs", "choice_score"}
SCENARIO_KEYS = {"name", "description", "source", "license", "data", "fields", "answer_format",
                 "references_separator", "split", "fewshot", "metrics", "main_metric"} | PROMPT_KEYS | ADAPTER_KEYS
FIELD_KEYS = {"id", "input", "choices", "answer", "references", "split"}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class CustomScenario(base.Scenario):
    """A scenario defined by a YAML file; `load_custom_scenario` makes one subclass per file."""

    data_shipped = "custom"
    yaml_path: ClassVar[Path]
    data_path: ClassVar[Path]
    rows: ClassVar[tuple[Instance, ...]]  # the data file's rows, then the YAML's few-shot rows
    metrics: ClassVar[tuple[str, ...]]
    fingerprint: ClassVar[str]

    def instances(self) -> Iterator[Instance]:
        return iter(self.rows)

    def split(self, name: str) -> Sequence[Instance]:
        return [inst for inst in self.rows if inst.split == name]

    def data_fingerprint(self) -> str | None:
        return self.fingerprint


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _error(spec: LineDict, path: Path, key: str, message: str) -> HarnessError:
    return HarnessError(message, path=str(path), line=spec.line_of(key), field=key)


def _str(spec: LineDict, key: str, path: Path, default: str = "") -> str:
    if key not in spec:
        return default
    if not isinstance(spec[key], str):
        raise _error(spec, path, key, f"expected a string, got {spec[key]!r}")
    return spec[key]


def _names(fields: LineDict, key: str, path: Path) -> str | tuple[str, ...] | None:
    """A field mapping's value: one field name, or a list of them."""
    if key not in fields:
        return None
    value = fields[key]
    if isinstance(value, str) and value:
        return value
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise HarnessError("expected a field name or a list of field names", path=str(path),
                       line=fields.line_of(key), field=f"fields.{key}")


def _field_map(spec: LineDict, path: Path) -> FieldMap:
    if isinstance(spec["fields"], dict) and "input" not in spec["fields"]:
        raise _error(spec, path, "fields", "map `input` to the field that holds each row's input")
    fields = check_keys(spec["fields"], FIELD_KEYS, {"input"}, path, "fields")
    where = {k: fields.line_of(k) for k in fields}

    def single(key: str) -> str | None:
        names = _names(fields, key, path)
        if isinstance(names, tuple):
            raise HarnessError("expected one field name", path=str(path), line=where[key], field=f"fields.{key}")
        return names

    choices, references = _names(fields, "choices", path), _names(fields, "references", path)
    answer = single("answer")
    if (choices is None) == (references is None):
        raise _error(spec, path, "fields", "map either `choices` (with `answer`) or `references`")
    if choices is not None and answer is None:
        raise HarnessError("`choices` needs `answer`", path=str(path), line=spec.line_of("fields"), field="fields.answer")
    if references is not None and answer is not None:
        raise HarnessError("`answer` goes with `choices`; for free answers map `references`", path=str(path),
                           line=where["answer"], field="fields.answer")
    split_field = single("split")
    fixed = _str(spec, "split", path, TEST)
    if fixed not in SPLITS:
        raise _error(spec, path, "split", f"unknown split {fixed!r} (use {', '.join(SPLITS)})")
    if split_field is not None and "split" in spec:
        raise _error(spec, path, "split", "the split is either a field (fields.split) or fixed (split), not both")
    answer_format = _str(spec, "answer_format", path, "auto")
    if answer_format not in ANSWER_FORMATS:
        raise _error(spec, path, "answer_format", f"must be one of {', '.join(ANSWER_FORMATS)}")
    separator = _str(spec, "references_separator", path) or None
    input_field = single("input")
    assert input_field is not None
    return FieldMap(input=input_field, id=single("id"), choices=choices, answer=answer, references=references,
                    split=split_field, fixed_split=fixed, answer_format=answer_format,
                    references_separator=separator)


def _fewshot(spec: LineDict, path: Path, fields: FieldMap) -> list[Instance]:
    """Few-shot rows written in the YAML itself, with the data file's field names; they form the train split."""
    rows = spec.get("fewshot", [])
    if not isinstance(rows, list):
        raise _error(spec, path, "fewshot", "expected a list of rows (mappings of field name to value)")
    instances = []
    for i, row in enumerate(rows):
        line = getattr(row, "line", spec.line_of("fewshot"))
        if not isinstance(row, dict):
            raise HarnessError("a few-shot row must be a mapping of field name to value", path=str(path), line=line,
                               field="fewshot")
        try:
            inst = to_instance(row, line, fields, forced_split=TRAIN)
        except RowError as exc:
            line = row.line_of(exc.field) if isinstance(row, LineDict) and exc.field else line
            raise HarnessError(exc.message, path=str(path), line=line, field=f"fewshot.{exc.field}") from None
        instances.append(Instance(f"fewshot-{i + 1}", inst.input, inst.references, TRAIN, inst.extra))
    return instances


def _metrics(spec: LineDict, path: Path) -> tuple[tuple[str, ...], str]:
    from harness.metrics.registry import directions, known_names

    known = directions()
    metrics = spec.get("metrics", [])
    if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
        raise _error(spec, path, "metrics", "expected a list of metric names")
    for metric in metrics:
        if metric not in known:
            raise _error(spec, path, "metrics", f"unknown metric {metric!r} (known: {', '.join(known_names())})")
    main = _str(spec, "main_metric", path, metrics[0] if metrics else "exact_match")
    if main not in known:
        raise _error(spec, path, "main_metric", f"unknown metric {main!r}")
    return tuple(dict.fromkeys([main, *metrics])), main


def _adapter_defaults(spec: LineDict, path: Path, fields: FieldMap) -> dict[str, Any]:
    """The adapter settings the file sets, type-checked as a suite entry's are (keyed by entry names)."""
    from harness.adapters.spec import ADAPTER_FIELDS, METHODS, MULTIPLE_CHOICE_JOINT

    defaults: dict[str, Any] = {}
    for key in sorted(ADAPTER_KEYS & set(spec)):
        kind = ADAPTER_FIELDS[key][1]
        value = spec[key]
        if isinstance(value, bool) or not isinstance(value, kind):
            raise _error(spec, path, key, f"expected {getattr(kind, '__name__', 'a number')}, got {value!r}")
        defaults[key] = value
    method = defaults.setdefault("method", MULTIPLE_CHOICE_JOINT if fields.choices else "generation")
    if method not in METHODS:
        raise _error(spec, path, "method", f"unknown method {method!r} (known: {', '.join(METHODS)})")
    if method != "generation" and fields.choices is None:
        raise _error(spec, path, "method", f"{method} needs `choices` in fields")
    if "stop" in defaults and not all(isinstance(s, str) for s in defaults["stop"]):
        raise _error(spec, path, "stop", "stop must be a list of strings")
    for key, low in (("shots", 0), ("max_tokens", 1), ("num_outputs", 1)):
        if key in defaults and defaults[key] < low:
            raise _error(spec, path, key, f"must be >= {low}")
    if defaults.get("choice_score", "sum") not in ("sum", "mean"):
        raise _error(spec, path, "choice_score", "must be 'sum' or 'mean'")
    return defaults


def _data_path(spec: LineDict, path: Path) -> Path:
    data = _str(spec, "data", path)
    if not data:
        raise _error(spec, path, "data", "expected the data file's path (relative to this file)")
    data_path = path.parent / data
    if not data_path.is_file():
        raise _error(spec, path, "data", f"no such file: {data_path}")
    return data_path


def define_custom_scenario(path: Path) -> type[CustomScenario]:
    """Read and check a scenario YAML and every row of its data: a Scenario subclass, not yet registered. Errors
    name the files as given (relative to where harness runs, when the suite's path was)."""
    from harness.scenarios.custom_text import TEXT_KEYS, is_text_scenario, text_scenario_attrs

    raw = load_yaml(path)
    text = is_text_scenario(raw)  # documents for language modelling (custom_text.py), not question rows
    spec = check_keys(raw, TEXT_KEYS if text else SCENARIO_KEYS, {"name", "data"} if text else {"name", "data", "fields"},
                      path, "scenario file")
    name = _str(spec, "name", path)
    if not _NAME.fullmatch(name):
        raise _error(spec, path, "name", f"{name!r}: use letters, digits, '_', '.', '-' (at most 64)")
    if text:
        from harness.metrics.registry import directions

        attrs = {"name": name, "description": _str(spec, "description", path), "source": _str(spec, "source", path),
                 "license": _str(spec, "license", path), "yaml_path": path.resolve(),
                 **text_scenario_attrs(spec, path, directions())}
        return type(f"Custom_{name}", (CustomScenario,), attrs)
    fields = _field_map(spec, path)
    adapter_defaults = _adapter_defaults(spec, path, fields)
    metrics, main_metric = _metrics(spec, path)
    data_path = _data_path(spec, path)
    rows = read_instances(data_path, fields)
    if not any(inst.split == TEST for inst in rows):
        raise HarnessError("no test rows: nothing to evaluate", path=str(data_path))
    fewshot = _fewshot(spec, path, fields)
    attrs: dict[str, Any] = {
        "name": name, "description": _str(spec, "description", path), "source": _str(spec, "source", path),
        "license": _str(spec, "license", path), "main_metric": main_metric,
        "default_method": adapter_defaults["method"], "metrics": metrics, "adapter_defaults": adapter_defaults,
        "yaml_path": path.resolve(), "data_path": data_path, "rows": (*rows, *fewshot),
        # The data and the YAML (mapping, prompt, few-shot rows): editing either re-evaluates the runs.
        "fingerprint": hashlib.sha256(f"{_sha256(data_path)}:{_sha256(path)}".encode()).hexdigest(),
    }
    for key in PROMPT_KEYS:
        if key in spec:
            attrs[key] = _str(spec, key, path)
    return type(f"Custom_{name}", (CustomScenario,), attrs)


def load_custom_scenario(path: Path) -> type[CustomScenario]:
    """Define the scenario of a YAML file and register it under its name (again when the same file is loaded
    again: it may have changed). A name another scenario has is an error naming the YAML's `name` line."""
    cls = define_custom_scenario(path)
    if cls.name in BUILT_IN:  # registered once its module is imported: import it, to find the clash now
        import_built_in(cls.name)
    taken = base._REGISTRY.get(cls.name)
    if taken is not None:
        if not (issubclass(taken, CustomScenario) and taken.yaml_path == cls.yaml_path):
            other = str(taken.yaml_path) if issubclass(taken, CustomScenario) else "a registered scenario"
            spec = load_yaml(path)
            raise HarnessError(f"{cls.name!r} is already the name of {other}; pick another", path=str(path),
                               line=spec.line_of("name"), field="name")
        del base._REGISTRY[cls.name]
    base.register_scenario(cls)
    return cls


def is_scenario_file(data: Any) -> bool:
    """Whether a parsed YAML file is a scenario file rather than a suite (it maps data fields, lists no entries)."""
    return isinstance(data, dict) and ("fields" in data or "data" in data) and "entries" not in data


def scenario_file_suite(data: LineDict, path: Path) -> LineDict:
    """A one-entry suite that runs the scenario file `path` on its own (`harness run my_scenario.yaml`)."""
    entry = LineDict(scenario=path.name)
    entry.line, entry.key_lines = 1, {"scenario": 1}
    suite = LineDict(name=str(data.get("name", path.stem)), entries=[entry])
    suite.line, suite.key_lines = 1, {"name": data.line_of("name"), "entries": 1}
    return suite

"""Custom language-modelling scenarios: a scenario file with `method: language_modeling` names plain-text documents
rather than question rows, and runs like any custom scenario (harness/scenarios/custom.py loads it through here):

    name: my_corpus
    method: language_modeling
    data: texts/*.txt            # relative to this file: a glob of text files, one document each (id: its path)
    # or: data: docs.jsonl  with  fields: {input: text}   (one document a row; `id` may be mapped too)
    metrics: [bits_per_byte, perplexity]

Every document is read and checked when the suite is loaded; an empty one is an error naming its file (and line).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.instance import TEST, Instance
from harness.scenarios.custom_rows import iter_rows, read_text
from harness.yaml_lines import LineDict, check_keys

TEXT_KEYS = {"name", "description", "source", "license", "data", "fields", "method", "metrics", "main_metric"}
DEFAULT_METRICS = ("bits_per_byte", "bits_per_token", "perplexity", "word_perplexity")


def is_text_scenario(spec: Any) -> bool:
    return isinstance(spec, dict) and spec.get("method") == "language_modeling"


def _files(spec: LineDict, path: Path) -> list[Path]:
    pattern = spec["data"]
    if not isinstance(pattern, str) or not pattern:
        raise HarnessError("expected a path or glob (relative to this file)", path=str(path),
                           line=spec.line_of("data"), field="data")
    if any(c in pattern for c in "*?["):
        files = sorted(p for p in path.parent.glob(pattern) if p.is_file())
        if not files:
            raise HarnessError(f"no file matches {pattern!r}", path=str(path), line=spec.line_of("data"), field="data")
        return files
    if not (path.parent / pattern).is_file():
        raise HarnessError(f"no such file: {path.parent / pattern}", path=str(path), line=spec.line_of("data"),
                           field="data")
    return [path.parent / pattern]


def _input_fields(spec: LineDict, path: Path) -> tuple[str, str | None]:
    """The JSONL fields holding each document's text and (optionally) id."""
    if "fields" not in spec:
        raise HarnessError("a JSONL file needs `fields: {input: FIELD}` (the field holding each document)",
                           path=str(path), line=spec.line_of("data"), field="fields")
    fields = check_keys(spec["fields"], {"input", "id"}, {"input"}, path, "fields")
    for key in fields:
        if not isinstance(fields[key], str) or not fields[key]:
            raise HarnessError("expected a field name", path=str(path), line=fields.line_of(key), field=f"fields.{key}")
    return fields["input"], fields.get("id")


def read_documents(spec: LineDict, path: Path) -> tuple[list[Instance], list[Path]]:
    files = _files(spec, path)
    if len(files) == 1 and files[0].name.lower().endswith((".jsonl", ".jsonl.gz")):
        text_field, id_field = _input_fields(spec, path)
        docs, seen = [], set()
        for line, row in iter_rows(files[0]):
            text = row.get(text_field)
            if not isinstance(text, str) or not text.strip():
                raise HarnessError("missing, empty or not a string", path=str(files[0]), line=line, field=text_field)
            doc_id = row.get(id_field) if id_field else f"line-{line}"
            if not isinstance(doc_id, (str, int)) or isinstance(doc_id, bool) or str(doc_id) in seen:
                raise HarnessError(f"id {doc_id!r} is missing or repeated", path=str(files[0]), line=line,
                                   field=id_field)
            seen.add(str(doc_id))
            docs.append(Instance(str(doc_id), text, (), TEST))
        if not docs:
            raise HarnessError("no documents", path=str(files[0]))
        return docs, files
    if "fields" in spec:
        raise HarnessError("`fields` maps a JSONL file; text files are documents as they are", path=str(path),
                           line=spec.line_of("fields"), field="fields")
    docs = []
    for file in files:
        text = read_text(file)
        if not text.strip():
            raise HarnessError("empty document", path=str(file))
        docs.append(Instance(file.relative_to(path.parent).as_posix(), text, (), TEST))
    return docs, files


def text_scenario_attrs(spec: LineDict, path: Path, known_metrics: dict[str, bool]) -> dict[str, Any]:
    """The class attributes of a language-modelling CustomScenario (see custom.define_custom_scenario)."""
    spec = check_keys(spec, TEXT_KEYS, {"name", "data"}, path, "scenario file")
    metrics = spec.get("metrics", list(DEFAULT_METRICS))
    if not isinstance(metrics, list) or not metrics or not all(isinstance(m, str) for m in metrics):
        raise HarnessError("expected a list of metric names", path=str(path), line=spec.line_of("metrics"),
                           field="metrics")
    for metric in metrics:
        if metric not in known_metrics:
            raise HarnessError(f"unknown metric {metric!r}", path=str(path), line=spec.line_of("metrics"),
                               field="metrics")
    main = spec.get("main_metric", metrics[0])
    if main not in known_metrics:
        raise HarnessError(f"unknown metric {main!r}", path=str(path), line=spec.line_of("main_metric"),
                           field="main_metric")
    docs, files = read_documents(spec, path)
    digest = hashlib.sha256()
    for file in [*files, path]:
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    return {
        "main_metric": main, "default_method": "language_modeling", "metrics": tuple(dict.fromkeys([main, *metrics])),
        "adapter_defaults": {"method": "language_modeling"}, "data_path": files[0], "rows": tuple(docs),
        "fingerprint": digest.hexdigest(),
    }

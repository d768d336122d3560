"""RunSpec and Suite: what to evaluate (scenario + args, adapter spec, metrics, group) and on which models, read
from a suite YAML file (the shipped ones are in harness/suites/). Every mistake is reported with its file and line before any work starts."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness import bounds
from harness.adapters.spec import ADAPTER_FIELDS, METHODS, AdapterSpec
from harness.errors import HarnessError
from harness.protocols import ProtocolSpec
from harness.yaml_lines import LineDict, LineList, check_keys, load_yaml


@dataclass(frozen=True)
class JudgeSpec:
    """A judge of a suite entry: a deployment and a rubric (harness.judging.rubric), its version the rubric file's
    sha256. `line` is where the suite names it, for errors found later (an unknown deployment)."""

    deployment: str
    rubric: str  # the rubric's name
    path: str  # its file
    kind: str  # single | reference | pairwise | refusal
    version: str
    line: int = 0


@dataclass(frozen=True)
class PairwiseSpec:
    """Which answers a suite entry's pairwise judges compare: every model against `baseline`, or, with no baseline,
    every pair of the suite's models."""

    baseline: str | None = None
    line: int = 0


@dataclass(frozen=True)
class RunSpec:
    scenario: str
    scenario_args: dict[str, Any]
    adapter_spec: AdapterSpec
    metrics: tuple[str, ...]
    group: str
    max_instances: int | None = None
    main_metric: str = ""
    perturbations: tuple[str, ...] = ()  # each evaluated instance is also run rewritten by each of these
    judges: tuple[JudgeSpec, ...] = ()  # judges that grade each answer (harness.judging); pairwise ones: below
    pairwise: PairwiseSpec | None = None  # which models' answers the pairwise judges compare, after every run
    # The values this run was expanded with (harness.expand), e.g. (("subject", "anatomy"), ("shots", "5")): they
    # name it, and are not part of its identity (the args and the adapter spec already are).
    variant: tuple[tuple[str, str], ...] = ()
    protocol: ProtocolSpec = ProtocolSpec()  # how samples become the answer (harness.protocols); plain by default

    def _identity(self) -> tuple[Any, ...]:
        ident: tuple[Any, ...] = (self.scenario, sorted(self.scenario_args.items()), self.adapter_spec.to_json(),
                                  self.metrics, self.max_instances)
        ident += (self.perturbations,) if self.perturbations else ()  # ids of runs without them stay as before
        graders = tuple((j.deployment, j.rubric, j.version) for j in self.judges if j.kind != "pairwise")
        ident += (graders,) if graders else ()  # a run's stats hold its graders' scores
        return ident + ((self.protocol.name, self.protocol.params),) if not self.protocol.is_plain else ident

    def with_shots_available(self, pool: int) -> RunSpec:
        """This spec with `shots` cut to the size of the few-shot pool, which is all a prompt can hold: `shots: 1000`
        on a 5-row pool runs, stores and is named as 5 shots (and shares its results with `shots: 5`)."""
        if self.adapter_spec.max_train_instances <= pool:
            return self
        return replace(self, adapter_spec=replace(self.adapter_spec, max_train_instances=pool))

    def run_id(self, model: str) -> str:
        """A readable, filesystem-safe id, unique per (scenario, args, adapter spec, metrics, model)."""
        args = ",".join(f"{k}={v}" for k, v in sorted(self.scenario_args.items()))
        # expanded adapter fields beyond method and shots (an output_prefix sweep) are named too, as the args are
        named = {*self.scenario_args, "method", "shots"}
        swept = "".join(f",{k}={v}" for k, v in self.variant if k not in named)
        protocol = "" if self.protocol.is_plain else f",{self.protocol.name}"
        readable = (f"{self.scenario}{':' + args if args else ''},{self.adapter_spec.method},"
                    f"{self.adapter_spec.max_train_instances}shot{swept}{protocol}@{model}")
        digest = hashlib.sha256(repr((*self._identity(), model)).encode()).hexdigest()[:8]
        return re.sub(r"[^A-Za-z0-9._=,@-]+", "_", readable)[:150] + "-" + digest


@dataclass(frozen=True)
class Suite:
    name: str
    path: Path
    description: str
    models: tuple[str, ...]
    run_specs: tuple[RunSpec, ...] = field(default=())
    model_lines: tuple[int, ...] = ()  # the line of each of `models` in the suite file

    def line_of_model(self, name: str) -> int | None:
        index = self.models.index(name) if name in self.models else -1
        return self.model_lines[index] if 0 <= index < len(self.model_lines) else None


def check_max_instances(value: int, *, field: str, path: str | None = None, line: int | None = None) -> int:
    """A suite's max_instances and --max-instances: the same rule."""
    return int(bounds.at_least(value, 1, field=field, path=path, line=line))


SUITE_KEYS = {"name", "description", "models", "entries", "defaults"}
ENTRY_KEYS = {
    "scenario", "args", "method", "shots", "metrics", "max_instances", "group", "main_metric",
    "instructions", "input_prefix", "input_suffix", "output_prefix", "output_suffix", "instance_separator",
    "max_tokens", "stop", "temperature", "num_outputs", "seed", "fewshot_split", "choice_score", "perturbations",
    "judges", "pairwise", "protocol",
}


def _typed(entry: LineDict, key: str, kind: type | tuple[type, ...], path: Path) -> Any:
    value = entry[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise HarnessError(f"expected {names}, got {value!r}", path=str(path), line=entry.line_of(key), field=key)
    return value


def _entries(raw: Any, defaults: dict[str, Any], path: Path, line: int) -> list[RunSpec]:
    """The runs of one entry: one, or one per combination of the values its lists give (harness.expand)."""
    from harness.expand import expand_entry

    entry = check_keys(raw, ENTRY_KEYS, {"scenario"}, path, "entry", line=line)
    merged = LineDict({**defaults, **entry})
    merged.line, merged.key_lines = entry.line, {**getattr(defaults, "key_lines", {}), **entry.key_lines}
    return [replace(_entry(each, path), variant=variant)
            for each, variant in expand_entry(merged, path, ADAPTER_FIELDS)]


def _entry(merged: LineDict, path: Path) -> RunSpec:
    from harness.metrics.registry import directions, known_names
    from harness.scenarios.base import make_scenario

    def error(message: str, key: str) -> HarnessError:
        return HarnessError(message, path=str(path), line=merged.line_of(key), field=key)

    name = _typed(merged, "scenario", str, path)
    if name.endswith((".yaml", ".yml")):  # a scenario file (harness/scenarios/custom.py), relative to the suite
        from harness.scenarios.custom import load_custom_scenario

        if not (path.parent / name).is_file():
            raise error(f"no such scenario file: {path.parent / name}", "scenario")
        custom = load_custom_scenario(path.parent / name)
        name = custom.name
        merged.setdefault("metrics", list(custom.metrics))  # the file's metrics, unless the suite names some
    args = dict(_typed(merged, "args", dict, path)) if "args" in merged else {}
    try:
        scenario = make_scenario(name, args)
    except HarnessError as exc:
        raise error(exc.message, "args" if exc.field == "args" else "scenario") from None
    adapter: dict[str, Any] = {
        "method": scenario.default_method, "instructions": "", "input_prefix": scenario.input_prefix,
        "input_suffix": scenario.input_suffix, "output_prefix": scenario.output_prefix,
    }
    for key, (attr, kind) in ADAPTER_FIELDS.items():
        if key in merged:
            adapter[attr] = _typed(merged, key, kind, path)
        elif key in scenario.adapter_defaults:
            value = scenario.adapter_defaults[key]
            adapter[attr] = list(value) if key == "stop" else value
    if adapter["method"] not in METHODS:
        raise error(f"unknown method {adapter['method']!r} (known: {', '.join(METHODS)})", "method")
    if "stop_sequences" in adapter:
        if not all(isinstance(s, str) for s in adapter["stop_sequences"]):
            raise error("stop must be a list of strings", "stop")
        adapter["stop_sequences"] = tuple(adapter["stop_sequences"])
    if adapter.get("choice_score", "sum") not in ("sum", "mean"):
        raise error("choice_score must be 'sum' or 'mean'", "choice_score")
    for key in ("shots", "max_tokens", "num_outputs"):
        if key in merged and merged[key] < (1 if key == "num_outputs" else 0):
            raise error(f"{key} must be non-negative" if key != "num_outputs" else "num_outputs must be >= 1", key)
    protocol = ProtocolSpec()
    if merged.get("protocol") not in (None, "plain"):
        from harness.protocols import PROTOCOL_METRICS, configure_adapter, parse_protocol

        try:
            protocol = parse_protocol(merged["protocol"], adapter["method"])
        except HarnessError as exc:
            raise error(exc.message, "protocol") from None
    judges = _judges(merged, path) if merged.get("judges") else ()
    pairwise = _pairwise(merged, path, judges)
    known = directions()
    metrics = merged.get("metrics", [scenario.main_metric, *scenario.more_metrics])
    if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
        raise error("metrics must be a list of metric names", "metrics")
    from harness.judging.stats import is_judge_stat

    for metric in metrics:
        if metric not in known and not is_judge_stat(metric):
            raise error(f"unknown metric {metric!r} (known: {', '.join(known_names())})", "metrics")
    main_metric = merged.get("main_metric", scenario.main_metric)
    if main_metric not in metrics:
        metrics = [main_metric, *metrics]
    if main_metric not in known and not is_judge_stat(main_metric):
        raise error(f"unknown metric {main_metric!r}", "main_metric")

    # The graders' stats are not computed by a metric: they come from the judges (harness.judging.grading).
    if any(is_judge_stat(m) for m in metrics) and not any(j.kind != "pairwise" for j in judges):
        name = next(m for m in metrics if is_judge_stat(m))
        raise error(f"{name} comes from a judge: give the entry `judges:` with a single, reference or refusal "
                    "rubric", "main_metric" if name == main_metric else "metrics")
    metrics = [m for m in metrics if not is_judge_stat(m)]
    max_instances = _typed(merged, "max_instances", int, path) if merged.get("max_instances") is not None else None
    if max_instances is not None:
        check_max_instances(max_instances, field="max_instances", path=str(path), line=merged.line_of("max_instances"))
    group = _typed(merged, "group", str, path) if "group" in merged else scenario.name
    perturbations = _perturbations(merged, path) if merged.get("perturbations") else ()
    adapter_spec = AdapterSpec(**adapter)
    if not protocol.is_plain:  # its own run and column beside the plain one: `gsm8k (self_consistency n=5)`
        from harness.metrics.registry import metric_registry

        if not any(main_metric in m.outputs for m in metric_registry().values()):
            raise error(f"protocol {protocol.name} scores each sample by the main metric; {main_metric!r} is not a "
                        "per-instance metric", "protocol")
        adapter_spec = configure_adapter(adapter_spec, protocol)
        metrics = [*metrics, *PROTOCOL_METRICS]
        group = f"{group} ({protocol.label})"
    return RunSpec(name, args, adapter_spec, tuple(dict.fromkeys(metrics)), group, max_instances, main_metric,
                   perturbations, judges, pairwise, protocol=protocol)


def _judges(entry: LineDict, path: Path) -> tuple[JudgeSpec, ...]:
    """`judges:` a list of {deployment: NAME, rubric: NAME | PATH} (a rubric path is relative to the suite)."""
    from harness.judging.rubric import load_rubric

    items = _typed(entry, "judges", list, path)
    out = []
    for i, item in enumerate(items):
        line = items.line_of(i) if isinstance(items, LineList) else entry.line_of("judges")
        item = check_keys(item, {"deployment", "rubric"}, {"deployment", "rubric"}, path, "judge", line=line)
        for key in ("deployment", "rubric"):
            if not isinstance(item[key], str) or not item[key].strip():
                raise HarnessError("expected a non-empty string", path=str(path), line=item.line_of(key), field=key)
        try:
            rubric = load_rubric(item["rubric"], path.parent)
        except HarnessError as exc:
            if exc.path and exc.path != str(path):  # an error inside the rubric file names that file
                raise
            raise HarnessError(exc.message, path=str(path), line=item.line_of("rubric"), field="rubric") from None
        spec = JudgeSpec(item["deployment"], rubric.name, rubric.path, rubric.kind, rubric.version, item.line)
        if any((j.deployment, j.rubric) == (spec.deployment, spec.rubric) for j in out):
            raise HarnessError("the same judge and rubric twice", path=str(path), line=item.line, field="judges")
        out.append(spec)
    return tuple(out)


def _pairwise(entry: LineDict, path: Path, judges: tuple[JudgeSpec, ...]) -> PairwiseSpec | None:
    """`pairwise: all` (every pair of the suite's models) or `pairwise: {baseline: MODEL}`; it needs a judge with a
    pairwise rubric, and a pairwise rubric needs it."""
    has_judge = any(j.kind == "pairwise" for j in judges)
    if "pairwise" not in entry:
        if has_judge:
            raise HarnessError("a pairwise rubric needs `pairwise: all` or `pairwise: {baseline: MODEL}` in its entry",
                               path=str(path), line=entry.line_of("judges"), field="judges")
        return None
    value, line = entry["pairwise"], entry.line_of("pairwise")
    if value == "all":
        spec = PairwiseSpec(None, line)
    elif isinstance(value, dict):
        value = check_keys(value, {"baseline"}, {"baseline"}, path, "pairwise", line=line)
        if not isinstance(value["baseline"], str) or not value["baseline"].strip():
            raise HarnessError("expected a model name", path=str(path), line=value.line_of("baseline"), field="baseline")
        spec = PairwiseSpec(value["baseline"], line)
    else:
        raise HarnessError("expected `all` or {baseline: MODEL}", path=str(path), line=line, field="pairwise")
    if not has_judge:
        raise HarnessError("pairwise needs a judge with a pairwise rubric in `judges:`", path=str(path), line=line,
                           field="pairwise")
    return spec


def _perturbations(entry: LineDict, path: Path) -> tuple[str, ...]:
    """Perturbation names, with the groups `robustness` and `fairness` expanded, in order and each once."""
    from harness.perturbations import GROUPS, get_perturbation

    names = _typed(entry, "perturbations", list, path)
    out: list[str] = []
    for name in names:
        if not isinstance(name, str):
            raise HarnessError(f"expected a perturbation name, got {name!r}", path=str(path),
                               line=entry.line_of("perturbations"), field="perturbations")
        for each in GROUPS.get(name, (name,)):
            try:
                get_perturbation(each)
            except HarnessError as exc:
                raise HarnessError(exc.message, path=str(path), line=entry.line_of("perturbations"),
                                   field="perturbations") from None
            out.append(each)
    return tuple(dict.fromkeys(out))


def load_suite(path: str | Path) -> Suite:
    """A suite from its YAML file, or from a shipped suite's name (harness.suites)."""
    from harness.suites import resolve_suite

    path = resolve_suite(path)
    data = load_yaml(path)
    if isinstance(data, dict) and "entries" not in data:  # a suite lists entries; a scenario file does not
        from harness.scenarios.custom import is_scenario_file, scenario_file_suite

        if is_scenario_file(data):  # `harness run my_scenario.yaml`: a suite of that one scenario
            data = scenario_file_suite(data, path)
    data = check_keys(data, SUITE_KEYS, {"entries"}, path, "suite")
    models = data.get("models", [])
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        raise HarnessError("models must be a list of deployment names", path=str(path), line=data.line_of("models"), field="models")
    defaults = data.get("defaults", LineDict())
    if defaults:
        defaults = check_keys(defaults, ENTRY_KEYS - {"scenario"}, set(), path, "defaults")
    entries = data["entries"]
    if not isinstance(entries, list) or not entries:
        raise HarnessError("entries must be a non-empty list", path=str(path), line=data.line_of("entries"), field="entries")
    lines = [entries.line_of(i) for i in range(len(entries))] if isinstance(entries, LineList) else \
        [data.line_of("entries")] * len(entries)
    specs = tuple(spec for raw, line in zip(entries, lines) for spec in _entries(raw, defaults, path, line))
    name = data.get("name", path.stem)
    if not isinstance(name, (str, int, float)) or isinstance(name, bool) or not str(name).strip():
        raise HarnessError("name must be a non-empty string", path=str(path), line=data.line_of("name"), field="name")
    model_lines = tuple(models.line_of(i) for i in range(len(models))) if isinstance(models, LineList) else ()
    return Suite(str(name), path, str(data.get("description", "")), tuple(models), specs, model_lines)

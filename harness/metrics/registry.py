"""The metric registry.

Two kinds of metric, both registered by name and both declaring which direction is better:
- a per-instance Metric scores one instance's Prediction, giving one value (its own name) or several named stats
  (`stats=`: IFEval's strict and loose accuracy come from one pass of its checkers). A run reports each value's
  mean over instances with a bootstrap interval. Stats named with a leading `_` are auxiliary (counts that corpus
  metrics need): stored per instance, never shown as a column.
- a CorpusMetric is a function of all instances' stats at once (ECE, BBQ's bias scores, IFEval's
  instruction-level accuracy), with an interval from resampling instances.
A suite's `metrics:` may name any metric, any stat, or any corpus metric; `resolve` says what has to be computed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Union

from harness.errors import HarnessError

if TYPE_CHECKING:
    import numpy as np  # noqa: F401  (in a string annotation)

    from harness.adapters.base import Prediction
    from harness.clients.deployment import ModelDeployment
    from harness.instance import Instance

MetricFn = Callable[["Instance", "Prediction", "ModelDeployment"], Union[float, dict[str, float]]]
CorpusFn = Callable[[dict[str, "np.ndarray"]], float]


@dataclass(frozen=True)
class Metric:
    name: str
    fn: MetricFn
    lower_is_better: bool = False
    description: str = ""
    # name -> lower_is_better of each value fn returns, when it returns a dict; empty when it returns one float.
    stats: Mapping[str, bool] = field(default_factory=dict)
    # Takes microseconds (string comparisons, arithmetic): scored on the event loop as each answer arrives, while
    # other requests are in flight. Anything slower (running code, a library's tokenizer) waits for the last answer.
    quick: bool = False

    @property
    def outputs(self) -> dict[str, bool]:
        return dict(self.stats) if self.stats else {self.name: self.lower_is_better}

    def __call__(self, instance: Instance, pred: Prediction, deployment: ModelDeployment) -> dict[str, float]:
        value = self.fn(instance, pred, deployment)
        if isinstance(value, dict):
            return value
        return {self.name: float(value)}


@dataclass(frozen=True)
class CorpusMetric:
    name: str
    fn: CorpusFn
    needs: tuple[str, ...]  # per-instance metrics whose stats fn reads
    lower_is_better: bool = False
    description: str = ""


_METRICS: dict[str, Metric] = {}
_CORPUS: dict[str, CorpusMetric] = {}

# Computed for every run, whatever the suite lists, so the leaderboard can always show cost and speed.
EFFICIENCY = ("latency_s", "prompt_tokens", "completion_tokens", "cost_usd", "requests")

# The modules that register the built-in metrics, imported on first use (some pull numpy or a scorer library in
# only when they compute, never at import).
_MODULES = ("harness.metrics.basic", "harness.metrics.calibration", "harness.metrics.text_overlap",
            "harness.metrics.math_equiv", "harness.metrics.code", "harness.metrics.ifeval",
            "harness.metrics.bbq", "harness.metrics.refusal", "harness.metrics.language_modeling",
            "harness.metrics.agreement")


def _first_line(fn: Callable[..., object], description: str) -> str:
    return description or (fn.__doc__ or "").strip().split("\n")[0]


def register_metric(name: str, *, lower_is_better: bool = False, description: str = "",
                    stats: Mapping[str, bool] | None = None, quick: bool = False) -> Callable[[MetricFn], MetricFn]:
    def wrap(fn: MetricFn) -> MetricFn:
        metric = Metric(name, fn, lower_is_better, _first_line(fn, description), dict(stats or {}), quick)
        # A stat name belongs to one metric, so a suite that names it gets one meaning.
        for other in _METRICS.values():
            clash = set(other.outputs) & set(metric.outputs)
            if other.name != name and clash:
                raise ValueError(f"metric {name!r} declares {sorted(clash)}, which {other.name!r} already declares")
        _METRICS[name] = metric
        return fn

    return wrap


def register_corpus_metric(name: str, *, needs: Iterable[str], lower_is_better: bool = False,
                           description: str = "") -> Callable[[CorpusFn], CorpusFn]:
    def wrap(fn: CorpusFn) -> CorpusFn:
        _CORPUS[name] = CorpusMetric(name, fn, tuple(needs), lower_is_better, _first_line(fn, description))
        return fn

    return wrap


def _load() -> None:
    import importlib

    for module in _MODULES:
        importlib.import_module(module)


def metric_registry() -> dict[str, Metric]:
    _load()
    return dict(_METRICS)


def corpus_metric_registry() -> dict[str, CorpusMetric]:
    _load()
    return dict(_CORPUS)


def get_metric(name: str) -> Metric:
    registry = metric_registry()
    if name not in registry:
        raise HarnessError(f"unknown metric {name!r}; known: {', '.join(sorted(known_names()))}", field="metrics")
    return registry[name]


def directions() -> dict[str, bool]:
    """Every name a run can report (metric values, stats, corpus metrics) -> whether lower is better."""
    out: dict[str, bool] = {}
    for metric in metric_registry().values():
        out.update(metric.outputs)
    for corpus in corpus_metric_registry().values():
        out[corpus.name] = corpus.lower_is_better
    from harness.judging.stats import DIRECTIONS  # what judges give a run (harness.judging.grading)

    out.update(DIRECTIONS)
    return out


def known_names() -> list[str]:
    """The names a suite may list, auxiliary stats left out."""
    return sorted(n for n in directions() if not n.startswith("_"))


def lower_is_better(name: str) -> bool:
    """Direction of a reported value. A worst-case column (`exact_match@robustness`) goes its metric's way."""
    return directions().get(name.split("@", 1)[0], False)


def resolve(names: Iterable[str]) -> tuple[list[Metric], list[CorpusMetric]]:
    """What to compute for a list of metric, stat or corpus-metric names: the per-instance metrics (each once, in
    order, including those a corpus metric needs) and the corpus metrics."""
    metrics, corpus = metric_registry(), corpus_metric_registry()
    owner = {stat: m.name for m in metrics.values() for stat in m.outputs}
    per_instance: dict[str, Metric] = {}
    corpus_out: dict[str, CorpusMetric] = {}
    for name in names:
        if name in corpus:
            corpus_out[name] = corpus[name]
            for need in corpus[name].needs:
                per_instance.setdefault(need, get_metric(need))
        elif name in metrics:
            per_instance.setdefault(name, metrics[name])
        elif name in owner:
            per_instance.setdefault(owner[name], metrics[owner[name]])
        else:
            raise HarnessError(f"unknown metric {name!r}; known: {', '.join(known_names())}", field="metrics")
    return list(per_instance.values()), list(corpus_out.values())

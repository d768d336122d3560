"""The metric registry: a Metric scores one instance's Prediction and says which direction is better."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.adapters.adapter import Prediction
    from harness.clients.deployment import ModelDeployment
    from harness.instance import Instance

MetricFn = Callable[["Instance", "Prediction", "ModelDeployment"], float]


@dataclass(frozen=True)
class Metric:
    name: str
    fn: MetricFn
    lower_is_better: bool = False
    description: str = ""


_METRICS: dict[str, Metric] = {}

# Computed for every run, whatever the suite lists, so the leaderboard can always show cost and speed.
EFFICIENCY = ("latency_s", "prompt_tokens", "completion_tokens", "cost_usd")


def register_metric(name: str, *, lower_is_better: bool = False, description: str = "") -> Callable[[MetricFn], MetricFn]:
    def wrap(fn: MetricFn) -> MetricFn:
        _METRICS[name] = Metric(name, fn, lower_is_better, description or (fn.__doc__ or "").strip().split("\n")[0])
        return fn

    return wrap


def metric_registry() -> dict[str, Metric]:
    import harness.metrics.basic  # noqa: F401  (registers the built-in metrics)

    return dict(_METRICS)


def get_metric(name: str) -> Metric:
    registry = metric_registry()
    if name not in registry:
        raise HarnessError(f"unknown metric {name!r}; known: {', '.join(sorted(registry))}", field="metrics")
    return registry[name]


def lower_is_better(name: str) -> bool:
    metric = metric_registry().get(name)
    return metric.lower_is_better if metric else False

"""Protocols: how a suite entry turns a model's samples into its answer (`protocol:` in a suite entry).

- plain (plain.py): the adapter's prediction as it is;
- self_consistency (self_consistency.py): n samples at a temperature, the answer the most of them agree on;
- debate (debate.py): agents answer, then answer again seeing each other's answers, for some rounds; majority.

A protocol is a suite-entry field on any generation or multiple-choice entry, e.g.

    - scenario: gsm8k
      protocol: {name: self_consistency, n: 5, temperature: 0.7}

and its run is a run of its own, beside the plain one (its group, and so its leaderboard column, is named by the
protocol and its parameters: `gsm8k (self_consistency n=5)`). See docs/protocols.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from harness.errors import HarnessError

PROTOCOLS = ("plain", "self_consistency", "debate")
METHODS = ("generation", "multiple_choice_joint")  # methods whose answers are samples a protocol can vote over


@dataclass(frozen=True)
class ProtocolSpec:
    name: str = "plain"
    params: tuple[tuple[str, Any], ...] = ()  # sorted (key, value) pairs

    @property
    def is_plain(self) -> bool:
        return self.name == "plain"

    def param(self, key: str, default: Any = None) -> Any:
        return dict(self.params).get(key, default)

    @property
    def label(self) -> str:
        """`self_consistency n=5` (the temperature is named only when not the default)."""
        shown = [f"{k}={v}" for k, v in self.params if not (k == "temperature" and v == DEFAULT_TEMPERATURE)]
        return " ".join([self.name, *shown])

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, **dict(self.params)}


DEFAULT_TEMPERATURE = 0.7
_PARAMS: dict[str, dict[str, tuple[type | tuple[type, ...], Any]]] = {
    "plain": {},
    "self_consistency": {"n": (int, 5), "temperature": ((int, float), DEFAULT_TEMPERATURE)},
    "debate": {"agents": (int, 3), "rounds": (int, 2), "temperature": ((int, float), DEFAULT_TEMPERATURE)},
}


def parse_protocol(value: Any, method: str) -> ProtocolSpec:
    """A ProtocolSpec from a suite entry's `protocol:` (a name, or a mapping with `name` and parameters); a
    HarnessError (field "protocol") naming what is wrong."""
    raw = {"name": value} if isinstance(value, str) else value
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise HarnessError("expected a protocol name or {name: NAME, ...parameters}", field="protocol")
    name = raw["name"]
    if name not in _PARAMS:
        raise HarnessError(f"unknown protocol {name!r} (known: {', '.join(PROTOCOLS)})", field="protocol")
    allowed = _PARAMS[name]
    unknown = sorted(set(raw) - {"name"} - set(allowed))
    if unknown:
        raise HarnessError(f"protocol {name} has no parameter {unknown[0]!r} (allowed: {', '.join(allowed) or 'none'})",
                           field="protocol")
    params = {}
    for key, (kind, default) in allowed.items():
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, kind):
            wanted = "an integer" if kind is int else "a number"
            raise HarnessError(f"protocol parameter {key}: expected {wanted}, got {value!r}", field="protocol")
        params[key] = value
    if name != "plain" and method not in METHODS:
        raise HarnessError(f"protocol {name} votes over sampled answers: it needs method generation or "
                           f"multiple_choice_joint, not {method}", field="protocol")
    for key, high in (("n", 100), ("agents", 10), ("rounds", 10)):
        if key in params and not 1 <= params[key] <= high:
            raise HarnessError(f"protocol parameter {key}: must be between 1 and {high}", field="protocol")
    if "temperature" in params and not 0 <= params["temperature"] < math.inf:
        raise HarnessError("protocol parameter temperature: must be a finite number >= 0", field="protocol")
    return ProtocolSpec(name, tuple(sorted(params.items())))


def configure_adapter(spec: Any, protocol: ProtocolSpec) -> Any:
    """The entry's AdapterSpec as the protocol needs it (each protocol module's `configure`)."""
    import importlib

    return importlib.import_module(f"harness.protocols.{protocol.name}").configure(spec, dict(protocol.params))


# What a voting protocol's run reports besides the entry's metrics (harness.metrics.agreement).
PROTOCOL_METRICS = ("self_consistency", "agreement_auroc", "agreement_ece_10_bin", "accuracy_agreement_low",
                    "accuracy_agreement_mid", "accuracy_agreement_unanimous")

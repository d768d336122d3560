"""Scenario: a named, parameterised source of Instances, registered by name."""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

from harness.errors import HarnessError
from harness.instance import Instance


def data_root() -> Path:
    """Where shipped scenario data lives: package data in `harness/scenarios/data/` (only read), or
    $HARNESS_DATA_DIR."""
    env = os.environ.get("HARNESS_DATA_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent / "data"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Scenario(ABC):
    """Subclasses set the class attributes and implement `instances()`.

    Constructor keyword arguments are the scenario's args from the suite (e.g. `subject` for MMLU); unknown
    args are rejected by `make_scenario` before any work is done.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    main_metric: ClassVar[str] = "exact_match"
    more_metrics: ClassVar[tuple[str, ...]] = ()  # also reported when a suite entry names no metrics
    # The adapter method this scenario is normally evaluated with.
    default_method: ClassVar[str] = "generation"
    source: ClassVar[str] = ""
    license: ClassVar[str] = ""
    data_shipped: ClassVar[str] = "sample"  # "full", "sample" or "download"
    # Default instructions/prefixes for the prompt; a suite entry may override each.
    instructions: ClassVar[str] = ""
    input_prefix: ClassVar[str] = ""
    input_suffix: ClassVar[str] = "\n"
    output_prefix: ClassVar[str] = ""
    args: ClassVar[dict[str, Any]] = {}  # allowed args and their defaults
    # The values an arg can take, for those that can be listed: `ARG: each` in a suite runs every one of them
    # (harness.expand). Read through argument_values().
    arg_values: ClassVar[dict[str, tuple[str, ...]]] = {}
    # Suite-entry settings this scenario is normally run with (e.g. {"max_tokens": 300, "stop": ["\ndef "]}); the
    # suite's defaults and the entry override them, and the run's stored adapter spec shows what was used.
    adapter_defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = {**self.args, **kwargs}

    @classmethod
    def argument_values(cls, name: str) -> tuple[str, ...] | None:
        """Every value of the arg `name` (e.g. MMLU's 57 subjects), or None when they are not declared."""
        values = cls.arg_values.get(name)
        return tuple(values) if values else None

    @property
    def full_name(self) -> str:
        """`name:k=v,...` with only the args that differ from the defaults, in sorted order."""
        parts = [f"{k}={v}" for k, v in sorted(self.kwargs.items()) if self.args.get(k) != v]
        return self.name + (":" + ",".join(parts) if parts else "")

    @abstractmethod
    def instances(self) -> Iterator[Instance]:
        """All instances of every split the scenario has (train/valid rows serve as few-shot examples)."""

    def split(self, name: str) -> Sequence[Instance]:
        """The instances of one split, in order. Loaders that can defer parsing rows override this (see jsonl)."""
        return [inst for inst in self.instances() if inst.split == name]

    def data_fingerprint(self) -> str | None:
        """What identifies the data this parameterisation reads (e.g. its files' checksums), or None when that is not
        known. With it, rerunning a finished run skips loading and scoring it again (see runner.run_fingerprint)."""
        return None

    def read_ahead(self) -> None:
        """Start on this parameterisation's data, in a background thread, before it is needed: only work that
        releases the GIL (reading, checking, decompressing), so the thread runs beside the rest of startup. Optional:
        split() does whatever has not been done."""

    def remote_files(self) -> tuple[Any, ...]:
        """The pinned `download.RemoteFile`s this parameterisation reads (data_shipped == "download"), for
        `harness prefetch`; empty for shipped data."""
        return ()

    def instructions_for(self) -> str:
        """Instructions for this parameterisation (MMLU names its subject); defaults to the class attribute."""
        return self.instructions

    def instructions_for_instance(self, instance: Instance) -> str:
        """Instructions for one instance (MMLU over all subjects names each instance's subject)."""
        return self.instructions_for()


_REGISTRY: dict[str, type[Scenario]] = {}


def register_scenario(cls: type[Scenario]) -> type[Scenario]:
    if cls.name in _REGISTRY:
        raise ValueError(f"scenario {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls
    return cls


_PLUGINS_LOADED = False


def _load_plugins() -> None:
    """Import the modules other packages declare under the `harness.scenarios` entry-point group, so a scenario
    in your own package registers itself without forking this one."""
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED:
        return
    _PLUGINS_LOADED = True
    from importlib.metadata import entry_points

    from harness.scenarios import import_built_in

    import_built_in()  # first: a plugin that takes a built-in scenario's name is the one reported

    for entry in entry_points(group="harness.scenarios"):
        try:
            entry.load()
        except Exception as exc:  # a broken plugin must say which one, not take the CLI down with a traceback
            raise HarnessError(f"cannot load scenario plugin {entry.name!r} ({entry.value}): {exc}") from None


def scenario_registry() -> dict[str, type[Scenario]]:
    from harness.scenarios import import_built_in

    import_built_in()
    _load_plugins()
    return dict(_REGISTRY)


def scenario_class(name: str) -> type[Scenario] | None:
    """The scenario registered under `name`. Plugins are looked for only when it is not a built-in one (a plugin
    cannot replace a built-in scenario anyway): finding entry points reads every installed package's metadata,
    which every command would pay in an environment with torch and transformers."""
    from harness.scenarios import BUILT_IN, import_built_in

    if name not in _REGISTRY:
        if name in BUILT_IN:
            import_built_in(name)
        else:
            _load_plugins()
    return _REGISTRY.get(name)


def make_scenario(name: str, args: dict[str, Any] | None = None) -> Scenario:
    cls = scenario_class(name)
    if cls is None:
        known = ", ".join(sorted(scenario_registry()))
        raise HarnessError(f"unknown scenario {name!r}; known: {known}", field="scenario")
    unknown = sorted(set(args or {}) - set(cls.args))
    if unknown:
        allowed = ", ".join(sorted(cls.args)) or "none"
        raise HarnessError(f"scenario {name!r} has no arg {unknown[0]!r} (allowed: {allowed})", field="args")
    return cls(**(args or {}))

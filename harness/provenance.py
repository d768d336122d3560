"""Provenance: the record stored with each run (table `run_records`) that says how to make it again: the command,
the suite entry as YAML, the harness version and git commit, Python and key package versions, the deployment's
settings (the name of its key's environment variable, never the key), the data files with their sha256, the seed,
and when the run started and ended. docs/results.md lists the fields.

What is the same for every run of a command (command line, versions, git) is computed once per process; each run
adds only what is its own (entry, deployment, data files, times), so a run pays no more than a few dictionaries."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import platform
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

import harness
from harness.clients.deployment import ModelDeployment
from harness.run_spec import ADAPTER_FIELDS, RunSpec, Suite
from harness.scenarios.base import Scenario

# Installed distributions whose version can change a run's results or how it was stored.
KEY_PACKAGES = ("numpy", "orjson", "pyyaml", "sqlalchemy", "sacrebleu", "rouge-score", "langdetect", "httptools",
                "jinja2", "torch", "transformers", "vllm", "psycopg")

# user:password@ in a URL (a --db URL on the command line, a base_url with credentials): the password is masked.
_URL_PASSWORD = re.compile(r"(://[^/\s:@]*):[^@/\s]*@")


def _masked(text: str) -> str:
    from harness.clients.secrets import redact

    return redact(_URL_PASSWORD.sub(r"\1:***@", text))


@functools.cache
def _package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in KEY_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


@functools.cache
def git_state() -> dict[str, Any] | None:
    """The commit of the git checkout harness runs from, and whether its tracked files differ from it; None when it
    is not run from a checkout (an installed wheel) or git is missing."""
    root = Path(harness.__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=5, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=5, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(status.strip())}


@functools.cache
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """A file's sha256, computed once per version of the file (size and modification time) in this process."""
    stat = path.stat()
    return _file_sha256(str(path), stat.st_size, stat.st_mtime_ns)


@functools.cache
def _process_record() -> dict[str, Any]:
    """What every run of this process shares."""
    from harness.runner import code_version

    return {
        "command": {"argv": [_masked(a) for a in getattr(sys, "orig_argv", sys.argv)], "cwd": os.getcwd()},
        "harness": {"version": harness.__version__, "code_version": code_version(), "git": git_state()},
        "python": {"version": platform.python_version(), "implementation": platform.python_implementation(),
                   "platform": platform.platform()},
        "packages": _package_versions(),
    }


def suite_record(suite: Suite) -> dict[str, Any]:
    """What every run of one suite shares: the process's part, and the suite file with its sha256."""
    path = Path(suite.path)
    return {**_process_record(), "suite": {"name": suite.name, "path": str(path.resolve()),
                                           "sha256": file_sha256(path) if path.is_file() else None}}


def entry_yaml(spec: RunSpec) -> str:
    """The run's suite entry with every setting spelled out, as YAML: under a suite's `entries:` it runs the same."""
    adapter = spec.adapter_spec.to_json()
    entry: dict[str, Any] = {"scenario": spec.scenario}
    if spec.scenario_args:
        entry["args"] = dict(spec.scenario_args)
    for key, (attr, _) in ADAPTER_FIELDS.items():
        if attr in adapter:
            entry[key] = list(adapter[attr]) if key == "stop" else adapter[attr]
    entry.update({"metrics": list(spec.metrics), "main_metric": spec.main_metric, "group": spec.group})
    if spec.max_instances is not None:
        entry["max_instances"] = spec.max_instances
    if spec.perturbations:
        entry["perturbations"] = list(spec.perturbations)
    return yaml.dump(entry, Dumper=_EntryDumper, sort_keys=False, allow_unicode=True)


class _EntryDumper(yaml.SafeDumper):
    """Strings that hold a line break or a tab in double quotes, as "\\n" (the default folds them over lines)."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = '"' if any(c in value for c in "\n\r\t") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_EntryDumper.add_representer(str, _str)


def deployment_settings(deployment: ModelDeployment) -> dict[str, Any]:
    """The deployment's settings as a models file gives them. api_key_env is the variable's name; the key's value is
    never read here, and a password in a URL is masked."""
    settings = dataclasses.asdict(deployment)
    settings["base_url"] = _masked(settings["base_url"])
    settings["base_urls"] = [_masked(u) for u in settings["base_urls"]]
    return settings


def data_files(scenario: Scenario) -> list[dict[str, Any]]:
    """The files the scenario's data comes from, each with its sha256: shipped files with the digest checksums.json
    records (checked when they were read), downloaded files with their pinned digest, a custom scenario's YAML and
    data file as they are."""
    from harness.scenarios.custom import CustomScenario
    from harness.scenarios.download import DownloadedScenario, _expected, cache_root
    from harness.scenarios.jsonl import JsonlScenario, data_root, expected_checksums

    if isinstance(scenario, JsonlScenario):
        sums = expected_checksums(data_root())
        names = [f"{scenario.name}/{file}" for file in scenario.data_files]
        return [{"path": name, "shipped": True, "sha256": sums.get(name)} for name in names]
    if isinstance(scenario, DownloadedScenario):
        return [{"path": remote.url, "sha256": _expected(remote, cache_root() / remote.filename)}
                for remote in scenario.remote_files()]
    if isinstance(scenario, CustomScenario):
        return [{"path": str(path), "sha256": file_sha256(path)} for path in (scenario.yaml_path, scenario.data_path)]
    return []


def run_record(shared: dict[str, Any], spec: RunSpec, deployment: ModelDeployment, scenario: Scenario,
               started_at: str, ended_at: str) -> dict[str, Any]:
    """One run's record: `shared` (suite_record) and what is the run's own."""
    return {
        **shared,
        "entry_yaml": entry_yaml(spec),
        "deployment": deployment_settings(deployment),
        "scenario": scenario.full_name,
        "data_files": data_files(scenario),
        "seeds": {"seed": spec.adapter_spec.seed},
        "started_at": started_at,
        "ended_at": ended_at,
    }

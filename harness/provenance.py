"""Provenance: the record stored with each run (table `run_records`) that says how to make it again: the command,
the suite entry as YAML, the harness version and git commit, Python and key package versions, the deployment's
settings (the name of its key's environment variable, never the key), the data files with their sha256, the seed,
and when the run started and ended. docs/results.md lists the fields.

What the runs of a suite share (command line, versions, git) is computed once (SuiteProvenance); each run adds only
what is its own (entry, deployment, data files, times), so a run pays no more than a few dictionaries."""

from __future__ import annotations

import functools
import hashlib
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import harness

if TYPE_CHECKING:  # imported when a record is made: a rerun that evaluates nothing pays for none of it
    import subprocess

    import yaml

    from harness.clients.deployment import ModelDeployment
    from harness.run_spec import RunSpec, Suite
    from harness.scenarios.base import Scenario

# Distributions whose version can change a run's results or how it was stored: import name -> distribution name.
# Recorded for those this process has imported (what the run used), from the module itself: asking the installed
# distributions (importlib.metadata) took ~0.14 s.
KEY_PACKAGES = {"numpy": "numpy", "orjson": "orjson", "yaml": "pyyaml", "sqlalchemy": "sqlalchemy",
                "sacrebleu": "sacrebleu", "rouge_score": "rouge-score", "langdetect": "langdetect",
                "httptools": "httptools", "jinja2": "jinja2", "torch": "torch", "transformers": "transformers",
                "vllm": "vllm", "psycopg": "psycopg", "aiohttp": "aiohttp"}

# user:password@ in a URL (a --db URL on the command line, a base_url with credentials): the password is masked.
_URL_PASSWORD = re.compile(r"(://[^/\s:@]*):[^@/\s]*@")


def _masked(text: str) -> str:
    from harness.clients.secrets import redact

    return redact(_URL_PASSWORD.sub(r"\1:***@", text))


def package_versions() -> dict[str, str]:
    """Versions of the KEY_PACKAGES imported so far."""
    found = {}
    for module_name, distribution in KEY_PACKAGES.items():
        module = sys.modules.get(module_name)
        version = getattr(module, "__version__", None) if module is not None else None
        if isinstance(version, str):
            found[distribution] = version
        elif version is not None:
            found[distribution] = str(version)
    return found


def _checkout() -> Path | None:
    """The git checkout harness runs from (a folder with .git beside the package), if any."""
    root = Path(harness.__file__).resolve().parent.parent
    return root if (root / ".git").exists() else None


def _git_dir(root: Path) -> Path | None:
    dot_git = root / ".git"
    if dot_git.is_dir():
        return dot_git
    text = dot_git.read_text(encoding="utf-8", errors="replace")  # a worktree's: "gitdir: PATH"
    return (root / text.partition(":")[2].strip()).resolve() if text.startswith("gitdir:") else None


def git_commit(root: Path) -> str | None:
    """HEAD's commit, read from the repository's files (no git process)."""
    try:
        git_dir = _git_dir(root)
        if git_dir is None:
            return None
        head = (git_dir / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head or None  # detached
        ref = head[4:].strip()
        common = git_dir
        if (git_dir / "commondir").is_file():  # a worktree: branches live in the main repository
            common = (git_dir / (git_dir / "commondir").read_text().strip()).resolve()
        for base in (git_dir, common):
            if (base / ref).is_file():
                return (base / ref).read_text().strip()
        if (common / "packed-refs").is_file():
            for line in (common / "packed-refs").read_text().splitlines():
                sha, _, name = line.partition(" ")
                if name == ref:
                    return sha
    except OSError:
        pass
    return None


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


class SuiteProvenance:
    """The records of one suite's runs. What they share is computed once, when the first run that is evaluated (not
    reused) starts (start()); whether the checkout has changes (`git status`, tens of milliseconds) runs meanwhile in
    its own process, beside the run's requests, and is read when the first record is made."""

    def __init__(self, suite: Suite) -> None:
        self.suite = suite
        self.shared: dict[str, Any] | None = None
        self.git: subprocess.Popen[str] | None = None

    def start(self) -> None:
        if self.shared is not None:
            return
        import platform
        import subprocess

        from harness.runner import code_version

        path = Path(self.suite.path)
        root = _checkout()
        commit = git_commit(root) if root is not None else None
        if root is not None and commit is not None:
            try:
                self.git = subprocess.Popen(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            except OSError:  # no git: the commit is known, whether it was changed is not
                self.git = None
        self.shared = {
            "command": {"argv": [_masked(a) for a in getattr(sys, "orig_argv", sys.argv)], "cwd": os.getcwd()},
            "harness": {"version": harness.__version__, "code_version": code_version(),
                        "git": None if commit is None else {"commit": commit, "dirty": None}},
            "python": {"version": platform.python_version(), "implementation": platform.python_implementation(),
                       "system": f"{platform.system()} {platform.release()} {platform.machine()}"},
            "suite": {"name": self.suite.name, "path": str(path.resolve()),
                      "sha256": file_sha256(path) if path.is_file() else None},
        }

    def _git_dirty(self) -> None:
        if self.git is None or self.shared is None:
            return
        import subprocess

        try:
            out, _ = self.git.communicate(timeout=10)
            if self.git.returncode == 0:
                self.shared["harness"]["git"]["dirty"] = bool(out.strip())
        except subprocess.TimeoutExpired:
            self.git.kill()
            self.git.wait()
        self.git = None

    def close(self) -> None:
        """Reap `git status` if no record read it."""
        if self.git is not None:
            self.git.kill()
            self.git.wait()
            self.git = None

    def record(self, spec: RunSpec, deployment: ModelDeployment, scenario: Scenario, started_at: str,
               ended_at: str) -> dict[str, Any]:
        """One run's record: what the suite's runs share, and what is the run's own."""
        self.start()
        self._git_dirty()
        assert self.shared is not None
        return {
            **self.shared,
            "packages": package_versions(),
            "entry_yaml": entry_yaml(spec),
            "deployment": deployment_settings(deployment),
            "scenario": scenario.full_name,
            "data_files": data_files(scenario),
            "seeds": {"seed": spec.adapter_spec.seed},
            "started_at": started_at,
            "ended_at": ended_at,
        }


def entry_yaml(spec: RunSpec) -> str:
    """The run's suite entry with every setting spelled out, as YAML: under a suite's `entries:` it runs the same."""
    import yaml

    from harness.run_spec import ADAPTER_FIELDS

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

    class Dumper(yaml.SafeDumper):
        """Strings that hold a line break or a tab in double quotes, as "\\n" (the default folds them over lines)."""

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = '"' if any(c in value for c in "\n\r\t") else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    return yaml.dump(entry, Dumper=Dumper, sort_keys=False, allow_unicode=True)


def deployment_settings(deployment: ModelDeployment) -> dict[str, Any]:
    """The deployment's settings as a models file gives them. api_key_env is the variable's name; the key's value is
    never read here, and a password in a URL is masked."""
    import dataclasses

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

"""A provider from another package (examples/provider_plugin), installed by pip: its client is found through the
`harness.clients` entry-point group (importlib.metadata) with no scenario plug-in in the suite, its own setting is
checked where the models file is read, and a built-in scenario runs on it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, run_cli, stored_instances

EXAMPLE = ROOT / "examples" / "provider_plugin"


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example installed as pip installs it, into a folder of its own (put on PYTHONPATH): pip and the build
    backend write its dist-info and entry_points.txt. Built from a copy, so the checkout gets no build/ folder."""
    tmp = tmp_path_factory.mktemp("provider")
    source = tmp / "src"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    site = tmp / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                           "--target", str(site), str(source)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (entry_points,) = site.glob("harness_echo_provider-*.dist-info/entry_points.txt")
    assert "[harness.clients]" in entry_points.read_text()
    return site


def _env(site: Path) -> dict[str, str]:
    return {"PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}


def test_a_built_in_scenario_runs_on_a_plug_in_provider(plugin_site: Path, tmp_path: Path) -> None:
    (tmp_path / "models.yaml").write_text("- name: echo/last-words\n  client: echo\n  words: 2\n")
    (tmp_path / "suite.yaml").write_text("name: echoed\nentries:\n  - scenario: mmlu\n")
    done = run_cli("run", "suite.yaml", "--models", "echo/last-words", "--models-file", "models.yaml",
                   "--max-instances", "3", "--output", "out", "--no-site", cwd=tmp_path, env=_env(plugin_site))
    assert done.returncode == 0, done.stderr
    assert "3 requests: 3 sent" in done.stdout, done.stdout
    from harness.store.store import open_store

    store = open_store(f"sqlite:///{tmp_path}/out/harness.db")
    try:
        rows = list(store.request_rows().values())
    finally:
        store.close()
    assert len(rows) == 3 and len(stored_instances(tmp_path / "out" / "harness.db")) == 3
    for row in rows:  # the client's own answer: the prompt's last two words, as its setting says
        assert row["result"]["texts"] == [" ".join(row["request"]["prompt"].split()[-2:])]
    listed = run_cli("list", "models", "--models-file", "models.yaml", cwd=tmp_path, env=_env(plugin_site))
    assert "echo/last-words" in listed.stdout and "echo (plug-in)" in listed.stdout.splitlines()[-1]


def test_a_plug_in_setting_is_checked_with_file_line_and_field(plugin_site: Path, tmp_path: Path) -> None:
    (tmp_path / "models.yaml").write_text("- name: echo/none\n  client: echo\n  words: 0\n")
    done = run_cli("list", "models", "--models-file", "models.yaml", cwd=tmp_path, env=_env(plugin_site))
    assert done.returncode == 2
    assert done.stderr.strip() == "harness: error: models.yaml:3: words: must be at least 1, got 0"
    (tmp_path / "models.yaml").write_text("- name: echo/none\n  client: echo\n  words: two\n")
    done = run_cli("list", "models", "--models-file", "models.yaml", cwd=tmp_path, env=_env(plugin_site))
    assert done.stderr.strip() == "harness: error: models.yaml:3: words: expected int, got 'two'"


def test_without_the_package_the_client_is_unknown(tmp_path: Path) -> None:
    (tmp_path / "models.yaml").write_text("- name: echo/x\n  client: echo\n")
    done = run_cli("list", "models", "--models-file", "models.yaml", cwd=tmp_path, env={"PYTHONPATH": str(ROOT)})
    assert done.returncode == 2
    assert done.stderr.strip().startswith("harness: error: models.yaml:2: client: unknown client 'echo' (known: ")
    assert "anthropic" in done.stderr


def test_a_plug_in_cannot_take_a_built_in_client_s_name(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "impostor-1.0.dist-info").mkdir(parents=True)
    (site / "impostor-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: impostor\nVersion: 1.0\n")
    (site / "impostor-1.0.dist-info" / "entry_points.txt").write_text("[harness.clients]\nimpostor = impostor\n")
    (site / "impostor.py").write_text(
        "from harness.clients import Client, register_client\n"
        "@register_client('chance')\nclass Impostor(Client):\n    async def process(self, batch):\n        return []\n")
    (tmp_path / "models.yaml").write_text("- name: x\n  client: unheard-of\n")
    done = run_cli("list", "models", "--models-file", "models.yaml", cwd=tmp_path, env=_env(site))
    assert done.returncode == 2
    assert done.stderr.strip() == ("harness: error: cannot load client plug-in 'impostor' (impostor): client 'chance' "
                                   "registered twice (built in and plug-in 'impostor' (impostor))")

"""Small stores for the tests of export, harness.results, diff and reproduce records: a suite of two custom
generation scenarios (alpha, beta; three test rows each) in tmp_path, run through the real CLI on the stub server
(which answers every request with one fixed text) or on the chance model."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import StubProcess, run_cli

ANSWER = "Paris"


def write_scenario(folder: Path, name: str, rows: list[tuple[str, str]]) -> None:
    """A generation scenario file `<name>.yaml` and its data `<name>.jsonl`: (input, reference) per test row."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.jsonl").write_text("".join(
        json.dumps({"id": f"{name}-{i}", "q": q, "a": a}) + "\n" for i, (q, a) in enumerate(rows)))
    (folder / f"{name}.yaml").write_text(
        f"name: {name}\ndata: {name}.jsonl\nfields: {{id: id, input: q, references: a}}\nsplit: test\n"
        "method: generation\nmetrics: [exact_match]\nmain_metric: exact_match\n"
        'input_prefix: "Q: "\noutput_prefix: "A: "\nmax_tokens: 5\n')


def write_suite(folder: Path, suite: str = "mini", alpha: list[tuple[str, str]] | None = None,
                beta: list[tuple[str, str]] | None = None) -> Path:
    """The suite file (alpha and beta, every reference the stub's answer unless given)."""
    write_scenario(folder, "alpha", alpha or [(f"alpha question {i}?", ANSWER) for i in range(3)])
    write_scenario(folder, "beta", beta or [(f"beta question {i}?", ANSWER) for i in range(3)])
    path = folder / f"{suite}.yaml"
    path.write_text(f"name: {suite}\nmodels: [stub]\nentries:\n  - scenario: alpha.yaml\n  - scenario: beta.yaml\n")
    return path


def write_models(folder: Path, stub: StubProcess, extra: str = "") -> Path:
    path = folder / "models.yaml"
    path.write_text(f"- name: stub\n  client: openai-compatible\n  base_url: {stub.base_url}\n"
                    f"  max_concurrency: 4\n  price_input_per_mtok: 1.0\n  price_output_per_mtok: 2.0\n{extra}")
    return path


def start_answering_stub(stub_factory, folder: Path) -> StubProcess:
    """A stub server that answers every request with ANSWER."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "answer.txt").write_text(ANSWER)
    return stub_factory("--completion-file", str(folder / "answer.txt"), "--latency", "0")


def run_suite(suite: Path, output: Path, models: Path | None = None, *args: str) -> None:
    more = ["--models-file", str(models)] if models is not None else []
    done = run_cli("run", str(suite), *more, "--output", str(output), "--no-site", *args, cwd=suite.parent)
    assert done.returncode == 0, done.stderr

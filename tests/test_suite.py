"""Suite files and CLI input errors: one line naming file and line, exit code 2, nothing sent or stored."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.clients.request import Result
from harness.errors import HarnessError
from harness.run_spec import load_suite

ROOT = Path(__file__).resolve().parents[1]

GOOD = """\
name: mini
models: [chance]
defaults:
  max_instances: 5
entries:
  - scenario: mmlu
    args: {subject: anatomy}
    method: multiple_choice_joint
    shots: 2
  - scenario: gsm8k
    metrics: [final_number_exact_match, exact_match]
    max_tokens: 32
    stop: ["\\n\\n"]
"""


def write(tmp_path: Path, text: str, name: str = "suite.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_good_suite(tmp_path: Path) -> None:
    suite = load_suite(write(tmp_path, GOOD))
    assert suite.name == "mini" and suite.models == ("chance",)
    mmlu, gsm = suite.run_specs
    assert mmlu.adapter_spec.max_train_instances == 2 and mmlu.max_instances == 5 and mmlu.main_metric == "exact_match"
    assert gsm.metrics == ("answer_number_match", "final_number_exact_match", "exact_match") and gsm.adapter_spec.stop_sequences == ("\n\n",)
    assert mmlu.run_id("chance") != mmlu.run_id("other") and "/" not in mmlu.run_id("a/b")


@pytest.mark.parametrize("text,line,needle", [
    ("entries:\n  - scenario: mmlu\n    shots: [1\n", 4, "YAML syntax error"),
    ("entries:\n  - scenario: nosuch\n", 2, "unknown scenario 'nosuch'"),
    ("entries:\n  - scenario: mmlu\n    metrics: [exact_match, bleu_99]\n", 3, "unknown metric 'bleu_99'"),
    ("entries:\n  - scenario: mmlu\n    shotz: 3\n", 3, "shotz: unknown key"),
    ("entries:\n  - scenario: mmlu\n    method: telepathy\n", 3, "unknown method"),
    ("entries:\n  - scenario: mmlu\n    args: {subject: astrology}\n", 3, "astrology"),
    ("entries:\n  - scenario: mmlu\n    shots: three\n", 3, "expected int"),
    ("models: [chance]\n", 1, "entries: missing required key"),
])
def test_suite_errors_name_file_and_line(tmp_path: Path, text: str, line: int, needle: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(HarnessError) as info:
        load_suite(path)
    message = info.value.one_line()
    assert message.startswith(f"{path}:{line}: "), message
    assert needle in message and "\n" not in message


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("suite_text,extra,needle", [
    ("entries:\n  - scenario: mmlu\n    shots: [1\n", [], "suite.yaml:4: YAML syntax error"),
    ("entries:\n  - scenario: nosuch\n", [], "suite.yaml:2: scenario: unknown scenario"),
    ("entries:\n  - scenario: mmlu\n    metrics: [nope]\n", [], "suite.yaml:3: metrics: unknown metric"),
    ("models: [nobody/none]\nentries:\n  - scenario: mmlu\n", [], "unknown model 'nobody/none'"),
    (GOOD, ["--models-file", "missing.yaml"], "missing.yaml: no such file"),
    (GOOD, ["--db", "nosuchdialect://x"], "bad database URL"),
])
def test_cli_input_errors_exit_2_with_one_line(tmp_path: Path, suite_text: str, extra: list[str], needle: str) -> None:
    write(tmp_path, suite_text)
    proc = cli("run", "suite.yaml", "--output", "out", *extra, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr
    assert not (tmp_path / "out" / "harness.db").exists() or "--db" in extra


def test_missing_suite_file(tmp_path: Path) -> None:
    proc = cli("run", "nope.yaml", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.strip() == "harness: error: nope.yaml: no such file"


def test_models_file_errors(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    write(tmp_path, "- name: x\n  client: openai-compatible\n  max_concurrency: lots\n", "models.yaml")
    proc = cli("run", "suite.yaml", "--models-file", "models.yaml", cwd=tmp_path)
    assert proc.returncode == 2 and "models.yaml:3: max_concurrency: expected int" in proc.stderr
    write(tmp_path, "- name: x\n  client: telnet\n", "models.yaml")
    proc = cli("run", "suite.yaml", "--models-file", "models.yaml", cwd=tmp_path)
    assert proc.returncode == 2 and "models.yaml:2: client: unknown client 'telnet'" in proc.stderr


def test_help_is_fast_and_imports_no_torch() -> None:
    code = "import sys; from harness.cli import _parser; _parser().format_help(); assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    proc = subprocess.run([sys.executable, "-m", "harness", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0 and "run" in proc.stdout


def test_api_only_run_never_imports_torch(tmp_path: Path) -> None:
    write(tmp_path, "entries:\n  - scenario: boolq\n    max_instances: 3\n")
    code = ("import sys; from harness.cli import main; rc = main(['run', 'suite.yaml', '--models', 'chance', '--output', 'out']);"
            "assert rc == 0; assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'torch imported'")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("server", ["refused", "silent"])
def test_unreachable_postgresql_is_one_line_before_any_request(tmp_path: Path, stub_factory, server: str) -> None:
    """Nothing listening: refused at once. A port that accepts but never answers (a firewall, a hung server):
    the connect timeout (5 s) ends it, instead of a hang for the OS's TCP timeout."""
    stub = stub_factory()
    write(tmp_path, GOOD)
    write(tmp_path, f"- name: local/stub\n  client: openai-compatible\n  base_url: {stub.base_url}\n  model: m\n", "models.yaml")
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # the kernel completes the TCP handshake; nobody ever reads or writes
        port = 1 if server == "refused" else silent.getsockname()[1]
        start = time.monotonic()
        proc = cli("run", "suite.yaml", "--models", "local/stub", "--models-file", "models.yaml", "--output", "out",
                   "--db", f"postgresql+psycopg://x@127.0.0.1:{port}/db", cwd=tmp_path)
        elapsed = time.monotonic() - start
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot open database" in lines[0] and f"127.0.0.1:{port}" in lines[0], proc.stderr
    assert ("timeout" in lines[0] and 4 < elapsed < 30) if server == "silent" else "refused" in lines[0]
    assert stub.stats()["total_requests"] == 0


def test_instances_scored_as_answers_arrive_equal_those_scored_after(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """With quick metrics only, the runner scores each instance when its last request is answered (on the event loop,
    while others are in flight); what it stores must be exactly what scoring after the last answer stores. A
    multiple_choice_separate entry has several requests an instance."""
    import harness.runner as runner
    from harness.cli import main
    from harness.store.store import open_store, sqlite_url

    (tmp_path / "suite.yaml").write_text(
        "name: inline\nmodels: [chance]\nentries:\n"
        "  - {scenario: boolq, max_instances: 30}\n"
        "  - {scenario: arc_challenge, method: multiple_choice_separate, max_instances: 20}\n")
    calls: list[int] = []

    class Counting(runner._InlineScorer):
        def __call__(self, key: str, result: Result) -> None:
            calls.append(1)
            super().__call__(key, result)

    def outcome(output: str) -> tuple[list, list]:
        store = open_store(sqlite_url(tmp_path / output))
        try:
            runs = sorted(r["run_id"] for r in store.runs())
            instances = [{k: v for k, v in row.items()} for rid in runs for row in store.iter_instances(rid)]
            stats = sorted((s["run_id"], s["metric"], s["mean"], s["ci_low"], s["ci_high"]) for rid in runs
                           for s in store.run_stats(rid))
        finally:
            store.close()
        return instances, stats

    monkeypatch.setattr(runner, "_InlineScorer", Counting)
    assert main(["run", str(tmp_path / "suite.yaml"), "--output", str(tmp_path / "inline"), "--no-site"]) == 0
    assert len(calls) == 30 + 20 * 4  # every answer went through the scorer (ARC: 4 choices, one request each)
    monkeypatch.setattr(runner, "_InlineScorer", lambda *args: None)  # the executor's on_answer=None: score after
    assert main(["run", str(tmp_path / "suite.yaml"), "--output", str(tmp_path / "after"), "--no-site"]) == 0
    inline, after = outcome("inline"), outcome("after")
    assert inline[0] and inline == after


def test_inline_scorer_scores_each_instance_once_its_answers_are_all_in() -> None:
    """Instances added as they are adapted; answers scored a moment after they arrive, in batches; a key shared by
    two instances, or answered before its second instance was added, still completes both; close() scores what is
    left and raises what scoring raised."""
    import asyncio

    import harness.runner as runner

    scored: list[int] = []

    def score(position: int, answers: dict[str, Result]) -> None:
        if position == 3:
            raise ValueError("metric failed")
        scored.append(position)

    async def main() -> runner._InlineScorer:
        inline = runner._InlineScorer(score)
        inline.add(["a", "b"])
        inline.add(["b"])
        inline("a", Result(ok=True))
        inline("b", Result(ok=True))
        assert scored == []  # not while the answers arrive
        await asyncio.sleep(0.01)
        assert sorted(scored) == [0, 1]
        inline.add(["b", "b"])  # answered before it was added: scored now
        assert sorted(scored) == [0, 1, 2]
        inline.add(["c"])
        inline("c", Result(ok=True))
        return inline

    inline = asyncio.run(main())
    with pytest.raises(ValueError, match="metric failed"):
        inline.close()


def test_executor_sends_the_first_requests_before_the_last_chunk_is_built(tmp_path: Path) -> None:
    """The runner hands the executor its requests a chunk at a time: the first requests must go out before the
    rest are built, a key repeated in a later chunk is sent once, and what the store already answered is not sent."""
    import asyncio

    from harness.clients.deployment import ModelDeployment
    from harness.clients.request import Request
    from harness.executor import execute
    from harness.store.store import open_store, sqlite_url

    events: list[str] = []

    class Client:
        deployment = ModelDeployment("fake", "chance")
        concurrency, batch_size = 2, 1

        async def process(self, batch: list[Request]) -> list[Result]:
            events.append("send " + batch[0].prompt)
            await asyncio.sleep(0.002)
            return [Result(ok=True, texts=[" A"])]

    store = open_store(sqlite_url(tmp_path))
    stored = Request(kind="generate", prompt="p-stored")
    store.save_results([(stored.key("fake", ""), "fake", "", stored.to_json(), Result(ok=True, texts=[" B"]))])

    async def feed():  # type: ignore[no-untyped-def]
        for chunk in (["p0", "p1"], ["p2", "p0", "p-stored"], ["p3"]):
            events.append("chunk " + ",".join(chunk))
            yield {Request(kind="generate", prompt=p).key("fake", ""): Request(kind="generate", prompt=p) for p in chunk}
            await asyncio.sleep(0.01)  # the caller builds the next chunk

    results, stats = asyncio.run(execute(Client(), store, feed()))  # type: ignore[arg-type]
    store.close()
    assert events.index("send p0") < events.index("chunk p3")
    assert sorted(e for e in events if e.startswith("send")) == ["send p0", "send p1", "send p2", "send p3"]
    assert (stats.requested, stats.cached, stats.sent) == (5, 1, 4) and len(results) == 5
    assert results[stored.key("fake", "")].texts == [" B"]


def test_a_run_freezes_what_it_builds_for_the_gc_and_gives_it_back(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner freezes its long-lived objects chunk by chunk (the cyclic GC stops scanning them) and unfreezes them
    when the run's requests are done, also when the run fails: nothing stays out of the GC's reach after a run."""
    import gc

    import harness.runner as runner
    from harness.cli import main

    (tmp_path / "suite.yaml").write_text("name: gc\nmodels: [chance]\nentries:\n  - {scenario: boolq, max_instances: 300}\n")
    freezes: list[int] = []
    real_freeze = gc.freeze
    monkeypatch.setattr(gc, "freeze", lambda: freezes.append(1) or real_freeze())
    assert gc.get_freeze_count() == 0
    assert main(["run", str(tmp_path / "suite.yaml"), "--output", str(tmp_path / "ok"), "--no-site"]) == 0
    assert len(freezes) >= 2 and gc.get_freeze_count() == 0  # one per chunk: 300 instances come in several

    real_execute = runner.execute

    async def failing(client, store, feed, **kwargs):  # type: ignore[no-untyped-def]
        await anext(feed)  # a chunk built (and frozen), then the run fails
        raise RuntimeError("the run failed")

    monkeypatch.setattr(runner, "execute", failing)
    with pytest.raises(RuntimeError, match="the run failed"):
        main(["run", str(tmp_path / "suite.yaml"), "--output", str(tmp_path / "failed"), "--no-site"])
    assert gc.get_freeze_count() == 0

    monkeypatch.setattr(runner, "execute", real_execute)  # and a process that froze objects of its own: they stay
    real_freeze()  # frozen, all of them
    try:
        frozen = gc.get_freeze_count()
        freezes.clear()
        assert main(["run", str(tmp_path / "suite.yaml"), "--output", str(tmp_path / "theirs"), "--no-site"]) == 0
        assert not freezes and gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()

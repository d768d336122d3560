"""vLLM for real, through the real CLI: the same suite on the embedded Gemma 3 270M, a vLLM server
(`client: vllm-server`) and vLLM's offline engine (`client: vllm`), which must send identical prompts and agree.

Needs the vLLM environment (`scripts/vllm_env.sh` builds .venv-vllm, ~4 minutes, once); without it these tests skip,
except under CI, where they fail. One vLLM server (fp32, like the embedded backend) serves the module; it starts
(~2 minutes on two cores) while the embedded run goes on. The whole module takes about 5-6 minutes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import ROOT, _missing

from harness.clients.request import Request
from harness.store.store import open_store

VLLM_VENV = ROOT / ".venv-vllm"
VLLM_PY = VLLM_VENV / "bin" / "python"
SERVED_NAME = "gemma-3-270m"
DTYPE = "float32"  # the embedded backend's dtype: the three backends then agree to rounding (~1e-3 in log-prob)
# 50 items of MMLU's `miscellaneous` (general knowledge, short items): a prompt log-probability costs vLLM a
# 262k-entry vocabulary projection per prompt token, so these cost about what 20 items drawn from all subjects do.
# At 50 items one flipped pick moves accuracy by 2 points.
MMLU_ITEMS, GSM8K_ITEMS = 50, 5
STARTUP_TIMEOUT_S = 300

SUITE = f"""\
name: vllm-e2e
entries:
  - scenario: mmlu
    args: {{subject: miscellaneous}}
    method: multiple_choice_separate
    shots: 0
    max_instances: {MMLU_ITEMS}
  - scenario: gsm8k
    method: generation
    shots: 2
    max_tokens: 64
    stop: ["\\n\\n", "Question:"]
    max_instances: {GSM8K_ITEMS}
"""

EMBEDDED, SERVER, OFFLINE = "google/gemma-3-270m", "vllm-server/gemma-3-270m", "vllm/gemma-3-270m"


def models_yaml(port: int) -> str:
    base_url = f"http://127.0.0.1:{port}/v1"
    return f"""\
- name: {SERVER}
  client: vllm-server
  base_url: {base_url}
  model: {SERVED_NAME}
  max_concurrency: 8
  context_length: 2048
- name: {OFFLINE}
  client: vllm
  model: gemma-3-270m
  batch_size: 64
  context_length: 2048
- name: vllm-server/wrong-name
  client: vllm-server
  base_url: {base_url}
  model: gemma-3-270m-it
  context_length: 2048
- name: vllm-server/chat
  client: vllm-server
  base_url: {base_url}
  model: {SERVED_NAME}
  api: chat
  context_length: 2048
"""


VLLM_ENV = {"VLLM_CPU_OMP_THREADS_BIND": "0-1" if (os.cpu_count() or 1) >= 2 else "0", "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
            "VLLM_CPU_KVCACHE_SPACE": "2", "HF_HUB_OFFLINE": "1"}


@dataclass
class VllmServer:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait(self, timeout_s: float = STARTUP_TIMEOUT_S) -> float:
        """Seconds until GET /v1/models answered; fails with the log's tail if the server died or never did."""
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            if self.process.poll() is not None:
                pytest.fail(f"the vLLM server exited with {self.process.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(self.url + "/v1/models", timeout=5) as response:
                    if response.status == 200:
                        return time.monotonic() - started
            except OSError:
                pass
            time.sleep(1)
        pytest.fail(f"the vLLM server did not answer within {timeout_s} s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # the API server and its engine process
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def gemma_folder() -> Path:
    if not (VLLM_VENV / ".installed").is_file():
        _missing(f"the vLLM environment is not built ({VLLM_VENV}/.installed missing): run scripts/vllm_env.sh")
    pytest.importorskip("torch", reason="the embedded extra is not installed (pip install -e '.[embedded]')")
    from harness.clients.gemma_files import ensure_model_folder

    return ensure_model_folder()  # vLLM reads the converted folder, never the GGUF


@pytest.fixture(scope="module")
def vllm_server(gemma_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VllmServer]:
    """A vLLM OpenAI-compatible server on 127.0.0.1 for the module, started at once; `wait()` before relying on
    it. Stopped by its process group (it runs its engine in a child process)."""
    port = _free_port()
    log = tmp_path_factory.mktemp("vllm-server") / "server.log"
    command = [str(VLLM_PY), "-m", "vllm.entrypoints.openai.api_server", "--model", str(gemma_folder),
               "--served-model-name", SERVED_NAME, "--host", "127.0.0.1", "--port", str(port), "--enforce-eager",
               "--dtype", DTYPE, "--max-model-len", "2048"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                   env={**os.environ, **VLLM_ENV}, cwd=log.parent)
    server = VllmServer(port, process, log)
    try:
        yield server
    finally:
        server.stop()


def harness_cli(python: Path | str, *args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(python), "-m", "harness", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "HF_HUB_OFFLINE": "1"})


@dataclass
class Runs:
    db: Path
    seconds: dict[str, float]


@pytest.fixture(scope="module")
def runs(vllm_server: VllmServer, tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """The suite on the three backends, into one store: embedded first (while the server starts), then the server,
    then the offline engine (each has both cores to itself)."""
    work = tmp_path_factory.mktemp("vllm-e2e")
    (work / "suite.yaml").write_text(SUITE)
    (work / "models.yaml").write_text(models_yaml(vllm_server.port))
    seconds: dict[str, float] = {}
    for model, python in ((EMBEDDED, sys.executable), (SERVER, sys.executable), (OFFLINE, VLLM_PY)):
        if model == SERVER:
            seconds["server start (after the embedded run)"] = vllm_server.wait()
        started = time.monotonic()
        proc = harness_cli(python, "run", "suite.yaml", "--models-file", "models.yaml", "--models", model,
                           "--output", "out", "--no-site", cwd=work)
        seconds[model] = time.monotonic() - started
        assert proc.returncode == 0, f"{model}:\n{proc.stderr[-3000:]}"
        assert " 0 failed" in proc.stdout, f"{model}:\n{proc.stdout}\n{proc.stderr[-3000:]}"
    print(f"\nvLLM e2e timings (s): {json.dumps({k: round(v, 1) for k, v in seconds.items()})}")
    return Runs(work / "out" / "harness.db", seconds)


def _instances(db: Path) -> dict[tuple[str, str], dict[str, dict[str, tuple[str, str | None, dict]]]]:
    """(scenario, method) -> model -> instance id -> (prompt hash, prediction, stats)."""
    table: dict = {}
    with sqlite3.connect(db) as conn:
        for model, scenario, method, instance, prompt_hash, prediction, stats in conn.execute(
                "SELECT r.model, r.scenario, r.method, i.instance_id, i.prompt_hash, i.prediction, i.stats "
                "FROM instances i JOIN runs r USING (run_id)"):
            table.setdefault((scenario, method), {}).setdefault(model, {})[instance] = (
                prompt_hash, prediction, json.loads(stats))
    return table


def _requests(db: Path) -> dict[str, dict[tuple[str, str, str], dict]]:
    """deployment -> (prompt hash, kind, continuation) -> result."""
    table: dict = {}
    store = open_store(f"sqlite:///{db}")
    try:  # the store makes rows whole: fields left out as empty, and the result's fields kept in columns
        rows = store.request_rows()
    finally:
        store.close()
    for row in rows.values():
        request = Request.from_json(row["request"])
        table.setdefault(row["deployment"], {})[(row["prompt_hash"], request.kind, request.continuation)] = row["result"]
    return table


@pytest.mark.slow
def test_same_prompts_and_agreement(runs: Runs) -> None:
    table = _instances(runs.db)
    mc = table[next(k for k in table if k[1] == "multiple_choice_separate")]
    gen = table[next(k for k in table if k[1] == "generation")]
    assert set(mc) == set(gen) == {EMBEDDED, SERVER, OFFLINE}
    assert all(len(mc[m]) == MMLU_ITEMS and len(gen[m]) == GSM8K_ITEMS for m in mc)
    for runs_by_model in (mc, gen):  # identical prompts: the same instances, each with the same prompt hash
        prompts = {m: {i: row[0] for i, row in items.items()} for m, items in runs_by_model.items()}
        assert prompts[SERVER] == prompts[EMBEDDED] == prompts[OFFLINE]
    accuracy = {m: sum(row[2]["exact_match"] for row in items.values()) / len(items) for m, items in mc.items()}
    for other in (SERVER, OFFLINE):
        same = sum(mc[EMBEDDED][i][1] == mc[other][i][1] for i in mc[EMBEDDED]) / MMLU_ITEMS
        assert same >= 0.9, f"{other} picks the embedded choice on {same:.0%} of {MMLU_ITEMS} items"
        assert abs(accuracy[other] - accuracy[EMBEDDED]) <= 0.02 + 1e-9, accuracy
    print(f"\nMMLU accuracy on {MMLU_ITEMS} items: {accuracy}")


@pytest.mark.slow
def test_same_tokens_and_log_probabilities(runs: Runs) -> None:
    """Each request is answered on the same tokens: the continuation's tokens are those the embedded client scores
    (this catches vLLM's echoed text_offset counting <bos>), its log-probability is the same to fp32 rounding,
    and greedy generations are the same text."""
    results = _requests(runs.db)
    embedded = results[EMBEDDED]
    for other in (SERVER, OFFLINE):
        assert set(results[other]) == set(embedded)
        for key, mine in results[other].items():
            theirs = embedded[key]
            assert mine["ok"] and theirs["ok"], (other, mine, theirs)
            assert mine["prompt_tokens"] == theirs["prompt_tokens"], (other, key)
            if key[1] == "logprob":
                assert mine["continuation_tokens"] == theirs["continuation_tokens"], (other, key)
                assert abs(mine["logprob"] - theirs["logprob"]) < 0.02, (other, key, mine["logprob"], theirs["logprob"])
            else:
                assert mine["completion_tokens"] > 0
    gen = [key for key in embedded if key[1] == "generate"]
    same_text = {other: sum(results[other][k]["texts"] == embedded[k]["texts"] for k in gen) for other in (SERVER, OFFLINE)}
    assert all(count >= len(gen) - 1 for count in same_text.values()), same_text  # greedy; one may differ by rounding


@pytest.mark.slow
def test_server_misconfigurations_fail_before_any_request(runs: Runs, vllm_server: VllmServer,
                                                           tmp_path: Path) -> None:
    (tmp_path / "models.yaml").write_text(models_yaml(vllm_server.port))
    # The chat case gets generation only: multiple_choice_separate on a chat API is refused earlier, by the suite check.
    generation_only = "name: vllm-e2e\nentries:\n" + SUITE[SUITE.index("  - scenario: gsm8k"):]
    for model, expected, suite in (("vllm-server/wrong-name", f"serves '{SERVED_NAME}', not 'gemma-3-270m-it'", SUITE),
                                   ("vllm-server/chat", "has no chat template", generation_only)):
        (tmp_path / "suite.yaml").write_text(suite)
        proc = harness_cli(sys.executable, "run", "suite.yaml", "--models-file", "models.yaml", "--models", model,
                           "--output", "out", "--no-site", cwd=tmp_path, timeout=120)
        assert proc.returncode == 2, proc.stderr
        errors = [line for line in proc.stderr.splitlines() if line.startswith("harness: error:")]
        assert len(errors) == 1 and expected in errors[0], proc.stderr
        assert model in errors[0]
        with sqlite3.connect(tmp_path / "out" / "harness.db") as conn:
            assert conn.execute("SELECT count(*) FROM requests").fetchone()[0] == 0  # nothing sent, nothing stored


# --- without vLLM: the vllm-server client's start-up checks against the loopback stub server ---------------------

def _stub_models(tmp_path: Path, base_url: str, model: str) -> None:
    (tmp_path / "suite.yaml").write_text(SUITE)
    (tmp_path / "models.yaml").write_text(f"- name: local/vllm\n  client: vllm-server\n  base_url: {base_url}\n"
                                          f"  model: {model}\n  max_concurrency: 8\n")


def test_server_client_runs_on_an_openai_compatible_server(tmp_path: Path, stub_factory) -> None:
    stub = stub_factory("--latency", "0")
    _stub_models(tmp_path, stub.base_url, "stub-model")
    proc = harness_cli(sys.executable, "run", "suite.yaml", "--models-file", "models.yaml", "--models", "local/vllm",
                       "--output", "out", "--no-site", cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    expected = MMLU_ITEMS * 4 + GSM8K_ITEMS
    assert f"{expected} requests: {expected} sent, 0 from the store, 0 failed" in proc.stdout
    assert "waiting for the vLLM server" not in proc.stderr  # it was up: nothing to say


def test_server_client_wrong_model_fails_before_any_request(tmp_path: Path, stub_factory) -> None:
    stub = stub_factory("--latency", "0")
    _stub_models(tmp_path, stub.base_url, "another-model")
    proc = harness_cli(sys.executable, "run", "suite.yaml", "--models-file", "models.yaml", "--models", "local/vllm",
                       "--output", "out", "--no-site", cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"harness: error: local/vllm: model: the vLLM server at {stub.base_url} serves "
                                   f"'stub-model', not 'another-model'; set the deployment's model to the served name "
                                   f"(vLLM's --served-model-name)")
    stats = stub.stats()
    assert stats["completions"] == stats["chat_completions"] == 0 and stats["total_requests"] == 1  # GET /v1/models


def test_server_client_waits_for_the_server_then_gives_up(capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    from harness.clients.deployment import ModelDeployment
    from harness.clients.vllm_server import VllmServerClient
    from harness.errors import HarnessError

    url = f"http://127.0.0.1:{_free_port()}/v1"  # nothing listens there
    client = VllmServerClient(ModelDeployment(name="local/vllm", client="vllm-server", base_url=url, model="m"))
    client.startup_timeout_s = 1.5  # a deployment's startup_timeout_s (default 300 s)
    started = time.monotonic()
    with pytest.raises(HarnessError, match=r"no vLLM server answered at .* within startup_timeout_s=1.5 s"):
        asyncio.run(client.start())
    assert 1.4 < time.monotonic() - started < 10
    assert capsys.readouterr().err == f"harness: waiting for the vLLM server at {url} (up to 1.5 s)\n"


def test_echo_offsets_that_count_bos_are_fixed() -> None:
    """vLLM's echo counts "<bos>" in text_offset but not in text: without the fix the continuation " Paris" would
    be scored as " is" (the token before it)."""
    from harness.clients.openai_compatible import _continuation_logprob
    from harness.clients.openai_compatible import fix_echo_offsets

    choice = {"text": "The capital is Paris.", "logprobs": {
        "tokens": ["<bos>", "The", " capital", " is", " Paris", "."], "text_offset": [0, 5, 8, 16, 19, 25],
        "token_logprobs": [None, -1.0, -2.0, -3.0, -4.0, -5.0]}}
    fix_echo_offsets(choice)
    assert choice["logprobs"]["text_offset"] == [-1, 0, 3, 11, 14, 20]
    prompt = "The capital is"
    assert _continuation_logprob(choice, len(prompt), len(prompt + " Paris")) == (-4.0, 1)
    plain = {"text": "The capital", "logprobs": {"tokens": ["The", " capital"], "text_offset": [0, 3],
                                                 "token_logprobs": [None, -1.0]}}
    fix_echo_offsets(plain)  # offsets that already index the text stay
    assert plain["logprobs"]["text_offset"] == [0, 3]

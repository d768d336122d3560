"""The same MMLU `multiple_choice_separate` items on the embedded backend, a vLLM server and vLLM's offline engine:
wall time and items/s of each, and how far they agree (pairwise share of identical picks, accuracy of each, the
log-probabilities themselves).

    python benchmarks/vllm_throughput.py [--items 100] [--shots 0] [--subject all] [--dtype float32] [--concurrency 16]
                                         [--with-openai-compatible] [--keep DIR]

Runs `harness run` as a user would, one backend at a time so each has the machine's cores to itself: the embedded
Gemma 3 270M (dev venv), then a vLLM server started here (`python -m vllm.entrypoints.openai.api_server` from
.venv-vllm; its start-up is timed on its own) through `client: vllm-server`, then `client: vllm` in .venv-vllm's
harness. Needs .venv-vllm (scripts/vllm_env.sh) and the converted Gemma folder (made on first embedded use).
`--with-openai-compatible` adds the plain OpenAI-compatible client on the same server, which sums the log-probs of
the tokens vLLM's echoed text_offset points at (shifted by "<bos>"; see harness/clients/vllm_server.py).

Measured on the 2-core AVX2 CPU machine (100 items drawn from all subjects, 0-shot, 400 log-prob requests, fp32):
embedded 82 s (1.21 items/s; ~12 s of it loading the model), vllm-server 305 s (0.33 items/s; the server's own
start, 99 s, not included), vllm offline 306 s (0.33 items/s; 39 s of it starting the engine). vLLM is slower here
because a prompt log-probability makes it project every prompt token onto the 262k-entry vocabulary (48 s for 80
such requests against 9-11 s for the same prompts without prompt_logprobs), where the embedded client
projects only the continuation's positions. All three pick the same choice on 100/100 items (accuracy 0.26 each);
log-probabilities differ by 3e-4 on average (max 1.5e-3) from the embedded ones, 1e-6 between the two vLLM paths.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import fields
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VLLM_PY = ROOT / ".venv-vllm" / "bin" / "python"
sys.path.insert(0, str(ROOT))
from harness.store.store import open_store  # noqa: E402  (after the path: runs from a checkout)

EMBEDDED, SERVER, OFFLINE, PLAIN = ("google/gemma-3-270m", "vllm-server/gemma-3-270m", "vllm/gemma-3-270m",
                                    "openai-compatible/vllm-gemma-3-270m")
SERVED_NAME = "gemma-3-270m"
VLLM_ENV = {"VLLM_CPU_OMP_THREADS_BIND": "0-1" if (os.cpu_count() or 1) >= 2 else "0", "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
            "VLLM_CPU_KVCACHE_SPACE": "2", "HF_HUB_OFFLINE": "1"}

SUITE = """\
name: vllm-bench
entries:
  - scenario: mmlu
    args: {{subject: {subject}}}
    method: multiple_choice_separate
    shots: {shots}
    max_instances: {items}
"""


def models_yaml(port: int, dtype: str, concurrency: int) -> str:
    from harness.clients.deployment import ModelDeployment

    dtype_line = f"  dtype: {dtype}\n" if "dtype" in {f.name for f in fields(ModelDeployment)} else ""
    server = f"  base_url: http://127.0.0.1:{port}/v1\n  model: {SERVED_NAME}\n  max_concurrency: {concurrency}\n  context_length: 2048\n"
    return (f"- name: {SERVER}\n  client: vllm-server\n{server}"
            f"- name: {PLAIN}\n  client: openai-compatible\n{server}"
            f"- name: {OFFLINE}\n  client: vllm\n  model: gemma-3-270m\n  batch_size: 64\n  context_length: 2048\n{dtype_line}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def harness_run(python: Path | str, model: str, work: Path) -> tuple[float, str, str]:
    started = time.perf_counter()
    proc = subprocess.run([str(python), "-m", "harness", "run", "suite.yaml", "--models-file", "models.yaml",
                           "--models", model, "--output", "out", "--no-site"], cwd=work, capture_output=True,
                          text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    wall = time.perf_counter() - started
    if proc.returncode != 0 or " 0 failed" not in proc.stdout:
        raise SystemExit(f"{model} failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr[-3000:]}")
    return wall, proc.stdout, proc.stderr


def embedded_load_seconds() -> float:
    """How long the embedded client takes to load the model (part of its `harness run` wall time)."""
    from harness.clients.registry import make_client
    from harness.clients.deployment import load_deployments

    client = make_client(load_deployments()[EMBEDDED])
    started = time.perf_counter()
    asyncio.run(client.start())
    seconds = time.perf_counter() - started
    asyncio.run(client.close())
    return seconds


class VllmServer:
    def __init__(self, folder: Path, port: int, dtype: str, log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        command = [str(VLLM_PY), "-m", "vllm.entrypoints.openai.api_server", "--model", str(folder),
                   "--served-model-name", SERVED_NAME, "--host", "127.0.0.1", "--port", str(port), "--enforce-eager",
                   "--dtype", dtype, "--max-model-len", "2048"]
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                            env={**os.environ, **VLLM_ENV}, cwd=log.parent)

    def wait(self, timeout_s: float = 300) -> float:
        started = time.perf_counter()
        while time.perf_counter() - started < timeout_s:
            if self.process.poll() is not None:
                raise SystemExit(f"the vLLM server exited ({self.process.returncode}); see {self.log}")
            try:
                with urllib.request.urlopen(self.url + "/v1/models", timeout=5) as response:
                    if response.status == 200:
                        return time.perf_counter() - started
            except OSError:
                time.sleep(1)
        raise SystemExit(f"the vLLM server did not answer within {timeout_s} s; see {self.log}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def agreement(db: Path, models: list[str]) -> None:
    with sqlite3.connect(db) as conn:
        picks: dict[str, dict[str, str | None]] = {}
        correct: dict[str, list[float]] = {}
        for model, instance, prediction, stats in conn.execute(
                "SELECT r.model, i.instance_id, i.prediction, i.stats FROM instances i JOIN runs r USING (run_id)"):
            picks.setdefault(model, {})[instance] = prediction
            correct.setdefault(model, []).append(json.loads(stats).get("exact_match", 0.0))
        prompts = {m: dict(conn.execute("SELECT i.instance_id, i.prompt_hash FROM instances i JOIN runs r USING (run_id) "
                                        "WHERE r.model = ?", (m,)).fetchall()) for m in models}
    store = open_store(f"sqlite:///{db}")
    try:  # the store makes rows whole: fields left out as empty, and the result's fields kept in columns
        rows = store.request_rows()
    finally:
        store.close()
    scores: dict[str, dict[tuple[str, str], dict]] = {}
    for row in rows.values():
        scores.setdefault(row["deployment"], {})[(row["prompt_hash"], row["request"]["continuation"])] = row["result"]
    print("\naccuracy (exact_match) on the same items:")
    for m in models:
        print(f"  {m:38} {sum(correct[m]) / len(correct[m]):.3f}  ({len(correct[m])} items)")
    print("\npairwise agreement:")
    print(f"  {'pair':78} {'same pick':>10} {'same prompts':>13} {'mean |dlogp|':>13} {'max |dlogp|':>12} {'token-count diffs':>18}")
    for a, b in itertools.combinations(models, 2):
        items = sorted(set(picks[a]) & set(picks[b]))
        same = sum(picks[a][i] == picks[b][i] for i in items)
        same_prompt = sum(prompts[a][i] == prompts[b][i] for i in items)
        keys = [k for k in set(scores[a]) & set(scores[b]) if scores[a][k]["ok"] and scores[b][k]["ok"]]
        diffs = [abs(scores[a][k]["logprob"] - scores[b][k]["logprob"]) for k in keys]
        tokens = sum(scores[a][k]["continuation_tokens"] != scores[b][k]["continuation_tokens"] for k in keys)
        print(f"  {a + ' vs ' + b:78} {same / len(items):>9.1%} {same_prompt:>6}/{len(items):<6} "
              f"{sum(diffs) / len(diffs):>13.2e} {max(diffs):>12.2e} {tokens:>11}/{len(keys)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--shots", type=int, default=0)
    parser.add_argument("--subject", default="all", help="an MMLU subject, or all (a seeded sample across subjects)")
    parser.add_argument("--dtype", default="float32", help="the vLLM server's (and, with a dtype field, the engine's)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight to the server")
    parser.add_argument("--with-openai-compatible", action="store_true")
    parser.add_argument("--keep", help="work in this folder and keep it (default: a temporary one)")
    args = parser.parse_args()
    if not (ROOT / ".venv-vllm" / ".installed").is_file():
        raise SystemExit("build the vLLM environment first: scripts/vllm_env.sh")
    from harness.clients.gemma_files import ensure_model_folder

    folder = ensure_model_folder()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="vllm-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    (work / "suite.yaml").write_text(SUITE.format(items=args.items, shots=args.shots, subject=args.subject))
    (work / "models.yaml").write_text(models_yaml(port, args.dtype, args.concurrency))
    print(f"{args.items} MMLU items ({args.subject}), {args.shots}-shot, multiple_choice_separate (4 log-prob requests each); vLLM dtype "
          f"{args.dtype}; work in {work}", flush=True)
    rows: list[tuple[str, float, float, str]] = []  # (backend, wall, start-up inside the wall, note)

    load = embedded_load_seconds()
    wall, _, _ = harness_run(sys.executable, EMBEDDED, work)
    rows.append((EMBEDDED, wall, load, "fp32 torch, batch_size 16"))
    print(f"embedded: {wall:.1f} s (model load ~{load:.1f} s)", flush=True)

    server = VllmServer(folder, port, args.dtype, work / "vllm-server.log")
    try:
        server_start = server.wait()
        print(f"vLLM server ({args.dtype}) answered /v1/models after {server_start:.0f} s", flush=True)
        wall, _, _ = harness_run(sys.executable, SERVER, work)
        rows.append((SERVER, wall, 0.0, f"{args.dtype}, concurrency {args.concurrency}; server start {server_start:.0f} s not included"))
        print(f"vllm-server: {wall:.1f} s", flush=True)
        if args.with_openai_compatible:
            wall, _, _ = harness_run(sys.executable, PLAIN, work)
            rows.append((PLAIN, wall, 0.0, "the same server through the plain OpenAI-compatible client"))
    finally:
        server.stop()

    wall, _, err = harness_run(VLLM_PY, OFFLINE, work)
    ready = re.search(r"vLLM \S+ ready in (\d+) s", err)
    engine_start = float(ready.group(1)) if ready else 0.0
    rows.append((OFFLINE, wall, engine_start, "in-process vllm.LLM, batch_size 64"))
    print(f"vllm offline: {wall:.1f} s (engine start {engine_start:.0f} s)", flush=True)

    print(f"\n{'backend':38} {'wall s':>8} {'items/s':>8} {'start s':>8} {'excl. start: s':>15} {'items/s':>8}  note")
    for name, wall, start, note in rows:
        print(f"{name:38} {wall:>8.1f} {args.items / wall:>8.2f} {start:>8.1f} {wall - start:>15.1f} "
              f"{args.items / (wall - start):>8.2f}  {note}")
    agreement(work / "out" / "harness.db", [r[0] for r in rows])


if __name__ == "__main__":
    main()

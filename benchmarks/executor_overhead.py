"""Harness overhead against a loopback OpenAI-compatible server with a fixed latency.

Runs `harness run` as a user would (a fresh process, the real CLI, summary and site included) and prints each
figure next to its ideal. Usage: python benchmarks/executor_overhead.py [--latency 0.05] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from conftest import start_stub_process  # noqa: E402

SUITE = """\
name: bench
entries:
  - scenario: mmlu
    method: multiple_choice_joint
    shots: 5
    max_instances: {n}
"""


def harness(*args: str, cwd: Path) -> tuple[float, int, str]:
    """Wall seconds, peak RSS of the child in MB, stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"harness failed: {proc.stderr}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # max over children so far, in KB
    return wall, max(peak, before) // 1024, proc.stdout


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def workload(n: int, concurrency: int, latency: float, repeats: int) -> None:
    ideal = n * latency / concurrency
    stub = start_stub_process("--latency", str(latency), "--max-concurrency", "0")
    try:
        walls, cached, rss, written = [], [], 0, 0
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as tmp:
                work = Path(tmp)
                (work / "suite.yaml").write_text(SUITE.format(n=n))
                (work / "models.yaml").write_text(
                    f"- name: bench/stub\n  client: openai-compatible\n  base_url: {stub.base_url}\n"
                    f"  model: stub-model\n  max_concurrency: {concurrency}\n")
                args = ("run", "suite.yaml", "--models", "bench/stub", "--models-file", "models.yaml", "--output", "out")
                wall, peak, out = harness(*args, cwd=work)
                assert " 0 failed" in out and "0 from the store" in out, out  # MMLU has a duplicate item: 999 distinct requests
                walls.append(wall)
                rss = max(rss, peak)
                written = tree_bytes(work / "out")
                wall, _, out = harness(*args, cwd=work)
                assert "0 sent" in out, out
                cached.append(wall)
        print(f"{n} MMLU 5-shot requests @ concurrency {concurrency}, {latency * 1000:.0f} ms server: "
              f"median {statistics.median(walls):.2f} s (runs {', '.join(f'{w:.2f}' for w in walls)}), "
              f"ideal {ideal:.2f} s, ratio {statistics.median(walls) / ideal:.2f}")
        print(f"  fully cached rerun: median {statistics.median(cached):.2f} s; peak RSS {rss} MB; "
              f"bytes written (store + site) {written / 1e6:.2f} MB")
    finally:
        stub.stop()


def help_time(repeats: int) -> None:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "harness", "--help"], capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    print(f"harness --help: median {statistics.median(times):.3f} s")


def prompt_building() -> None:
    from harness.adapters.adapter import Adapter
    from harness.run_spec import AdapterSpec
    from harness.scenarios.base import make_scenario

    start = time.perf_counter()
    scenario = make_scenario("mmlu")
    everything = list(scenario.instances())
    loaded = time.perf_counter()
    spec = AdapterSpec(method="multiple_choice_joint", input_prefix="Question: ", output_prefix="Answer: ", max_train_instances=5, max_tokens=1)
    adapted = Adapter(spec, instructions_for=scenario.instructions_for_instance).adapt(
        [i for i in everything if i.split == "test"], everything)
    done = time.perf_counter()
    print(f"5-shot prompts for all {len(adapted)} MMLU test items: {done - start:.2f} s "
          f"(loading {loaded - start:.2f} s, adapting {done - loaded:.2f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    help_time(args.repeats)
    prompt_building()
    workload(1000, 32, args.latency, args.repeats)
    workload(1000, 4, args.latency, 1)


if __name__ == "__main__":
    main()

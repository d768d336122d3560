"""Every deployment in flight at once (issue 23): a suite of six API deployments against one loopback server, run all
at once by one `harness run`, against each deployment run alone. With every deployment in flight the wall time is
bounded by the slowest one: the target is within 1.3x of the slowest deployment run alone.

    python benchmarks/parallel_deployments.py [--latency 0.05] [--requests 500] [--repeats 3]

The deployments differ only in their concurrency (8 to 64, see CONCURRENCY), so the one at 8 is the slowest.
Medians over --repeats runs; every run is listed. The sum of the single runs is what one deployment at a time took.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from executor_overhead import ROOT, Server, harness  # noqa: E402

CONCURRENCY = [8, 16, 16, 32, 32, 64]
SUITE = """\
name: parallel
entries:
  - scenario: mmlu
    method: multiple_choice_joint
    shots: 0
    max_instances: {n}
"""


def timed(names: list[str], base_url: str, n: int) -> float:
    """Wall seconds of one `harness run` of the suite on `names`, in a fresh directory."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "suite.yaml").write_text(SUITE.format(n=n))
        (work / "models.yaml").write_text("".join(
            f"- name: bench/c{i}\n  client: openai-compatible\n  base_url: {base_url}\n  model: stub-model\n"
            f"  max_concurrency: {c}\n" for i, c in enumerate(CONCURRENCY)))
        wall, _, out = harness("run", "suite.yaml", "--models", ",".join(names), "--models-file", "models.yaml",
                               "--output", "out", "--no-site", cwd=work)
        assert " 0 failed" in out and "0 from the store" in out, out
        return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.05, help="the server's fixed latency (s)")
    parser.add_argument("--requests", type=int, default=500, help="requests per deployment")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "harness")], check=True)
    names = [f"bench/c{i}" for i in range(len(CONCURRENCY))]
    server = Server(args.latency)
    try:
        together, alone = [], {name: [] for name in names}
        for _ in range(args.repeats):
            together.append(timed(names, server.base_url, args.requests))
            for name in names:
                alone[name].append(timed([name], server.base_url, args.requests))
    finally:
        server.stop()
    for name, c in zip(names, CONCURRENCY):
        ideal = args.requests * args.latency / c
        print(f"{name} alone ({args.requests:,} requests @ concurrency {c}): {statistics.median(alone[name]):6.2f} s "
              f"(ideal {ideal:.2f}; runs: {', '.join(f'{t:.2f}' for t in alone[name])})")
    slowest = max(statistics.median(times) for times in alone.values())
    sequential = sum(statistics.median(times) for times in alone.values())
    median = statistics.median(together)
    ratio = median / slowest
    print(f"one deployment at a time (sum of the single runs): {sequential:6.2f} s")
    print(f"all {len(names)} at once ({len(names) * args.requests:,} requests): {median:6.2f} s "
          f"(runs: {', '.join(f'{t:.2f}' for t in together)})")
    print(f"all at once / slowest alone: {ratio:.2f}x (target <= 1.3x): {'ok' if ratio <= 1.3 else 'MISSED'}")


if __name__ == "__main__":
    main()

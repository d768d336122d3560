"""`harness site` on a store of 600 runs where nothing changed: it should rewrite no run page (harness.site.incremental).

Builds the store with fast runs of the `chance` client (6 deployments x 100 entries, 40 instances each) through the
real CLI, builds the site once, then times `harness site` again (a fresh process, as a user runs it) and prints the
figure, with the first build's for comparison. Medians over --repeats.

    python benchmarks/site_rebuild.py [--repeats 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = 6
SCENARIOS = ("boolq", "mmlu", "arc_challenge", "hellaswag")
SEEDS = 25  # entries per scenario: 4 x 25 x 6 models = 600 runs
INSTANCES = 40  # per run: 24,000 in all, so that writing every run page (what each `harness site` did before) shows


def _files(folder: Path) -> None:
    (folder / "models.yaml").write_text("".join(
        f"- name: chance-{i}\n  client: chance\n  batch_size: 4096\n" for i in range(MODELS)))
    entries = "".join(f"  - scenario: {s}\n    method: multiple_choice_joint\n    shots: 0\n    seed: {k}\n"
                      for s in SCENARIOS for k in range(SEEDS))
    models = ", ".join(f"chance-{i}" for i in range(MODELS))
    (folder / "suite.yaml").write_text(f"name: rebuild\nmodels: [{models}]\ndefaults:\n  max_instances: {INSTANCES}\n"
                                       f"entries:\n{entries}")


def _harness(folder: Path, *args: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "harness", *args, "--output", str(folder / "out")], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", help="build the store in this folder and keep it (reused when it is there)")
    args = parser.parse_args()
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="site-rebuild-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        if not (folder / "out" / "harness.db").exists():
            _files(folder)
            took = _harness(folder, "run", str(folder / "suite.yaml"), "--models-file", str(folder / "models.yaml"),
                            "--no-site")
            print(f"store: {MODELS * len(SCENARIOS) * SEEDS} runs written in {took:.1f} s")
        site = folder / "out" / "site"
        shutil.rmtree(site, ignore_errors=True)
        first = _harness(folder, "site", "--suite", "rebuild")
        pages = sum(1 for _ in site.rglob("*.html"))
        again = [_harness(folder, "site", "--suite", "rebuild") for _ in range(args.repeats)]
        one = []
        for i in range(args.repeats):  # one run saved again: only its pages (and the summary pages) are rewritten
            with sqlite3.connect(folder / "out" / "harness.db") as db:
                db.execute("UPDATE runs SET updated_at = ? WHERE run_id = (SELECT MIN(run_id) FROM runs)",
                           (f"2000-01-01T00:00:0{i}",))
            one.append(_harness(folder, "site", "--suite", "rebuild"))
        print(f"first build (every page written, as every build did before): {first:.2f} s ({pages:,} pages)")
        print(f"no-change rebuild: {statistics.median(again):.2f} s median of {args.repeats} "
              f"({', '.join(f'{t:.2f}' for t in again)}); target <= 1 s")
        print(f"one run changed: {statistics.median(one):.2f} s median of {args.repeats} "
              f"({', '.join(f'{t:.2f}' for t in one)})")
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What each of the harness's fast paths buys: W1 and W2 of executor_overhead.py, with and without it.

A fast path is a second way of doing something the plain way already does right; it stays only while this shows it
pays (issue 19: at least 5% on a W1/W2 figure). Each variant turns one off in the child process only (a patch applied
before `harness run` starts), so the code under test is the shipped code. Variants are run alternately, round by
round, so a machine whose speed drifts affects them alike; medians are printed with every run.

    python benchmarks/fast_paths.py [--rounds 5] [--skip-w2]

The writer process and the unpacked-data cache were measured this way and removed (neither paid 5%:
docs/performance.md has the figures). Measured here: SavedRuns (the site written from the rows a run just saved,
off = read back from the store), and the sqlite3 path (a SQLite store opened without importing SQLAlchemy): the
time to import SQLAlchemy and open the same store through it, against opening it with sqlite3, each in a fresh
process. A new fast path's variant goes into PATCHES.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from executor_overhead import ROOT, SUITE, Server, speed_probe, tree_bytes  # noqa: E402

PATCHES = {
    "baseline": "",
    "no saved runs": "import harness.store.saved_runs as s; s.SavedRuns.__init__.__defaults__ = (0,)
",
}
RUN = "import sys\n{patch}from harness.cli import entry\nsys.exit(entry())\n"


def run(patch: str, args: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", RUN.format(patch=patch), *args], cwd=cwd, capture_output=True,
                          text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"harness failed: {proc.stderr}")
    return wall


def one_round(patch: str, n: int, shots: int, concurrency: int, stub: Server) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "suite.yaml").write_text(SUITE.format(n=n, shots=shots))
        (work / "models.yaml").write_text(
            f"- name: bench/stub\n  client: openai-compatible\n  base_url: {stub.base_url}\n"
            f"  model: stub-model\n  max_concurrency: {concurrency}\n")
        args = ["run", "suite.yaml", "--models", "bench/stub", "--models-file", "models.yaml", "--output", "out"]
        first = run(patch, args, work)
        again = run(patch, args, work)
        return first, again, tree_bytes(work / "out") / 1e6


def workload(name: str, n: int, shots: int, concurrency: int, rounds: int, latency: float) -> None:
    stub = Server(latency)
    try:
        walls: dict[str, list[float]] = {v: [] for v in PATCHES}
        cached: dict[str, list[float]] = {v: [] for v in PATCHES}
        for _ in range(rounds):
            for variant, patch in PATCHES.items():
                first, again, _ = one_round(patch, n, shots, concurrency, stub)
                walls[variant].append(first)
                cached[variant].append(again)
    finally:
        stub.stop()
    base, base_cached = statistics.median(walls["baseline"]), statistics.median(cached["baseline"])
    for variant in PATCHES:
        w, c = statistics.median(walls[variant]), statistics.median(cached[variant])
        print(f"{name} {variant:<18} run {w:6.2f} s ({(w / base - 1) * 100:+5.1f}% vs baseline)   "
              f"cached {c:5.2f} s ({(c / base_cached - 1) * 100:+5.1f}%)   "
              f"runs: {', '.join(f'{x:.2f}' for x in walls[variant])}", flush=True)


OPEN_SQLITE3 = ("import time; t = time.perf_counter()\n"
                "from harness.store.store import open_store\n"
                "s = open_store('sqlite:///{db}'); s.runs(); s.close()\n"
                "print(time.perf_counter() - t)\n")
OPEN_SQLALCHEMY = ("import time; t = time.perf_counter()\n"
                   "import sqlalchemy\n"
                   "e = sqlalchemy.create_engine('sqlite:///{db}')\n"
                   "c = e.connect(); c.exec_driver_sql('SELECT run_id FROM runs').fetchall(); c.close()\n"
                   "print(time.perf_counter() - t)\n")


def sqlite_path(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "harness.db"
        subprocess.run([sys.executable, "-c", OPEN_SQLITE3.format(db=db)], check=True, capture_output=True)
        times = {"sqlite3": [], "SQLAlchemy": []}
        for _ in range(max(rounds, 5)):
            for name, code in (("sqlite3", OPEN_SQLITE3), ("SQLAlchemy", OPEN_SQLALCHEMY)):
                out = subprocess.run([sys.executable, "-c", code.format(db=db)], check=True, capture_output=True,
                                     text=True).stdout
                times[name].append(float(out))
    for name, values in times.items():
        print(f"open a SQLite store with {name:<10} {statistics.median(values):6.3f} s   "
              f"runs: {', '.join(f'{x:.3f}' for x in values)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--skip-w2", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "harness")], check=True)
    speed_probe("at the start")
    sqlite_path(args.rounds)
    workload("W1", 1000, 5, 32, args.rounds, args.latency)
    if not args.skip_w2:
        workload("W2", 10_000, 0, 256, args.rounds, args.latency)
    speed_probe("at the end")


if __name__ == "__main__":
    main()

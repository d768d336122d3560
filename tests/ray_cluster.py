"""A throwaway two-node Ray cluster on 127.0.0.1 for tests, in a process of its own (and a session of its own):

    python tests/ray_cluster.py HEAD_CPUS NODE_CPUS     # prints "address HOST:PORT"; stops when its stdin closes

It uses Ray's own test cluster (ray.cluster_utils.Cluster), never `ray stop`, which stops every Ray on the machine.
`ray start` would advertise and bind the machine's outward address even when told 127.0.0.1; in Ray's single-machine
mode (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0) every node keeps to the loopback address, and the cluster utilities may
still start a second node."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OBJECT_STORE = 80 * 1024 * 1024


@dataclass
class RayCluster:
    address: str
    process: subprocess.Popen[str]

    def worker_pids(self, title: str) -> list[int]:
        """This cluster's processes whose title (Ray sets it to `ray::<task>` while one runs) starts with `title`."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if cmdline.startswith(title) and os.getsid(int(entry.name)) == self.process.pid:
                    found.append(int(entry.name))
            except (OSError, ProcessLookupError):
                continue
        return found

    def stop(self) -> None:
        """Ray's own shutdown (stdin closed), then whatever is left of the session, by its id."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.process.poll() is None:
            self.process.wait(timeout=10)


def env() -> dict[str, str]:
    """The environment of the cluster's processes and of a driver that joins it."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "RAY_USAGE_STATS_ENABLED": "0", "HF_HUB_OFFLINE": "1",
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


def start(head_cpus: int = 2, node_cpus: int = 1, timeout: float = 180) -> RayCluster:
    process = subprocess.Popen([sys.executable, __file__, str(head_cpus), str(node_cpus)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, env=env(), start_new_session=True)
    cluster = RayCluster("", process)
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    line = ""
    while not line.startswith("address ") and time.monotonic() < deadline and process.poll() is None:
        line = process.stdout.readline().strip()
    if not line.startswith("address "):
        cluster.stop()
        raise RuntimeError(f"the Ray cluster did not start: {line!r}")
    cluster.address = line.removeprefix("address ")
    return cluster


def _serve(head_cpus: int, node_cpus: int) -> None:
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": head_cpus, "include_dashboard": False, "object_store_memory": OBJECT_STORE})
    try:
        cluster.add_node(num_cpus=node_cpus, object_store_memory=OBJECT_STORE)
        cluster.wait_for_nodes()
        print(f"address {cluster.address}", flush=True)
        sys.stdin.read()  # until the test closes it
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    _serve(int(sys.argv[1]), int(sys.argv[2]))

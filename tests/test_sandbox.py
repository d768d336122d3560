"""The sandbox contains what untrusted code tries (loops, fork bombs, huge allocations, network, writes elsewhere),
scores it as a failure with a reason, finishes quickly, and leaves no processes or files behind. Each hostile
program is run with the in-process guard and, where the kernel layers exist, without it: each layer must hold alone."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import pytest

from harness.sandbox import Limits, isolation, run_many, run_python

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox's limits are Linux's")

FAST = Limits(timeout_s=2.0)
BOTH = [pytest.param(True, id="guard"), pytest.param(False, id="kernel-only")]


def sandbox_processes() -> list[int]:
    """Processes still running a sandbox: their command line names a scratch directory."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if b"harness-sandbox-" in Path(entry.path, "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def contained(program: str, guard: bool, limits: Limits = FAST) -> str:
    """Run a hostile program; it must fail within a few seconds and leave no process behind. Returns the reason."""
    start = time.monotonic()
    result = run_python(program, Limits(timeout_s=limits.timeout_s, memory_mb=limits.memory_mb, guard=guard))
    assert time.monotonic() - start < limits.timeout_s + 3
    assert not result.passed, result
    assert result.reason and result.reason != "passed"
    assert sandbox_processes() == []
    return result.reason


def test_correct_code_passes_and_wrong_code_fails() -> None:
    ok = run_python("def add(a, b):\n    return a + b\nassert add(2, 3) == 5\nprint('checked')\n", FAST)
    assert ok.passed and ok.reason == "passed" and "checked" in ok.output
    wrong = run_python("def add(a, b):\n    return a - b\nassert add(2, 3) == 5, 'add is wrong'\n", FAST)
    assert not wrong.passed and wrong.reason == "AssertionError: add is wrong"
    syntax = run_python("def add(a, b)\n    return a\n", FAST)
    assert not syntax.passed and syntax.reason.startswith("SyntaxError")


def test_exiting_early_is_a_failure_not_a_pass() -> None:
    """`sys.exit(0)` before the tests run must not count as passing them."""
    result = run_python("import sys\nsys.exit(0)\nassert False\n", FAST)
    assert not result.passed and result.reason == "SystemExit: 0"


@pytest.mark.parametrize("guard", BOTH)
def test_infinite_loop_times_out(guard: bool) -> None:
    reason = contained("while True:\n    pass\n", guard, Limits(timeout_s=1.0))
    assert "timed out" in reason or "SIGXCPU" in reason


@pytest.mark.parametrize("guard", BOTH)
def test_fork_bomb_is_contained(guard: bool) -> None:
    reason = contained("import os\nwhile True:\n    os.fork()\n", guard)
    # the guard refuses os.fork; the kernel refuses the clone (seccomp) or the extra process (RLIMIT_NPROC)
    assert reason.startswith(("PermissionError", "BlockingIOError")), reason


def test_fork_bomb_through_subprocess_is_contained() -> None:
    reason = contained("import subprocess\nwhile True:\n    subprocess.Popen(['sleep', '30'])\n", False)
    assert reason.startswith(("PermissionError", "BlockingIOError")), reason


@pytest.mark.parametrize("guard", BOTH)
def test_ten_gigabyte_allocation_fails(guard: bool) -> None:
    reason = contained("data = bytearray(10 * 1024 ** 3)\ndata[-1] = 1\n", guard)
    assert reason.startswith("MemoryError"), reason


@pytest.mark.parametrize("guard", BOTH)
def test_network_is_unreachable(guard: bool) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        program = ("import socket\n"
                   f"conn = socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
                   "conn.sendall(b'escaped')\n")
        reason = contained(program, guard)
        server.settimeout(0.3)
        with pytest.raises(TimeoutError):  # nothing connected
            server.accept()
    assert "socket" in reason or "Errno" in reason, reason


@pytest.mark.parametrize("guard", BOTH)
def test_writing_outside_the_scratch_directory_is_refused(guard: bool, tmp_path: Path) -> None:
    iso = isolation()
    if not guard and "--mount" not in iso.namespaces and iso.uid is None:
        pytest.skip("no kernel layer for files here (no mount namespace, not dropping to nobody)")
    target = tmp_path / "outside.txt"
    for program in (f"open({str(target)!r}, 'w').write('escaped')\n",
                    f"import pathlib\npathlib.Path({str(target)!r}).write_text('escaped')\n",
                    f"import os\nos.close(os.open({str(target)!r}, os.O_WRONLY | os.O_CREAT))\n"):
        reason = contained(program, guard)
        assert "scratch directory" in reason or "Read-only" in reason or "Permission denied" in reason, reason
        assert not target.exists()


def test_scratch_directory_is_the_home_and_is_deleted_afterwards() -> None:
    program = ("import os\n"
               "open('note.txt', 'w').write('inside')\n"
               "assert open('note.txt').read() == 'inside'\n"
               "assert os.environ['HOME'] == os.environ['TMPDIR'] == os.getcwd()\n"
               "print(os.getcwd())\n")
    result = run_python(program, FAST)
    assert result.passed, result
    scratch = Path(result.output.strip().splitlines()[-1])
    assert scratch.name.startswith("harness-sandbox-")
    assert not scratch.exists()


def test_many_programs_run_concurrently_in_order() -> None:
    programs = ["import time\ntime.sleep(0.5)\nassert %d %% 2 == 0\n" % i for i in range(8)]
    start = time.monotonic()
    results = run_many(programs, FAST, workers=4)
    elapsed = time.monotonic() - start
    assert [r.passed for r in results] == [i % 2 == 0 for i in range(8)]
    assert elapsed < 8 * 0.5 * 0.75  # serially they would sleep 4 s
    assert sandbox_processes() == []

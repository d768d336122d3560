"""Whether a run's per-instance latency was measured per instance or is its batch's average.

The local engines (harness.clients.base.LocalEngineClient: `embedded`, `vllm`) answer a batch at once and give each
request the batch's time over its size, so on their runs latency_s is a batch average, not one request's time.
"""

from __future__ import annotations

from typing import Any

from harness.report import RunInfo

BATCHING_CLIENTS = frozenset({"embedded", "vllm"})  # the LocalEngineClient kinds (harness/clients/__init__.py)


def _deployment(run: RunInfo, shipped: dict[str, Any]) -> tuple[str, int] | None:
    """(client kind, batch size) of the run's deployment: from the run's record when it has one, else the packaged
    deployment of that name (a user's models file is not known to the site)."""
    record = getattr(run, "record", None)
    deployment = record.get("deployment") if isinstance(record, dict) else None
    if isinstance(deployment, dict) and "client" in deployment:
        size = deployment.get("batch_size", 1)
        return str(deployment["client"]), size if isinstance(size, int) else 1
    if run.server.get("server") == "vllm-offline":
        return "vllm", 2
    found = shipped.get(run.model)
    return (found.client, found.batch_size) if found is not None else None


def batch_averaged(runs: list[RunInfo]) -> dict[str, bool]:
    """run_id -> True where latency_s is a batch average."""
    try:
        from harness.clients.deployment import load_deployments

        shipped: dict[str, Any] = load_deployments()
    except Exception:  # noqa: BLE001  (a broken packaged file only loses the label)
        shipped = {}
    out = {}
    for run in runs:
        found = _deployment(run, shipped)
        out[run.run_id] = found is not None and found[0] in BATCHING_CLIENTS and found[1] > 1
    return out

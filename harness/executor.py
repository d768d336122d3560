"""Executor: sends the requests a run still needs through its client and stores each result as it arrives.

Up to `client.concurrency` batches of up to `client.batch_size` requests are in flight at once (HTTP: many batches
of one; local engines: one large batch at a time). Results are written by a separate writer task in small
transactions, so a crash loses at most the last fraction of a second of answers and nothing already stored.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from tqdm import tqdm

from harness.clients.base import Client
from harness.clients.deployment import ModelDeployment
from harness.clients.request import Request, Result
from harness.store.store import Store

FLUSH_INTERVAL_S = 0.05
FLUSH_ROWS = 512


@dataclass
class ExecutionStats:
    requested: int = 0  # distinct requests the run needs
    cached: int = 0  # already stored
    sent: int = 0
    failed: int = 0
    wall_s: float = 0.0


class _Writer:
    """Collects results and writes them in batches from a worker thread, off the event loop."""

    def __init__(self, store: Store, deployment: ModelDeployment) -> None:
        self.store = store
        self.deployment = deployment
        self.pending: list[tuple[str, str, str, dict, Result]] = []
        self.wake = asyncio.Event()
        self.done = False

    def add(self, key: str, request: Request, result: Result) -> None:
        self.pending.append((key, self.deployment.name, self.deployment.model_id, request.to_json(), result))
        if len(self.pending) >= FLUSH_ROWS:
            self.wake.set()

    async def run(self) -> None:
        while not (self.done and not self.pending):
            try:
                await asyncio.wait_for(self.wake.wait(), FLUSH_INTERVAL_S)
            except asyncio.TimeoutError:
                pass
            self.wake.clear()
            rows, self.pending = self.pending, []
            if rows:
                await asyncio.to_thread(self.store.save_results, rows)

    async def finish(self, task: asyncio.Task[None]) -> None:
        self.done = True
        self.wake.set()
        await task


async def execute(
    client: Client,
    store: Store,
    requests: dict[str, Request],
    *,
    progress: tqdm | None = None,
) -> tuple[dict[str, Result], ExecutionStats]:
    """Answer every request (key -> Request), from the store where possible; return key -> Result."""
    start = time.perf_counter()
    stats = ExecutionStats(requested=len(requests))
    results = await asyncio.to_thread(store.completed, requests.keys())
    stats.cached = len(results)
    missing = [key for key in requests if key not in results]
    if progress is not None:
        progress.total = len(requests)
        progress.update(stats.cached)
    if missing:
        if client.batch_size > 1:
            # A local engine computes a prompt shared by several requests (a question's choices) once when they sit
            # in one batch, and similar lengths waste less padding: sort by prompt length, then the prompt itself.
            missing.sort(key=lambda k: (len(requests[k].prompt), requests[k].prompt, requests[k].continuation))
        batches = [missing[i : i + client.batch_size] for i in range(0, len(missing), client.batch_size)]
        writer = _Writer(store, client.deployment)
        writer_task = asyncio.create_task(writer.run())
        queue = iter(batches)

        async def worker() -> None:
            for batch in queue:  # a shared iterator: each worker takes the next batch when it is free
                answers = await client.process([requests[k] for k in batch])
                for key, answer in zip(batch, answers):
                    results[key] = answer
                    writer.add(key, requests[key], answer)
                    stats.failed += not answer.ok
                stats.sent += len(batch)
                if progress is not None:
                    progress.update(len(batch))

        try:
            await asyncio.gather(*(worker() for _ in range(max(1, min(client.concurrency, len(batches))))))
        finally:
            await writer.finish(writer_task)
    stats.wall_s = time.perf_counter() - start
    return results, stats


"""Executor: sends the requests a run still needs through its client and stores each result as it arrives.

Up to `client.concurrency` batches of up to `client.batch_size` requests are in flight at once (HTTP: many batches
of one; local engines: one large batch at a time). Results are written by a separate writer task in small
transactions, so a crash loses at most the last fraction of a second of answers and nothing already stored.
Processes that share a store claim requests before sending them, so they split a run instead of repeating it.
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.progress import RequestCounter

from harness.clients.base import Client, from_outside
from harness.clients.deployment import ModelDeployment
from harness.clients.request import Request, Result
from harness.errors import HarnessError
from harness.store.store import Store

FLUSH_INTERVAL_S = 0.05  # the writer stores what arrived at least this often (what a kill -9 can lose)
FLUSH_ROWS = 512  # ... or as soon as this many are waiting
# Requests claimed per write transaction: enough to keep every worker busy until the next claim, few enough that
# processes sharing a store split a run between them.
CLAIM_CHUNK_MIN, CLAIM_CHUNK_MAX = 64, 1024
DEFER_POLL_S = 0.5  # how often to look whether another process answered the requests it holds
STALLED_POLLS = 2  # ... and after how many looks without progress to send them here
# While requests are in flight, threads (the store writer, the warm-up) do CPU work beside the event loop. With
# Python's default 5 ms GIL switch interval, each answer could wait up to that long for the loop to get the GIL
# back, which adds up over a run at low concurrency.
SWITCH_INTERVAL_S = 0.0005
# Runs in flight at once (every deployment of a suite: harness.runner.run_suite) share the switch interval: it is
# set while any of them executes and put back after the last.
_state_lock = threading.Lock()
_executing = 0
_interval_before = 0.0


def start_in_background(work: Callable[[], None]) -> None:
    """Run CPU work (imports, template compilation) in a thread while the loop mostly waits on the network."""
    threading.Thread(target=work, name="harness-warm-up", daemon=True).start()


@dataclass
class ExecutionStats:
    requested: int = 0  # distinct requests the run needs
    cached: int = 0  # already stored
    sent: int = 0
    failed: int = 0

    def add(self, other: ExecutionStats) -> None:
        self.requested += other.requested
        self.cached += other.cached
        self.sent += other.sent
        self.failed += other.failed


class _Writer:
    """Collects results and writes them in batches from a worker thread, off the event loop."""

    def __init__(self, store: Store, deployment: ModelDeployment) -> None:
        self.store = store
        self.deployment = deployment
        self.pending: list[tuple[str, str, str, dict, Result]] = []
        self.wake = asyncio.Event()
        self.done = False
        self.save = store.save_results

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
                await asyncio.to_thread(self.save, rows)

    async def finish(self, task: asyncio.Task[None]) -> None:
        """Store what is pending and wait until every result is stored."""
        self.done = True
        self.wake.set()
        await task


async def execute(
    client: Client,
    store: Store,
    requests: AsyncIterator[dict[str, Request]],
    *,
    progress: RequestCounter | None = None,
    while_waiting: Callable[[], None] | None = None,
    on_answer: Callable[[str, Result], None] | None = None,
) -> tuple[dict[str, Result], ExecutionStats]:
    """Answer every request, from the store where possible; return key -> Result. The requests (key -> Request)
    come in chunks: the first ones are sent while the caller is still building the rest. A key already seen in an
    earlier chunk is not sent again. `on_answer` is told of each answer this process receives as it arrives, on the
    event loop (the runner scores instances then, while other requests are in flight). `progress` is told how
    many requests were answered from the store, and how many were sent and answered (and how many of those failed)."""
    global _executing, _interval_before
    with _state_lock:
        if _executing == 0:
            _interval_before = sys.getswitchinterval()
            sys.setswitchinterval(min(_interval_before, SWITCH_INTERVAL_S))
        _executing += 1
    try:
        return await _execute(client, store, requests, progress, while_waiting, on_answer)
    finally:
        with _state_lock:
            _executing -= 1
            if _executing == 0:
                sys.setswitchinterval(_interval_before)


async def _single(requests: dict[str, Request]) -> AsyncIterator[dict[str, Request]]:
    yield requests


async def execute_round(client: Client, store: Store, round_: dict[str, Request], results: dict[str, Result],
                        stats: ExecutionStats) -> None:
    """Send one more round of a run's requests, made from the answers to the rounds before (a conversation's next
    turn, a debate's next round): their answers go into `results`, their figures into the run's `stats`."""

    async def once() -> AsyncIterator[dict[str, Request]]:
        yield round_

    answers, more = await execute(client, store, once())
    results.update(answers)
    stats.add(more)


async def _execute(client: Client, store: Store, feed: AsyncIterator[dict[str, Request]],
                   progress: RequestCounter | None,
                   while_waiting: Callable[[], None] | None,
                   on_answer: Callable[[str, Result], None] | None) -> tuple[dict[str, Result], ExecutionStats]:
    stats = ExecutionStats()
    requests: dict[str, Request] = {}
    results: dict[str, Result] = {}
    n_workers = max(1, client.concurrency)
    if client.batch_size > 1:
        # A local engine computes a prompt shared by several requests (a question's choices) once when they sit
        # in one batch, and similar lengths waste less padding: it gets every request at once, sorted (below).
        whole: dict[str, Request] = {}
        async for chunk in feed:
            for key, request in chunk.items():
                whole.setdefault(key, request)
        feed = _single(whole)
        n_workers = max(1, min(client.concurrency, math.ceil(len(whole) / client.batch_size)))
    writer = _Writer(store, client.deployment)
    writer_task = asyncio.create_task(writer.run())
    queue: asyncio.Queue[list[str] | None] = asyncio.Queue(maxsize=2 * n_workers)

    async def worker() -> None:
        while (batch := await queue.get()) is not None:
            answers = await client.process([requests[k] for k in batch])
            failed = 0
            for key, answer in zip(batch, map(from_outside, answers)):
                results[key] = answer
                writer.add(key, requests[key], answer)
                failed += not answer.ok
                if on_answer is not None:
                    on_answer(key, answer)
            stats.sent += len(batch)
            stats.failed += failed
            if progress is not None:
                progress.answered(len(batch), failed)
            queue.task_done()

    def first_sent() -> None:
        if while_waiting is not None:  # what later steps need, loaded while the first requests are in flight
            start_in_background(while_waiting)

    async def produce() -> None:
        try:
            await _produce(queue, store, feed, requests, client.batch_size, results, stats, progress, first_sent)
        finally:
            for _ in range(n_workers):
                await queue.put(None)

    tasks = [asyncio.create_task(produce()), *(asyncio.create_task(worker()) for _ in range(n_workers))]
    work = asyncio.gather(*tasks)
    work.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved, when the run stops without it
    try:
        await asyncio.wait([work, writer_task], return_when=asyncio.FIRST_COMPLETED)
        if writer_task.done():  # it ends early only when storing failed: answers sent from now on would be lost
            writer_task.result()
        await work
    finally:
        for task in tasks:
            task.cancel()
        await writer.finish(writer_task)
    return results, stats


async def _produce(queue: asyncio.Queue[list[str] | None], store: Store, feed: AsyncIterator[dict[str, Request]],
                   requests: dict[str, Request], batch_size: int, results: dict[str, Result], stats: ExecutionStats,
                   progress: RequestCounter | None, first_sent: Callable[[], None]) -> None:
    """Queue the batches this process should send, chunk by chunk as the feed gives them: what the store has
    answered is taken from it. Several processes may share the store: each claims requests a piece at a time and
    sends only those it holds. The ones another process holds wait until this process's own are answered; then
    those the store has answers for are taken from it, and, once the others stop making progress (their owner may
    have been killed), the rest are sent here."""
    owner = os.urandom(16).hex()  # 128 random bits, as uuid4 (whose module imports `platform`)
    deferred: list[str] = []
    started = False
    size = min(CLAIM_CHUNK_MAX, max(CLAIM_CHUNK_MIN, queue.maxsize * batch_size))
    async for chunk in feed:
        new = [key for key in chunk if key not in requests]
        for key in new:
            requests[key] = chunk[key]
        stats.requested += len(new)
        cached = await asyncio.to_thread(store.completed, new) if new else {}
        results.update(cached)
        stats.cached += len(cached)
        if progress is not None and cached:
            progress.from_store(len(cached))
        missing = [key for key in new if key not in cached]
        if batch_size > 1:  # by prompt length, then the prompt itself (see _execute)
            missing.sort(key=lambda k: (len(requests[k].prompt), requests[k].prompt, requests[k].continuation))
        for i in range(0, len(missing), size):
            piece = missing[i : i + size]
            mine = await asyncio.to_thread(store.claim, piece, owner)
            deferred += [k for k in piece if k not in mine]
            own = [k for k in piece if k in mine]
            for j in range(0, len(own), batch_size):
                await queue.put(own[j : j + batch_size])
            if own and not started:
                started = True
                await asyncio.sleep(0)  # let the workers send the first requests before the background work starts
                first_sent()
    stalled = 0
    while deferred:
        await queue.join()  # this process's own requests first
        answered = await asyncio.to_thread(store.completed, deferred)
        results.update(answered)
        stats.cached += len(answered)
        if progress is not None and answered:
            progress.from_store(len(answered))
        deferred = [k for k in deferred if k not in answered]
        stalled = 0 if answered else stalled + 1
        if deferred and stalled < STALLED_POLLS:  # the others may still be answering theirs: look again shortly
            await asyncio.sleep(DEFER_POLL_S)
            continue
        for j in range(0, len(deferred), batch_size):
            await queue.put(deferred[j : j + batch_size])
        return

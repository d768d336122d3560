"""Client: the interface every backend implements (harness.clients.registry maps a deployment's `client` to one)."""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from harness.clients.request import Request, Result
from harness.clients.secrets import api_key, redact
from harness.text import clean

if TYPE_CHECKING:
    from harness.clients.deployment import ModelDeployment


class Client(ABC):
    """Processes batches of requests. The executor keeps up to `concurrency` batches of up to `batch_size`
    requests in flight: HTTP clients take batches of one with high concurrency, local engines large batches one
    at a time (run in a worker thread so the event loop keeps storing results)."""

    batch_size: int = 1
    concurrency: int = 1

    def __init__(self, deployment: ModelDeployment) -> None:
        self.deployment = deployment
        self.concurrency = max(1, deployment.max_concurrency)
        self.batch_size = max(1, deployment.batch_size)
        api_key(deployment)  # its value is redacted from everything this process stores or prints from here on

    async def start(self) -> None:
        """Open connections / load weights. Called once before the first batch."""

    async def close(self) -> None:
        """Release what `start` acquired."""

    @abstractmethod
    async def process(self, batch: list[Request]) -> list[Result]:
        """Answer every request of the batch, in order. Must not raise for a failed request: return
        Result.failure(reason) for it."""


class LocalEngineClient(Client):
    """A model run in this process (the embedded transformers model, vLLM's offline engine): each batch goes to
    `_run` in a worker thread, so the event loop keeps storing results, and each request's latency is its share of
    the batch's time (the engine answers a batch at once)."""

    async def process(self, batch: list[Request]) -> list[Result]:
        started = time.perf_counter()
        try:
            await self.start()
            results = await asyncio.to_thread(self._run, batch)
        except Exception as error:  # noqa: BLE001  (a client never raises out of process)
            results = [Result.failure(f"{type(error).__name__}: {error}".strip()) for _ in batch]
        per_request = (time.perf_counter() - started) / max(1, len(batch))
        for result in results:
            result.latency_s = per_request
        return results

    @abstractmethod
    def _run(self, batch: list[Request]) -> list[Result]:
        """Answer the batch, in order (in a worker thread; may raise: the whole batch then fails with the reason)."""


def from_outside(result: Result) -> Result:
    """A result's texts and error as harness keeps them: characters that cannot be stored or shown replaced
    (harness.text.clean), and every API key redacted (harness.clients.secrets). The executor passes every answer of
    every client through it as it arrives; cheap for the common answer, which needs neither."""
    texts = result.texts
    for i, text in enumerate(texts):
        safe = redact(clean(text))
        if safe is not text:
            texts[i] = safe
    if result.error is not None:
        result.error = redact(clean(result.error))
    return result

"""Ray as the engine across machines (`harness run SUITE --ray [ADDRESS]`, docs/ray.md).

The driver (this process) does what a plain run does: it plans the suite, builds the prompts, looks up what the store
has answered, claims the rest, scores and stores (harness.runner.run_suite, every deployment at once). Only the
requests go to the cluster, through a client per deployment that stands in for the real one:

- an API deployment (openai-compatible, vllm-server, ...): each batch of the executor is a Ray task that answers it
  with the deployment's real client on some node, `concurrency` requests at a time; the deployment's concurrency and
  request budgets are split evenly between its tasks in flight, so the cluster sends no more than one process would;
- a model run in a process (LocalEngineClient: embedded, vllm): Ray actors, each holding the model's engine (one per
  GPU where the cluster has GPUs, one per node otherwise), data-parallel: the executor's batches go to whichever
  actor is free.

Results flow back to the driver, which stores them as a plain run does, so resume rules, claims (processes sharing a
PostgreSQL store split the work) and results are the same. A task whose worker or node is lost is run again
elsewhere (Ray's retries); an actor that dies is restarted and its batch sent again. An answer is stored by the
driver once it has come back, and storing is an upsert keyed by the request: nothing is stored twice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import harness
from harness.clients.base import Client, LocalEngineClient, client_class, make_client
from harness.clients.deployment import ModelDeployment
from harness.clients.request import Request, Result
from harness.errors import HarnessError

TASK_RETRIES = 5  # a task whose worker or node dies is run again, elsewhere if need be, this many times
ACTOR_RESTARTS = 5  # ... an actor restarted (its model loaded again) this many times
BATCH_PER_SLOT = 8  # an API task carries this many requests per request it has in flight (fewer tasks, less overhead)


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise HarnessError("--ray needs Ray, which is not installed; install the extra: pip install -e '.[ray]'",
                           field="--ray") from None
    return ray


def connect(address: str | None) -> Any:
    """Join the Ray cluster at `address` ("auto": the one this machine is part of; None: the one RAY_ADDRESS names,
    or a new one on this machine). Workers import harness from where this process does, unless it is installed
    there already (a cluster built with it: docs/ray.md)."""
    ray = _ray()
    if not ray.is_initialized():
        package_root = str(Path(harness.__file__).resolve().parents[1])
        path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
        try:
            ray.init(address=address or None, runtime_env={"env_vars": {"PYTHONPATH": path}},
                     log_to_driver=False, include_dashboard=False if not address else None)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise HarnessError(f"cannot join the Ray cluster {address or '(local)'}: {exc}", field="--ray") from None
    return ray


# --- what runs on the workers ------------------------------------------------------------------------------------

async def _answer(deployment: ModelDeployment, batch: list[Request]) -> tuple[list[Result], dict[str, str]]:
    """An API batch, answered by the deployment's own client, up to its concurrency at a time (the executor's rule)."""
    client = make_client(deployment)
    await client.start()
    try:
        lanes = max(1, client.concurrency)
        size = max(1, client.batch_size)
        pieces = [batch[i : i + size] for i in range(0, len(batch), size)]
        answers: list[list[Result] | None] = [None] * len(pieces)
        index = 0

        async def lane() -> None:
            nonlocal index
            while index < len(pieces):
                mine, index = index, index + 1
                answers[mine] = await client.process(pieces[mine])

        await asyncio.gather(*(lane() for _ in range(min(lanes, len(pieces)))))
        return [r for piece in answers for r in piece or ()], dict(getattr(client, "server_info", {}) or {})
    finally:
        await client.close()


def answer_batch(deployment: ModelDeployment, batch: list[Request]) -> tuple[list[Result], dict[str, str]]:
    return asyncio.run(_answer(deployment, batch))


class EngineActor:
    """One copy of a model run in a process (embedded, vllm), loaded once, answering the driver's batches."""

    def __init__(self, deployment: ModelDeployment) -> None:
        self.client = make_client(deployment)

    async def process(self, batch: list[Request]) -> tuple[list[Result], dict[str, str]]:
        results = await self.client.process(batch)  # starts the client the first time
        return results, dict(getattr(self.client, "server_info", {}) or {})

    async def close(self) -> None:
        await self.client.close()


# --- the driver's side -------------------------------------------------------------------------------------------

class _RayClient(Client):
    """Stands in for a deployment's client on the driver: the executor's batches are answered on the cluster.
    A batch that cannot be answered there (retries spent) fails with the reason, like any failed request."""

    def __init__(self, deployment: ModelDeployment, ray: Any) -> None:
        super().__init__(deployment)
        self.ray = ray
        self.server_info: dict[str, str] = {}

    def _failed(self, batch: list[Request], error: BaseException) -> list[Result]:
        reason = f"on the Ray cluster: {type(error).__name__}: {error}".strip()
        return [Result.failure(reason[:2000]) for _ in batch]

    def _answered(self, answered: tuple[list[Result], dict[str, str]]) -> list[Result]:
        results, info = answered
        if info and not self.server_info:
            self.server_info = info
        return results


class RayApiClient(_RayClient):
    """An API deployment: `concurrency` tasks in flight, each with its share of the deployment's concurrency and
    request budgets, answering `batch_size` requests."""

    def __init__(self, deployment: ModelDeployment, ray: Any, slots: int) -> None:
        super().__init__(deployment, ray)
        tasks = max(1, min(slots, deployment.max_concurrency))
        per_task = math.ceil(deployment.max_concurrency / tasks)
        self.share = dataclasses.replace(
            deployment, max_concurrency=per_task,
            rpm=math.ceil(deployment.rpm / tasks) if deployment.rpm else 0,
            tpm=math.ceil(deployment.tpm / tasks) if deployment.tpm else 0)
        self.concurrency = tasks
        self.batch_size = per_task * BATCH_PER_SLOT
        # A core a task (it mostly waits on the network, but the core bounds how many a node runs), spread over
        # the nodes.
        self.remote = ray.remote(max_retries=TASK_RETRIES, retry_exceptions=False, num_cpus=1,
                                 scheduling_strategy="SPREAD")(answer_batch)

    async def process(self, batch: list[Request]) -> list[Result]:
        try:
            return self._answered(await self.remote.remote(self.share, batch))
        except Exception as error:  # noqa: BLE001  (a client never raises out of process)
            return self._failed(batch, error)


class RayEngineClient(_RayClient):
    """A model run in a process: `copies` actors, each holding its engine; a batch goes to a free one."""

    def __init__(self, deployment: ModelDeployment, ray: Any, copies: int, gpus: float) -> None:
        super().__init__(deployment, ray)
        actor = ray.remote(num_cpus=1, num_gpus=gpus, max_restarts=ACTOR_RESTARTS,
                           max_task_retries=TASK_RETRIES)(EngineActor)
        self.actors = [actor.remote(deployment) for _ in range(copies)]
        self.concurrency = len(self.actors)
        self.free: asyncio.Queue[Any] | None = None

    async def process(self, batch: list[Request]) -> list[Result]:
        if self.free is None:
            self.free = asyncio.Queue()
            for actor in self.actors:
                self.free.put_nowait(actor)
        actor = await self.free.get()
        try:
            return self._answered(await actor.process.remote(batch))
        except Exception as error:  # noqa: BLE001
            return self._failed(batch, error)
        finally:
            self.free.put_nowait(actor)

    async def close(self) -> None:
        """Let the engines go (their GPUs, for the next deployment's)."""
        for actor in self.actors:
            try:
                await actor.close.remote()
            except Exception:  # noqa: BLE001  (an actor already gone has nothing to let go)
                pass
            self.ray.kill(actor)
        self.actors = []


def client_factory(ray: Any) -> Callable[[ModelDeployment], Client]:
    """make_client for a run on the cluster: each deployment's stand-in, sized by the cluster's resources."""
    resources = ray.cluster_resources()
    cpus = int(resources.get("CPU", 1))
    gpus = int(resources.get("GPU", 0))
    nodes = max(1, sum(1 for node in ray.nodes() if node.get("Alive")))

    def make(deployment: ModelDeployment) -> Client:
        if issubclass(client_class(deployment), LocalEngineClient):
            if gpus:  # one engine per GPU
                return RayEngineClient(deployment, ray, gpus, 1)
            return RayEngineClient(deployment, ray, nodes, 0)  # no GPUs: one engine per node
        return RayApiClient(deployment, ray, max(cpus, nodes))

    return make

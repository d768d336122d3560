"""Replicas: one deployment served by several identical servers (e.g. one vLLM per GPU).

Each request goes to the live replica with the fewest requests outstanding, so a slower server simply gets fewer.
A replica that refuses or drops a connection is marked down and the request moves at once to another (no backoff:
the others are fine); a health check (GET /models) brings it back when it answers again. With a single server
nothing is marked down: its connection errors go to the client's ordinary retries.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from harness.clients.http import HttpError, HttpPool, Response
from harness.progress import note

HEALTH_INTERVAL_S = 1.0  # how often a replica that is down is asked whether it is back
HEALTH_TIMEOUT_S = 5.0


@dataclass(eq=False)
class Replica:
    url: str
    pool: HttpPool
    outstanding: int = 0
    up: bool = True
    sent: int = 0  # requests answered (for the summary line and tests)
    _probe: asyncio.Task[None] | None = field(default=None, repr=False)


class ReplicaSet:
    def __init__(self, urls: list[str], headers: dict[str, str], timeout_s: float) -> None:
        self.replicas = [Replica(url, HttpPool(url, headers, timeout_s)) for url in urls]

    async def start(self) -> None:
        """Ask every replica whether it is up before the first request (several only)."""
        if len(self.replicas) > 1:
            await asyncio.gather(*(self._check(r) for r in self.replicas))

    async def close(self) -> None:
        for replica in self.replicas:
            if replica._probe is not None:
                replica._probe.cancel()
            await replica.pool.close()

    def pick(self, exclude: set[Replica]) -> Replica | None:
        """The live replica with the fewest outstanding requests (the first of those tied)."""
        best: Replica | None = None
        for replica in self.replicas:
            if replica.up and replica not in exclude and (best is None or replica.outstanding < best.outstanding):
                best = replica
        return best

    async def post(self, path: str, body: bytes) -> Response:
        if len(self.replicas) == 1:
            only = self.replicas[0]
            response = await only.pool.post(path, body)
            only.sent += 1
            return response
        tried: set[Replica] = set()
        while True:
            replica = self.pick(tried)
            if replica is None:
                down = ", ".join(r.url for r in self.replicas if not r.up)
                raise HttpError(f"no replica is up (down: {down})")
            replica.outstanding += 1
            try:
                response = await replica.pool.post(path, body)
            except HttpError as exc:
                self._down(replica, exc)
                tried.add(replica)
                continue  # the request moves to another replica
            finally:
                replica.outstanding -= 1
            replica.sent += 1
            return response

    def _down(self, replica: Replica, reason: Exception) -> None:
        if not replica.up:
            return
        replica.up = False
        note(f"harness: replica {replica.url} is down ({reason}); its requests go to the others")
        if replica._probe is None or replica._probe.done():
            replica._probe = asyncio.create_task(self._probe_until_up(replica))

    async def _probe_until_up(self, replica: Replica) -> None:
        while not replica.up:
            await asyncio.sleep(HEALTH_INTERVAL_S)
            if await self._healthy(replica):
                replica.up = True
                note(f"harness: replica {replica.url} is back")

    async def _check(self, replica: Replica) -> None:
        if not await self._healthy(replica):
            self._down(replica, HttpError("no answer to GET /models"))

    @staticmethod
    async def _healthy(replica: Replica) -> bool:
        try:
            response = await replica.pool.get("/models", HEALTH_TIMEOUT_S)
        except (HttpError, TimeoutError):
            return False
        return response.status < 500

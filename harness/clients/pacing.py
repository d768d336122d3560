"""Client-side flow control for HTTP deployments: an AIMD cap on requests in flight, and a pacer that spaces request
starts to stay under rpm / tpm budgets and holds the whole deployment back while a server's Retry-After runs.

Both are plain objects used from one event loop (no locks). With no 429 seen and no budget set, each costs a few
comparisons per request: acquire never waits and the pacer always answers "send now".
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable


class AimdLimiter:
    """Caps requests in flight at `limit`, which starts at `maximum`, halves on a rate limit (429) and grows by one
    after each `limit` successes (about one round trip's worth), like TCP's congestion window.

    A cut happens at most once per window: a request sent before the last cut was answered by a server that had not
    yet seen the lower limit, so its 429 says nothing new (a burst of 429s from one window counts once).
    """

    def __init__(self, maximum: int) -> None:
        self.maximum = max(1, maximum)
        self.limit = self.maximum
        self.in_flight = 0
        self.window = 0  # bumped by every cut; callers note it when they send, see on_rate_limited
        self._successes = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self) -> None:
        if self.in_flight < self.limit and not self._waiters:  # the hot path: no future, no await
            self.in_flight += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter  # _wake counted the slot for us before resolving it
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot in the same tick as the cancel: give it back
            else:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        self.in_flight -= 1
        if self._waiters:
            self._wake()

    def on_success(self) -> None:
        if self.limit >= self.maximum:  # the hot path when no 429 has been seen
            return
        self._successes += 1
        if self._successes >= self.limit:
            self._successes = 0
            self.limit += 1
            self._wake()

    def on_rate_limited(self, sent_in_window: int) -> None:
        """A 429 for a request sent while `window` was `sent_in_window`."""
        if sent_in_window != self.window:
            return
        self.window += 1
        self.limit = max(1, self.limit // 2)
        self._successes = 0

    def _wake(self) -> None:
        while self._waiters and self.in_flight < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():  # skip one cancelled while queued
                self.in_flight += 1
                waiter.set_result(None)


class Pacer:
    """Start times for requests under a requests-per-minute and a tokens-per-minute budget (0 = none).

    Virtual scheduling (a leaky bucket without burst): each request claims the next free start, `max(now, next)`,
    and moves `next` on by 60/rpm seconds or by its tokens * 60/tpm, whichever is longer. Starts are therefore
    evenly spread at the budget's rate instead of bursting at the top of each minute and meeting 429s. A server's
    Retry-After pauses every start of the deployment until it has passed.
    """

    def __init__(self, rpm: int = 0, tpm: int = 0, clock: Callable[[], float] = time.monotonic) -> None:
        self.request_interval = 60.0 / rpm if rpm > 0 else 0.0
        self.token_interval = 60.0 / tpm if tpm > 0 else 0.0
        self.clock = clock
        self.paused_until = 0.0
        self._next = 0.0

    def reserve(self, tokens: int = 0) -> float:
        """Claim a start for a request of about `tokens` tokens; returns the seconds to wait before sending it."""
        now = self.clock()
        start = max(now, self._next, self.paused_until)
        self._next = start + max(self.request_interval, tokens * self.token_interval)
        return start - now

    def recheck(self, tokens: int = 0) -> float:
        """After waiting out a reservation: a pause that began meanwhile means claiming a new start after it (0.0
        when none did). Re-reserving, rather than just sleeping to the pause's end, keeps the waiters spaced out."""
        return self.reserve(tokens) if self.paused_until > self.clock() else 0.0

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, self.clock() + seconds)

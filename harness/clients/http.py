"""A lean HTTP/1.1 client for what the OpenAI-compatible client does: JSON POSTs to one server over keep-alive
connections, many in flight at once.

Why not aiohttp: it is slow to import (it builds TLS contexts at import time) and costs CPU per request, which on
a 2-core machine is the harness's own bottleneck at a few thousand requests a second. Here a
request is one write of prebuilt bytes and the answer is parsed by httptools (uvicorn's C parser, which handles
Content-Length and chunked bodies); TLS is set up only for https URLs. No proxies, redirects or compression:
API servers need none of them.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httptools

import harness


class HttpError(Exception):
    """The exchange failed below HTTP: refused, reset, closed before a whole answer, or not HTTP at all."""


class InvalidUrl(ValueError):
    pass


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class _Connection(asyncio.Protocol):
    """One keep-alive connection, answering one request at a time (no pipelining)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.deadline = 0.0  # loop time by which the current answer must be whole (see HttpPool._sweep)
        self.received = False  # any byte of the current answer
        self._waiter: asyncio.Future[Response] | None = None
        self._parser: httptools.HttpResponseParser | None = None
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []

    # --- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.received = True
        if self._parser is None:  # bytes nobody asked for: the connection is not usable any more
            self._fail(HttpError("unexpected data from the server"))
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(HttpError(f"malformed HTTP response: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            reason = f": {exc}" if exc else ""
            self._waiter.set_exception(HttpError(f"connection closed before the whole answer{reason}"))

    # --- httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        parser, waiter = self._parser, self._waiter
        assert parser is not None and waiter is not None
        if not parser.should_keep_alive():
            self.close()
        self._parser = None
        if not waiter.done():
            waiter.set_result(Response(parser.get_status_code(), self._headers, b"".join(self._body)))

    # ---
    def send(self, data: bytes) -> asyncio.Future[Response]:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self._parser = httptools.HttpResponseParser(self)
        self._headers, self._body, self.received = {}, [], False
        self.transport.write(data)
        return self._waiter

    def waiting(self) -> bool:
        return self._waiter is not None and not self._waiter.done()

    def _fail(self, exc: BaseException) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)
        self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class HttpPool:
    """Keep-alive connections to one server (scheme, host and port of `base_url`), opened as needed: one per
    request in flight, reused most-recent first."""

    def __init__(self, base_url: str, headers: dict[str, str] | None = None, timeout_s: float = 120.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidUrl(f"{base_url!r} is not an http(s) URL")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")
        self.ssl: ssl.SSLContext | None = ssl.create_default_context() if parts.scheme == "https" else None
        self.timeout_s = timeout_s
        default_port = self.port == (443 if self.ssl else 80)
        host_header = self.host if default_port else f"{self.host}:{self.port}"
        merged = {"host": ("Host", host_header), "user-agent": ("User-Agent", f"harness/{harness.__version__}"),
                  "accept": ("Accept", "application/json"), "content-type": ("Content-Type", "application/json")}
        merged.update({k.lower(): (k, v) for k, v in (headers or {}).items()})  # the caller's win
        self._head = "\r\n".join(f"{k}: {v}" for k, v in merged.values())
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()
        # Connections waiting for an answer. One timer sweeps them for answers past their deadline, instead of a
        # timer a request: scheduling and cancelling a timer per request costs the run's one core.
        self._busy: set[_Connection] = set()
        self._sweeper: asyncio.TimerHandle | None = None
        self._sweeper_loop: asyncio.AbstractEventLoop | None = None  # a pool may serve one asyncio.run, then another

    async def post(self, path: str, body: bytes) -> Response:
        """POST `body` (JSON) to base_url + path. Raises HttpError, or TimeoutError after timeout_s."""
        return await self.request("POST", path, body)

    async def get(self, path: str, timeout_s: float | None = None) -> Response:
        return await self.request("GET", path, b"", timeout_s)

    async def request(self, method: str, path: str, body: bytes, timeout_s: float | None = None) -> Response:
        data = (f"{method} {self.prefix}{path} HTTP/1.1\r\n{self._head}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
        timeout = timeout_s or self.timeout_s
        deadline = asyncio.get_running_loop().time() + timeout
        while self._idle:
            conn = self._idle.pop()
            if conn.closed:
                continue
            try:
                return self._done(conn, await self._send(conn, data, deadline, timeout))
            except HttpError:
                # Nothing came back: the server had closed this idle keep-alive connection as we reused it, so
                # the request is sent again on a new connection (what every HTTP client does).
                self._drop(conn)
                if conn.received:
                    raise
            except BaseException:  # cancelled or timed out mid-answer: the connection's state is unknown
                self._drop(conn)
                raise
        async with asyncio.timeout_at(deadline):  # connecting: once a connection, so a timer of its own
            conn = await self._connect()
        try:
            return self._done(conn, await self._send(conn, data, deadline, timeout))
        except BaseException:
            self._drop(conn)
            raise

    def _send(self, conn: _Connection, data: bytes, deadline: float, timeout: float) -> asyncio.Future[Response]:
        waiter = conn.send(data)
        conn.deadline = deadline
        self._busy.add(conn)
        # Swept at least every quarter of the timeout: an answer that never comes fails within 1.25x timeout_s.
        interval = min(1.0, timeout / 4)
        loop = asyncio.get_running_loop()
        sweeper = self._sweeper
        if sweeper is None or sweeper.when() > loop.time() + interval or self._sweeper_loop is not loop:
            if sweeper is not None:
                sweeper.cancel()
            self._sweeper, self._sweeper_loop = loop.call_later(interval, self._sweep, interval), loop
        return waiter

    def _sweep(self, interval: float) -> None:
        """Fail the answers past their deadline with TimeoutError; look again while any are awaited."""
        self._sweeper = None
        now = asyncio.get_running_loop().time()
        for conn in [c for c in self._busy if not c.waiting()]:
            self._busy.discard(conn)
        for conn in [c for c in self._busy if c.deadline <= now]:
            self._busy.discard(conn)
            conn._fail(TimeoutError())
        if self._busy:
            self._sweeper = asyncio.get_running_loop().call_later(interval, self._sweep, interval)

    def _drop(self, conn: _Connection) -> None:
        conn.close()
        self._open.discard(conn)
        self._busy.discard(conn)

    def _done(self, conn: _Connection, response: Response) -> Response:
        self._busy.discard(conn)
        if conn.closed:
            self._open.discard(conn)
        else:
            self._idle.append(conn)
        return response

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(_Connection, self.host, self.port, ssl=self.ssl)
        except OSError as exc:  # refused, unreachable, name not resolved, TLS failure
            raise HttpError(f"cannot connect to {self.host}:{self.port}: {exc}") from None
        self._open.add(conn)
        return conn

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for conn in self._open:
            conn.close()
        self._open.clear()
        self._idle.clear()
        self._busy.clear()
        await asyncio.sleep(0)  # let the transports finish closing

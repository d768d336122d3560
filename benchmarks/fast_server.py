"""The overhead benchmark's loopback OpenAI-compatible server: /v1/completions answered after a fixed latency, at
most --max-concurrency at once (0 = no limit), for ~40 us of CPU a request.

Why not tests/stub_server.py: it runs on aiohttp's web server, which costs ~0.4 ms of CPU a request. On a 2-core
machine 10,000 requests would keep its core busy for 4 s, so the benchmark would measure the stub, not the harness.
This one parses with httptools on a bare asyncio protocol and answers a letter picked by a hash of the prompt (the
same rule as the stub). Completions only: it serves the benchmark's multiple_choice_joint and generation requests.

    python benchmarks/fast_server.py --port 0 --latency 0.05     # prints "listening on http://127.0.0.1:PORT"
"""

from __future__ import annotations

import argparse
import asyncio
import json
import selectors
import sys
import zlib
from collections import deque

import httptools

LETTERS = "ABCD"


class Server:
    def __init__(self, latency: float, max_concurrency: int, model: str) -> None:
        self.latency, self.model = latency, model
        self.limit, self.busy = max_concurrency, 0
        self.waiting: deque[tuple[HttpProtocol, bytes]] = deque()
        self.served = 0
        self.loop = asyncio.get_running_loop()

    def submit(self, conn: HttpProtocol, body: bytes) -> None:
        if self.limit and self.busy >= self.limit:
            self.waiting.append((conn, body))
            return
        self.busy += 1
        self.loop.call_later(self.latency, self._answer, conn, body)

    def _answer(self, conn: HttpProtocol, body: bytes) -> None:
        self.busy -= 1
        self.served += 1
        conn.respond(self.completion(body))
        if self.waiting:
            self.submit(*self.waiting.popleft())

    def completion(self, body: bytes) -> tuple[int, bytes]:
        try:
            data = json.loads(body)
            prompt = data["prompt"]
        except (ValueError, KeyError, TypeError):
            return 400, b'{"error":{"message":"expected a JSON body with a prompt"}}'
        text = " " + LETTERS[zlib.crc32(prompt.encode()) % 4]
        tokens = len(prompt) // 4 + 1
        return 200, json.dumps({
            "id": "cmpl-bench", "object": "text_completion", "model": self.model,
            "choices": [{"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}],
            "usage": {"prompt_tokens": tokens, "completion_tokens": 1, "total_tokens": tokens + 1},
        }, separators=(",", ":")).encode()


class HttpProtocol(asyncio.Protocol):
    def __init__(self, server: Server) -> None:
        self.server = server
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.body: list[bytes] = []
        self.url = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.respond((400, b'{"error":{"message":"bad request"}}'))
            assert self.transport is not None
            self.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        url, body = self.url, b"".join(self.body)
        self.url, self.body = b"", []
        if url.endswith(b"/completions") and self.parser.get_method() == b"POST":
            self.server.submit(self, body)
        elif url.endswith(b"/models"):
            self.respond((200, json.dumps({"object": "list", "data": [{"id": self.server.model}]}).encode()))
        else:
            self.respond((404, b'{"error":{"message":"not found"}}'))

    def respond(self, answer: tuple[int, bytes]) -> None:
        status, body = answer
        if self.transport is None or self.transport.is_closing():
            return
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}[status]
        self.transport.write(b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                             % (status, reason.encode(), len(body), body))


async def serve(host: str, port: int, latency: float, max_concurrency: int, model: str) -> None:
    server = Server(latency, max_concurrency, model)
    listener = await asyncio.get_running_loop().create_server(lambda: HttpProtocol(server), host, port, backlog=4096)
    print(f"listening on http://{host}:{listener.sockets[0].getsockname()[1]}", flush=True)
    await listener.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed)")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds before each answer")
    parser.add_argument("--max-concurrency", type=int, default=0, help="requests served at once; 0 = no limit")
    parser.add_argument("--model", default="stub-model")
    args = parser.parse_args()
    try:
        # select(2) takes its timeout in microseconds; epoll, asyncio's default on Linux, rounds it up to a whole
        # millisecond, and the answers came 51 ms after the requests instead of 50 (select's: 50.4, the rest is
        # waking up). The benchmark serves at most a few hundred connections, far below select's 1,024 descriptors.
        with asyncio.Runner(loop_factory=lambda: asyncio.SelectorEventLoop(selectors.SelectSelector())) as runner:
            runner.run(serve(args.host, args.port, args.latency, args.max_concurrency, args.model))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()

"""Serve a built site with the standard library (the site also works opened straight from disk)."""

from __future__ import annotations

import functools
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class _Handler(SimpleHTTPRequestHandler):
    quiet = False

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the stdlib's name)
        if not self.quiet:  # tests serve hundreds of requests; their logs would drown real output
            super().log_message(format, *args)


def make_server(site_dir: Path, host: str = "127.0.0.1", port: int = 8000, quiet: bool = False) -> ThreadingHTTPServer:
    """A ready server for site_dir, not yet serving; port=0 picks a free port (see server.server_address)."""
    site_dir = Path(site_dir)
    if not (site_dir / "index.html").is_file():
        raise FileNotFoundError(f"no index.html in {site_dir}: build the site first")
    handler = type("SiteHandler", (_Handler,), {"quiet": quiet})
    return ThreadingHTTPServer((host, port), functools.partial(handler, directory=str(site_dir)))


def server_url(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    host = host.decode() if isinstance(host, bytes) else host
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


def serve(site_dir: Path, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve site_dir until interrupted (Ctrl-C)."""
    with make_server(site_dir, host, port) as server:
        print(f"serving {site_dir} at {server_url(server)}  (Ctrl-C to stop)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("stopped", flush=True)

"""A throwaway PostgreSQL cluster for a test session: initdb into a temp dir, served on 127.0.0.1 only, with settings
that trade durability for speed (nothing in it outlives the session), stopped and deleted at the end.

PostgreSQL refuses to run as root, so as root (CI, containers) the cluster belongs to an unprivileged user:
`postgres`, which Debian's package creates."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SUPERUSER = "harness"  # the cluster's superuser (initdb -U), whatever OS user runs it
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",  # never reachable from outside this machine
    "max_connections": "200",  # tests run several harness processes, each with its own pool
    "shared_buffers": "32MB",
    "fsync": "off",  # a crash of a throwaway cluster loses nothing we want
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "logging_collector": "off",
}


def find_bin_dir() -> Path | None:
    """The directory holding initdb and pg_ctl: on PATH, else Debian's /usr/lib/postgresql/VERSION/bin (newest)."""
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl", path=str(Path(initdb).parent)):
        return Path(initdb).parent
    candidates = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb") if (p.parent / "pg_ctl").exists()]
    return max(candidates, key=lambda d: [int(n) for n in re.findall(r"\d+", d.parent.name)], default=None)  # 9.6 < 15


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PostgresServer:
    bin_dir: Path
    root: Path  # temp dir: data/, the socket and the log
    port: int
    run_as: str | None  # the OS user that owns the cluster when we are root, else None (ourselves)

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL over TCP, so other processes (the harness CLI) can use it too; trust auth, no password."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _pg(self, *args: str, timeout: float = 120) -> None:
        kwargs: dict[str, Any] = {}
        if self.run_as:
            kwargs = {"user": self.run_as, "group": pwd.getpwnam(self.run_as).pw_gid, "extra_groups": []}
        proc = subprocess.run([str(self.bin_dir / args[0]), *args[1:]], cwd=self.root, capture_output=True, text=True,
                              timeout=timeout, env={**os.environ, "LC_ALL": "C"}, **kwargs)
        if proc.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{args[0]} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}\n{log}")

    def _admin(self, statement: str, database: str) -> None:
        import psycopg
        from psycopg import sql

        # autocommit: CREATE/DROP DATABASE cannot run inside a transaction.
        with psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres", autocommit=True,
                             connect_timeout=10) as conn:
            conn.execute(sql.SQL(statement).format(sql.Identifier(database)))  # type: ignore[arg-type]

    def create_database(self) -> str:
        """A fresh, empty database with a unique name; pass it to url() and drop_database() it afterwards."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        self._admin("CREATE DATABASE {}", name)
        return name

    def drop_database(self, name: str) -> None:
        # FORCE (PostgreSQL 13+) ends connections a test left open (a Store it did not close, a killed process).
        self._admin("DROP DATABASE IF EXISTS {} WITH (FORCE)", name)

    def stop(self) -> None:
        try:
            if (self.root / "data" / "postmaster.pid").exists():
                self._pg("pg_ctl", "-D", "data", "-m", "fast", "-w", "stop", timeout=60)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def start(bin_dir: Path, attempts: int = 3) -> PostgresServer:
    """initdb and start a cluster; returns once it accepts TCP connections. The caller stop()s it."""
    run_as = None
    if os.geteuid() == 0:
        run_as = next((u for u in ("postgres", "nobody") if _user_exists(u)), None)
        if run_as is None:
            raise RuntimeError("PostgreSQL refuses to run as root and there is no `postgres` user to run it as")
    root = Path(tempfile.mkdtemp(prefix="harness-pg-"))  # short path: the unix socket's name must fit 107 bytes
    if run_as:
        entry = pwd.getpwnam(run_as)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    server = PostgresServer(bin_dir, root, 0, run_as)
    try:
        # --no-sync: nothing to make durable; trust auth: the cluster only listens on 127.0.0.1 and lives minutes.
        server._pg("initdb", "-D", "data", "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
        for attempt in range(attempts):
            server.port = _free_port()  # another process may take it before postgres binds it: then try another
            settings = {**SETTINGS, "port": str(server.port), "unix_socket_directories": f"'{root}'"}
            with open(root / "data" / "postgresql.conf", "a") as conf:  # on a retry, the later port wins
                conf.write("".join(f"{k} = {v}\n" for k, v in settings.items()))
            try:
                server._pg("pg_ctl", "-D", "data", "-l", str(server.log), "-w", "-t", "60", "start")
                break
            except RuntimeError:
                if attempt == attempts - 1:
                    raise
        _wait_for_tcp(server)
        return server
    except BaseException:
        server.stop()
        raise


def _wait_for_tcp(server: PostgresServer, timeout: float = 30) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(host="127.0.0.1", port=server.port, user=SUPERUSER, dbname="postgres", connect_timeout=5):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False

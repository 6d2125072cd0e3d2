"""A throwaway PostgreSQL cluster on loopback for the tests: initdb + pg_ctl as an unprivileged user.

The cluster lives in a temporary folder (data and unix socket), listens on 127.0.0.1 on a free port, trusts
local connections, and is stopped and deleted at the end of the session. Each test gets its own database,
copied from a template (CREATE DATABASE … TEMPLATE is a file copy: ~20 ms), so tests never see each other.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

FSYNC_OFF = ("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
# for the benchmarks: durable like SQLite's WAL with synchronous=NORMAL (a crash can lose the last commits, never
# corrupt), so the two backends are compared on the same footing
LIKE_SQLITE_NORMAL = ("-c", "synchronous_commit=off")


def server_bin() -> Path | None:
    """The newest installed server's bin folder (Debian: /usr/lib/postgresql/<major>/bin), or $PG_BIN."""
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_user(user: str | None) -> list[str]:
    """PostgreSQL refuses to run as root: drop to `user` (nobody) through runuser."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", user or "nobody", "--"]


class Cluster:
    """One running cluster; `new_database()` hands out fresh, empty databases as postgresql:// URLs."""

    def __init__(self, bindir: Path, user: str = "nobody", durable: bool = False):
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="pgtest-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self._names = itertools.count(1)
        if os.geteuid() == 0:
            shutil.chown(self.root, user)
        self._run = _as_user(user)
        subprocess.run([*self._run, str(bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                        "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"], check=True, capture_output=True)
        options = " ".join([*(LIKE_SQLITE_NORMAL if durable else FSYNC_OFF), "-c", f"port={self.port}", "-c", "listen_addresses=127.0.0.1",
                            "-c", f"unix_socket_directories={self.root}", "-c", "max_connections=60"])
        subprocess.run([*self._run, str(bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"),
                        "-o", options, "-w", "-t", "30", "start"], check=True, capture_output=True)
        self.template = "monitor_template"
        self.admin(f"CREATE DATABASE {self.template}")

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(sql)

    def new_database(self, prefix: str = "t") -> str:
        """A fresh database copied from the template; returns its URL."""
        name = f"{prefix}{os.getpid()}_{next(self._names)}"
        self.admin(f"CREATE DATABASE {name} TEMPLATE {self.template}")
        return self.url(name)

    def drop(self, url: str) -> None:
        self.admin(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")

    def restart(self) -> None:
        """What an upgrade or `systemctl restart postgresql` does: every connection is ended (fast shutdown)."""
        subprocess.run([*self._run, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"),
                        "-m", "fast", "-w", "-t", "30", "restart"], check=True, capture_output=True)

    def terminate(self, backend_pid: int) -> None:
        """End one connection from the server's side, as a restart ends them all."""
        self.admin(f"SELECT pg_terminate_backend({int(backend_pid)})")

    def stop(self) -> None:
        subprocess.run([*self._run, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w",
                        "stop"], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)

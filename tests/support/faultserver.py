"""Misbehaving servers on loopback for the fault suite, and helpers the fault tests share.

`FaultServer` is a raw TCP server: each path maps to a function that writes whatever bytes it likes to the
socket (or nothing at all), so a test can have a server that never answers, streams 50 MB without a
Content-Length, or speaks no HTTP. `dns_shim` makes every `*.invalid` name fail to resolve inside a CLI
subprocess, so the DNS-failure test needs no network and sends no query anywhere.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

Route = Callable[[socket.socket, "FaultServer"], None]


class FaultServer:
    """`with FaultServer() as fs: fs.route("/hang", hang); fs.url("/hang")` — one thread per connection."""

    def __init__(self, host: str = "127.0.0.1"):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.host, self.port = self.sock.getsockname()[:2]
        self.routes: dict[str, Route] = {}
        self.requests: list[str] = []
        self.closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> "FaultServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closed.set()
        try:
            self.sock.close()
        except OSError:
            pass

    def url(self, path: str, scheme: str = "http") -> str:
        return f"{scheme}://{self.host}:{self.port}{path}"

    def route(self, path: str, handler: Route) -> str:
        self.routes[path] = handler
        return self.url(path)

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data and len(data) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            parts = data.split(b"\r\n", 1)[0].split()
            path = parts[1].decode("latin-1") if len(parts) > 1 else ""
            self.requests.append(path)
            handler = self.routes.get(path) or self.routes.get(path.split("?")[0])
            if handler is None:
                conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            else:
                handler(conn, self)
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass


# --- route handlers --------------------------------------------------------------------------------


def hang(conn: socket.socket, server: FaultServer) -> None:
    """Accept the request and never answer (until the server is closed)."""
    server.closed.wait(60)


def garbage(conn: socket.socket, server: FaultServer) -> None:
    """Not HTTP at all."""
    conn.sendall(b"\x00\x01\x02 SSH-2.0-OpenSSH_9.6 this is not HTTP\r\n\r\n")


def stream(total: int, *, declare: bool = False, content_type: str = "application/rss+xml",
           prefix: bytes = b"<?xml version='1.0'?><rss version='2.0'><channel><title>big</title>") -> Route:
    """A body of `total` bytes sent as fast as the client reads; with declare=True, a Content-Length too."""

    def handler(conn: socket.socket, server: FaultServer) -> None:
        head = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nConnection: close\r\n"
        head += f"Content-Length: {total}\r\n" if declare else ""
        conn.sendall(head.encode() + b"\r\n")
        sent, block = 0, prefix + b" " * (65536 - len(prefix))
        server.sent = 0  # type: ignore[attr-defined]
        while sent < total and not server.closed.is_set():
            piece = block[: total - sent]
            conn.sendall(piece)
            sent += len(piece)
            server.sent = sent  # type: ignore[attr-defined]
            block = b" " * 65536

    return handler


def raw(response: bytes) -> Route:
    def handler(conn: socket.socket, server: FaultServer) -> None:
        conn.sendall(response)

    return handler


# --- shared helpers ------------------------------------------------------------------------------


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


DNS_SHIM = '''"""Test-only: names ending in .invalid fail to resolve, without asking any resolver."""
import socket as _socket

_real_getaddrinfo = _socket.getaddrinfo


def _getaddrinfo(host, *args, **kwargs):
    name = host.decode("ascii", "replace") if isinstance(host, bytes) else str(host or "")
    if name.rstrip(".").endswith(".invalid"):
        raise _socket.gaierror(_socket.EAI_NONAME, "Name or service not known")
    return _real_getaddrinfo(host, *args, **kwargs)


_socket.getaddrinfo = _getaddrinfo
'''


def dns_shim(folder: Path) -> dict[str, str]:
    """Environment for run_cli that loads the DNS shim (a sitecustomize module) before the monitor starts."""
    from tests.conftest import PROJECT

    shim = folder / "dns_shim"
    shim.mkdir(exist_ok=True)
    (shim / "sitecustomize.py").write_text(DNS_SHIM, encoding="utf-8")
    return {"PYTHONPATH": f"{shim}:{PROJECT}"}


def feeds_yaml(path: Path, feeds: list[tuple[str, str]],
               settings: str = "  timeout: 2\n  digest_interval: 1s\n") -> Path:  # a digest each run
    """Write a feeds.yaml with these (name, url) pairs and settings (indented YAML lines)."""
    lines = ["feeds:"]
    for name, url in feeds:
        lines += [f"  - name: {name}", f"    url: {url}"]
    path.write_text("\n".join(lines) + "\nsettings:\n" + settings, encoding="utf-8")
    return path


def wait_for(predicate: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def stop(proc: subprocess.Popen) -> None:
    """End a subprocess this test started (by its own handle), if it is still running."""
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)

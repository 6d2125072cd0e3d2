"""httpcore's network layer on plain asyncio streams, for the run's one event loop.

httpcore's default backend goes through anyio: every read and write opens a cancel scope (`fail_after`) and
asks anyio which task it is in. On a first cycle that bookkeeping was about a fifth of the main process's CPU
in the request path, for nothing a single asyncio loop needs. This backend does the same job with asyncio's
own streams and `asyncio.timeout`, and raises httpcore's exceptions as the anyio backend does, so httpx and
`describe_error` see no difference. netguard.GuardedBackend sits in front of it and decides where a
connection may go; this module only opens it.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
from httpcore._utils import is_socket_readable  # poll()-based; httpcore's own check


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One TCP (or TLS) connection: httpcore's read/write/close with its timeouts and exceptions."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer
        # read now: an HTTP/1.0 server closes the socket once the body is sent, and evidence names the peer
        self._peer = _address(writer.get_extra_info("peername"))
        self._local = _address(writer.get_extra_info("sockname"))

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)
        except TimeoutError:
            raise httpcore.ReadTimeout("timed out reading from the server") from None
        except (OSError, ssl.SSLError) as exc:
            raise httpcore.ReadError(str(exc) or type(exc).__name__) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            async with asyncio.timeout(timeout):
                self._writer.write(buffer)
                await self._writer.drain()
        except TimeoutError:
            raise httpcore.WriteTimeout("timed out writing to the server") from None
        except (OSError, ssl.SSLError, RuntimeError) as exc:  # RuntimeError: writing to a closed transport
            raise httpcore.WriteError(str(exc) or type(exc).__name__) from exc

    async def aclose(self) -> None:
        # as anyio does: flush what is buffered, then drop the socket. A TLS transport's close() alone waits for
        # the peer's close_notify (up to 30 s): a silent server would keep the socket open that long
        self._writer.close()
        await asyncio.sleep(0)
        self._writer.transport.abort()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> AsyncioStream:
        try:
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname,
                                             ssl_handshake_timeout=timeout)
        except TimeoutError:
            self._writer.transport.abort()
            raise httpcore.ConnectTimeout("timed out during the TLS handshake") from None
        except (OSError, ssl.SSLError, ConnectionError) as exc:
            self._writer.transport.abort()
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._writer.get_extra_info("ssl_object")
        if info == "server_addr":
            return self._peer
        if info == "client_addr":
            return self._local
        if info == "socket":
            return self._writer.get_extra_info("socket")
        if info == "is_readable":  # httpcore asks before reusing a kept-alive connection: readable = closed
            return is_socket_readable(self._writer.get_extra_info("socket"))  # poll(): any fd, not only < 1024
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """Opens connections with asyncio; the address it is given is already checked (netguard)."""

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(  # by name (a proxy, a trusted host): IPv6 and
                    host, port, local_addr=(local_address, 0) if local_address else None,  # IPv4 raced, as anyio
                    happy_eyeballs_delay=0.25)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"timed out connecting to {host}:{port}") from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        sock = writer.get_extra_info("socket")
        for option in socket_options or ():
            if sock is not None:
                sock.setsockopt(*option)
        return AsyncioStream(reader, writer)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not used")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def _address(addr: Any) -> tuple[str, int] | None:
    """(host, port) as anyio gives it, also for an IPv6 peer (whose sockaddr has four fields)."""
    if isinstance(addr, tuple) and len(addr) >= 2:
        return str(addr[0]), int(addr[1])
    return None


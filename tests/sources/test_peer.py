"""The address a page came from is evidence: it is recorded for every exchange, also from an HTTP/1.0 server
that closes the connection after each response (the socket is gone once the body is read)."""

from __future__ import annotations

import asyncio
import socket
import threading

from monitor.config.feeds import Settings
from monitor.sources.fetch import Fetcher

PAGE = b"<html><body><p>Four Pamiri men detained in Khorog.</p></body></html>"


def test_an_http_1_0_server_that_closes_after_each_response_still_has_its_peer_recorded():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    port = server.getsockname()[1]
    served: list[bytes] = []

    def answer() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                request = conn.recv(65536)
                served.append(request.split(b"\r\n", 1)[0])
                body = b"User-agent: *\nAllow: /\n" if b"/robots.txt" in request else PAGE
                conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n" + body)  # no length: close

    threading.Thread(target=answer, daemon=True).start()

    async def fetch_twice():
        async with Fetcher(Settings(), {"127.0.0.1"}) as fetcher:
            return [await fetcher.get(f"http://127.0.0.1:{port}/news/{n}") for n in (1, 2)]

    try:
        responses = asyncio.run(fetch_twice())
    finally:
        server.close()
    assert [r.content for r in responses] == [PAGE, PAGE]
    assert [r.hops[-1].peer for r in responses] == [f"127.0.0.1:{port}"] * 2
    assert any(line.startswith(b"GET /news/2") for line in served), "a new connection for each request"

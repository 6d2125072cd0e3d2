"""SSRF guard against real loopback servers: trusted feed hosts work, everything else local is refused."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from monitor.sources.netguard import (
    BlockedAddress,
    GuardedBackend,
    _Trust,
    check_url,
    classify_ip,
    is_blocked,
    make_transport,
    trusted_hosts_from,
)


class Server:
    """A loopback HTTP server that records every request line it gets (so 'never reached' is checkable)."""

    def __init__(self) -> None:
        hits: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                hits.append(self.path)
                query = parse_qs(urlsplit(self.path).query)
                if "to" in query:
                    self.send_response(302)
                    self.send_header("Location", query["to"][0])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = f"ok {self.path}".encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.hits = hits
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def srv() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


@pytest.fixture(scope="module")
def other() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


def get(url: str, trusted: set[str], *, proxy: str | None = None) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = make_transport(trusted, proxy=proxy)
        async with httpx.AsyncClient(transport=transport, follow_redirects=True, timeout=5) as client:
            return await client.get(url)

    return asyncio.run(go())


def blocked(url: str, trusted: set[str], **kw: str) -> BlockedAddress:
    with pytest.raises(httpx.ConnectError) as info:  # what the fetcher already catches
        get(url, trusted, **kw)
    found = is_blocked(info.value)
    assert found is not None, f"not a guard refusal: {info.value!r}"
    assert str(found).startswith("blocked: ")
    return found


# --- through the client, real sockets ----------------------------------------------------------


def test_trusted_feed_host_is_fetched(srv: Server) -> None:
    r = get(f"http://127.0.0.1:{srv.port}/feed.xml", trusted_hosts_from([f"http://127.0.0.1:{srv.port}/x"]))
    assert r.status_code == 200 and r.text == "ok /feed.xml"


def test_link_to_localhost_same_port_is_blocked(srv: Server) -> None:
    before = len(srv.hits)
    exc = blocked(f"http://localhost:{srv.port}/admin", {"127.0.0.1"})
    assert "localhost" in str(exc)
    assert exc.request.url.host == "localhost"  # httpx attaches the request, as for any ConnectError
    assert len(srv.hits) == before


def test_redirect_from_trusted_host_to_localhost_is_blocked(srv: Server, other: Server) -> None:
    before = len(other.hits)
    exc = blocked(f"http://127.0.0.1:{srv.port}/r?to=http://localhost:{other.port}/secret", {"127.0.0.1"})
    assert exc.target.startswith("localhost")
    assert len(other.hits) == before


def test_redirect_within_trusted_host_follows_the_rule(srv: Server, other: Server) -> None:
    url = f"http://127.0.0.1:{srv.port}/r?to=http://127.0.0.1:{other.port}/next"
    assert get(url, {"127.0.0.1"}).text == "ok /next"  # same host as a feed: allowed, any port
    pinned = trusted_hosts_from([f"http://127.0.0.1:{srv.port}/feed"], with_port=True)
    assert pinned == {f"127.0.0.1:{srv.port}"}
    exc = blocked(url, pinned)  # host:port trust: the other port is not the feed
    assert "loopback" in exc.reason


@pytest.mark.parametrize("host", ["2130706433", "0x7f.1", "0x7f000001", "017700000001", "127.1", "[::ffff:127.0.0.1]"])
def test_other_spellings_of_loopback_are_blocked(srv: Server, host: str) -> None:
    before = len(srv.hits)
    exc = blocked(f"http://{host}:{srv.port}/", {"127.0.0.1"})
    assert "loopback" in exc.reason
    assert len(srv.hits) == before


def test_trusted_name_is_trusted_as_written(srv: Server) -> None:
    assert get(f"http://localhost:{srv.port}/", {"localhost"}).status_code == 200


# --- the connection layer on its own: the resolved address decides ---------------------------------


def test_resolution_is_checked_not_the_name() -> None:
    backend = GuardedBackend(_Trust(()))
    with pytest.raises(BlockedAddress, match=r"^blocked: localhost resolves to 127\.0\.0\.1, a loopback address$"):
        asyncio.run(backend._resolve("localhost", 80, 2))


def test_plain_name_resolving_locally_is_blocked(srv: Server) -> None:
    name = socket.gethostname()  # not 'localhost', no literal: only resolution can tell
    try:
        addrs = {a[4][0] for a in socket.getaddrinfo(name, srv.port, type=socket.SOCK_STREAM)}
    except OSError:
        pytest.skip(f"{name} does not resolve here")
    if all(classify_ip(ipaddress.ip_address(a)) is None for a in addrs):
        pytest.skip(f"{name} resolves to public addresses here")
    before = len(srv.hits)
    exc = blocked(f"http://{name}:{srv.port}/", {"127.0.0.1"})
    assert "resolves to" in exc.reason
    assert len(srv.hits) == before


def test_connect_tcp_refuses_numeric_host_and_unix_sockets() -> None:
    backend = GuardedBackend(_Trust({"127.0.0.1"}))
    with pytest.raises(BlockedAddress, match="loopback"):
        asyncio.run(backend.connect_tcp("2130706433", 80, timeout=2))
    with pytest.raises(BlockedAddress, match="unix socket"):
        asyncio.run(backend.connect_unix_socket("/run/docker.sock"))


# --- proxy --------------------------------------------------------------------------------------


def test_proxy_passes_names_through_but_refuses_local_targets(srv: Server) -> None:
    proxy = f"http://127.0.0.1:{srv.port}"  # the test server answers absolute-form requests itself
    r = get("http://example.org/page", set(), proxy=proxy)  # no local DNS lookup, no real connection
    assert r.text == "ok http://example.org/page"
    before = len(srv.hits)
    for url in ("http://127.0.0.1:9/", "http://localhost/", "http://0x7f.1/", "http://169.254.169.254/"):
        blocked(url, set(), proxy=proxy)
    assert len(srv.hits) == before


def test_proxy_with_local_resolution_refuses_names_resolving_locally(srv: Server) -> None:
    name = socket.gethostname()
    try:
        addrs = {a[4][0] for a in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)}
    except OSError:
        pytest.skip(f"{name} does not resolve here")
    if all(classify_ip(ipaddress.ip_address(a)) is None for a in addrs):
        pytest.skip(f"{name} resolves to public addresses here")

    async def go() -> None:
        transport = make_transport(set(), proxy=f"http://127.0.0.1:{srv.port}", resolve_locally=True)
        async with httpx.AsyncClient(transport=transport, timeout=5) as client:
            await client.get(f"http://{name}/")

    before = len(srv.hits)
    with pytest.raises(BlockedAddress, match="resolves to"):
        asyncio.run(go())
    assert len(srv.hits) == before


# --- check_url, pure ----------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/x", "gopher://example.org:70/_x",
                                 "dict://example.org/", "javascript:alert(1)"])
def test_non_http_schemes_refused(url: str) -> None:
    with pytest.raises(BlockedAddress, match="only http and https"):
        check_url(url)


@pytest.mark.parametrize(
    "url, why",
    [
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[fd00:ec2::254]/", "metadata"),
        ("http://100.64.0.1/", "carrier-grade NAT"),
        ("http://10.1.2.3/", "private"),
        ("http://192.168.0.1:8080/", "private"),
        ("http://[fd12:3456::1]/", "unique-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://[fe80::1%25eth0]/", "link-local"),
        ("http://224.0.0.251/", "multicast"),
        ("http://[ff02::1]/", "multicast"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://0/", "unspecified"),
        ("http://[::]/", "unspecified"),
        ("http://[::1]/", "loopback"),
        ("http://[::ffff:a00:1]/", "private"),
        ("http://[2002:7f00:1::]/", "loopback"),  # 6to4 wrapping 127.0.0.1
        ("http://240.0.0.1/", "reserved"),
        ("http://LocalHost./", "localhost name"),
        ("http://api.localhost/", "localhost name"),
        ("http://0xa.1.2.3/", "private"),  # hex 0xa = 10
        ("http://012.1/", "private"),  # octal 012 = 10
    ],
)
def test_non_public_literals_refused(url: str, why: str) -> None:
    with pytest.raises(BlockedAddress, match=why):
        check_url(url)


@pytest.mark.parametrize("url", ["http://93.184.216.34/", "https://[2606:2800:220:1:248:1893:25c8:1946]/x",
                                 "https://example.org/news", "http://1.1.1.1:8080/"])
def test_public_literals_and_names_pass_check_url(url: str) -> None:
    check_url(url)  # never connected to


def test_check_url_honours_trust() -> None:
    check_url("http://127.0.0.1:8080/feed", {"127.0.0.1"})
    check_url("http://[::1]:8080/feed", {"[::1]:8080"})
    with pytest.raises(BlockedAddress):
        check_url("http://[::1]:8081/feed", {"[::1]:8080"})


def test_is_blocked_walks_the_chain() -> None:
    inner = BlockedAddress("localhost", "is a localhost name")
    try:
        try:
            raise inner
        except BlockedAddress as exc:
            raise RuntimeError("fetch failed") from exc
    except RuntimeError as outer:
        assert is_blocked(outer) is inner
    assert is_blocked(ExceptionGroup("g", [ValueError(), inner])) is inner
    assert is_blocked(httpx.ConnectError("refused")) is None

"""SSRF guard: links found in fetched content must not reach the monitor's own network.

The rule: a host the user wrote in feeds.yaml is trusted as written. Any other host (an article link, a
redirect target) may only be reached at *public* addresses: the check runs on the addresses the name
resolves to, inside the connection layer, on every new connection, and the socket is then opened to the
very address that was checked (no second lookup, so no DNS rebinding). TLS SNI and certificate checks
still use the hostname, because httpcore passes the origin host to ``start_tls`` separately.

Usage::

    transport = make_transport(trusted_hosts_from(feed_urls), proxy=settings.proxy)
    client = httpx.AsyncClient(transport=transport)   # never also pass proxy=/mounts= to the client

A blocked request raises ``BlockedAddress``, a subclass of ``httpx.ConnectError``.

With a proxy the proxy resolves names, so this side cannot see the final address. What remains: literal
IPs in any spelling and ``localhost`` names are refused before the request; names are *not* resolved
locally by default, because that would send every hostname to the local resolver and defeat a Tor/SOCKS
proxy (``resolve_locally=True`` turns that check on for a proxy on the same LAN). Whatever the proxy
itself can reach (its loopback, its LAN) is the proxy's own exit policy to restrict.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

__all__ = [
    "BlockedAddress",
    "GuardedBackend",
    "GuardedTransport",
    "check_url",
    "classify_ip",
    "is_blocked",
    "make_transport",
    "trusted_hosts_from",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES = frozenset({"http", "https"})
_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_DEFAULT_LIMITS = httpx.Limits(max_connections=64, max_keepalive_connections=16, keepalive_expiry=30.0)


class BlockedAddress(httpx.ConnectError):
    """A request refused by the guard. An httpx.ConnectError, so fetch code that handles those still works."""

    def __init__(self, target: str, reason: str) -> None:
        self.target = target
        self.reason = reason
        super().__init__(f"blocked: {target} {reason}")


def is_blocked(exc: BaseException) -> BlockedAddress | None:
    """Return the BlockedAddress behind exc (itself, its cause/context chain, or an exception group)."""
    stack, seen = [exc], set()
    while stack:
        cur = stack.pop()
        if cur is None or id(cur) in seen:
            continue
        seen.add(id(cur))
        if isinstance(cur, BlockedAddress):
            return cur
        stack.extend((cur.__cause__, cur.__context__))
        if isinstance(cur, BaseExceptionGroup):
            stack.extend(cur.exceptions)
    return None


# --- addresses ---------------------------------------------------------------------------------


def classify_ip(ip: IPAddress) -> str | None:
    """Why this address must not be reached from untrusted content ('a loopback address'), or None if public.

    Addresses that embed an IPv4 address (IPv4-mapped, 6to4, NAT64) are judged by the embedded one.
    """
    if ip in _METADATA:
        return "a cloud metadata address"
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour or (
            ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else None
        )
        if inner is not None:
            why = classify_ip(inner)
            return f"{why} ({inner} embedded in IPv6)" if why else None
        if ip.scope_id:
            return "a link-local address"
    checks = (
        ("is_unspecified", "an unspecified address"),
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
    )
    for attr, why in checks:
        if getattr(ip, attr):
            return why
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "a carrier-grade NAT (100.64/10) address"
    if isinstance(ip, ipaddress.IPv6Address) and ip in ipaddress.IPv6Network("fc00::/7"):
        return "a unique-local address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "a site-local address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private or not ip.is_global:
        return "a private address"
    return None


_INET_PART = re.compile(r"^(0x[0-9a-f]*|0[0-7]*|[1-9][0-9]*)$")


def _parse_inet_aton(host: str) -> ipaddress.IPv4Address | None:
    """Parse the legacy IPv4 spellings inet_aton accepts: 2130706433, 0x7f.1, 017700000001, 127.1."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(_INET_PART.match(p) for p in parts):
        return None
    nums = [int(p[2:] or "0", 16) if p.startswith("0x") else int(p, 8) if p.startswith("0") else int(p)
            for p in parts]
    *head, last = nums
    if any(n > 255 for n in head) or last >= 1 << (8 * (4 - len(head))):
        return None
    value = 0
    for n in head:
        value = value << 8 | n
    return ipaddress.IPv4Address(value << (8 * (4 - len(head))) | last)


def _literal_ip(host: str) -> IPAddress | None:
    """The IP a host string denotes without DNS (any IPv4 spelling, bracketed or zoned IPv6), else None."""
    h = host.strip("[]").replace("%25", "%").rstrip(".").lower()
    try:
        return ipaddress.ip_address(h)
    except ValueError:
        return _parse_inet_aton(h)


def _host_key(host: str) -> str:
    """Canonical form used to compare hosts: lowercase, no brackets, no trailing dot, IPs normalised,
    internationalised names in their ASCII (IDNA) form, as httpcore hands them to the backend."""
    h = host.strip().strip("[]").rstrip(".").lower()
    if not h.isascii():
        try:
            h = httpx.URL(scheme="http", host=h).raw_host.decode("ascii")
        except (httpx.InvalidURL, UnicodeError):
            pass
    try:
        return str(ipaddress.ip_address(h.replace("%25", "%")))
    except ValueError:
        return h


def _is_localhost_name(host: str) -> bool:
    h = _host_key(host)
    return h == "localhost" or h.endswith(".localhost")  # RFC 6761: always loopback


def _check_host(host: str) -> None:
    """Refuse localhost names and literal non-public IPs (any spelling) for an untrusted host."""
    if _is_localhost_name(host):
        raise BlockedAddress(host, "is a localhost name")
    ip = _literal_ip(host)
    if ip is not None and (why := classify_ip(ip)):
        shown = host if str(ip) == _host_key(host) else f"{host} (= {ip})"
        raise BlockedAddress(shown, f"is {why}")


# --- trust ---------------------------------------------------------------------------------------


class _Trust:
    """The user's hosts. An entry is 'host' (any port) or 'host:port' / '[v6]:port' (that port only)."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.hosts: set[str] = set()
        self.pairs: set[tuple[str, int]] = set()
        for entry in entries:
            m = re.match(r"^\[([^\]]+)\](?::(\d+))?$", entry) or re.match(r"^([^:]+):(\d+)$", entry)
            host, port = (m.group(1), m.group(2)) if m else (entry, None)
            if port is None:
                self.hosts.add(_host_key(host))
            else:
                self.pairs.add((_host_key(host), int(port)))

    def __contains__(self, host_port: tuple[str, int | None]) -> bool:
        host, port = _host_key(host_port[0]), host_port[1]
        return host in self.hosts or (port is not None and (host, port) in self.pairs)


Trust = _Trust  # build once and pass to check_url: parsing a thousand hosts per request is O(n²) per cycle


def trusted_hosts_from(urls: Iterable[str], *, with_port: bool = False) -> set[str]:
    """The trust set for make_transport from the feed URLs in feeds.yaml (and a configured proxy URL).

    with_port=True pins trust to host:port, so a feed on 127.0.0.1:8080 does not open 127.0.0.1:6379.
    """
    out: set[str] = set()
    for url in urls:
        u = httpx.URL(url)
        host = u.raw_host.decode("ascii")
        if with_port:
            port = u.port or {"https": 443, "socks5": 1080, "socks5h": 1080}.get(u.scheme, 80)
            out.add(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
        else:
            out.add(host)
    return out


def check_url(url: str | httpx.URL, trusted_hosts: Iterable[str] | _Trust = ()) -> None:
    """Refuse, without any network I/O, what is bad on its face: schemes other than http/https, and
    (for untrusted hosts) literal non-public IPs in any spelling and localhost names."""
    try:
        u = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise BlockedAddress(str(url), f"is not a valid URL ({exc})") from None
    if u.scheme not in ALLOWED_SCHEMES:
        raise BlockedAddress(str(url), f"uses the scheme {u.scheme or '(none)'!r}; only http and https")
    host = u.raw_host.decode("ascii")
    if not host:
        raise BlockedAddress(str(url), "has no host")
    trust = trusted_hosts if isinstance(trusted_hosts, _Trust) else _Trust(trusted_hosts)
    if (host, u.port or (443 if u.scheme == "https" else 80)) in trust:
        return
    _check_host(host)


# --- connection layer ----------------------------------------------------------------------------


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore network backend: resolve once, refuse non-public addresses of untrusted hosts, connect
    to the checked IP. Every new connection (each redirect to a new origin too) passes through here."""

    def __init__(self, trusted: _Trust, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._trust = trusted
        if inner is None:
            from monitor.sources.aionet import AsyncioBackend

            inner = AsyncioBackend()
        self._inner = inner

    async def _resolve(self, host: str, port: int, timeout: float | None) -> list[str]:
        try:
            async with asyncio.timeout(timeout):
                infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        addrs = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not addrs:
            raise httpcore.ConnectError(f"cannot resolve {host}: no addresses")
        for addr in addrs:
            why = classify_ip(ipaddress.ip_address(addr))
            if why:
                raise BlockedAddress(host, f"resolves to {addr}, {why}")
        return addrs

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if (host, port) in self._trust:
            return await self._inner.connect_tcp(
                host, port, timeout=timeout, local_address=local_address, socket_options=socket_options
            )
        _check_host(host)  # literal IPs and localhost: a clearer message than "resolves to"
        last: Exception | None = None
        for addr in await self._resolve(host, port, timeout):
            try:
                return await self._inner.connect_tcp(
                    addr, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedAddress(path, "is a unix socket; only TCP is allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx transport whose connection pool uses GuardedBackend; checks each request URL first."""

    def __init__(
        self,
        trusted_hosts: Iterable[str],
        *,
        proxy: str | None = None,
        retries: int = 0,
        limits: httpx.Limits = _DEFAULT_LIMITS,
        verify: ssl.SSLContext | bool = True,
        http2: bool = False,
        resolve_locally: bool = False,
    ) -> None:
        # super().__init__ is not called: it would build a pool without our backend.
        users = set(trusted_hosts)
        entries = set(users)
        self.proxy = httpx.Proxy(url=proxy) if proxy else None
        if self.proxy is not None:  # the proxy is the user's own config: reachable wherever it is
            entries |= trusted_hosts_from([str(self.proxy.url)], with_port=True)
        self._trust = _Trust(entries)
        self._request_trust = _Trust(users)
        self._resolve_locally = resolve_locally
        self.backend = GuardedBackend(self._trust)
        ssl_context = httpx.create_ssl_context(verify=verify)
        common: dict[str, Any] = dict(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=http2,
            network_backend=self.backend,
        )
        if self.proxy is None:
            self._pool = httpcore.AsyncConnectionPool(retries=retries, **common)
            return
        p = self.proxy
        proxy_url = httpcore.URL(scheme=p.url.raw_scheme, host=p.url.raw_host, port=p.url.port,
                                 target=p.url.raw_path)
        if p.url.scheme in ("http", "https"):
            self._pool = httpcore.AsyncHTTPProxy(
                proxy_url=proxy_url, proxy_auth=p.raw_auth, proxy_headers=p.headers.raw,
                proxy_ssl_context=p.ssl_context, **common,
            )
        elif p.url.scheme in ("socks5", "socks5h"):
            self._pool = httpcore.AsyncSOCKSProxy(proxy_url=proxy_url, proxy_auth=p.raw_auth, **common)
        else:
            raise ValueError(f"unsupported proxy scheme {p.url.scheme!r}: use http, https, socks5 or socks5h")

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        check_url(request.url, self._request_trust)
        host, port = request.url.raw_host.decode("ascii"), request.url.port
        port = port or (443 if request.url.scheme == "https" else 80)
        if self.proxy is not None and self._resolve_locally and (host, port) not in self._request_trust:
            try:  # best effort: a name this side cannot resolve is left to the proxy
                await self.backend._resolve(host, port, request.extensions.get("timeout", {}).get("connect"))
            except (httpcore.ConnectError, httpcore.ConnectTimeout):
                pass
        return await super().handle_async_request(request)


def make_transport(trusted_hosts: Iterable[str], **options: Any) -> GuardedTransport:
    """The transport for httpx.AsyncClient(transport=...); options as GuardedTransport takes them.

    trusted_hosts: see trusted_hosts_from(). Never pass proxy= or mounts= to the client as well: httpx would
    build its own transport for them, without the guard.
    """
    return GuardedTransport(trusted_hosts, **options)

"""HTTP fetching: concurrent, polite, bounded, and safe against third-party links.

Every request has an overall deadline (a server sending one byte a second cannot hold us), a size cap,
a per-host concurrency limit and minimum spacing, honours Retry-After, and follows redirects by hand so
each hop is checked. Untrusted URLs (links found in content) go through the SSRF guard in netguard.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import ssl
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx

from . import __version__, netguard
from .config import Settings

log = logging.getLogger("monitor.fetch")

USER_AGENT = f"pamir-monitor/{__version__} (+https://github.com/pamir-monitor; news monitoring for human-rights work)"
MAX_REDIRECTS = 10
MAX_RETRY_AFTER = 3600.0


class FetchError(Exception):
    """A request that gave no usable response; `reason` is one line a user understands."""

    def __init__(self, reason: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class Response:
    url: str  # final URL after redirects
    status: int
    headers: httpx.Headers
    content: bytes
    elapsed_ms: float

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass
class _HostGate:
    """Per-host politeness: how many requests at once, how far apart, and a pause after Retry-After."""

    slots: asyncio.Semaphore
    delay: float
    next_start: float = 0.0
    paused_until: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def wait_turn(self) -> None:
        async with self.lock:
            now = time.monotonic()
            if self.paused_until > now:
                raise FetchError(f"host asked us to wait (Retry-After), {self.paused_until - now:.0f}s left",
                                 retry_after=self.paused_until - now)
            start = max(now, self.next_start)
            self.next_start = start + self.delay
        if start > now:
            await asyncio.sleep(start - now)


class Fetcher:
    """One shared async HTTP client for a run; use `async with Fetcher(...)`."""

    def __init__(self, settings: Settings, trusted_hosts: set[str], *, user_agent: str | None = None,
                 proxy: str | None = None):
        self.settings = settings
        self.trusted_hosts = {h.lower() for h in trusted_hosts}
        self._global = asyncio.Semaphore(settings.concurrency)
        self._gates: dict[str, _HostGate] = {}
        self.requests = 0
        self.bytes = 0
        transport = netguard.make_transport(self.trusted_hosts, proxy=proxy or settings.proxy)
        self.client = httpx.AsyncClient(
            transport=transport,
            follow_redirects=False,
            timeout=httpx.Timeout(settings.timeout, connect=min(10.0, settings.timeout)),
            headers={"User-Agent": user_agent or settings.user_agent or USER_AGENT},  # httpx adds gzip/br
        )

    async def __aenter__(self) -> "Fetcher":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.client.aclose()

    def _gate(self, host: str) -> _HostGate:
        gate = self._gates.get(host)
        if gate is None:
            gate = self._gates[host] = _HostGate(asyncio.Semaphore(self.settings.per_host), self.settings.host_delay)
        return gate

    async def get(self, url: str, *, etag: str | None = None,
                  last_modified: str | None = None, max_bytes: int | None = None,
                  accept: str | None = None) -> Response:
        """GET with redirects checked hop by hop; raises FetchError with a one-line reason.

        URLs the user wrote in feeds.yaml are trusted as written; every other URL (a link from a feed, a redirect)
        may reach a private address only on one of the feeds' own hosts: netguard checks each connection.
        """
        cap = max_bytes or self.settings.max_bytes
        headers: dict[str, str] = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        if accept:
            headers["Accept"] = accept
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.settings.timeout):
                return await self._follow(url, headers, cap, started)
        except TimeoutError:
            raise FetchError(f"timed out after {self.settings.timeout:.0f}s") from None

    async def _follow(self, url: str, headers: dict[str, str], cap: int, started: float) -> Response:
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            try:
                netguard.check_url(current, self.trusted_hosts)
            except netguard.BlockedAddress as exc:
                raise FetchError(str(exc)) from None
            host = (urlsplit(current).hostname or "").lower()
            gate = self._gate(host)
            async with self._global, gate.slots:
                await gate.wait_turn()
                status, resp_headers, content = await self._request(current, headers, cap)
            if status in (301, 302, 303, 307, 308) and "location" in resp_headers:
                current = urljoin(current, resp_headers["location"].strip())
                continue
            elapsed = (time.monotonic() - started) * 1000
            if status in (429, 503):
                retry_after = _retry_after(resp_headers.get("retry-after"))
                if retry_after is not None:
                    gate.paused_until = time.monotonic() + min(retry_after, MAX_RETRY_AFTER)
                hint = f", retry after {retry_after:.0f}s" if retry_after is not None else ""
                raise FetchError(f"HTTP {status} {_phrase(status)}{hint}", status=status, retry_after=retry_after)
            if status >= 400:
                raise FetchError(f"HTTP {status} {_phrase(status)}", status=status)
            return Response(current, status, resp_headers, content, elapsed)
        raise FetchError(f"more than {MAX_REDIRECTS} redirects (a redirect loop?)")

    async def _request(self, url: str, headers: dict[str, str], cap: int) -> tuple[int, httpx.Headers, bytes]:
        self.requests += 1
        try:
            async with self.client.stream("GET", url, headers=headers) as resp:
                declared = resp.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > cap:
                    raise FetchError(f"response too large: {int(declared):,} bytes (cap {cap:,})")
                chunks: list[bytes] = []
                size = 0
                async for chunk in resp.aiter_bytes():
                    size += len(chunk)
                    if size > cap:
                        raise FetchError(f"response too large: over the {cap:,}-byte cap")
                    chunks.append(chunk)
                self.bytes += resp.num_bytes_downloaded
                return resp.status_code, resp.headers, b"".join(chunks)
        except FetchError:
            raise
        except httpx.HTTPError as exc:
            raise FetchError(describe_error(exc)) from None


def describe_error(exc: BaseException) -> str:
    """One line that says what went wrong at the network level, without a traceback."""
    blocked = netguard.is_blocked(exc)
    if blocked is not None:
        return str(blocked)
    text = " ".join(str(e) for e in _chain(exc) if str(e))
    if isinstance(exc, httpx.ConnectTimeout):
        return "timed out while connecting"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out waiting for the server"
    if any(isinstance(e, ssl.SSLError) for e in _chain(exc)) or "SSL" in text or "certificate" in text:
        return f"TLS error: {text[:200]}"
    if "Name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text \
            or "Temporary failure in name resolution" in text or "No address associated" in text:
        return "DNS lookup failed (no such host, or no network)"
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"server broke the HTTP protocol: {text[:200]}"
    if isinstance(exc, httpx.DecodingError):
        return f"could not decode the response: {text[:200]}"
    if isinstance(exc, httpx.UnsupportedProtocol):
        return f"unsupported URL scheme: {text[:200]}"
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return seen


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _phrase(status: int) -> str:
    try:
        from http import HTTPStatus

        return HTTPStatus(status).phrase
    except ValueError:
        return ""


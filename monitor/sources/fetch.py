"""HTTP fetching: concurrent, polite, bounded, and safe against third-party links.

Every request has an overall deadline (a server sending one byte a second cannot hold us; time spent
queueing for our own per-host turn does not count), a size cap, a per-host concurrency limit and minimum
spacing, honours Retry-After (a short one is waited out and the request tried once more), backs off from a
host that keeps failing, and follows redirects by hand so each hop is checked. Untrusted URLs (links found
in content) go through the SSRF guard in netguard.

robots.txt (monitor/robots.py) is honoured for every URL except the feed URLs the user wrote in feeds.yaml
(`kind: feed`): a feed is published for machines and the user asked for it by name, as any feed reader does.
Listing pages and sitemaps (`kind: site|sitemap`) are crawled, so they are checked like article pages.

Proxy: per feed (FeedSpec.proxy), else $MONITOR_PROXY, else settings.proxy; one client per proxy, each
built by netguard.make_transport so the SSRF guard stays in the path.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import os
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

import httpx

from monitor.sources import netguard

if TYPE_CHECKING:  # attributes only: a quiet cycle (monitor/quiet.py) fetches without loading pydantic
    from monitor.config.feeds import FeedSpec, Settings

log = logging.getLogger("monitor.fetch")

# What every request says about us: a common desktop browser, nothing more. Our users include exiles whose relatives
# are pressured; a User-Agent naming the project or its purpose would tell state media's server logs (and anyone on
# the path of a Tor/SOCKS exit) who is reading about GBAO. `settings: user_agent` (or a feed's `user_agent:`) may
# name the monitor openly; the README says what that costs. robots.txt is then read under the `*` group (robots.py).
USER_AGENT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
# The headers a browser sends with such a User-Agent, so the request does not stand out by what it lacks.
# No Referer, ever: it would tell each site where the link was found (a feed, a search, another outlet).
BROWSER_HEADERS = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language": "en-US,en;q=0.5",
}
MAX_REDIRECTS = 10
MAX_RETRY_AFTER = 3600.0
WAIT_RETRY_AFTER = 60.0  # a Retry-After up to this long is waited out (and the request tried once more)
FAILS_BEFORE_BACKOFF = 5  # consecutive failures of one host before it is left alone for a while
MAX_BACKOFF_ROUND = 8  # 2, 4, 8 ... 256 minutes
PROXY_ENV = "MONITOR_PROXY"
ACCEPT_FEEDS = ("application/rss+xml, application/atom+xml, application/xml;q=0.9, application/feed+json;q=0.9, "
                "*/*;q=0.5")


class FetchError(Exception):
    """A request that gave no usable response; `reason` is one line a user understands."""

    def __init__(self, reason: str, *, status: int | None = None, retry_after: float | None = None,
                 host_down: bool = False, hops: tuple = ()):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after
        self.host_down = host_down  # the host is paused or backed off: nothing was sent
        self.hops = hops  # the exchanges of an HTTP error answer (a 404 is evidence of a removal)


class RobotsDisallowed(FetchError):
    """robots.txt forbids this URL to our User-Agent; nothing was sent."""


class _NetworkError(FetchError):
    """No HTTP answer at all (refused, reset, DNS, TLS): counts towards a host's back-off."""


@dataclass(frozen=True)
class Hop:
    """One HTTP exchange as it went over the wire: the material of a WARC capture (monitor/evidence).

    `body` is the payload as received, before Content-Encoding is undone (gzip stays gzip); chunked
    transfer coding is already removed by the HTTP layer (h11), which `evidence.warc` notes in the record.
    """

    url: str
    method: str
    target: str  # the request target sent (path and query)
    request_headers: tuple[tuple[str, str], ...]  # as sent, in order
    http_version: str  # "HTTP/1.1"
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]  # as received, in order, original case
    body: bytes
    peer: str  # "ip:port" the socket was connected to (the proxy's, behind a proxy); "" when unknown
    started: datetime  # UTC, when the request was sent


@dataclass(frozen=True)
class Response:
    url: str  # final URL after redirects
    status: int
    headers: httpx.Headers
    content: bytes
    elapsed_ms: float
    hops: tuple[Hop, ...] = ()  # every exchange of this fetch, redirects and retries included, last one last

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass
class _HostGate:
    """Per-host politeness: how many requests at once, how far apart, a pause after Retry-After, and an
    exponential back-off when the host keeps failing (so a dead site is reported, not hammered)."""

    host: str
    slots: asyncio.Semaphore
    delay: float
    next_start: float = 0.0
    paused_until: float = 0.0
    failures: int = 0  # consecutive
    backoff_round: int = 0
    backoff_until: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def wait_turn(self) -> None:
        """Sleep until this host may be asked again; raise if it is backed off or paused for long."""
        while True:
            async with self.lock:
                now = time.monotonic()
                if self.backoff_until > now:
                    raise FetchError(f"host {self.host} failing repeatedly; backing off until "
                                     f"{_clock(self.backoff_until - now)}", host_down=True)
                if self.paused_until - now > WAIT_RETRY_AFTER:
                    raise FetchError(f"host asked us to wait (Retry-After), {self.paused_until - now:.0f}s left",
                                     retry_after=self.paused_until - now, host_down=True)
                if self.paused_until <= now:
                    start = max(now, self.next_start)
                    self.next_start = start + self.delay
                    break
                wait = self.paused_until - now  # a short Retry-After pause: wait it out, then queue again
            await asyncio.sleep(wait)
        if start > now:
            await asyncio.sleep(start - now)

    def succeeded(self) -> None:
        self.failures = self.backoff_round = 0

    def failed(self, reason: str) -> None:
        """Count a network error, timeout or 5xx; after FAILS_BEFORE_BACKOFF in a row, back off 2^k minutes."""
        self.failures += 1
        if self.failures < FAILS_BEFORE_BACKOFF or self.backoff_until > time.monotonic():
            return
        self.backoff_round = min(self.backoff_round + 1, MAX_BACKOFF_ROUND)
        seconds = 60.0 * 2 ** self.backoff_round
        self.backoff_until = time.monotonic() + seconds
        log.warning("host %s failed %d times in a row (last: %s); backing off until %s", self.host,
                    self.failures, reason, _clock(seconds))


class Fetcher:
    """One shared async HTTP client for a run; use `async with Fetcher(...)`."""

    def __init__(self, settings: Settings, trusted_hosts: set[str], *, user_agent: str | None = None,
                 proxy: str | None = None, feeds: Iterable[FeedSpec] = (), robots_keeper=None):
        from monitor.sources.robots import RobotsCache

        self.settings = settings
        self.trusted_hosts = {h.lower() for h in trusted_hosts}
        self._trust = netguard.Trust(self.trusted_hosts)
        self._global = asyncio.Semaphore(settings.concurrency)
        self._gates: dict[str, _HostGate] = {}
        self.requests = 0
        self.bytes = 0
        self.user_agent = user_agent or settings.user_agent or USER_AGENT
        self.default_proxy = proxy or os.environ.get(PROXY_ENV) or settings.proxy or None
        self._clients: dict[str | None, httpx.AsyncClient] = {}
        self._retired: list[httpx.AsyncClient] = []
        self._feeds_by_name: dict[str, FeedSpec] = {}
        self._feed_urls: dict[str, FeedSpec] = {}
        self.set_feeds(feeds)
        self.robots = RobotsCache(self, robots_keeper)  # robots_keeper: the Store, to keep copies between runs
        self.client = self._client(self.default_proxy)  # built now: a bad proxy URL fails at start

    def set_feeds(self, feeds: Iterable[FeedSpec]) -> None:
        """Learn the feeds (again, after a reload): which URLs are exempt from robots.txt, which proxy each uses."""
        feeds = list(feeds)
        self._feeds_by_name = {f.name: f for f in feeds}
        self._feed_urls = {f.url: f for f in feeds if f.kind == "feed"}

    def proxy_for(self, url: str, feed: str | None = None) -> str | None:
        spec = self._feeds_by_name.get(feed or "") or self._feed_urls.get(url)
        return (spec.proxy if spec and spec.proxy else None) or self.default_proxy

    def user_agent_for(self, url: str, feed: str | None = None) -> str:
        """A feed's own `user_agent:` for its feed, pages and robots.txt; else the run's."""
        spec = self._feeds_by_name.get(feed or "") or self._feed_urls.get(url)
        return (spec.user_agent if spec and spec.user_agent else None) or self.user_agent

    def _client(self, proxy: str | None) -> httpx.AsyncClient:
        client = self._clients.get(proxy)
        if client is None:
            transport = netguard.make_transport(self.trusted_hosts, proxy=proxy)
            client = self._clients[proxy] = httpx.AsyncClient(
                transport=transport,
                follow_redirects=False,
                timeout=httpx.Timeout(self.settings.timeout, connect=min(10.0, self.settings.timeout)),
                headers={"User-Agent": self.user_agent, **BROWSER_HEADERS},  # httpx adds gzip/br
            )
        return client

    async def __aenter__(self) -> "Fetcher":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def trust(self, hosts: Iterable[str]) -> None:
        """Trust more hosts (a reload added feeds). Transports copy the trust list when built, so later
        requests get new clients; the old ones finish what they carry and are closed with the fetcher."""
        new = {h.lower() for h in hosts} - self.trusted_hosts
        if not new:
            return
        self.trusted_hosts |= new
        self._trust = netguard.Trust(self.trusted_hosts)
        self._retired.extend(self._clients.values())
        self._clients = {}
        self.client = self._client(self.default_proxy)

    async def aclose(self) -> None:
        for client in [*self._retired, *self._clients.values()]:
            await client.aclose()

    def _gate(self, host: str) -> _HostGate:
        gate = self._gates.get(host)
        if gate is None:
            gate = self._gates[host] = _HostGate(host, asyncio.Semaphore(self.settings.per_host),
                                                 self.settings.host_delay)
        return gate

    def slow_down(self, host: str, delay: float) -> None:
        """Space requests to this host at least `delay` seconds apart (robots.txt Crawl-delay)."""
        gate = self._gate(host.lower())
        gate.delay = max(gate.delay, delay)

    def backed_off_hosts(self) -> list[str]:
        """Hosts currently left alone because they kept failing: for reports."""
        now = time.monotonic()
        return sorted(h for h, g in self._gates.items() if g.backoff_until > now)

    async def get(self, url: str, *, etag: str | None = None,
                  last_modified: str | None = None, max_bytes: int | None = None,
                  accept: str | None = None, feed: str | None = None, robots: bool | None = None,
                  truncate: bool = False) -> Response:
        """GET with redirects checked hop by hop; raises FetchError with a one-line reason.

        URLs the user wrote in feeds.yaml are trusted as written; every other URL (a link from a feed, a redirect)
        may reach a private address only on one of the feeds' own hosts: netguard checks each connection.
        `feed` names the feed the request is for (its proxy is used). robots.txt is checked for each hop unless
        `robots` is False, or it is None and the URL is a `kind: feed` URL from feeds.yaml. With `truncate`, a body
        over the cap is cut to its first `max_bytes` instead of refused (robots.txt: RFC 9309 parses a prefix).
        """
        cap = max_bytes or self.settings.max_bytes
        headers: dict[str, str] = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        if accept:
            headers["Accept"] = accept
        agent = self.user_agent_for(url, feed)
        if agent != self.user_agent:
            headers["User-Agent"] = agent
        if robots is None:
            robots = url not in self._feed_urls
        client = self._client(self.proxy_for(url, feed))
        return await self._follow(client, url, headers, cap, robots, feed, truncate)

    async def _follow(self, client: httpx.AsyncClient, url: str, headers: dict[str, str], cap: int,
                      robots: bool, feed: str | None, truncate: bool = False) -> Response:
        current = url
        budget = self.settings.timeout  # network time left: queueing for our own turn is not counted
        retried = False
        hops = 0
        exchanges: list[Hop] = []
        while hops <= MAX_REDIRECTS:
            try:
                netguard.check_url(current, self._trust)
            except netguard.BlockedAddress as exc:
                raise FetchError(str(exc)) from None
            if robots and not await self.robots.allowed(current, feed=feed):
                raise RobotsDisallowed(f"robots.txt of {urlsplit(current).netloc} forbids {urlsplit(current).path}")
            host = (urlsplit(current).hostname or "").lower()
            gate = self._gate(host)
            async with gate.slots, self._global:  # per host first: a busy host must not hold global slots
                await gate.wait_turn()
                started = time.monotonic()
                try:
                    async with asyncio.timeout(budget):
                        status, resp_headers, content, hop = await self._request(client, current, headers, cap,
                                                                                 truncate)
                        exchanges.append(hop)
                except TimeoutError:
                    gate.failed("timeout")
                    raise FetchError(f"timed out after {self.settings.timeout:.0f}s") from None
                except _NetworkError as exc:
                    gate.failed(exc.reason)
                    raise
                finally:
                    budget -= time.monotonic() - started
                    # spacing counts from the end of the answer: a late send never shortens the gap the host sees
                    gate.next_start = max(gate.next_start, time.monotonic() + gate.delay)
            elapsed = (self.settings.timeout - budget) * 1000
            if status >= 500:
                gate.failed(f"HTTP {status}")
            else:
                gate.succeeded()
            if status in (301, 302, 303, 307, 308) and "location" in resp_headers:
                current = urljoin(current, resp_headers["location"].strip())
                hops += 1
                continue
            if status in (429, 503):
                retry_after = _retry_after(resp_headers.get("retry-after"))
                if retry_after is not None:
                    gate.paused_until = time.monotonic() + min(retry_after, MAX_RETRY_AFTER)
                    if not retried and retry_after <= WAIT_RETRY_AFTER:
                        log.debug("%s: HTTP %d, waiting %.0fs as asked, then once more", current, status, retry_after)
                        retried = True
                        exchanges.pop()  # a 429/503 answered before the retry is not a hop of the redirect chain
                        continue  # wait_turn waits out the pause
                hint = f", retry after {retry_after:.0f}s" if retry_after is not None else ""
                raise FetchError(f"HTTP {status} {_phrase(status)}{hint}", status=status, retry_after=retry_after,
                                 hops=tuple(exchanges))
            if status >= 400:
                raise FetchError(f"HTTP {status} {_phrase(status)}", status=status, hops=tuple(exchanges))
            return Response(current, status, resp_headers, content, elapsed, tuple(exchanges))
        raise FetchError(f"more than {MAX_REDIRECTS} redirects (a redirect loop?)")

    async def _request(self, client: httpx.AsyncClient, url: str, headers: dict[str, str],
                       cap: int, truncate: bool = False) -> tuple[int, httpx.Headers, bytes, Hop]:
        self.requests += 1
        started = datetime.now(timezone.utc)
        try:
            async with client.stream("GET", url, headers=headers) as resp:
                declared = resp.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > cap and not truncate:
                    raise FetchError(f"response too large: {int(declared):,} bytes (cap {cap:,})")
                # the raw bytes are kept as evidence; the cap counts decoded bytes (gzip bombs)
                decoder = resp._get_content_decoder()  # httpx's own gzip/br/zstd chain, as aiter_bytes uses
                encoded = resp.headers.get("content-encoding", "identity").strip().lower() not in ("", "identity")
                raw: list[bytes] = []
                chunks: list[bytes] = []
                size = 0
                async for piece in resp.aiter_raw():
                    if encoded:
                        raw.append(piece)
                    chunk = decoder.decode(piece)
                    size += len(chunk)
                    if size > cap:
                        if not truncate:
                            raise FetchError(f"response too large: over the {cap:,}-byte cap")
                        chunks.append(chunk[: len(chunk) - (size - cap)])
                        break
                    chunks.append(chunk)
                chunks.append(decoder.flush())
                self.bytes += resp.num_bytes_downloaded
                content = b"".join(chunks)
                body = b"".join(raw) if encoded else content  # unencoded: the received bytes are the content
                return resp.status_code, resp.headers, content, _hop(resp, url, body, started)
        except FetchError:
            raise
        except httpx.HTTPError as exc:
            if netguard.is_blocked(exc) is not None:
                raise FetchError(describe_error(exc)) from None
            raise _NetworkError(describe_error(exc)) from None


def _hop(resp: httpx.Response, url: str, body: bytes, started: datetime) -> Hop:
    """The exchange as sent and received; the peer address comes from the socket httpcore used."""
    peer = ""
    stream = resp.extensions.get("network_stream")
    try:
        addr = stream.get_extra_info("server_addr") if stream is not None else None
        if addr:
            peer = f"[{addr[0]}]:{addr[1]}" if ":" in str(addr[0]) else f"{addr[0]}:{addr[1]}"
    except Exception:  # a transport without socket info (tests' mock transports): the address stays unknown
        peer = ""
    reason = resp.extensions.get("reason_phrase", b"")
    request = resp.request
    return Hop(
        url=url, method=request.method, target=request.url.raw_path.decode("ascii", "replace"),
        request_headers=tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw),
        http_version=resp.http_version or "HTTP/1.1", status=resp.status_code,
        reason=reason.decode("latin-1", "replace") if isinstance(reason, bytes) else str(reason or ""),
        headers=tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in resp.headers.raw),
        body=body, peer=peer, started=started,
    )


def describe_error(exc: BaseException) -> str:
    """One line that says what went wrong at the network level, without a traceback."""
    blocked = netguard.is_blocked(exc)
    if blocked is not None:
        return str(blocked)
    text = " ".join(dict.fromkeys(str(e) for e in _chain(exc) if str(e)))  # httpx repeats its cause's text
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


def _clock(seconds_from_now: float) -> str:
    """HH:MM local time, `seconds_from_now` from now: what a user reads in a log or a digest footer."""
    return (datetime.now().astimezone() + timedelta(seconds=seconds_from_now)).strftime("%H:%M")


def _phrase(status: int) -> str:
    try:
        from http import HTTPStatus

        return HTTPStatus(status).phrase
    except ValueError:
        return ""


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
import logging
import os
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

import httpx

from monitor import clock
from monitor.sources import netguard
from monitor.sources.exchange import (  # noqa: F401  (the fetch API: what callers catch and read)
    ACCEPT_FEEDS, BROWSER_HEADERS, MAX_REDIRECTS, MAX_RETRY_AFTER, PROXY_ENV, USER_AGENT, FetchError, Hop, Response,
    RobotsDisallowed, WAIT_RETRY_AFTER, _hop, _NetworkError, peer_of, _phrase, _retry_after, describe_error)
from monitor.sources.politeness import _HostGate

if TYPE_CHECKING:  # attributes only: a quiet cycle (monitor/quiet.py) fetches without loading pydantic
    from monitor.config.feeds import FeedSpec, Settings

log = logging.getLogger("monitor.fetch")


class _NoCookies(httpx.Cookies):
    """A cookie jar that keeps nothing. A cookie a site sets would be sent back on every later request of the
    run (of the service's whole life), letting the site link every poll to one monitor; no feed or article
    needs one. It also spares httpx's cookie bookkeeping on each response (~4 % of a first cycle's main CPU)."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None

    def set(self, name: str, value: str, domain: str = "", path: str = "/") -> None:
        return None


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
        self.before_request: Callable[[], None] | None = None  # raises FetchError to send nothing (hosts.py)
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
            client._cookies = _NoCookies()  # see _NoCookies; a test sends a cookie and checks it never comes back
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
            wide = getattr(self.settings, "requisites_per_host", self.settings.per_host)
            gate = self._gates[host] = _HostGate(host, asyncio.Semaphore(self.settings.per_host),
                                                 self.settings.host_delay, requisite_slots=asyncio.Semaphore(wide))
        return gate

    def slow_down(self, host: str, delay: float) -> None:
        """Space requests to this host at least `delay` seconds apart (robots.txt Crawl-delay)."""
        gate = self._gate(host.lower())
        gate.delay = max(gate.delay, delay)

    def pause_left(self, host: str) -> float:
        """Seconds this host is still left alone (back-off or Retry-After); 0 when it may be asked."""
        gate = self._gates.get(host.lower())
        return max(0.0, gate.backoff_until - time.monotonic(), gate.paused_until - time.monotonic()) if gate else 0.0

    def backed_off_hosts(self) -> list[str]:
        """Hosts currently left alone because they kept failing: for reports."""
        now = time.monotonic()
        return sorted(h for h, g in self._gates.items() if g.backoff_until > now)

    async def get(self, url: str, *, etag: str | None = None,
                  last_modified: str | None = None, max_bytes: int | None = None,
                  accept: str | None = None, feed: str | None = None, robots: bool | None = None,
                  truncate: bool = False, requisite: bool = False) -> Response:
        """GET with redirects checked hop by hop; raises FetchError with a one-line reason.

        URLs the user wrote in feeds.yaml are trusted as written; every other URL (a link from a feed, a redirect)
        may reach a private address only on one of the feeds' own hosts: netguard checks each connection.
        `feed` names the feed the request is for (its proxy is used). robots.txt is checked for each hop unless
        `robots` is False, or it is None and the URL is a `kind: feed` URL from feeds.yaml. With `truncate`, a body
        over the cap is cut to its first `max_bytes` instead of refused (robots.txt: RFC 9309 parses a prefix).
        A `requisite` (a matched page's image, stylesheet or font) takes one of the host's `requisites_per_host`
        slots instead of its `per_host` ones: a browser showing the page loads them that wide. Spacing,
        Retry-After and back-off are the host's, whichever slots a request takes.
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
        return await self._follow(client, url, headers, cap, robots, feed, truncate, requisite)

    async def _follow(self, client: httpx.AsyncClient, url: str, headers: dict[str, str], cap: int,
                      robots: bool, feed: str | None, truncate: bool = False, requisite: bool = False) -> Response:
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
            slots = gate.requisite_slots if requisite and gate.requisite_slots else gate.slots
            async with slots, self._global:  # per host first: a busy host must not hold global slots
                await gate.wait_turn()
                if self.before_request is not None:  # hosts.py: is this host's lease still its own?
                    self.before_request()
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
        started = clock.now()
        try:
            async with client.stream("GET", url, headers=headers) as resp:
                peer = peer_of(resp)  # now: an HTTP/1.0 server closes the socket once the body is sent
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
                return resp.status_code, resp.headers, content, _hop(resp, url, body, started, peer)
        except FetchError:
            raise
        except httpx.HTTPError as exc:
            if netguard.is_blocked(exc) is not None:
                raise FetchError(describe_error(exc)) from None
            raise _NetworkError(describe_error(exc)) from None



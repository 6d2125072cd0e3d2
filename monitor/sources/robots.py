"""robots.txt, per host, cached, fetched through the run's own Fetcher (same proxy, same politeness).

Why not urllib.robotparser: it applies the first matching rule and knows no `*`/`$` wildcards, while real
sites (WordPress, news CMSs) write `Disallow: /*?s=` and `Allow:` exceptions that RFC 9309 resolves by the
longest match. The matcher below follows RFC 9309 in ~60 lines.

Policy (documented in the README's politeness section):
- 2xx: the rules of the `*` group. The default User-Agent is a browser's and names no product of ours, so no
  group is ours and `*` applies (a `User-agent: Mozilla` group is for browsers, not for us). Only a user who set
  `user_agent:` to a product token of their own (`pamir-monitor/1.0 …`) gets that token's group, else `*`.
  `Crawl-delay` widens the host's spacing (capped at MAX_CRAWL_DELAY).
- 4xx (404, 410, 401, 403 ...): no robots.txt to honour, everything is allowed (RFC 9309 2.3.1.3).
- 5xx, timeout, network error: allowed, logged at debug, and asked again after ERROR_TTL; a copy that was
  read earlier keeps applying. RFC 9309 would assume "disallow"; for a monitor that asks a host for a few
  pages an hour, losing a story to a flaky robots.txt costs more than one polite request.
- Larger than MAX_ROBOTS_BYTES: its first 500 KB are parsed (RFC 9309 2.5), not the whole file ignored.
- Exempt: the feed URLs the user wrote in feeds.yaml (decided in fetch.py), and /robots.txt itself.
- Kept between runs in the state (table `robots`) for its time to live, so a run with a few new items asks no
  host again; a host never seen before is asked together with its feed (`prefetch`), not after it, which
  saves one round trip on a new host's first articles.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from monitor import clock
from monitor.sources.exchange import FetchError

if TYPE_CHECKING:
    from monitor.sources.exchange import Response


class PageGetter(Protocol):
    """What robots.txt needs of the run's Fetcher (monitor/sources/fetch.py): its User-Agent, a GET through the
    same proxy and limits, and a way to widen a host's spacing."""

    user_agent: str

    async def get(self, url: str, **options) -> Response: ...

    def slow_down(self, host: str, delay: float) -> None: ...

log = logging.getLogger("monitor.robots")

MAX_ROBOTS_BYTES = 512_000  # RFC 9309: parse at least 500 KiB
OK_TTL = 24 * 3600.0
MISSING_TTL = 6 * 3600.0
ERROR_TTL = 600.0
MAX_CRAWL_DELAY = 30.0
MAX_HOSTS = 5000


@dataclass
class Rules:
    """The rules of one robots.txt that apply to us; an empty Rules allows everything."""

    rules: list[tuple[bool, str, re.Pattern[str]]] = field(default_factory=list)  # (allow, pattern, regex)
    crawl_delay: float | None = None
    sitemaps: list[str] = field(default_factory=list)

    def allows(self, path: str) -> bool:
        """RFC 9309: the longest matching pattern decides; on a tie, Allow wins."""
        if path == "/robots.txt":
            return True
        best: tuple[int, bool] | None = None
        for allow, pattern, regex in self.rules:
            if regex.match(path):
                key = (len(pattern), allow)
                if best is None or key > best:
                    best = key
        return True if best is None else best[1]


def _regex(pattern: str) -> re.Pattern[str]:
    anchored = pattern.endswith("$")
    body = ".*".join(re.escape(part) for part in (pattern[:-1] if anchored else pattern).split("*"))
    return re.compile(body + ("$" if anchored else ""))


def parse_robots(text: str, token: str) -> Rules:
    """Parse robots.txt for the product token `token` (lowercase); groups for `*` apply when none names us."""
    groups: list[tuple[list[str], list[tuple[str, str]]]] = []
    sitemaps: list[str] = []
    agents: list[str] = []
    lines: list[tuple[str, str]] = []
    in_rules = False
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if ":" not in line:
            continue
        key, value = (part.strip() for part in line.split(":", 1))
        key = key.lower()
        if key == "sitemap":
            if value:
                sitemaps.append(value)
        elif key == "user-agent":
            if in_rules:  # a user-agent line after rules opens a new group
                agents, lines, in_rules = [], [], False
            if not agents:
                groups.append((agents, lines))
            agents.append(value.lower())
        elif key in ("allow", "disallow", "crawl-delay") and groups:
            in_rules = True
            lines.append((key, value))
    mine = [rules for names, rules in groups if any(n.split("/")[0] == token for n in names if n != "*")]
    if not mine:
        mine = [rules for names, rules in groups if "*" in names]
    out = Rules(sitemaps=sitemaps)
    for rules in mine:
        for key, value in rules:
            if key == "crawl-delay":
                try:
                    out.crawl_delay = max(out.crawl_delay or 0.0, float(value))
                except ValueError:
                    pass
            elif value:  # an empty Disallow allows everything: no rule
                pattern = value if value.startswith(("/", "*")) else "/" + value
                out.rules.append((key == "allow", pattern, _regex(pattern)))
    return out


def product_token(user_agent: str) -> str:
    """The robots.txt token a User-Agent stands for: "*" for a browser-like one (it names no product of ours)."""
    token = re.split(r"[/\s]", user_agent.strip(), maxsplit=1)[0].lower()
    return "*" if not token or token == "mozilla" else token


@dataclass
class _Entry:
    rules: Rules
    expires: float


class RobotsKeeper(Protocol):
    """Where robots.txt copies outlive a run (the Store: monitor/store/robots.py)."""

    def robots_load(self, origin: str) -> tuple[str, float] | None: ...
    def robots_known(self, origin: str) -> bool: ...
    def robots_save(self, origin: str, body: str, expires_at: float) -> None: ...


class RobotsCache:
    """robots.txt of every host the run touches, asked once per host (concurrent callers share the fetch)."""

    def __init__(self, fetcher: PageGetter, keeper: RobotsKeeper | None = None):
        self.fetcher = fetcher
        self.keeper = keeper
        self.token = product_token(fetcher.user_agent)
        self._cache: dict[str, _Entry] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._prefetching: set[asyncio.Task] = set()
        self._known: set[str] = set()  # origins the state has a robots.txt of: not asked of the state again

    async def rules(self, url: str, *, feed: str | None = None) -> Rules:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}".lower()
        entry = self._cache.get(origin)
        if entry and entry.expires > time.monotonic():
            return entry.rules
        lock = self._locks.setdefault(origin, asyncio.Lock())
        async with lock:
            entry = self._cache.get(origin)
            if entry and entry.expires > time.monotonic():
                return entry.rules
            kept = self._kept(origin)
            if kept is not None:
                rules, ttl = kept
            else:
                rules, ttl, body = await self._fetch(origin, entry.rules if entry else None, feed)
                if body is not None and self.keeper is not None:
                    self.keeper.robots_save(origin, body, clock.time() + ttl)
            if len(self._cache) >= MAX_HOSTS:
                self._cache.pop(next(iter(self._cache)))
            self._cache[origin] = _Entry(rules, time.monotonic() + ttl)
            if rules.crawl_delay:
                self.fetcher.slow_down(parts.hostname or "", min(rules.crawl_delay, MAX_CRAWL_DELAY))
            return rules

    def prefetch(self, url: str, *, feed: str | None = None) -> None:
        """Ask a host never seen before for its robots.txt now, alongside its feed, in the background.

        Only for new hosts: one whose copy merely expired is asked when an article needs it, so a cycle in
        which every feed answers 304 sends nothing more than the feeds' own requests.
        """
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}".lower()
        if origin in self._cache or origin in self._locks or origin in self._known:
            return
        if self.keeper and self.keeper.robots_known(origin):  # a feed's host: asked once per process, not per poll
            self._known.add(origin)
            return
        task = asyncio.get_running_loop().create_task(self._quietly(url, feed))
        self._prefetching.add(task)
        task.add_done_callback(self._prefetching.discard)

    async def _quietly(self, url: str, feed: str | None) -> None:
        try:
            await self.rules(url, feed=feed)
        except FetchError:  # the host is backed off: the articles' own checks will say so
            pass

    def _kept(self, origin: str) -> tuple[Rules, float] | None:
        """The copy kept in the state by an earlier run, with the seconds it has left."""
        row = self.keeper.robots_load(origin) if self.keeper is not None else None
        if row is None:
            return None
        body, expires_at = row
        return parse_robots(body, self.token), max(1.0, expires_at - clock.time())

    async def allowed(self, url: str, *, feed: str | None = None) -> bool:
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        ok = (await self.rules(url, feed=feed)).allows(path)
        if not ok:
            log.debug("robots.txt of %s forbids %s", parts.netloc, path)
        return ok

    async def sitemaps(self, url: str, *, feed: str | None = None) -> list[str]:
        """The `Sitemap:` lines of the host's robots.txt (sitemap auto-discovery)."""
        return list((await self.rules(url, feed=feed)).sitemaps)

    async def _fetch(self, origin: str, previous: Rules | None, feed: str | None) -> tuple[Rules, float, str | None]:
        """(rules, seconds to keep them, the text to keep between runs: None for a passing failure)."""
        try:
            response = await self.fetcher.get(origin + "/robots.txt", robots=False, feed=feed,
                                              max_bytes=MAX_ROBOTS_BYTES, accept="text/plain", truncate=True)
        except FetchError as exc:
            if exc.host_down:
                raise  # paused or backed off: the caller's own request would fail the same way
            if exc.status is not None and 400 <= exc.status < 500:
                return Rules(), MISSING_TTL, ""
            log.debug("robots.txt of %s unavailable (%s): allowed until asked again", origin, exc)
            return previous or Rules(), ERROR_TTL, None
        text = response.content.decode("utf-8", "replace")
        if "<html" in text[:512].lower():  # a soft 404: an HTML page where robots.txt should be
            return Rules(), MISSING_TTL, ""
        return parse_robots(text, self.token), OK_TTL, text

"""`monitor check-config --probe`: does each source answer, with what, and how many items?

A source list goes stale quietly (a CMS moves its feed, a channel goes private, a feed answers with an empty
channel for months). The probe asks every enabled source once, through the same Fetcher and parsers a poll
uses, and reports per source: what it answered (a feed, a listing page, a sitemap, a channel), how many items
and how recent the newest is, or the one-line reason it failed. It writes nothing to the state.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from monitor import clock
from monitor.config.feeds import FeedsFile, FeedSpec
from monitor.sources.fetch import Fetcher, FetchError
from monitor.sources.feeds import ParseError, parse_feed

_WHAT = {"feed": "feed", "site": "listing page", "sitemap": "sitemap", "telegram": "channel"}


@dataclass(frozen=True)
class ProbeResult:
    name: str
    kind: str
    ok: bool
    items: int = 0
    newest: datetime | None = None
    error: str = ""
    elapsed_ms: float = 0.0

    def line(self, now: datetime | None = None) -> str:
        if not self.ok:
            return f"FAILED  {self.name} ({self.kind}): {self.error}"
        what = _WHAT.get(self.kind, self.kind)
        newest = f", newest {_ago(self.newest, now)}" if self.newest else ""
        warn = "EMPTY " if self.items == 0 else "ok    "
        return f"{warn}  {self.name}: {what}, {self.items} item(s){newest} ({self.elapsed_ms:.0f} ms)"


async def probe(feeds: FeedsFile, fetcher: Fetcher | None = None) -> list[ProbeResult]:
    """Probe every enabled source concurrently (per-host limits still apply); results in feeds.yaml order."""
    specs = [f for f in feeds.feeds if f.enabled]
    own = fetcher is None
    if fetcher is None:
        trusted = {(urlsplit(f.url).hostname or "").lower() for f in feeds.feeds}
        fetcher = Fetcher(feeds.settings, trusted, feeds=feeds.feeds)
    try:
        return list(await asyncio.gather(*(_one(spec, fetcher) for spec in specs)))
    finally:
        if own:
            await fetcher.aclose()


async def _one(spec: FeedSpec, fetcher: Fetcher) -> ProbeResult:
    started = time.monotonic()
    try:
        if spec.kind == "feed":
            response = await fetcher.get(spec.url, feed=spec.name,
                                         accept="application/rss+xml, application/atom+xml, application/xml;q=0.9, "
                                                "application/feed+json;q=0.9, */*;q=0.5")
            entries = parse_feed(spec.name, response.content, url=response.url, headers=dict(response.headers))
        else:
            from monitor.sources import crawl

            # a sitemap: what changed this month (a listing page or a channel: what it shows now)
            since = clock.now() - timedelta(days=30) if spec.kind == "sitemap" else None
            entries = await crawl.entries_for(spec, fetcher, None, since=since)  # type: ignore[arg-type]
    except (FetchError, ParseError) as exc:
        return ProbeResult(spec.name, spec.kind, False, error=str(exc),
                           elapsed_ms=(time.monotonic() - started) * 1000)
    dates = [e.published for e in entries if e.published]
    return ProbeResult(spec.name, spec.kind, True, items=len(entries), newest=max(dates, default=None),
                       elapsed_ms=(time.monotonic() - started) * 1000)


def _ago(when: datetime, now: datetime | None = None) -> str:
    seconds = ((now or clock.now()) - when).total_seconds()
    if seconds < 0:
        return when.strftime("%Y-%m-%d")
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return "just now"

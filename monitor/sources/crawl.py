"""Every source kind that is not a plain feed, behind one interface: `entries_for` (a regular poll) and
`archive` (the walks a backfill needs: feed pages, older listing pages, whole sitemap indexes). Listing pages
(`kind: site`) are read by sites.py, XML sitemaps (`kind: sitemap`) by sitemaps.py, public Telegram channels
(`kind: telegram`) by telegram.py.

Everything is fetched through the run's Fetcher, so per-host limits, spacing, Retry-After, back-off and
robots.txt apply; links robots.txt forbids are dropped here, before the pipeline would ask for them.
Sitemaps are parsed with defusedxml (no DTD, so no entity expansion) and gunzipped under a size cap.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

from monitor import clock
from monitor.config.feeds import FeedSpec
from monitor.sources.fetch import Fetcher, FetchError
from monitor.models import FeedEntry
from monitor.sources.feeds import ParseError, parse_feed
from monitor.sources.sitemaps import sitemap_walk
from monitor.sources.sites import _next_feed_link, _with_query, listing_page
from monitor.store import Store

log = logging.getLogger("monitor.crawl")

MAX_PAGES = 200  # feed or listing pages walked back by one backfill of one source
POLL_WINDOW = timedelta(days=2)  # a regular poll of a sitemap looks this far behind the last success
MAX_POLL_ENTRIES = 100  # entries one regular poll of a site or sitemap hands to the pipeline


# --- the regular poll -------------------------------------------------------------------------------


async def entries_for(spec: FeedSpec, fetcher: Fetcher, store: Store, *, since: datetime | None) -> list[FeedEntry]:
    """The current entries of a `kind: site` or `kind: sitemap` source, for one poll.

    A site gives the article links of its listing page; a sitemap the URLs changed since the last success
    (less POLL_WINDOW), or since `since` when the run has one. Raises FetchError/ParseError like a feed.
    """
    if spec.kind == "telegram":
        from monitor.sources import telegram

        return await telegram.entries_for(spec, fetcher, store, since=since)
    if spec.kind == "site":
        entries, _ = await listing_page(spec, fetcher, spec.url)
    else:
        if since is None:
            state = store.feed_state(spec.name)
            last = state.last_success if state else None
            since = (last or clock.now()) - POLL_WINDOW
        entries = [e async for batch in sitemap_walk(spec, fetcher, since=since, until=None) for e in batch]
    entries = [e for e in entries if not (since and e.published and e.published < since)]
    entries.sort(key=lambda e: e.published or datetime.min.replace(tzinfo=timezone.utc), reverse=True)
    return entries[:MAX_POLL_ENTRIES]


# --- archive walks (backfill) --------------------------------------------------------------------------


async def archive(spec: FeedSpec, fetcher: Fetcher, *, since: datetime,
                  until: datetime | None) -> AsyncIterator[list[FeedEntry]]:
    """What the source offers for [since, until], page by page (newest first where the source orders so).

    Entries dated outside the period are dropped here; undated ones are judged by the pipeline on the page's
    own date. The caller may stop early (`break`); a first page that fails raises FetchError/ParseError.
    """
    if spec.kind == "telegram":
        from monitor.sources import telegram

        walk = telegram.archive(spec, fetcher, since=since, until=until)
    elif spec.kind == "sitemap":
        walk = sitemap_walk(spec, fetcher, since=since, until=until)
    elif spec.kind == "site":
        walk = _listing_walk(spec, fetcher, since=since)
    else:
        walk = _feed_walk(spec, fetcher, since=since)
    async for batch in walk:
        yield [e for e in batch if e.published is None or (e.published >= since and not (until and e.published > until))]


async def _feed_walk(spec: FeedSpec, fetcher: Fetcher, *, since: datetime) -> AsyncIterator[list[FeedEntry]]:
    """The feed, then its older pages: RFC 5005 `rel=next`, else WordPress `?paged=N` while it gives new items."""
    url: str | None = spec.url
    seen: set[str] = set()
    for page in range(1, MAX_PAGES + 1):
        assert url is not None
        try:
            response = await fetcher.get(url, feed=spec.name, accept="application/rss+xml, application/atom+xml, "
                                         "application/xml;q=0.9, */*;q=0.5")
            entries = parse_feed(spec.name, response.content, url=response.url, headers=dict(response.headers))
        except (FetchError, ParseError) as exc:
            if page == 1:
                raise
            log.debug("%s: no page %d (%s): end of its archive", spec.name, page, exc)
            return
        new = [e for e in entries if e.url not in seen]
        if not new:
            return  # the site ignores the page parameter: page N is page 1 again
        seen.update(e.url for e in new)
        yield new
        if _all_before(new, since):
            return
        url = _next_feed_link(response.content, response.url) or _with_query(spec.url, paged=str(page + 1))


async def _listing_walk(spec: FeedSpec, fetcher: Fetcher, *, since: datetime) -> AsyncIterator[list[FeedEntry]]:
    """The listing page, then the pages its "next" links lead to."""
    url: str | None = spec.url
    seen_links: set[str] = set()
    visited: set[str] = set()
    while url and len(visited) < MAX_PAGES:
        visited.add(url)
        try:
            entries, next_url = await listing_page(spec, fetcher, url)
        except FetchError as exc:
            if len(visited) == 1:
                raise
            log.debug("%s: listing page %s failed (%s): stopping there", spec.name, url, exc)
            return
        new = [e for e in entries if e.url not in seen_links]
        if not new:
            return
        seen_links.update(e.url for e in new)
        yield new
        if _all_before(new, since):
            return
        url = next_url if next_url not in visited else None


def _all_before(entries: list[FeedEntry], since: datetime) -> bool:
    dated = [e.published for e in entries if e.published]
    return bool(dated) and len(dated) == len(entries) and max(dated) < since


# --- listing pages ---------------------------------------------------------------------------------


# --- sitemaps ------------------------------------------------------------------------------------


# --- feed auto-discovery -----------------------------------------------------------------------------



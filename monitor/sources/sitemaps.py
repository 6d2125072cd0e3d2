"""XML sitemaps (`kind: sitemap`): indexes, news sitemaps, gzip, parsed with defusedxml under a size cap."""

from __future__ import annotations

import io
import logging
import re
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from monitor.config.feeds import FeedSpec
from monitor.models import FeedEntry
from monitor.sources.feeds import ParseError, plain_text
from monitor.sources.fetch import Fetcher, FetchError
from monitor.sources.sites import _site, parse_date

log = logging.getLogger("monitor.crawl")


MAX_SITEMAP_BYTES = 50_000_000  # the sitemap protocol's own limit, uncompressed



MAX_SITEMAPS = 500  # sitemap files read for one source in one walk



_XML_ACCEPT = "application/xml, text/xml;q=0.9, */*;q=0.5"



@dataclass(frozen=True)
class SitemapItem:
    loc: str
    lastmod: datetime | None = None
    published: datetime | None = None  # news:publication_date
    title: str = ""



async def sitemap_walk(spec: FeedSpec, fetcher: Fetcher, *, since: datetime | None,
                       until: datetime | None) -> AsyncIterator[list[FeedEntry]]:
    """Read the source's sitemaps (an index's children too) and yield, per sitemap file, its URLs in range.

    A child sitemap, or a URL, whose lastmod is before `since` is skipped unread: it cannot hold a newer story.
    A source URL that is a site root or a robots.txt means: the sitemaps robots.txt lists, else /sitemap.xml.
    """
    queue = await _sitemap_roots(spec, fetcher)
    done: set[str] = set()
    site = _site(spec.url)
    regex = re.compile(spec.links) if spec.links else None
    while queue and len(done) < MAX_SITEMAPS:
        url = queue.pop(0)
        if url in done:
            continue
        done.add(url)
        try:
            response = await fetcher.get(url, feed=spec.name, accept=_XML_ACCEPT, max_bytes=MAX_SITEMAP_BYTES)
            kind, items = parse_sitemap(gunzip(response.content))
        except (FetchError, ParseError) as exc:
            if len(done) == 1:
                raise
            log.warning("%s: sitemap %s: %s", spec.name, url, exc)
            continue
        if kind == "index":
            queue += [i.loc for i in items if not (since and i.lastmod and i.lastmod < since)
                      and _site(i.loc) == site]
            continue
        batch = []
        for item in items:
            if _site(item.loc) != site or (regex and not regex.search(item.loc)):
                continue
            if since and ((item.lastmod and item.lastmod < since) or (item.published and item.published < since)):
                continue
            if until and item.published and item.published > until:
                continue
            if not await fetcher.robots.allowed(item.loc, feed=spec.name):
                continue
            # lastmod is a modification date, not publication: it only filters; the page's own date decides
            batch.append(FeedEntry(feed=spec.name, url=item.loc, title=item.title, published=item.published))
        if batch:
            yield batch



async def _sitemap_roots(spec: FeedSpec, fetcher: Fetcher) -> list[str]:
    parts = urlsplit(spec.url)
    if parts.path not in ("", "/", "/robots.txt"):
        return [spec.url]
    found = await fetcher.robots.sitemaps(spec.url, feed=spec.name)
    return found or [f"{parts.scheme}://{parts.netloc}/sitemap.xml"]



def gunzip(data: bytes, cap: int = MAX_SITEMAP_BYTES) -> bytes:
    """Decompress a .xml.gz sitemap (served as raw gzip); refuse more than `cap` bytes out (a gzip bomb)."""
    if data[:2] != b"\x1f\x8b":
        return data
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, cap + 1)
    except zlib.error as exc:
        raise ParseError(f"broken gzip: {exc}") from None
    if len(out) > cap or inflater.unconsumed_tail:
        raise ParseError(f"sitemap too large when decompressed (over {cap:,} bytes)")
    return out



def parse_sitemap(data: bytes) -> tuple[str, list[SitemapItem]]:
    """('index' | 'urlset', items) from sitemap XML. DTDs (and so entities) are refused outright."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import iterparse
    from xml.etree.ElementTree import ParseError as XMLError

    kind = ""
    items: list[SitemapItem] = []
    try:
        for _event, elem in iterparse(io.BytesIO(data), events=("end",), forbid_dtd=True):
            name = elem.tag.rsplit("}", 1)[-1]
            if name in ("urlset", "sitemapindex"):
                kind = "index" if name == "sitemapindex" else "urlset"
            elif name in ("url", "sitemap"):
                fields = {c.tag.rsplit("}", 1)[-1]: c for c in elem.iter()}
                loc = (fields["loc"].text or "").strip() if "loc" in fields else ""
                if loc.startswith(("http://", "https://")):
                    items.append(SitemapItem(
                        loc=loc, lastmod=parse_date(_text(fields.get("lastmod"))),
                        published=parse_date(_text(fields.get("publication_date"))),
                        title=plain_text(_text(fields.get("title")) or "")))
                elem.clear()
    except (XMLError, DefusedXmlException) as exc:
        raise ParseError(f"not a sitemap: {exc}") from None
    if not kind:
        raise ParseError("not a sitemap: neither <urlset> nor <sitemapindex>")
    return kind, items



def _text(elem) -> str | None:
    return elem.text.strip() if elem is not None and elem.text else None

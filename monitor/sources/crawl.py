"""Sources without a usable feed: listing pages (`kind: site`), XML sitemaps (`kind: sitemap`), the archive
walks a backfill needs (feed pages, older listing pages, whole sitemap indexes), and feed auto-discovery.
`entries_for` and `archive` are the one interface of every kind that is not a feed; `kind: telegram` is
dispatched to monitor/sources/telegram.py.

Everything is fetched through the run's Fetcher, so per-host limits, spacing, Retry-After, back-off and
robots.txt apply; links robots.txt forbids are dropped here, before the pipeline would ask for them.
Sitemaps are parsed with defusedxml (no DTD, so no entity expansion) and gunzipped under a size cap.
"""

from __future__ import annotations

import io
import logging
import re
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from monitor.config.feeds import FeedSpec, Settings
from monitor.extract.text import decode_html
from monitor.sources.fetch import Fetcher, FetchError
from monitor.models import FeedEntry
from monitor.sources.feeds import ParseError, parse_feed, plain_text
from monitor.store import Store

log = logging.getLogger("monitor.crawl")

MAX_SITEMAP_BYTES = 50_000_000  # the sitemap protocol's own limit, uncompressed
MAX_SITEMAPS = 500  # sitemap files read for one source in one walk
MAX_PAGES = 200  # feed or listing pages walked back by one backfill of one source
POLL_WINDOW = timedelta(days=2)  # a regular poll of a sitemap looks this far behind the last success
MAX_POLL_ENTRIES = 100  # entries one regular poll of a site or sitemap hands to the pipeline
_XML_ACCEPT = "application/xml, text/xml;q=0.9, */*;q=0.5"
_SKIP_EXT = re.compile(r"\.(?:jpe?g|png|gif|webp|svg|pdf|docx?|xlsx?|zip|rar|mp[34]|avi|mov|css|js|xml|rss)$", re.I)
_NAV_PATH = re.compile(r"/(?:tags?|category|categories|rubric|topics?|authors?|page|search|login|register|"
                       r"feed|rss|about|contacts?|privacy|subscribe|archive)(?:/|$)", re.I)
_URL_DATE = re.compile(r"/(20\d\d|19\d\d)[/-](\d\d)[/-](\d\d)(?:/|[-_]|$)")
_NEXT_WORDS = {"next", "next page", "older", "older posts", "older entries", "»", "›", "следующая", "далее",
               "дальше", "ещё", "еще", "следующая страница", "баъдӣ", "بعدی"}


@dataclass(frozen=True)
class SitemapItem:
    loc: str
    lastmod: datetime | None = None
    published: datetime | None = None  # news:publication_date
    title: str = ""


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
            since = (last or datetime.now(timezone.utc)) - POLL_WINDOW
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


async def listing_page(spec: FeedSpec, fetcher: Fetcher, url: str) -> tuple[list[FeedEntry], str | None]:
    """(article links on one listing page that robots.txt allows, the URL of the next page or None)."""
    response = await fetcher.get(url, feed=spec.name)
    html = decode_html(response.content, response.headers.get("content-type"))
    links, next_url = extract_links(html, response.url, pattern=spec.links)
    allowed = []
    for link, title, published in links:
        try:
            if await fetcher.robots.allowed(link, feed=spec.name):
                allowed.append(FeedEntry(feed=spec.name, url=link, title=title, published=published))
        except FetchError as exc:
            log.debug("%s: robots.txt for %s: %s", spec.name, link, exc)
    if not links:
        log.warning("%s: no article links found on %s%s", spec.name, response.url,
                    " matching the links: pattern" if spec.links else "")
    return allowed, next_url


def extract_links(html: str, page_url: str, *, pattern: str | None = None,
                  ) -> tuple[list[tuple[str, str, datetime | None]], str | None]:
    """Article links of a page, same site only: [(url, title, date if the page shows one)], next page URL.

    With a `links:` pattern, a link is an article when the pattern matches it (re.search); without one,
    navigation, tag, feed and file links are dropped.
    """
    import lxml.html

    html = re.sub(r"^\s*<\?xml[^>]*>", "", html)
    try:
        doc = lxml.html.fromstring(html or "<html/>")
    except Exception:  # lxml raises ParserError, ValueError ...: a page we cannot read has no links
        return [], None
    base = urljoin(page_url, (doc.xpath("string(//base/@href)") or "").strip())
    here = _site(page_url)
    regex = re.compile(pattern) if pattern else None
    found: dict[str, tuple[str, datetime | None]] = {}
    next_url = None
    for href in doc.xpath("//link[@href and contains(concat(' ', normalize-space(@rel), ' '), ' next ')]/@href"):
        next_url = _same_site(urljoin(base, href.strip()), here)
    for a in doc.iter("a"):
        href = (a.get("href") or "").strip()
        if not href or href.startswith(("#", "javascript:", "mailto:", "tel:")):
            continue
        url = _same_site(urljoin(base, href), here)
        if url is None or url.rstrip("/") == page_url.split("#")[0].rstrip("/"):
            continue
        text = " ".join(a.text_content().split()) or (a.get("title") or "").strip()
        rel = (a.get("rel") or "").lower().split()
        if next_url is None and ("next" in rel or _is_next(text) or "next" in (a.get("class") or "").lower().split()):
            next_url = url
            continue
        if regex is not None:
            if not regex.search(url):
                continue
        elif not _looks_like_article(url):
            continue
        title, when = found.get(url, ("", None))
        found[url] = (max(title, text, key=len), when or _date_near(a) or _date_in_url(url))
    return [(u, t, d) for u, (t, d) in found.items()], next_url


def _is_next(text: str) -> bool:
    words = re.sub(r"[«»‹›←→>.…\s]+", " ", text.lower()).strip()
    return words in _NEXT_WORDS or (not words and text.strip() in ("»", "›", "→", ">"))


def _site(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    return host[4:] if host.startswith("www.") else host


def _same_site(url: str, site: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or _site(url) != site:
        return None
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, ""))


def _looks_like_article(url: str) -> bool:
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if not path or _SKIP_EXT.search(path) or _NAV_PATH.search(path + "/"):
        return False
    last = path.rsplit("/", 1)[-1]
    return len(last) >= 8 or any(c.isdigit() for c in last) or path.count("/") >= 2


def _date_near(a) -> datetime | None:
    """A <time datetime> in the link's own list item or card (an ancestor holding no other link)."""
    node = a
    for _ in range(3):
        node = node.getparent()
        if node is None or len(set(node.xpath(".//a/@href"))) > 1:
            return None
        for value in node.xpath(".//time/@datetime"):
            if when := parse_date(value):
                return when
    return None


def _date_in_url(url: str) -> datetime | None:
    m = _URL_DATE.search(urlsplit(url).path)
    if not m:
        return None
    try:
        return datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)), tzinfo=timezone.utc)
    except ValueError:
        return None


def parse_date(value: str | None) -> datetime | None:
    """W3C datetime as sitemaps and <time> write it ('2022-05-01', '2022-05-01T10:00Z'), as aware UTC."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    return urlunsplit(parts._replace(query=urlencode(query + list(params.items()))))


def _next_feed_link(content: bytes, base: str) -> str | None:
    """RFC 5005 paging: <atom:link rel="next" href="..."/> in an RSS or Atom feed."""
    head = content[:20_000].decode("utf-8", "replace")
    for tag in re.findall(r"<(?:atom:)?link\b[^>]*>", head):
        if re.search(r"""\brel\s*=\s*["']next["']""", tag) and (m := re.search(r"""\bhref\s*=\s*["']([^"']+)""", tag)):
            return urljoin(base, m.group(1).replace("&amp;", "&"))
    return None


# --- sitemaps ------------------------------------------------------------------------------------


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


# --- feed auto-discovery -----------------------------------------------------------------------------

_FEED_TYPES = {"application/rss+xml": "rss", "application/atom+xml": "atom", "application/feed+json": "json",
               "application/json": "json", "application/rdf+xml": "rdf", "application/xml": "xml",
               "text/xml": "xml"}


async def discover_feeds(url: str) -> list[tuple[str, str, str]]:
    """(title, feed URL, type) of the feeds a page announces with <link rel="alternate">.

    The URL was typed by the user: trusted like a feeds.yaml URL, and fetched without asking robots.txt.
    A URL that already is a feed is returned as itself.
    """
    host = (urlsplit(url).hostname or "").lower()
    async with Fetcher(Settings(), {host}) as fetcher:
        response = await fetcher.get(url, robots=False)
    try:
        entries = parse_feed("discover", response.content, url=response.url)
    except ParseError:
        entries = []
    if entries:
        return [("(this URL is a feed)", response.url, "feed")]
    return feed_links(decode_html(response.content, response.headers.get("content-type")), response.url)


def feed_links(html: str, page_url: str) -> list[tuple[str, str, str]]:
    import lxml.html

    try:
        doc = lxml.html.fromstring(re.sub(r"^\s*<\?xml[^>]*>", "", html) or "<html/>")
    except Exception:
        return []
    base = urljoin(page_url, (doc.xpath("string(//base/@href)") or "").strip())
    out: dict[str, tuple[str, str, str]] = {}
    for link in doc.xpath("//link[@href]"):
        rel = (link.get("rel") or "").lower().split()
        kind = _FEED_TYPES.get((link.get("type") or "").split(";")[0].strip().lower())
        if "alternate" not in rel or kind is None:
            continue
        href = urljoin(base, link.get("href").strip())
        if href.startswith(("http://", "https://")) and href not in out:
            out[href] = (" ".join((link.get("title") or "").split()), href, kind)
    return list(out.values())

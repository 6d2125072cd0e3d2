"""Listing pages (`kind: site`): the article links of a news site's section page, the next page for a backfill,
and feed auto-discovery (`monitor discover`).

Links are third-party input: only links on the site itself that look like articles are kept, and robots.txt
and the SSRF guard still apply when they are fetched."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timezone
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from monitor.config.feeds import FeedSpec, Settings
from monitor.models import FeedEntry
from monitor.sources.charset import decode_html
from monitor.sources.feeds import ParseError, parse_feed
from monitor.sources.fetch import Fetcher, FetchError

log = logging.getLogger("monitor.crawl")


_SKIP_EXT = re.compile(r"\.(?:jpe?g|png|gif|webp|svg|pdf|docx?|xlsx?|zip|rar|mp[34]|avi|mov|css|js|xml|rss)$", re.I)



_NAV_PATH = re.compile(r"/(?:tags?|category|categories|rubric|topics?|authors?|page|search|login|register|"
                       r"feed|rss|about|contacts?|privacy|subscribe|archive)(?:/|$)", re.I)



_URL_DATE = re.compile(r"/(20\d\d|19\d\d)[/-](\d\d)[/-](\d\d)(?:/|[-_]|$)")



_NEXT_WORDS = {"next", "next page", "older", "older posts", "older entries", "»", "›", "следующая", "далее",
               "дальше", "ещё", "еще", "следующая страница", "баъдӣ", "بعدی"}



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


_FEED_TYPES = {"application/rss+xml": "rss", "application/atom+xml": "atom", "application/feed+json": "json",
               "application/json": "json", "application/rdf+xml": "rdf", "application/xml": "xml",
               "text/xml": "xml"}

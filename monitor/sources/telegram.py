"""Public Telegram channels (`kind: telegram`, `url: https://t.me/s/CHANNEL`) through their web preview.

Much first reporting on GBAO appears on public channels before any website. The preview needs no login, API
key or phone number: it is one HTML page with the channel's latest ~20 posts, and `?before=ID` gives the
posts before ID. Each post becomes an entry that carries its own text (FeedEntry.text), so the pipeline
fetches and extracts nothing more: link and key are the post's own URL (`https://t.me/CHANNEL/ID`), which an
edit does not change, so an edited post is never sent twice.

Every page goes through the run's `Fetcher.get` like any other source (politeness, proxy, size cap, SSRF
guard; the evidence capture of a fetch hooks in there too). The channel URL the user wrote is exempt from
robots.txt as a feed URL is; the older pages a backfill walks are checked like any crawled page.
Links inside posts are kept in the text and never fetched.
"""

from __future__ import annotations

from dataclasses import replace

import logging
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from monitor.config.feeds import FeedSpec
from monitor.sources.fetch import Fetcher, FetchError
from monitor.models import FeedEntry
from monitor.sources.feeds import ParseError

log = logging.getLogger("monitor.telegram")

CHANNEL_PATH = re.compile(r"^/s/([A-Za-z0-9_]{3,64})/?$")
MAX_PAGES = 200  # preview pages (~20 posts each) one backfill walks back
POLL_PAGES = 5  # pages one poll walks back while every post is newer than the last success
TITLE_CHARS = 120
_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"


def channel_of(url: str) -> str | None:
    """'durov' for https://t.me/s/durov (or the same path on another host, e.g. a local server in tests)."""
    m = CHANNEL_PATH.match(urlsplit(url).path)
    return m.group(1) if m else None


# --- parsing one preview page ----------------------------------------------------------------------------


def parse_preview(feed_name: str, html: bytes | str, page_url: str) -> tuple[list[FeedEntry], int | None]:
    """(the page's posts as entries, oldest first as the page shows them; the id to ask `?before=` for, or
    None when the page links no older posts). Raises ParseError when the page is not a channel preview."""
    import lxml.html

    try:
        doc = lxml.html.fromstring(html if isinstance(html, bytes) else html.encode("utf-8"))
    except Exception as exc:  # lxml's ParserError, ValueError on an empty document
        raise ParseError(f"not a Telegram channel preview: {exc}") from None
    posts = doc.xpath("//div[contains(concat(' ', normalize-space(@class), ' '), ' tgme_widget_message ')]"
                      "[@data-post]")
    if not posts and not doc.xpath("//*[contains(@class, 'tgme_channel_history') or "
                                   "contains(@class, 'tgme_channel_info')]"):
        raise ParseError("not a Telegram channel preview (no tgme_widget_message posts): is the channel public, "
                         "and the URL of the form https://t.me/s/CHANNEL?")
    entries = [e for e in (_post(feed_name, post) for post in posts) if e is not None]
    return entries, _before(doc, page_url, entries)


def _post(feed_name: str, post) -> FeedEntry | None:
    import lxml.html

    data_post = (post.get("data-post") or "").strip()
    m = re.fullmatch(r"([A-Za-z0-9_]{3,64})/(\d{1,12})", data_post)
    if not m or _has_class(post, "service_message") or post.xpath(".//*[contains(@class, 'service_message')]"):
        return None
    channel, number = m.group(1), m.group(2)
    url = f"https://t.me/{channel}/{number}"
    texts = [t for t in post.xpath(".//div[contains(concat(' ', normalize-space(@class), ' '), "
                                   "' tgme_widget_message_text ')]")
             if not t.xpath("ancestor::*[contains(@class, 'tgme_widget_message_reply')]")]
    body = "\n\n".join(filter(None, (_text_of(t) for t in texts)))
    links = []
    for t in texts:
        for href in t.xpath(".//a/@href"):
            href = href.strip().replace("&amp;", "&")
            if href.startswith(("http://", "https://")) and href not in links and href not in body:
                links.append(href)
    lines = []
    forwarded = post.xpath(".//*[contains(@class, 'tgme_widget_message_forwarded_from_name')]")
    if forwarded:
        name = " ".join(forwarded[0].text_content().split())
        source = (forwarded[0].get("href") or "").strip()
        lines.append(f"Forwarded from {name}" + (f" ({source})" if source.startswith("http") else ""))
    if body:
        lines.append(body)
    if links:
        lines.append("Links: " + " ".join(links))
    preview = post.xpath(".//*[contains(@class, 'link_preview_title') or contains(@class, 'link_preview_description')]")
    preview_text = " ".join(" ".join(p.text_content().split()) for p in preview)
    if preview_text:
        lines.append(preview_text)
    published = None
    for value in post.xpath(".//a[contains(@class, 'tgme_widget_message_date')]//time/@datetime") or \
            post.xpath(".//time/@datetime"):
        if published := _iso(value):
            break
    raw = lxml.html.tostring(post, encoding="utf-8")
    return FeedEntry(feed=feed_name, url=url, guid=url, title=_title(body or preview_text), summary=body[:500],
                     published=published, text="\n\n".join(lines), raw=raw)


def _number(entry: FeedEntry) -> int:
    return int(entry.url.rsplit("/", 1)[1])


def _has_class(node, name: str) -> bool:
    return name in (node.get("class") or "").split()


def _text_of(node) -> str:
    """The post's text with its line breaks: <br> and blocks become newlines, everything else its words."""
    for br in node.iter("br"):
        br.tail = "\n" + (br.tail or "")
    lines = [" ".join(line.split()) for line in node.text_content().split("\n")]
    return "\n".join(line for line in lines if line)


def _title(text: str) -> str:
    first = text.strip().split("\n", 1)[0].strip()
    if len(first) <= TITLE_CHARS:
        return first
    cut = first[:TITLE_CHARS].rsplit(" ", 1)[0]
    return cut + "…"


def _iso(value: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)


def _before(doc, page_url: str, entries: list[FeedEntry]) -> int | None:
    """The `before` id of the older page: <link rel="prev">, the "load more" link, else the oldest post's id."""
    hrefs = doc.xpath("//link[@rel='prev']/@href") + \
        doc.xpath("//a[contains(@class, 'tme_messages_more')][contains(@href, 'before')]/@href")
    for href in hrefs:
        value = dict(parse_qsl(urlsplit(urljoin(page_url, href)).query)).get("before", "")
        if value.isdigit():
            return int(value)
    if doc.xpath("//a[contains(@class, 'tme_messages_more')]") and entries:
        return min(_number(e) for e in entries)
    return None


# --- the source kind ----------------------------------------------------------------------------------------


def page_url(spec_url: str, before: int | None) -> str:
    """The channel preview, or its page of posts before `before` (other query parameters kept)."""
    if before is None:
        return spec_url
    parts = urlsplit(spec_url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "before"]
    return urlunsplit(parts._replace(query=urlencode(query + [("before", str(before))])))


async def fetch_page(spec: FeedSpec, fetcher: Fetcher, before: int | None) -> tuple[list[FeedEntry], int | None]:
    """One preview page through the run's fetcher (the one place a Telegram source touches the network)."""
    url = page_url(spec.url, before)
    response = await fetcher.get(url, feed=spec.name, accept=_ACCEPT, robots=False if before is None else None)
    entries, older = parse_preview(spec.name, response.content, response.url)
    # each post keeps the page it came in: a matched post's evidence is that page as received (WARC)
    return [replace(e, hops=response.hops) for e in entries], older


async def entries_for(spec: FeedSpec, fetcher: Fetcher, store, *, since: datetime | None) -> list[FeedEntry]:
    """The channel's latest posts for one poll, newest first; older pages too while every post on a page is
    newer than the last success (a busy channel posts more than one page between two polls)."""
    state = store.feed_state(spec.name) if store is not None else None  # no state: a probe
    last = since or (state.last_success - timedelta(hours=1) if state and state.last_success else None)
    entries, before = await fetch_page(spec, fetcher, None)
    pages = 1
    while last and before and pages < POLL_PAGES and entries and all(e.published and e.published > last
                                                                         for e in entries):
        asked = before
        try:
            older, before = await fetch_page(spec, fetcher, before)
        except (FetchError, ParseError) as exc:
            log.debug("%s: older posts: %s", spec.name, exc)
            break
        pages += 1
        older = [e for e in older if _number(e) < asked]  # a server that ignores ?before= repeats its page
        if not older:
            break
        entries = older + entries
    if since:
        entries = [e for e in entries if not (e.published and e.published < since)]
    return entries[::-1]


async def archive(spec: FeedSpec, fetcher: Fetcher, *, since: datetime,
                  until: datetime | None) -> AsyncIterator[list[FeedEntry]]:
    """`backfill --since`: the channel page by page (`?before=ID`), newest first, until a page is all older."""
    before: int | None = None
    for page in range(1, MAX_PAGES + 1):
        try:
            entries, older = await fetch_page(spec, fetcher, before)
        except (FetchError, ParseError) as exc:
            if page == 1:
                raise
            log.info("%s: page before post %s: %s; stopping there", spec.name, before, exc)
            return
        if before is not None:
            entries = [e for e in entries if _number(e) < before]
        if not entries:
            return
        yield entries[::-1]
        dated = [e.published for e in entries if e.published]
        # posts are numbered in time order: once a page reaches back past --since, older pages hold nothing
        if (dated and min(dated) < since) or older is None or (before is not None and older >= before):
            return
        before = older

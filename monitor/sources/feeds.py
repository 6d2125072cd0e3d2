"""Feed bytes → FeedEntry list. feedparser sits behind this one function so it can be swapped.

feedparser parses the bytes the fetcher already downloaded (it never fetches anything itself, and it refuses
external XML entities); JSON Feed, which feedparser does not know, is read here directly.
"""

from __future__ import annotations

import calendar
import codecs
import html
import json
import logging
import re
from datetime import datetime, timezone
from urllib.parse import urljoin

from monitor.models import FeedEntry
from monitor.sources.dates import parse_date_text

log = logging.getLogger("monitor.parse")

MAX_ENTRIES = 500  # a feed with more items than this is cut: newest first as the feed orders them


class ParseError(Exception):
    """The bytes are not a usable feed; the message says what they look like instead."""


def parse_feed(feed_name: str, content: bytes, *, url: str, headers: dict[str, str] | None = None) -> list[FeedEntry]:
    """Parse RSS 0.9x/1.0/2.0, Atom or JSON Feed into entries with absolute links.

    A feed with XML errors that still yields entries is used; a recognised feed with no entries is quiet;
    anything else with no entries raises ParseError. Items without any usable link are counted in the log.
    """
    if content.startswith(codecs.BOM_UTF8) and content[3:].lstrip()[:1] in (b"{", b"["):
        content = content[3:]  # a JSON Feed saved by an editor that writes a BOM
    head = content.lstrip()[:1]
    if head in (b"{", b"["):
        return _parse_json_feed(feed_name, content, url)
    content = _cut_after(content, MAX_ENTRIES)
    content = _without_internal_dtd(feed_name, content)
    response_headers = {k.lower(): v for k, v in (headers or {}).items()}
    response_headers.setdefault("content-location", url)
    content, response_headers = _charset_fixed(feed_name, content, response_headers)
    import feedparser  # here, not at the top: a run imports it in a thread while its first requests are out

    parsed = feedparser.parse(content, response_headers=response_headers, sanitize_html=False,
                              resolve_relative_uris=False)
    raw_entries = parsed.entries[:MAX_ENTRIES]
    entries = [_entry(feed_name, e, url) for e in raw_entries]
    linkless = sum(e is None for e in entries)
    entries = [e for e in entries if e is not None]
    if linkless:  # counted, not fatal: the feed answered; a feed whose every item lacks a link is worth a warning
        log.log(logging.WARNING if not entries else logging.INFO,
                "feed %r: %d of %d item(s) have no usable link and were skipped", feed_name, linkless,
                len(raw_entries))
    if not entries and (raw_entries or _recognised(parsed)):
        return []  # a feed with no items (yet), or only link-less ones, is quiet
    if not entries:
        raise ParseError(_why_empty(parsed, content))
    return entries


_ITEM_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:item|entry)[\s/>]")
_ROOT = re.compile(rb"<((?:[A-Za-z_][\w.-]*:)?)(rss|feed|RDF)[\s>]")


def _without_internal_dtd(feed_name: str, content: bytes) -> bytes:
    """A DOCTYPE's internal subset is cut before parsing. Feeds never need one, and it is where entity bombs
    ("billion laughs") and external entities live: expat refuses to read files, but it still expands nested
    entities up to its amplification limit (~1 s of CPU per feed). A plain DOCTYPE (RSS 0.91's) stays.
    Found with `find`, not a regex: the scan stays linear whatever the bytes (a regex over 65,000 spaces took
    33 s, on the event loop)."""
    head = content[:65536]
    start = head.lower().find(b"<!doctype")
    if start < 0:
        return content
    opening, close = head.find(b"[", start), head.find(b">", start)
    if opening < 0 or (0 <= close < opening):
        return content  # no internal subset
    end = head.find(b"]", opening)
    while end >= 0:
        after = end + 1
        while after < len(head) and head[after] in b" \t\r\n":
            after += 1
        if head[after:after + 1] == b">":
            log.info("feed %r: the entity declarations in its DOCTYPE were ignored", feed_name)
            return content[:opening].rstrip() + b">" + content[after + 1:]
        end = head.find(b"]", end + 1)
    return content  # unclosed: the parser reports the broken document


def _cut_after(content: bytes, limit: int) -> bytes:
    """A feed with far more items than we take (20,000 is seen) is cut before parsing: feedparser costs ~1 ms per
    item, and only the first `limit` are used. The document is closed again so the strict parser still reads it."""
    starts = _ITEM_START.finditer(content)
    cut = next((m.start() for i, m in enumerate(starts) if i == limit), None)
    root = _ROOT.search(content[:4096])
    if cut is None or root is None:
        return content
    prefix, name = root.group(1), root.group(2)
    closing = b"</channel></" + prefix + b"rss>" if name == b"rss" else b"</" + prefix + name + b">"
    return content[:cut] + closing


_XML_ENCODING = re.compile(rb"""^(\s*<\?xml\b[^>]*?)\s+encoding\s*=\s*["']([^"']*)["']""")
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]{2,40})", re.IGNORECASE)


def _charset_fixed(feed_name: str, content: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    """The bytes and headers feedparser should see.

    `text/xml`, `text/html`, `text/plain` or no Content-Type without a charset make feedparser assume us-ascii
    or iso-8859-1 (RFC 3023, since obsoleted): the XML declaration and UTF-8 decide instead (RFC 7303). Bytes
    the declared charset cannot have produced are decoded by monitor.sources.charset (almost-valid UTF-8 stays
    UTF-8) and handed over as UTF-8; a warning says so.
    """
    from monitor.sources.charset import codec, decode

    content_type = headers.get("content-type", "")
    header_charset = m.group(1) if (m := _CHARSET.search(content_type)) else None
    if header_charset is None and (not content_type or content_type.lower().startswith("text/")):
        headers = {**headers, "content-type": "application/xml"}
    if content.isascii() or content[:2] in (b"\xff\xfe", b"\xfe\xff") or content.startswith(codecs.BOM_UTF8) \
            or b"\x00" in content[:4]:
        return content, headers  # pure ASCII, or a BOM / UTF-16 or UTF-32 bytes: feedparser's own detection
    xml_charset = m.group(2).decode("ascii", "ignore") if (m := _XML_ENCODING.match(content[:500])) else None
    declared = [c for c in (header_charset, xml_charset) if c]
    effective = codec(declared[0]) if declared else "utf_8"
    if effective is None or effective.startswith(("utf_16", "utf_32")) or effective.startswith("cp0"):
        return content, headers  # a charset we cannot judge (unknown, UTF-16/32, EBCDIC): feedparser's own rules
    text, used, warning = decode(content, declared)
    if (used == effective or (used == "ascii" and effective == "utf_8")) and _decodes(content, used):
        return content, headers
    if warning:
        log.warning("feed %r: %s", feed_name, warning)
    fixed = _XML_ENCODING.sub(rb"\1", text.encode("utf-8"), count=1)
    return fixed, {**headers, "content-type": "application/xml; charset=utf-8"}


def _decodes(content: bytes, encoding: str) -> bool:
    try:
        content.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def _recognised(parsed) -> bool:
    """RSS or Atom that feedparser recognised, and whose only complaints are about charset declarations or
    an HTML entity (`&nbsp;`) in the channel: an empty feed, not a broken one."""
    if not parsed.get("version"):
        return False
    if not parsed.get("bozo"):
        return True
    import feedparser

    exc = parsed.get("bozo_exception")
    if isinstance(exc, (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)):
        return True
    return "undefined entity" in str(exc)


def _entry(feed_name: str, raw: dict, base: str) -> FeedEntry | None:
    link = _usable_link(raw, base)
    if not link:
        return None
    summary = raw.get("summary") or ""
    if not summary and raw.get("content"):
        summary = raw["content"][0].get("value", "")
    # dict.get: feedparser's own lookup of a missing updated_parsed warns and remaps
    published = _when(dict.get(raw, "published_parsed") or dict.get(raw, "updated_parsed"))
    if published is None:
        published = parse_date_text(dict.get(raw, "published") or dict.get(raw, "updated") or "")
    return FeedEntry(
        feed=feed_name,
        url=link,
        guid=(raw.get("id") or "").strip() or None,
        title=plain_text(raw.get("title") or ""),
        summary=plain_text(summary),
        published=published,
    )


def _usable_link(raw: dict, base: str) -> str:
    """The first candidate that is an http(s) URL once made absolute: the entry's link, its other links
    (alternate first), then an http id. An Atom entry whose first link is `urn:uuid:` tries the others."""
    links = raw.get("links") or []
    candidates = [raw.get("link")]
    candidates += [link.get("href") for link in links if link.get("rel", "alternate") == "alternate"]
    candidates += [link.get("href") for link in links if link.get("rel") in ("related", "via", "bookmark")]
    if str(raw.get("id") or "").strip().lower().startswith(("http://", "https://")):
        candidates.append(raw.get("id"))  # a guid that is a URL, when nothing else links the item
    candidates += [link.get("href") for link in links if link.get("rel") == "self"]  # the entry's own document
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.strip() and (url := absolute_url(base, candidate)):
            return url
    return ""


_UNSAFE = re.compile(r"[\x00-\x20\x7f\"<>\\^`{|}]")


def absolute_url(base: str, link: str) -> str:
    """`link` made absolute against `base`, with spaces and other characters a URL cannot hold
    percent-encoded (a relative link `news/some story.html` must not be requested raw); "" unless http(s)."""
    link = _UNSAFE.sub(lambda m: "%{:02X}".format(ord(m.group())), link.strip())
    url = urljoin(base, link)
    return url if url.startswith(("http://", "https://")) else ""


def _when(parsed) -> datetime | None:
    if not parsed:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), tz=timezone.utc)
    except (OverflowError, ValueError, TypeError):
        return None


def _why_empty(parsed, content: bytes) -> str:
    start = content.lstrip()[:200].lower()
    if not content.strip():
        return "empty response"
    if b"<html" in start or b"<!doctype html" in start:
        return "not a feed: the URL returned an HTML page (use kind: site, or `monitor discover URL` to find its feed)"
    if parsed.get("bozo"):
        exc = parsed.get("bozo_exception")
        return f"not a feed: malformed XML ({exc})" if exc else "not a feed: malformed XML"
    if parsed.get("version"):
        return "the feed has no entries"
    return "not a feed: neither RSS, Atom nor JSON Feed"


def _parse_json_feed(feed_name: str, content: bytes, base: str) -> list[FeedEntry]:
    try:
        data = json.loads(content)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ParseError(f"not a feed: invalid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise ParseError("not a feed: JSON without an 'items' list (expected JSON Feed)")
    entries = []
    linkless = 0
    for item in data["items"][:MAX_ENTRIES]:
        if not isinstance(item, dict):
            continue
        link = ""
        ident = item.get("id") if str(item.get("id") or "").lower().startswith(("http://", "https://")) else None
        for candidate in (item.get("url"), item.get("external_url"), ident):
            if isinstance(candidate, str) and candidate.strip() and (link := absolute_url(base, candidate)):
                break
        if not link:
            linkless += 1
            continue
        published = None
        for key in ("date_published", "date_modified"):
            value = item.get(key)
            if isinstance(value, str):
                try:
                    published = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)
                except ValueError:
                    published = parse_date_text(value)
                if published is not None:
                    break
        entries.append(FeedEntry(
            feed=feed_name, url=link, guid=str(item.get("id") or "") or None,
            title=plain_text(str(item.get("title") or "")),
            summary=plain_text(str(item.get("summary") or item.get("content_html") or item.get("content_text") or "")),
            published=published,
        ))
    if linkless:
        log.log(logging.WARNING if not entries else logging.INFO,
                "feed %r: %d item(s) have no usable link and were skipped", feed_name, linkless)
    return entries  # a JSON Feed with an empty items list is quiet


_TAG = re.compile(r"<[^>]{0,2000}>")
_SPACE = re.compile(r"\s+")
_BLOCK = re.compile(r"<\s*(?:br|/p|/div|/li|/h\d)\b[^>]{0,200}>", re.IGNORECASE)
_DROP = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)


def plain_text(fragment: str) -> str:
    """Feed titles and summaries carry HTML; keep the words, drop the markup, unescape entities."""
    if "<" in fragment:
        fragment = _DROP.sub(" ", fragment)
        fragment = _BLOCK.sub(" ", fragment)
        fragment = _TAG.sub("", fragment)
    return _SPACE.sub(" ", html.unescape(fragment)).strip()

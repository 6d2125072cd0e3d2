"""Feed bytes → FeedEntry list. feedparser sits behind this one function so it can be swapped.

feedparser parses the bytes the fetcher already downloaded (it never fetches anything itself, and it refuses
external XML entities); JSON Feed, which feedparser does not know, is read here directly.
"""

from __future__ import annotations

import calendar
import html
import json
import re
from datetime import datetime, timezone
from urllib.parse import urljoin

import feedparser

from .models import FeedEntry

MAX_ENTRIES = 500  # a feed with more items than this is cut: newest first as the feed orders them


class ParseError(Exception):
    """The bytes are not a usable feed; the message says what they look like instead."""


def parse_feed(feed_name: str, content: bytes, *, url: str, headers: dict[str, str] | None = None) -> list[FeedEntry]:
    """Parse RSS 0.9x/1.0/2.0, Atom or JSON Feed into entries with absolute links.

    A feed with XML errors that still yields entries is used; one with no entries raises ParseError.
    """
    head = content.lstrip()[:1]
    if head in (b"{", b"["):
        return _parse_json_feed(feed_name, content, url)
    content = _cut_after(content, MAX_ENTRIES)
    response_headers = {k.lower(): v for k, v in (headers or {}).items()}
    response_headers.setdefault("content-location", url)
    parsed = feedparser.parse(content, response_headers=response_headers, sanitize_html=False,
                              resolve_relative_uris=False)
    if _fell_back(parsed, content, response_headers) and (utf8 := _redecoded(content)) is not None:
        # no charset declared, or a wrong one: feedparser's last resort is windows-1252, which turns a
        # Windows-1251 or KOI8-R feed into mojibake that no Cyrillic keyword matches. Guess, as a browser does.
        response_headers["content-type"] = "application/xml; charset=utf-8"
        parsed = feedparser.parse(utf8, response_headers=response_headers, sanitize_html=False,
                                  resolve_relative_uris=False)
    entries = [_entry(feed_name, e, url) for e in parsed.entries[:MAX_ENTRIES]]
    entries = [e for e in entries if e is not None]
    if not entries and not (parsed.get("version") and not parsed.get("bozo")):
        raise ParseError(_why_empty(parsed, content))  # a well-formed feed with no items is just quiet
    return entries


_ITEM_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:item|entry)[\s/>]")
_ROOT = re.compile(rb"<((?:[A-Za-z_][\w.-]*:)?)(rss|feed|RDF)[\s>]")


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


_XML_ENCODING = re.compile(rb"""^(\s*<\?xml\b[^>]*?)\s+encoding\s*=\s*["'][^"']*["']""")


def _fell_back(parsed, content: bytes, headers: dict[str, str]) -> bool:
    """Did feedparser have to guess the charset: a declared one failed, or none was declared and it is not UTF-8?"""
    if isinstance(parsed.get("bozo_exception"), feedparser.CharacterEncodingOverride):
        return True
    if "charset=" in headers.get("content-type", "").lower() or _XML_ENCODING.match(content[:500]):
        return False
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _redecoded(content: bytes) -> bytes | None:
    """The feed re-encoded as UTF-8 when the bytes look like another (e.g. Cyrillic) charset; else None."""
    from charset_normalizer import from_bytes  # a dependency of trafilatura

    best = from_bytes(content[:300_000]).best()
    if best is None or best.encoding in ("cp1252", "latin_1", "iso8859_2", "ascii", "utf_8"):
        return None
    try:
        text = content.decode(best.encoding, errors="replace")
    except LookupError:
        return None
    return _XML_ENCODING.sub(rb"\1", text.encode("utf-8"), count=1)


def _entry(feed_name: str, raw: dict, base: str) -> FeedEntry | None:
    link = raw.get("link") or _first_link(raw) or (raw.get("id") if str(raw.get("id", "")).startswith("http") else "")
    if not link:
        return None
    link = urljoin(base, link.strip())
    if not link.startswith(("http://", "https://")):
        return None
    summary = raw.get("summary") or ""
    if not summary and raw.get("content"):
        summary = raw["content"][0].get("value", "")
    return FeedEntry(
        feed=feed_name,
        url=link,
        guid=(raw.get("id") or "").strip() or None,
        title=plain_text(raw.get("title") or ""),
        summary=plain_text(summary),
        # dict.get: feedparser's own lookup of a missing updated_parsed warns and remaps
        published=_when(dict.get(raw, "published_parsed") or dict.get(raw, "updated_parsed")),
    )


def _first_link(raw: dict) -> str:
    for link in raw.get("links") or []:
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return link["href"]
    return ""


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
    for item in data["items"][:MAX_ENTRIES]:
        if not isinstance(item, dict):
            continue
        link = item.get("url") or item.get("external_url") or ""
        if not isinstance(link, str) or not link:
            continue
        link = urljoin(base, link)
        if not link.startswith(("http://", "https://")):
            continue
        published = None
        for key in ("date_published", "date_modified"):
            value = item.get(key)
            if isinstance(value, str):
                try:
                    published = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)
                    break
                except ValueError:
                    pass
        entries.append(FeedEntry(
            feed=feed_name, url=link, guid=str(item.get("id") or "") or None,
            title=plain_text(str(item.get("title") or "")),
            summary=plain_text(str(item.get("summary") or item.get("content_html") or item.get("content_text") or "")),
            published=published,
        ))
    if not entries:
        raise ParseError("the feed has no entries")
    return entries


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

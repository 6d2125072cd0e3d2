"""An article from an entry: its fetched page read into an Article (the main text, or the feed's summary standing
in), what the matcher reads besides the title, and the article of a source that carried its whole text (a
Telegram post), which skips the page fetch and extraction."""

from __future__ import annotations

import hashlib
import logging
from typing import Any, Protocol

from monitor import clock
from monitor.extract.text import ExtractionTimeout
from monitor.models import Article, FeedEntry
from monitor.sources.charset import decode_html, is_garbled

log = logging.getLogger("monitor")  # the pipeline's own logger: these lines read as before the move

PAGE_TYPES = ("text/html", "application/xhtml", "text/plain", "application/xml", "text/xml")


class Page(Protocol):
    """What reading needs of a fetched page (sources.exchange.Response)."""

    url: str
    headers: Any
    content: bytes
    hops: tuple


async def read_page(extractor, entry: FeedEntry, response: Page | None, *, always: bool = False,
                    first: bool = False) -> Article:
    """The page's main text as an Article; the feed's own summary stands in when there is none (no page, no
    text, an extraction that failed or timed out, undecodable bytes). The extractor's workers skip a page on
    which no keyword can fire, unless `always` (a backfill reading an undated page for its date). A page
    `first` is read before the pages waiting for a worker that are not."""
    now = clock.now()
    if response is None:
        return Article(entry=entry, final_url=entry.url, title=entry.title, text=entry.summary,
                       published=entry.published, fetched_at=now, raw_sha256="", extracted=False)
    content_type = response.headers.get("content-type", "text/html").lower()
    sha = hashlib.sha256(response.content).hexdigest()
    extracted = None  # keep_raw_html is superseded: the matched page is kept whole as WARC records (evidence/)
    if any(t in content_type for t in PAGE_TYPES):
        try:
            extracted = await extractor.extract(decode_html(response.content, content_type, where=response.url),
                                                response.url, with_metadata=not (entry.title and entry.published),
                                                hint=None if always else f"{entry.title}\n{entry.summary}",
                                                first=first)
        except ExtractionTimeout as exc:
            log.warning("article %s: %s; using the feed summary", entry.url, exc)
        except Exception as exc:  # a crashing extractor must cost one article, not the run
            log.warning("article %s: extraction failed (%s); using the feed summary", entry.url, exc)
    if extracted is not None and is_garbled(extracted.text) and entry.summary:
        log.warning("article %s: the page text is garbled (undecodable bytes); using the feed summary", entry.url)
        extracted = None
    if extracted is None:
        return Article(entry=entry, final_url=response.url, title=entry.title, text=entry.summary,
                       published=entry.published, fetched_at=now, raw_sha256=sha, extracted=False,
                       hops=response.hops)
    return Article(entry=entry, final_url=response.url, title=entry.title or extracted.title, text=extracted.text,
                   published=entry.published or extracted.published, fetched_at=now, raw_sha256=sha,
                   extracted=True, hops=response.hops)


def match_text(article: Article) -> str:
    """What the matcher reads besides the title: the page's text, and the feed's summary too when the page
    text does not already contain it. A garbled or truncated page must not hide what the feed itself says."""
    summary = article.entry.summary.strip()
    if not article.extracted or not summary or summary[:200] in article.text:
        return article.text
    return f"{summary}\n\n{article.text}"



def carried(entry: FeedEntry, keep_raw: bool) -> Article:
    """An entry whose source carried its whole text: the article is the entry itself, no page is fetched."""
    raw = entry.raw or (entry.text or "").encode("utf-8")
    return Article(entry=entry, final_url=entry.url, title=entry.title, text=entry.text or "",
                   published=entry.published, fetched_at=clock.now(),
                   raw_sha256=hashlib.sha256(raw).hexdigest(), raw_html=raw if keep_raw and entry.raw else None,
                   extracted=True,  # the whole text, as the source published it: not a stand-in summary
                   hops=entry.hops)  # the page it came in, captured as WARC records like any article page

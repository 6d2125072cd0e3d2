"""An article from an entry: what the matcher reads besides the title, and the article of a source that carried its
whole text (a Telegram post), which skips the page fetch and extraction."""

from __future__ import annotations

import hashlib

from monitor import clock
from monitor.models import Article, FeedEntry


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

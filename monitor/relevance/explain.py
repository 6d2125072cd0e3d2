"""`monitor explain URL-or-file`: run one article through extraction and the rules, and say why."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

from monitor.config.feeds import Settings
from monitor.relevance.samples import read_text_article
from monitor.extract.text import extract_text
from monitor.sources.charset import decode_html
from monitor.sources.fetch import Fetcher
from monitor.relevance.matcher import Matcher
from monitor.relevance.keywords import load_rules


async def load_article(target: str) -> tuple[str, str, str, datetime | None]:
    """(title, text, where it came from, publication date) for a URL the user typed or a local file: a .txt
    file as `monitor eval` reads it (`# key: value` headers, `TITLE:`), a page through the pipeline's extraction."""
    if target.startswith(("http://", "https://")):
        host = (urlsplit(target).hostname or "").lower()
        async with Fetcher(Settings(), {host}) as fetcher:  # typed by the user: trusted like feeds.yaml
            response = await fetcher.get(target, robots=False)  # asked for by hand, like a browser
        html = decode_html(response.content, response.headers.get("content-type"))
        origin = response.url
    else:
        path = Path(target)
        raw = path.read_bytes()
        suffix = path.suffix.lower()
        if suffix == ".txt" or (suffix not in (".html", ".htm", ".xhtml") and b"<html" not in raw[:2048].lower()):
            headers, title, body = read_text_article(path)  # exactly as `monitor eval` reads it
            return title, body, str(path), _published(headers)
        html, origin = decode_html(raw), str(path)
    extracted = extract_text(html, origin)
    if extracted is None:
        return "", "", origin, None
    return extracted.title, extracted.text, origin, extracted.published


def file_headers(target: str) -> dict[str, str]:
    """The `# key: value` lines of a labelled text file (label, lang, date …); none for pages and URLs."""
    path = Path(target)
    if target.startswith(("http://", "https://")) or path.suffix.lower() in (".html", ".htm", ".xhtml"):
        return {}
    try:
        return read_text_article(path)[0]
    except OSError:
        return {}


def _published(headers: dict[str, str]) -> datetime | None:
    for key in ("published", "date"):
        try:
            when = datetime.fromisoformat(headers.get(key, "").strip())
        except ValueError:
            continue
        return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    return None


async def explain_target(target: str, keywords: str, feeds: str | None = None) -> str:
    matcher = Matcher(load_rules(keywords))
    title, text, origin, published = await load_article(target)
    headers = file_headers(target)
    head = f"article: {origin}\ntitle: {title or '(none)'}\ntext: {len(text.split())} words extracted\n"
    shown = {k: v for k, v in headers.items() if k in ("label", "lang", "language", "date", "published", "note")}
    head += "".join(f"{k}: {v}\n" for k, v in shown.items())
    if not text and not title:
        return head + "no text could be extracted from this page"
    if published and not headers:
        head += f"published: {published.isoformat()}\n"
    return head + matcher.explain(title, text, published)

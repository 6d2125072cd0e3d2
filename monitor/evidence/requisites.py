"""Page requisites: the images, stylesheets and fonts a matched page shows, kept with its capture.

A page kept without them replays as bare text. They are fetched through the run's own Fetcher (so the SSRF
guard, robots.txt, the proxy, the size cap and the per-host limits apply exactly as to the page) right after
the page matched, and written as request/response records of the same capture, before the page's own.
For a matched Telegram post, its own page (the single-post embed view) and its photos are fetched the same
way (`fetch_post`). Per page at most `requisites_max_count` files and `requisites_max_bytes` bytes in all
(`0` turns it off);
stylesheets are read for the fonts and images they use (one level). A requisite that fails is left out with
a debug line: it never costs the capture.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urljoin, urlsplit

from monitor.extract.article import PAGE_TYPES  # the pages whose requisites are kept: those read for text

log = logging.getLogger("monitor.evidence")

_CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)['"]?\s*\)""", re.I)
_CSS_IMPORT = re.compile(r"""@import\s+['"]([^'"]+)['"]""", re.I)
_ASSET = re.compile(r"\.(woff2?|ttf|otf|eot|png|jpe?g|gif|webp|svg|avif|ico|css)(\?|#|$)", re.I)


def _keep(base: str, ref: str | None) -> str | None:
    if not ref:
        return None
    ref = ref.strip()
    if not ref or ref.startswith(("data:", "javascript:", "#", "about:", "blob:")):
        return None
    url = urljoin(base, ref).split("#", 1)[0]
    return url if urlsplit(url).scheme in ("http", "https") else None


def in_html(html: str, base: str) -> list[str]:
    """Stylesheets, images and preloaded fonts of a page, in document order, without repeats."""
    import lxml.html

    try:
        doc = lxml.html.fromstring(html)
    except (ValueError, lxml.etree.ParserError):
        return []
    found: list[str | None] = []
    for el in doc.iter("link", "img", "source", "base"):
        if el.tag == "base" and el.get("href"):
            base = urljoin(base, el.get("href"))
        elif el.tag == "link":
            rel = (el.get("rel") or "").lower().split()
            if "stylesheet" in rel or ("preload" in rel and el.get("as") in ("font", "style", "image")) \
                    or "icon" in rel:
                found.append(_keep(base, el.get("href")))
        else:
            found.append(_keep(base, el.get("src")))
            srcset = el.get("srcset") or ""
            if srcset and not el.get("src"):
                found.append(_keep(base, srcset.split(",")[0].split()[0] if srcset.split() else ""))
    for style in doc.iter("style"):
        found += [_keep(base, u) for u in in_css(style.text or "", base)]
    for el in doc.iter():
        style = el.get("style") if isinstance(el.tag, str) else None
        if style and "url(" in style:
            found += [_keep(base, u) for u in in_css(style, base)]
    return list(dict.fromkeys(u for u in found if u))


def in_css(css: str, base: str) -> list[str]:
    """Fonts, images and imported stylesheets a stylesheet uses."""
    refs = [m.group(1) for m in _CSS_IMPORT.finditer(css)] + [m.group(1) for m in _CSS_URL.finditer(css)]
    return list(dict.fromkeys(u for u in (_keep(base, r) for r in refs) if u and _ASSET.search(urlsplit(u).path)))


PARALLEL = 6  # requisites of one page in flight at once, as a browser loads them (each host: requisites_per_host)


async def fetch(fetcher, page_url: str, html: str, *, feed: str | None, max_count: int, max_bytes: int,
                kept: list | None = None, spent: int = 0) -> list:
    """[hops of one requisite, …] within the page's caps, in document order (after `kept`).

    Fetched PARALLEL at a time: one after another, a page with 15 images held its story back by 15 round trips
    (3 s of a first cycle's 6 on the bench). A file is started only while the caps leave room for it, and one
    that would take the page past `max_bytes` when it arrives is left out, so the caps hold as before."""
    import asyncio

    from monitor.sources.fetch import FetchError
    from monitor.tasks import gather_or_cancel

    kept = list(kept or [])
    if max_count <= 0 or max_bytes <= 0:
        return kept
    queue = in_html(html, page_url)
    seen = set(queue) | {page_url}
    found: dict[int, list] = {}  # position in the queue -> the requisite's hops
    state = {"next": 0, "spent": spent, "flying": 0}
    changed = asyncio.Event()

    def room() -> bool:
        return state["spent"] < max_bytes and len(kept) + len(found) + state["flying"] < max_count

    async def one(i: int) -> None:
        url = queue[i]
        try:
            response = await fetcher.get(url, feed=feed, max_bytes=max_bytes - state["spent"], accept="*/*",
                                         requisite=True)
        except FetchError as exc:
            log.debug("page requisite %s of %s: %s", url, page_url, exc)
            return
        if response.status != 200 or not response.hops:
            return
        size = sum(len(h.body) for h in response.hops)
        if state["spent"] + size > max_bytes:
            log.debug("page requisite %s of %s: left out by the page's byte cap", url, page_url)
            return
        state["spent"] += size
        found[i] = response.hops
        if "css" in response.headers.get("content-type", "").lower() or url.lower().endswith(".css"):
            text = response.content.decode("utf-8", "replace")
            for ref in in_css(text, response.url):
                if ref not in seen:
                    seen.add(ref)
                    queue.append(ref)

    async def worker() -> None:
        while True:
            if state["next"] >= len(queue) or not room():
                if state["flying"] == 0 or state["spent"] >= max_bytes:
                    return  # nothing left, or nothing more fits: a stylesheet in flight adds no room
                changed.clear()
                await changed.wait()  # a file in flight may add fonts (a stylesheet) or give its room back
                continue
            i, state["next"] = state["next"], state["next"] + 1
            state["flying"] += 1
            try:
                await one(i)
            finally:
                state["flying"] -= 1
                changed.set()

    await gather_or_cancel(*(worker() for _ in range(PARALLEL)))  # one failing worker stops the others
    if state["next"] < len(queue):
        log.debug("page %s: %d requisite(s) left out by the per-page caps", page_url, len(queue) - state["next"])
    return kept + [found[i] for i in sorted(found)]


_POST = re.compile(r"^https?://[^/]+/([A-Za-z0-9_]{3,64})/(\d{1,12})/?$")


def telegram_post_page(post_url: str, channel_page: str) -> str | None:
    """The post's own page (the single-post embed view) on the host its channel page came from: t.me, or the
    local server a test runs; None for what is not a post link."""
    m = _POST.match(post_url)
    if not m:
        return None
    base = urlsplit(channel_page)
    return f"{base.scheme}://{base.netloc}/{m.group(1)}/{m.group(2)}?embed=1"


async def fetch_post(fetcher, entry, *, max_count: int, max_bytes: int) -> list:
    """A matched Telegram post's own page and its photos (from the post's markup and its page), within the
    caps; [] when the entry is no post. Failures are left out with a debug line."""
    from monitor.sources.fetch import FetchError

    page = telegram_post_page(entry.url, entry.hops[-1].url) if entry.hops else None
    if page is None or max_count <= 0 or max_bytes <= 0:
        return []
    kept, html = [], (entry.raw or b"").decode("utf-8", "replace")
    try:
        response = await fetcher.get(page, feed=entry.feed, max_bytes=max_bytes)
        if response.status == 200:
            kept.append(response.hops)
            html += response.content.decode("utf-8", "replace")
    except FetchError as exc:
        log.debug("the page of post %s: %s", entry.url, exc)
    spent = sum(len(h.body) for group in kept for h in group)
    return await fetch(fetcher, page, html, feed=entry.feed, max_count=max_count, max_bytes=max_bytes,
                       kept=kept, spent=spent)


async def for_article(fetcher, settings, entry, response) -> list:
    """The matched article's images, stylesheets and fonts through the run's Fetcher, within the page caps: a
    page's requisites, or a Telegram post's own page and photos (`entry.text` set, no response)."""
    if not settings.requisites_max_count:
        return []
    caps = {"max_count": settings.requisites_max_count, "max_bytes": settings.requisites_max_bytes}
    if response is None:
        return await fetch_post(fetcher, entry, **caps) if entry.text is not None else []
    content_type = response.headers.get("content-type", "text/html").lower()
    if not any(t in content_type for t in PAGE_TYPES):
        return []
    from monitor.sources.charset import decode_html

    html = decode_html(response.content, content_type, where=response.url)
    return await fetch(fetcher, response.url, html, feed=entry.feed, **caps)


"""A search result out of the page: CSV or JSON Lines (the records of `monitor export`), and an Atom feed.

The list's own filters (`views.filters`) select the stories, newest first, at most MAX_STORIES; the Atom feed
carries the newest FEED_ENTRIES. Every string from the web goes through the XML writer's escaping.
"""

from __future__ import annotations

import io
from datetime import datetime, timezone
from xml.sax.saxutils import escape, quoteattr

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from monitor import clock
from monitor.stories.export import story_record, write
from monitor.web import views

MAX_STORIES = 2000
FEED_ENTRIES = 50


def _stories(ctx, request: Request, limit: int):
    store = ctx.store()
    flt, _, _, errors, _ = views.filters(ctx, store, request.query_params)
    if errors:
        return store, None, "; ".join(errors)
    return store, store.list_stories(flt, limit=limit), None


def export(ctx, request: Request) -> Response:
    """`/export.csv` and `/export.jsonl` with the page's query string."""
    fmt = request.path_params["fmt"]
    store, rows, error = _stories(ctx, request, MAX_STORIES)
    if rows is None:
        return PlainTextResponse(error or "bad request", status_code=400)
    out = io.StringIO()
    write((story_record(store, store.story(r["id"]), False) for r in rows), fmt, out)
    body = out.getvalue()
    if fmt == "csv":  # Excel reads a CSV as UTF-8 only after a byte-order mark
        body = "\ufeff" + body
    stamp = clock.now().strftime("%Y%m%d-%H%M")
    return Response(body.encode("utf-8"), media_type="text/csv; charset=utf-8" if fmt == "csv" else
                    "application/x-ndjson; charset=utf-8",
                    headers={"content-disposition": f'attachment; filename="stories-{stamp}.{fmt}"'})


def atom(ctx, request: Request) -> Response:
    """`/feed.atom` with the page's query string: a feed reader subscribes to a search."""
    store, rows, error = _stories(ctx, request, FEED_ENTRIES)
    if rows is None:
        return PlainTextResponse(error or "bad request", status_code=400)
    base = _base_url(ctx, request)
    query = request.url.query
    self_url = f"{base}/feed.atom" + (f"?{query}" if query else "")
    updated = _iso(max((r["day"] for r in rows), default=None)) or _iso(clock.now().isoformat())
    title = "Pamir news monitor" + (f": {request.query_params.get('q')}" if request.query_params.get("q") else "")
    out = ['<?xml version="1.0" encoding="utf-8"?>', '<feed xmlns="http://www.w3.org/2005/Atom">',
           f"<title>{escape(title)}</title>", f"<id>{escape(self_url)}</id>", f"<updated>{updated}</updated>",
           f"<link rel=\"self\" href={quoteattr(self_url)}/>",
           f"<link rel=\"alternate\" href={quoteattr(base + '/' + (('?' + query) if query else ''))}/>"]
    for r in rows:
        page = f"{base}/story/{r['id']}"
        out += ["<entry>", f"<title>{escape(r['title'] or '(no title)')}</title>", f"<id>{escape(page)}</id>",
                f"<link href={quoteattr(page)}/>", f"<updated>{_iso(r['day'])}</updated>",
                f"<author><name>{escape(r['source'] or '')}</name></author>",
                f"<summary>{escape(r['snippet'] or '')}</summary>", "</entry>"]
    out.append("</feed>")
    return Response("\n".join(out).encode("utf-8"), media_type="application/atom+xml; charset=utf-8")


def _base_url(ctx, request: Request) -> str:
    """Where the feed's links point: `web_base_url` when it is set (a Host header is the client's to choose,
    and a feed reader keeps the links), else the address this request came to."""
    settings = ctx.config.feeds.settings if ctx.config.feeds else None
    return (settings and settings.web_base_url) or str(request.base_url).rstrip("/")


def _iso(value: str | None) -> str | None:
    if not value:
        return None
    when = datetime.fromisoformat(value)
    when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

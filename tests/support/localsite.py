"""A small real web site on loopback for tests: feeds, article pages, errors, delays, redirects, ETags.

Every request is recorded (path, headers, time) so tests can assert what was and was not asked for.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

from monitor import clock


@dataclass
class Page:
    body: bytes
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    delay: float = 0.0  # seconds before answering
    headers: dict[str, str] = field(default_factory=dict)
    etag: bool = True  # answer If-None-Match with 304
    trickle: float = 0.0  # seconds between bytes: a slow-loris server


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    at: float
    end: float | None = None  # when the answer was written (None: still being answered, or cut off)


class _ThreadingHTTPServer6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class LocalSite:
    """`with LocalSite() as site: site.add("/feed.xml", Page(...)); site.url("/feed.xml")`"""

    def __init__(self, host: str = "127.0.0.1"):
        self.pages: dict[str, Page] = {}
        self.requests: list[Request] = []
        self.served: list[str] = []  # paths whose whole response was written, in order
        self._lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def setup(self) -> None:  # headers and body go out in two writes: without this, each keep-alive
                super().setup()       # request waits ~40 ms for a delayed ACK (Nagle)
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self) -> None:
                request = Request(self.path, {k.lower(): v for k, v in self.headers.items()}, time.monotonic())
                with site._lock:
                    site.requests.append(request)
                try:
                    self._answer()
                finally:
                    request.end = time.monotonic()

            def _answer(self) -> None:
                with site._lock:
                    page = site.pages.get(self.path) or site.pages.get(self.path.split("?")[0])
                if page is None:
                    page = Page(b"not found", status=404, content_type="text/plain")
                if page.delay:
                    time.sleep(page.delay)
                tag = '"' + hashlib.sha1(page.body).hexdigest()[:16] + '"'
                if page.etag and page.status == 200 and self.headers.get("If-None-Match") == tag:
                    self.send_response(304)
                    self.send_header("ETag", tag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(page.status)
                self.send_header("Content-Type", page.content_type)
                if page.etag and page.status == 200:
                    self.send_header("ETag", tag)
                for key, value in page.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(page.body)))
                self.end_headers()
                try:
                    if page.trickle:
                        for i in range(len(page.body)):
                            self.wfile.write(page.body[i : i + 1])
                            self.wfile.flush()
                            time.sleep(page.trickle)
                    else:
                        self.wfile.write(page.body)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    return
                with site._lock:
                    site.served.append(self.path)

        server_class = _ThreadingHTTPServer6 if ":" in host else ThreadingHTTPServer  # "::1": IPv6 loopback
        self.server = server_class((host, 0), Handler)
        self.server.daemon_threads = True
        self.host, self.port = self.server.server_address[:2]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "LocalSite":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def base(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def add(self, path: str, page: Page | bytes | str) -> str:
        if isinstance(page, str):
            page = page.encode("utf-8")
        if isinstance(page, bytes):
            page = Page(page)
        self.pages[path] = page
        return self.url(path)

    def requested(self, path_prefix: str = "") -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith(path_prefix)]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()


def article_html(title: str, paragraphs: list[str], *, lang: str = "en", date: str = "2024-05-18",
                 charset: str = "utf-8") -> str:
    """A realistic article page: navigation, the story, a sidebar and a footer of boilerplate."""
    body = "\n".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return f"""<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="{charset}"><title>{escape(title)} | Test News</title>
<meta property="article:published_time" content="{date}T09:00:00+00:00"></head>
<body><header><nav><a href="/">Home</a> <a href="/world">World</a> <a href="/sport">Sport</a></nav></header>
<main><article><h1>{escape(title)}</h1><p class="byline">By a staff reporter, {date}</p>
{body}
</article></main>
<aside><h3>Most read</h3><ul><li><a href="/x1">Markets close higher</a></li><li><a href="/x2">Weather</a></li></ul></aside>
<footer><p>Copyright Test News. All rights reserved.</p></footer></body></html>"""


def rss(title: str, items: list[dict[str, str]], *, base: str) -> str:
    """An RSS 2.0 feed; each item: title, path (joined to base), guid (optional), summary, date."""
    parts = []
    for item in items:
        link = base + item["path"]
        guid = item.get("guid", link)
        parts.append(f"""<item><title>{escape(item['title'])}</title><link>{escape(link)}</link>
<guid isPermaLink="false">{escape(guid)}</guid><description>{escape(item.get('summary', ''))}</description>
<pubDate>{item.get('date', formatdate(clock.time(), usegmt=True))}</pubDate></item>""")
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>{escape(title)}</title><link>{base}/</link><description>test</description>
{''.join(parts)}
</channel></rss>"""


def atom(title: str, items: list[dict[str, str]], *, base: str) -> str:
    parts = []
    for item in items:
        link = base + item["path"]
        parts.append(f"""<entry><title>{escape(item['title'])}</title><link href="{escape(link)}"/>
<id>{escape(item.get('guid', link))}</id><updated>{item.get('date', '2024-05-18T10:00:00Z')}</updated>
<summary>{escape(item.get('summary', ''))}</summary></entry>""")
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>{escape(title)}</title><id>{base}/</id>
<updated>2024-05-18T10:00:00Z</updated>{''.join(parts)}</feed>"""

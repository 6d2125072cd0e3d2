"""A synthetic news web on loopback: N outlets, each with one RSS/Atom feed and its article pages.

Run it in its own process (the harness does): it prints one JSON line when it is listening, e.g.

    python bench/site.py --feeds 1000 --items 20 --delay 0.1
    {"ready": true, "port": 40123, "control": "http://127.77.0.1:40123/_bench", "feeds": [...]}

Model
-----
* Feed i is one outlet. It has its own loopback address (127.77.x.y, all on one port), so a client that limits
  requests per host sees 1,000 different hosts, as it would on the real web. Its article pages are on the same
  host:port as the feed (`/a/<feed>/<item>.html`).
* Each feed lists its newest `--items` items. `/_bench/advance?fraction=0.01` publishes new items (1 % of all
  listed items, spread over randomly chosen feeds, seeded), so a later poll sees a changed feed.
* Every response waits `--delay` seconds before its first byte (server think time + network round trip).
* ETag and Last-Modified on feeds and pages; If-None-Match / If-Modified-Since give 304 with no body.
* Article pages are 50-150 KB of HTML: a per-outlet page shell (inline CSS and JS, navigation with hundreds of
  links, sidebars, "most read", comments, footer) around a unique article body of 4-12 paragraphs. Shells vary
  between outlets; bodies are generated from a seed, so every run serves the same bytes. A fraction of the
  articles (`--match-rate`) is about arrests in Khorog / GBAO so that matching and the digest do real work.
* Counters (requests, bytes, statuses, per kind; in-flight concurrency, overall and per host; the server's own
  CPU time) are served as JSON at `/_bench/stats` and zeroed by `/_bench/reset`. Control paths have no delay.

Only the standard library is used, so the site runs in any Python >= 3.11 without the project's venv.
"""

from __future__ import annotations

import argparse
import asyncio
import email.utils
import hashlib
import json
import os
import random
import resource
import signal
import sys
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

BASE_TIME = 1_767_225_600  # 2026-01-01 00:00:00 UTC: the clock every date on the site counts from
ITEM_MINUTES = 37  # minutes between two items of one feed (publication dates go back in time from "now")

# --------------------------------------------------------------------------------------------------------------
# text generation
# --------------------------------------------------------------------------------------------------------------

WORDS = """
the a of to in and on for with by from at as that this which was were is are has have had will would could
government ministry officials said told reporters on tuesday wednesday thursday friday monday weekend according
statement spokesman agency report reports local residents villagers people city district region province capital
parliament president minister council committee court judge trial hearing lawyer lawyers case charges prosecutor
police security forces border guards army troops soldiers checkpoint road highway bridge tunnel pass valley river
mountain mountains snow winter summer spring autumn harvest farmers market prices wheat flour fuel electricity
power plant water supply school schools teachers students university hospital doctors clinic patients health
economy budget tax trade exports imports loan bank currency inflation growth investors company companies project
construction mining gold coal contract deal agreement talks negotiations meeting summit delegation visit foreign
election vote voters campaign candidate party opposition activists journalist journalists newspaper radio website
internet access blocked restrictions law bill amendment rights freedom protest protesters crowd square street
announced approved rejected signed launched opened closed delayed postponed continued expected planned promised
new old first last next several many few most more less about around nearly almost only also still already again
year years month months week weeks day days hours minutes time period since until before after during while
because although however despite meanwhile officials estimate number percent million billion thousand hundred
international regional national central northern southern eastern western rural urban remote mountainous
neighbouring countries china russia kazakhstan uzbekistan kyrgyzstan afghanistan iran india pakistan europe
dushanbe bishkek almaty tashkent moscow beijing kabul istanbul geneva delegation envoy ambassador embassy
aid humanitarian organisation programme support funding donors development poverty migrants remittances labour
weather flooding landslide earthquake avalanche damage houses families rescue workers emergency shelter
sport football team match tournament champion festival music culture heritage museum tourists tourism hotel
""".split()

GBAO_SENTENCES = [
    "Security officers detained in Khorog, GBAO, at least three local activists on {day}, relatives said.",
    "Relatives said two Pamiri men were detained in Khorog, GBAO, after a search of their homes.",
    "Rights groups say residents of Gorno-Badakhshan have been detained without charge since the May protests.",
    "A court in Khorog sentenced a Pamiri community leader to a long prison term in a closed trial.",
    "Internet access in GBAO was cut again, and several people were detained in Khorog on {day}.",
    "Lawyers for the Pamiri activists detained in Khorog said they had not been allowed to see their clients.",
]
GBAO_TITLES = [
    "Activists detained in Khorog, GBAO",
    "Pamiri men detained in Khorog after house searches",
    "Closed trial in Khorog ends with long sentence",
    "Internet cut in GBAO as arrests continue in Khorog",
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _rng(*parts: object) -> random.Random:
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


def _sentence(rng: random.Random, lo: int = 8, hi: int = 24) -> str:
    words = rng.choices(WORDS, k=rng.randint(lo, hi))
    words[0] = words[0].capitalize()
    if rng.random() < 0.3:
        words.insert(rng.randint(1, len(words) - 1), rng.choice(WORDS) + ",")
    return " ".join(words) + "."


def _paragraph(rng: random.Random) -> str:
    return " ".join(_sentence(rng) for _ in range(rng.randint(3, 6)))


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


# --------------------------------------------------------------------------------------------------------------
# the site
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Counters:
    requests: dict[str, int] = field(default_factory=dict)  # kind -> count
    statuses: dict[str, int] = field(default_factory=dict)  # "kind status" -> count
    bytes: dict[str, int] = field(default_factory=dict)  # kind -> bytes sent (headers + body)
    connections: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    max_per_host: int = 0
    busy_integral: float = 0.0  # sum over time of in-flight requests (seconds x requests)
    last_change: float = field(default_factory=time.monotonic)
    since: float = field(default_factory=time.monotonic)
    cpu_at_reset: float = field(default_factory=time.process_time)
    per_host: dict[str, int] = field(default_factory=dict)

    def change(self, delta: int, host: str) -> None:
        now = time.monotonic()
        self.busy_integral += self.in_flight * (now - self.last_change)
        self.last_change = now
        self.in_flight += delta
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        n = self.per_host.get(host, 0) + delta
        self.per_host[host] = n
        if n > self.max_per_host:
            self.max_per_host = n

    def snapshot(self) -> dict:
        now = time.monotonic()
        busy = self.busy_integral + self.in_flight * (now - self.last_change)
        elapsed = now - self.since
        return {
            "requests": dict(self.requests),
            "statuses": dict(self.statuses),
            "bytes": dict(self.bytes),
            "total_requests": sum(self.requests.values()),
            "total_bytes": sum(self.bytes.values()),
            "connections": self.connections,
            "max_in_flight": self.max_in_flight,
            "max_in_flight_per_host": self.max_per_host,
            "mean_in_flight": busy / elapsed if elapsed > 0 else 0.0,
            "elapsed": elapsed,
            "server_cpu": time.process_time() - self.cpu_at_reset,
        }


class Site:
    def __init__(self, feeds: int, items: int, delay: float, seed: int, match_rate: float, atom_every: int,
                 min_kb: int, max_kb: int):
        self.n_feeds = feeds
        self.n_items = items
        self.delay = delay
        self.seed = seed
        self.match_rate = match_rate
        self.atom_every = atom_every
        self.min_kb = min_kb
        self.max_kb = max_kb
        self.head = [items] * feeds  # items published so far, per feed; the feed lists the newest `items`
        self.generation = 0
        self.port = 0
        self.counters = Counters()
        self._feed_cache: dict[int, tuple[int, bytes]] = {}
        self._shells: dict[int, tuple[bytes, bytes, bytes]] = {}
        self.n_styles = 48

    # -- addressing ------------------------------------------------------------------------------------------

    @staticmethod
    def host_ip(i: int) -> str:
        return f"127.77.{i // 250}.{i % 250 + 1}"

    def base(self, i: int) -> str:
        return f"http://{self.host_ip(i)}:{self.port}"

    def feed_url(self, i: int) -> str:
        return f"{self.base(i)}/feeds/{i}.xml"

    def article_url(self, i: int, j: int) -> str:
        return f"{self.base(i)}/a/{i}/{j}.html"

    # -- items -----------------------------------------------------------------------------------------------

    def is_match(self, i: int, j: int) -> bool:
        return _rng(self.seed, "m", i, j).random() < self.match_rate

    def published(self, i: int, j: int) -> int:
        """Seconds since epoch; the newest item of the initial site is BASE_TIME, later ones after it."""
        return BASE_TIME + (j - self.n_items) * ITEM_MINUTES * 60 + (i % 600)

    def title(self, i: int, j: int) -> str:
        rng = _rng(self.seed, "t", i, j)
        if self.is_match(i, j):
            return rng.choice(GBAO_TITLES)
        words = rng.choices(WORDS, k=rng.randint(5, 11))
        return " ".join(words).capitalize()

    def body_paragraphs(self, i: int, j: int) -> list[str]:
        rng = _rng(self.seed, "b", i, j)
        paras = [_paragraph(rng) for _ in range(rng.randint(4, 12))]
        if self.is_match(i, j):
            sentence = rng.choice(GBAO_SENTENCES).format(day=rng.choice(DAYS))
            k = rng.randrange(len(paras))
            paras[k] = sentence + " " + paras[k]
            paras.insert(0, sentence)
        return paras

    def summary(self, i: int, j: int) -> str:
        rng = _rng(self.seed, "s", i, j)
        text = " ".join(_sentence(rng) for _ in range(2))
        if self.is_match(i, j):
            text = rng.choice(GBAO_SENTENCES).format(day=rng.choice(DAYS)) + " " + text
        return _html_escape(text[:300])

    # -- feeds -----------------------------------------------------------------------------------------------

    def feed_version(self, i: int) -> tuple[str, int]:
        newest = self.head[i] - 1
        return f'"f{i}-{self.head[i]}"', self.published(i, newest)

    def feed_bytes(self, i: int) -> bytes:
        cached = self._feed_cache.get(i)
        if cached and cached[0] == self.head[i]:
            return cached[1]
        data = self._render_feed(i)
        self._feed_cache[i] = (self.head[i], data)
        return data

    def _render_feed(self, i: int) -> bytes:
        name = f"Outlet {i}"
        base = self.base(i)
        newest = self.head[i] - 1
        js = range(newest, max(-1, newest - self.n_items), -1)
        atom = self.atom_every and i % self.atom_every == self.atom_every - 1
        parts: list[str] = []
        if atom:
            parts.append('<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">\n')
            parts.append(f"<title>{name}</title>\n<id>{base}/</id>\n<link href=\"{base}/\"/>\n")
            parts.append(f"<updated>{_iso(self.published(i, newest))}</updated>\n")
            for j in js:
                url = self.article_url(i, j)
                summary = self.summary(i, j)
                parts.append(
                    f"<entry><title>{_html_escape(self.title(i, j))}</title><link href=\"{url}\"/>"
                    f"<id>tag:outlet{i},2026:{j}</id><updated>{_iso(self.published(i, j))}</updated>"
                    f"<summary>{summary}</summary></entry>\n"
                )
            parts.append("</feed>\n")
        else:
            parts.append('<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>\n')
            parts.append(f"<title>{name}</title><link>{base}/</link><description>News from {name}</description>\n")
            parts.append(f"<lastBuildDate>{email.utils.formatdate(self.published(i, newest), usegmt=True)}"
                         "</lastBuildDate>\n")
            for j in js:
                url = self.article_url(i, j)
                summary = self.summary(i, j)
                parts.append(
                    f"<item><title>{_html_escape(self.title(i, j))}</title><link>{url}</link>"
                    f"<guid isPermaLink=\"false\">outlet{i}-{j}</guid>"
                    f"<pubDate>{email.utils.formatdate(self.published(i, j), usegmt=True)}</pubDate>"
                    f"<description>{summary}</description></item>\n"
                )
            parts.append("</channel></rss>\n")
        return "".join(parts).encode()

    def advance(self, fraction: float) -> dict:
        """Publish round(fraction x all listed items) new items on randomly chosen feeds."""
        self.generation += 1
        total = self.n_feeds * self.n_items
        new = max(1, round(total * fraction)) if fraction > 0 else 0
        rng = _rng(self.seed, "advance", self.generation)
        touched: dict[int, int] = {}
        for _ in range(new):
            i = rng.randrange(self.n_feeds)
            touched[i] = touched.get(i, 0) + 1
        for i, k in touched.items():
            self.head[i] += min(k, self.n_items)  # more than a feed lists would fall off the feed unseen
        return {"generation": self.generation, "new_items": sum(min(k, self.n_items) for k in touched.values()),
                "feeds_changed": len(touched)}

    # -- article pages ---------------------------------------------------------------------------------------

    def shell(self, style: int) -> tuple[bytes, bytes, bytes]:
        """(head, before-article, after-article) HTML of one outlet style; cached."""
        got = self._shells.get(style)
        if got is None:
            got = self._shells[style] = _make_shell(self.seed, style)
        return got

    def page_bytes(self, i: int, j: int) -> bytes:
        head, before, after = self.shell(i % self.n_styles)
        rng = _rng(self.seed, "p", i, j)
        title = _html_escape(self.title(i, j))
        paras = self.body_paragraphs(i, j)
        date = _iso(self.published(i, j))
        article = [
            f"<title>{title} | Outlet {i}</title>\n"
            f'<meta property="og:title" content="{title}">\n'
            f'<meta property="article:published_time" content="{date}">\n'
            f'<link rel="canonical" href="{self.article_url(i, j)}">\n</head>\n',
        ]
        article_html = [
            f'<article class="story"><header><h1 class="headline">{title}</h1>'
            f'<div class="byline">By <a href="/authors/{rng.randint(1, 80)}">Staff correspondent</a> · '
            f'<time datetime="{date}">{date[:10]}</time></div></header>\n<div class="story-body">\n'
        ]
        for k, p in enumerate(paras):
            article_html.append(f"<p>{_html_escape(p)}</p>\n")
            if k == 2:
                article_html.append(
                    '<aside class="inline-related"><h4>Read also</h4><ul>'
                    + "".join(f'<li><a href="/a/{i}/{max(0, j - d)}.html">{_html_escape(self.title(i, max(0, j - d)))}'
                              "</a></li>" for d in (3, 7))
                    + "</ul></aside>\n"
                )
        article_html.append("</div></article>\n")
        # comments, "more stories" cards and ad scripts fill the page to its target size (50-150 KB by default);
        # they come from a pool generated once, so a page costs the server a join, not a text generator
        target = rng.randint(self.min_kb * 1024, self.max_kb * 1024)
        size = len(head) + len(before) + len(after) + sum(map(len, article)) + sum(map(len, article_html))
        pools = self.pools()
        blocks: dict[str, list[bytes]] = {"comment": [], "card": [], "script": []}
        while size < target:
            r = rng.random()
            kind = "comment" if r < 0.25 else "card" if r < 0.5 else "script"
            block = pools[kind][rng.randrange(len(pools[kind]))]
            blocks[kind].append(block)
            size += len(block)
        return b"".join([head, "".join(article).encode(), before, "".join(article_html).encode(),
                         b'<section id="comments" class="comments"><h3>Comments</h3>\n', *blocks["comment"],
                         b'</section>\n<section class="more-stories"><h2>More stories</h2>\n', *blocks["card"],
                         b"</section>\n", *blocks["script"], after])

    def pools(self) -> dict[str, list[bytes]]:
        if not hasattr(self, "_pools"):
            rng = _rng(self.seed, "pool")
            self._pools = {kind: [_filler_block(rng, kind, n).encode() for n in range(400)]
                           for kind in ("comment", "card", "script")}
        return self._pools


def _iso(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _filler_block(rng: random.Random, kind: str, n: int) -> str:
    i = rng.randint(0, 999)
    if kind == "comment":
        return (f'<div class="comment" id="c{n}"><div class="comment-meta"><span class="user">reader{rng.randint(1, 9999)}'
                f'</span> <span class="ago">{rng.randint(1, 59)} min ago</span></div>'
                f'<div class="comment-text">{_sentence(rng, 6, 30)}</div>'
                '<div class="comment-actions"><button>Reply</button><button>Like</button><button>Report</button>'
                "</div></div>\n")
    if kind == "card":
        return (f'<div class="card"><a href="/a/{i}/{rng.randint(0, 5000)}.html"><img src="/img/{rng.getrandbits(48):x}.jpg"'
                f' alt="" width="320" height="180" loading="lazy"></a><h3><a href="/a/{i}/{rng.randint(0, 5000)}.html">'
                f"{' '.join(rng.choices(WORDS, k=8)).capitalize()}</a></h3><p class=\"teaser\">{_sentence(rng, 10, 20)}</p>"
                f'<span class="tag">{rng.choice(WORDS)}</span></div>\n')
    # a tracking / ad script or an embedded JSON state blob, as on most news sites
    if rng.random() < 0.5:
        return (f'<script>window.dataLayer=window.dataLayer||[];dataLayer.push({{"slot":"ad-{n}","id":"{rng.getrandbits(64):x}",'
                f'"targeting":{{"section":"{rng.choice(WORDS)}","kw":["{rng.choice(WORDS)}","{rng.choice(WORDS)}"]}}}});'
                "</script>\n")
    state = json.dumps([{"id": rng.getrandbits(40), "headline": " ".join(rng.choices(WORDS, k=9)),
                         "url": f"/a/{i}/{rng.randint(0, 5000)}.html", "img": f"/img/{rng.getrandbits(48):x}.jpg",
                         "section": rng.choice(WORDS), "score": rng.random()} for _ in range(rng.randint(5, 20))])
    return f'<script type="application/json" class="state">{state}</script>\n'


def _make_shell(seed: int, style: int) -> tuple[bytes, bytes, bytes]:
    rng = _rng(seed, "shell", style)
    cls = lambda: "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(4, 10)))  # noqa: E731
    css = "".join(
        f".{cls()} .{cls()}{{margin:{rng.randint(0, 40)}px;padding:{rng.randint(0, 20)}px;color:#{rng.getrandbits(24):06x};"
        f"font-size:{rng.randint(10, 30)}px;display:{rng.choice(['block', 'flex', 'grid', 'none'])}}}\n"
        for _ in range(rng.randint(80, 260))
    )
    js = "".join(
        f"function {cls()}(e){{var t=document.querySelectorAll('.{cls()}');for(var i=0;i<t.length;i++){{"
        f"t[i].addEventListener('{rng.choice(['click', 'scroll', 'load'])}',function(){{return {rng.randint(0, 999)};}});}}}}\n"
        for _ in range(rng.randint(40, 160))
    )
    head = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        + "".join(f'<meta name="x-{cls()}" content="{cls()}">\n' for _ in range(rng.randint(10, 30)))
        + f"<style>\n{css}</style>\n<script>\n{js}</script>\n"
    )
    sections = rng.choices(WORDS, k=rng.randint(12, 30))
    nav = "".join(
        f'<li class="menu-item"><a href="/section/{s}">{s.capitalize()}</a><ul class="sub">'
        + "".join(f'<li><a href="/section/{s}/{t}">{t.capitalize()}</a></li>' for t in rng.choices(WORDS, k=rng.randint(3, 12)))
        + "</ul></li>"
        for s in sections
    )
    before = (
        f'<body class="{cls()}"><div id="cookie-banner">We use cookies to improve your experience. '
        '<a href="/privacy">Privacy policy</a> <button>Accept all</button></div>\n'
        f'<header class="site-header"><a class="logo" href="/">Outlet style {style}</a>'
        f'<nav class="main-nav"><ul>{nav}</ul></nav>'
        '<form class="search" action="/search"><input name="q" placeholder="Search"><button>Go</button></form>'
        '<div class="breaking">Breaking: ' + _sentence(rng, 6, 12) + "</div></header>\n"
        '<div class="share"><a href="#">Facebook</a> <a href="#">X</a> <a href="#">Telegram</a> <a href="#">Email</a></div>\n'
        '<main class="layout"><div class="col-main">\n'
    )
    most_read = "".join(
        f'<li><a href="/a/x/{rng.randint(0, 9999)}.html">{" ".join(rng.choices(WORDS, k=7)).capitalize()}</a></li>'
        for _ in range(10)
    )
    footer_links = "".join(f'<li><a href="/p/{cls()}">{rng.choice(WORDS).capitalize()}</a></li>' for _ in range(rng.randint(40, 140)))
    after = (
        '<section class="newsletter"><h3>Get our newsletter</h3><form><input type="email"><button>Subscribe</button></form>'
        "</section>\n</div>\n"
        f'<aside class="col-side"><section class="most-read"><h3>Most read</h3><ol>{most_read}</ol></section>'
        '<section class="ad"><div class="ad-slot" data-size="300x600"></div></section></aside>\n</main>\n'
        f'<footer class="site-footer"><ul class="footer-links">{footer_links}</ul>'
        f"<p>© 2026 Outlet style {style}. All rights reserved. Reproduction without permission is prohibited.</p>"
        "</footer>\n<script>(function(){var s=document.createElement('script');s.src='/static/analytics.js';"
        "document.body.appendChild(s);})();</script>\n</body></html>\n"
    )
    return head.encode(), before.encode(), after.encode()


# --------------------------------------------------------------------------------------------------------------
# HTTP/1.1 over asyncio streams (keep-alive, GET/HEAD, conditional GET)
# --------------------------------------------------------------------------------------------------------------

REASONS = {200: "OK", 304: "Not Modified", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}


class Server:
    def __init__(self, site: Site):
        self.site = site
        self.stopping = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        c = self.site.counters
        c.connections += 1
        host = writer.get_extra_info("sockname")[0]
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                try:
                    method, target, version = lines[0].split(" ", 2)
                except ValueError:
                    await self._send(writer, "other", 400, {}, b"bad request\n", True)
                    return
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                length = int(headers.get("content-length") or 0)
                if length:
                    await reader.readexactly(length)
                close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
                path = urlsplit(target).path
                if path.startswith("/_bench/"):
                    status, hdrs, body = self.control(path, target)
                    await self._send(writer, "control", status, hdrs, body, close, method == "HEAD")
                else:
                    c.change(+1, host)
                    try:
                        if self.site.delay:
                            await asyncio.sleep(self.site.delay)
                        kind, status, hdrs, body = self.route(path, headers, urlsplit(target).query)
                        await self._send(writer, kind, status, hdrs, body, close, method == "HEAD")
                    finally:
                        c.change(-1, host)
                if close:
                    return
        except ConnectionError:
            return
        finally:
            try:
                writer.close()
            except Exception:
                pass

    async def _send(self, writer, kind: str, status: int, hdrs: dict, body: bytes, close: bool,
                    head_only: bool = False) -> None:
        lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'OK')}", "Server: pamir-bench-site",
                 f"Date: {email.utils.formatdate(usegmt=True)}", f"Content-Length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in hdrs.items()]
        if close:
            lines.append("Connection: close")
        header = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        writer.write(header)
        sent = len(header)
        if body and not head_only and status != 304:
            writer.write(body)
            sent += len(body)
        c = self.site.counters
        if kind == "control":  # the harness's own calls are not part of any measured run
            await writer.drain()
            return
        c.requests[kind] = c.requests.get(kind, 0) + 1
        key = f"{kind} {status}"
        c.statuses[key] = c.statuses.get(key, 0) + 1
        c.bytes[kind] = c.bytes.get(kind, 0) + sent
        await writer.drain()

    def route(self, path: str, headers: dict[str, str], query: str = "") -> tuple[str, int, dict, bytes]:
        site = self.site
        parts = path.strip("/").split("/")
        try:
            if len(parts) == 2 and parts[0] == "feeds" and parts[1].endswith(".xml"):
                i = int(parts[1][:-4])
                if not 0 <= i < site.n_feeds:
                    raise ValueError
                etag, modified = site.feed_version(i)
                ctype = "application/atom+xml" if site.atom_every and i % site.atom_every == site.atom_every - 1 \
                    else "application/rss+xml"
                return self._conditional("feed", etag, modified, headers, lambda: site.feed_bytes(i),
                                         ctype + "; charset=utf-8")
            if len(parts) == 3 and parts[0] == "a" and parts[2].endswith(".html"):
                i, j = int(parts[1]), int(parts[2][:-5])
                if not (0 <= i < site.n_feeds and 0 <= j < site.head[i]):
                    raise ValueError
                etag = f'"a{i}-{j}"'
                return self._conditional("article", etag, site.published(i, j), headers,
                                         lambda: site.page_bytes(i, j), "text/html; charset=utf-8")
        except ValueError:
            pass
        return "other", 404, {"Content-Type": "text/plain"}, b"not found\n"

    @staticmethod
    def _conditional(kind, etag, modified, headers, make, ctype):
        last_modified = email.utils.formatdate(modified, usegmt=True)
        hdrs = {"ETag": etag, "Last-Modified": last_modified, "Cache-Control": "max-age=60"}
        inm = headers.get("if-none-match")
        if inm is not None:
            if etag in [t.strip() for t in inm.split(",")] or inm.strip() == "*":
                return kind, 304, hdrs, b""
        elif "if-modified-since" in headers:
            try:
                since = email.utils.parsedate_to_datetime(headers["if-modified-since"]).timestamp()
                if modified <= since:
                    return kind, 304, hdrs, b""
            except (TypeError, ValueError, IndexError):
                pass
        hdrs["Content-Type"] = ctype
        return kind, 200, hdrs, make()

    def control(self, path: str, target: str) -> tuple[int, dict, bytes]:
        site = self.site
        q = {k: v[-1] for k, v in parse_qs(urlsplit(target).query).items()}
        cmd = path[len("/_bench/"):]
        if cmd == "stats":
            out = site.counters.snapshot()
        elif cmd == "reset":
            out = site.counters.snapshot()
            site.counters = Counters()
        elif cmd == "advance":
            out = site.advance(float(q.get("fraction", "0.01")))
        elif cmd == "config":
            out = {"feeds": site.n_feeds, "items": site.n_items, "delay": site.delay, "seed": site.seed,
                   "port": site.port, "match_rate": site.match_rate}
        elif cmd == "stop":
            self.stopping.set()
            out = {"stopping": True}
        else:
            return 404, {}, b"unknown control command\n"
        return 200, {"Content-Type": "application/json"}, json.dumps(out).encode()


async def serve(site: Site, hosts: int, port: int, announce, server_class: type = Server) -> None:
    server = server_class(site)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, server.stopping.set)
    servers = []
    first = await asyncio.start_server(server.handle, Site.host_ip(0), port, backlog=1024, reuse_address=True)
    servers.append(first)
    site.port = first.sockets[0].getsockname()[1]
    for h in range(1, hosts):
        servers.append(await asyncio.start_server(server.handle, Site.host_ip(h), site.port, backlog=1024,
                                                  reuse_address=True))
    announce(site)
    await server.stopping.wait()
    for s in servers:
        s.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--items", type=int, default=20)
    ap.add_argument("--delay", type=float, default=0.1, help="seconds before each response (default 0.1)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--match-rate", type=float, default=0.02, help="share of articles about Khorog/GBAO")
    ap.add_argument("--atom-every", type=int, default=5, help="every Nth feed is Atom (0: RSS only)")
    ap.add_argument("--min-kb", type=int, default=50)
    ap.add_argument("--max-kb", type=int, default=150)
    ap.add_argument("--dump", metavar="FEED/ITEM", help="print one page (e.g. 3/7) or feed (e.g. 3) and exit")
    args = ap.parse_args(argv)
    if args.feeds > 250 * 250:
        ap.error("at most 62,500 feeds (one loopback address each)")
    site = Site(args.feeds, args.items, args.delay, args.seed, args.match_rate, args.atom_every,
                args.min_kb, args.max_kb)
    if args.dump:
        site.port = args.port or 8080
        if "/" in args.dump:
            i, j = map(int, args.dump.split("/"))
            sys.stdout.buffer.write(site.page_bytes(i, j))
        else:
            sys.stdout.buffer.write(site.feed_bytes(int(args.dump)))
        return 0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, args.feeds * 2 + 4096))
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    def announce(s: Site) -> None:
        info = {"ready": True, "pid": os.getpid(), "port": s.port,
                "control": f"{s.base(0)}/_bench",
                "feeds": [{"name": f"outlet-{i:05d}", "url": s.feed_url(i)} for i in range(s.n_feeds)]}
        sys.stdout.write(json.dumps(info) + "\n")
        sys.stdout.flush()

    asyncio.run(serve(site, args.feeds, args.port, announce))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

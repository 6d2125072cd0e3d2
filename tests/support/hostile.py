"""The worst the web sends, served on loopback: one source per case, shared by the hostile-feed tests and by
`bench/bench_hostile.py` (which runs each case alone and prints its time and peak memory).

`HostileWorld` starts the servers; `world.sources(names)` adds the routes of those cases and returns their
feeds.yaml entries. Every case that should still deliver a story carries one of `STORIES` (distinct reports,
so none is folded into another as a near-duplicate); `world.expected` lists the titles that must arrive.
Servers: the main site on 127.0.0.1, a raw-socket server for broken HTTP on 127.0.0.4, a site with a 10 MB
robots.txt on 127.0.0.3, and a "secret" site on 127.0.0.2 that no request may reach.
"""

from __future__ import annotations

import gzip
import html
from contextlib import ExitStack
from email.utils import formatdate
from xml.sax.saxutils import escape

from monitor import clock
from tests.support.faultserver import FaultServer, raw, stream
from tests.support.localsite import LocalSite, Page, article_html

# (title, paragraphs): each names other people, places and facts, so MinHash keeps them apart.
STORIES = [
    ("Teacher from Rushan detained after speaking to exiled journalists", [
        "Officers of the state security committee detained a mathematics teacher in Rushan district of GBAO on "
        "Sunday, two neighbours said, after he gave a telephone interview to a diaspora television channel.",
        "His wife was told he would be charged with extremism; no lawyer has been allowed to visit him."]),
    ("Khorog shopkeeper held for three days without charge", [
        "A shopkeeper from the Khorog bazaar was detained and spent three nights in a police cell in GBAO before "
        "being released without charge, his cousin wrote, saying investigators demanded the passwords of his phone.",
        "Traders in the Pamiri capital say inspections and detentions have multiplied since the spring."]),
    ("Relatives of Pamiri activist in Moscow summoned in Ishkashim", [
        "The elderly parents of a Pamiri activist who lives in Moscow were detained at the police station in "
        "Ishkashim, GBAO, and questioned for a whole day about their son's social media posts, a rights group said.",
        "The family was warned that their pension could be stopped if the posts continued."]),
    ("Two brothers from Vanj sentenced to long prison terms", [
        "A court in Dushanbe sentenced two brothers from Vanj district of Gorno-Badakhshan to eighteen and "
        "twenty years in prison after a closed trial over the protests of May 2022, relatives told reporters.",
        "Observers were not admitted and the defence says confessions were obtained under pressure."]),
    ("Pamiri student deported from Europe detained on arrival", [
        "A Pamiri student whose asylum claim was refused in a European country was detained at Dushanbe airport "
        "on arrival, according to friends who waited for him in the arrivals hall.",
        "He had taken part in a protest outside the Tajik embassy about the killings in Khorog in 2021."]),
    ("Internet cut again across Gorno-Badakhshan", [
        "Mobile internet was switched off across Gorno-Badakhshan again on Wednesday evening, residents of Khorog "
        "and Roshtqala said, the third shutdown in the region this year.",
        "The outage came as security forces detained several men in the Shugnan district, they added."]),
    ("Elderly poet questioned over verses about Rushan events", [
        "An elderly Pamiri poet was questioned for six hours at the GBAO prosecutor's office over verses he "
        "recited at a funeral about the people killed in Rushan in May 2022, his daughter said.",
        "He was released late at night after signing a statement promising not to publish the poem."]),
    ("Khorog musician's flat searched, laptop and notebooks taken", [
        "Masked officers searched the flat of a well-known Khorog musician before dawn on Saturday and took his "
        "laptop, notebooks and two guitars, his neighbours said.",
        "The musician was detained for questioning about songs shared on a Pamiri diaspora channel."]),
    ("Women in Porshinev protest detention of their sons", [
        "About forty women gathered outside the district administration in Porshinev, in GBAO, to demand news of "
        "their sons, who were detained during a night raid on the village last week.",
        "Police dispersed the gathering and detained two of the women for several hours."]),
    ("Human-rights lawyer barred from Khorog detention centre", [
        "A human-rights lawyer from Dushanbe was turned away at the gates of the Khorog pre-trial detention "
        "centre four days in a row, although she holds a signed contract with the detainee's family.",
        "The detainee, a former local councillor from GBAO, has not been seen by anyone since his arrest."]),
    ("Pamiri blogger extradited from Kazakhstan, family fears torture", [
        "Kazakhstan handed over a Pamiri blogger to Tajikistan on Thursday despite an appeal by the United "
        "Nations, his family said, and he was taken straight to a detention centre in Dushanbe.",
        "The blogger had written about property seizures in Khorog since the 2022 crackdown."]),
    ("Funeral in Khorog after death in custody of a young man from Shugnan", [
        "Hundreds attended the funeral in Khorog of a young man from Shugnan who died in custody ten days after "
        "his arrest; the authorities said he had fallen ill, his relatives say he was beaten.",
        "Mourners were filmed by plain-clothes officers and two of them were detained after the burial."]),
]


def rss_feed(items: list[str], title: str = "Hostile") -> bytes:
    return (f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>{title}</title>"
            f"<link>http://example.invalid/</link><description>d</description>{''.join(items)}</channel></rss>"
            ).encode()


def item(title: str, link: str | None, *, guid: str | None = None, date: str | None = None,
         summary: str = "", raw_title: str | None = None) -> str:
    parts = [f"<title>{raw_title if raw_title is not None else escape(title)}</title>"]
    if link is not None:
        parts.append(f"<link>{escape(link)}</link>")
    if guid is not None:
        parts.append(f"<guid isPermaLink='false'>{escape(guid)}</guid>")
    parts.append(f"<pubDate>{date or formatdate(clock.time(), usegmt=True)}</pubDate>")
    parts.append(f"<description>{escape(summary)}</description>")
    return f"<item>{''.join(parts)}</item>"


def _http(body: bytes, content_type: str = "application/rss+xml", extra: str = "") -> bytes:
    return (f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n{extra}"
            "Connection: close\r\n\r\n").encode() + body


class HostileWorld:
    """`with HostileWorld() as w: entries = w.sources(["huge title", ...])`."""

    def __init__(self) -> None:
        self._stack = ExitStack()
        self.expected: list[str] = []  # titles that must reach the reader
        self._next_story = 0

    def __enter__(self) -> "HostileWorld":
        s = self._stack
        self.site = s.enter_context(LocalSite("127.0.0.1"))
        self.secret = s.enter_context(LocalSite("127.0.0.2"))
        self.polite = s.enter_context(LocalSite("127.0.0.3"))
        self.raw = s.enter_context(FaultServer("127.0.0.4"))
        self.secret.add("/", "SECRET-internal")
        self.site.add("/tiny", Page(b"<html><body><p>Nothing to see.</p></body></html>", etag=False))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def story(self, path: str, server: LocalSite | None = None) -> tuple[str, str, str]:
        """Serve the next distinct story at `path`: (url, title, summary)."""
        title, paragraphs = STORIES[self._next_story]
        self._next_story += 1
        server = server or self.site
        server.add(path, article_html(title, paragraphs))
        self.expected.append(title)
        return server.url(path), title, paragraphs[0]

    def sources(self, names: list[str]) -> list[dict[str, str]]:
        out = []
        for name in names:
            out += getattr(self, "_" + name.replace(" ", "_").replace("-", "_"))()
        return out

    # --- the cases ------------------------------------------------------------------------------

    def _huge_title(self) -> list[dict[str, str]]:
        url, title, summary = self.story("/a/huge")
        self.expected[-1] = title  # the title the reader sees is the page's (the feed's is cut)
        huge = title + " " + " ".join(["Khorog GBAO detained"] * 55_000)  # ~1.1 MB
        self.site.add("/huge.xml", Page(rss_feed([item(huge, url, summary=summary)]),
                                        content_type="application/rss+xml"))
        return [{"name": "Huge title", "url": self.site.url("/huge.xml")}]

    def _many_items(self, count: int = 20_000) -> list[dict[str, str]]:
        url, title, summary = self.story("/a/many")
        items = [item(title, url, summary=summary)]
        items += [item(f"Weather bulletin {i}", self.site.url(f"/tiny?i={i}"), guid=f"w{i}") for i in range(count)]
        self.site.add("/many.xml", Page(rss_feed(items), content_type="application/rss+xml"))
        return [{"name": "Twenty thousand items", "url": self.site.url("/many.xml")}]

    def _bad_bytes(self) -> list[dict[str, str]]:
        url, title, summary = self.story("/a/bytes")
        body = rss_feed([
            item("", url, raw_title=escape(title).replace(" ", " \x1b\x07\x08", 1), summary=summary),
            item("", self.site.url("/tiny?nul=1") + "\x00/evil", raw_title="NUL \x00 in a title"),
            item("", self.site.url("/tiny?ctl=1") + "\x1b[31m", raw_title="bad UTF-8 @BAD@ here"),
        ]).replace(b"@BAD@", b"\xff\xfe\xc3")  # bytes that are not UTF-8 in a feed that says it is
        self.site.add("/bytes.xml", Page(body, content_type="application/rss+xml"))
        return [{"name": "Bad bytes", "url": self.site.url("/bytes.xml")}]

    def _odd_links(self) -> list[dict[str, str]]:
        title, paragraphs = STORIES[self._next_story]
        self._next_story += 1
        self.expected.append(title)
        self.raw.route("/a/relative", raw(_http(article_html(title, paragraphs).encode(), "text/html")))
        self.raw.route("/endless", stream(10**12, content_type="text/html", prefix=b"<html><body><p>"))
        body = rss_feed([
            item("An entry with no link at all about Khorog detentions", None, guid="nolink"),
            item("A javascript link about Khorog detentions", "javascript:alert(document.domain)"),
            item(title, "/a/relative", summary=paragraphs[0]),
            item("A page that never ends", "/endless", summary="Weather in the mountains."),
        ])
        self.raw.route("/odd.xml", raw(_http(body)))
        return [{"name": "Odd links", "url": self.raw.url("/odd.xml")}]

    def _dates(self) -> list[dict[str, str]]:
        items = []
        for path, date in (("/a/year9999", "Fri, 31 Dec 9999 23:59:59 GMT"), ("/a/year1", "Mon, 01 Jan 0001 00:00:00 GMT"),
                           ("/a/garbage-date", "the day after the big storm, probably")):
            url, title, summary = self.story(path)
            items.append(item(title, url, date=date, summary=summary))
        self.site.add("/dates.xml", Page(rss_feed(items), content_type="application/rss+xml"))
        return [{"name": "Strange dates", "url": self.site.url("/dates.xml")}]

    def _duplicate_guids(self) -> list[dict[str, str]]:
        items = []
        for path in ("/a/guid-one", "/a/guid-two"):
            url, title, summary = self.story(path)
            items.append(item(title, url, guid="same-guid-for-both", summary=summary))
        self.site.add("/guids.xml", Page(rss_feed(items), content_type="application/rss+xml"))
        return [{"name": "Duplicate GUIDs", "url": self.site.url("/guids.xml")}]

    def _xml_base(self) -> list[dict[str, str]]:
        other = self.secret.base + "/"
        body = f"""<?xml version='1.0' encoding='utf-8'?>
<feed xmlns='http://www.w3.org/2005/Atom' xml:base='{other}'><title>t</title><id>x</id>
<updated>2024-05-18T10:00:00Z</updated>
<entry><title>Detained in Khorog, relative link under a foreign base</title><link href='/secret'/><id>b1</id>
<updated>2024-05-18T10:00:00Z</updated></entry>
<entry xml:base='javascript:alert(1)//'><title>Khorog GBAO detained (script base)</title><link href='x'/><id>b2</id>
<updated>2024-05-18T10:00:00Z</updated></entry>
<entry xml:base='file:///etc/'><title>Khorog GBAO detained (file base)</title><link href='passwd'/><id>b3</id>
<updated>2024-05-18T10:00:00Z</updated></entry>
</feed>""".encode()
        self.site.add("/base.xml", Page(body, content_type="application/atom+xml"))
        return [{"name": "xml:base tricks", "url": self.site.url("/base.xml")}]

    def _lying_gzip(self) -> list[dict[str, str]]:
        self.raw.route("/lying.xml", raw(_http(rss_feed([item("x", "/x")]), extra="Content-Encoding: gzip\r\n")))
        title, paragraphs = STORIES[self._next_story]
        self._next_story += 1
        self.expected.append(title)
        cut = gzip.compress(article_html(title, paragraphs).encode())[:200]  # a truncated stream
        self.raw.route("/a/lying-page", raw(_http(cut, "text/html", extra="Content-Encoding: gzip\r\n")))
        self.raw.route("/gz-article.xml", raw(_http(rss_feed([item(title, "/a/lying-page",
                                                                     summary=" ".join(paragraphs))]))))
        return [{"name": "Lying gzip", "url": self.raw.url("/lying.xml")},
                {"name": "Lying gzip article", "url": self.raw.url("/gz-article.xml")}]

    def _redirects(self) -> list[dict[str, str]]:
        for i in range(30):
            self.site.add(f"/r/{i}", Page(b"", status=302, headers={"Location": f"/r/{i + 1}"}, etag=False))
        self.site.add("/r/30", Page(rss_feed([item("x", "/x")]), content_type="application/rss+xml"))
        return [{"name": "Thirty redirects", "url": self.site.url("/r/0")}]

    def _sitemap_self(self) -> list[dict[str, str]]:
        url, title, _ = self.story("/a/2026/sitemap-story")
        index = f"""<?xml version='1.0'?><sitemapindex xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>
<sitemap><loc>{self.site.url('/sitemap-self.xml')}</loc></sitemap>
<sitemap><loc>{self.site.url('/sitemap-self.xml')}?again=1</loc></sitemap>
<sitemap><loc>{self.site.url('/sitemap-child.xml')}</loc></sitemap></sitemapindex>"""
        child = f"""<?xml version='1.0'?><urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>
<url><loc>{url}</loc><lastmod>{_iso_now()}</lastmod></url></urlset>"""
        self.site.add("/sitemap-self.xml", Page(index.encode(), content_type="application/xml"))
        self.site.add("/sitemap-child.xml", Page(child.encode(), content_type="application/xml"))
        return [{"name": "Sitemap index of itself", "url": self.site.url("/sitemap-self.xml"), "kind": "sitemap"}]

    def _sitemap_50k(self) -> list[dict[str, str]]:
        children = "".join(f"<sitemap><loc>{self.site.url(f'/sm/{i}.xml')}</loc></sitemap>" for i in range(50_000))
        index = ("<?xml version='1.0'?><sitemapindex xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
                 f"{children}</sitemapindex>")
        self.site.add("/sitemap-big.xml", Page(index.encode(), content_type="application/xml"))
        empty = b"<?xml version='1.0'?><urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'></urlset>"
        for i in range(50_000):
            self.site.pages[f"/sm/{i}.xml"] = Page(empty, content_type="application/xml", etag=False)
        return [{"name": "Sitemap index of 50,000", "url": self.site.url("/sitemap-big.xml"), "kind": "sitemap"}]

    def _robots_10mb(self) -> list[dict[str, str]]:
        rules = "User-agent: *\nDisallow: /private/\n\n"
        filler = "# " + "a comment line to make robots.txt huge " * 2 + "\n"
        self.polite.add("/robots.txt", Page((rules + filler * (10_000_000 // len(filler))).encode(),
                                            content_type="text/plain"))
        public, _, _ = self.story("/public/2026/khorog-report", self.polite)
        self.polite.add("/private/2026/internal-draft", article_html("Draft about Khorog detentions",
                                                                     ["An unpublished draft about GBAO."]))
        listing = (f"<html><body><h1>News</h1><ul><li><a href='{public}'>{html.escape(STORIES[self._next_story - 1][0])}"
                   "</a></li><li><a href='/private/2026/internal-draft'>Draft about Khorog detentions</a></li>"
                   "</ul></body></html>")
        self.polite.add("/news/", listing)
        return [{"name": "Ten-megabyte robots.txt", "url": self.polite.url("/news/"), "kind": "site"}]

    def _many_feeds(self, feeds: int = 200, items: int = 20) -> list[dict[str, str]]:
        """200 feeds x 20 items whose links the SSRF guard refuses before any connection: the memory of polling,
        parsing and recording 4,000 entries at once, without 4,000 page fetches (bench_hostile.py does those)."""
        out = []
        for f in range(feeds):
            body = rss_feed([item(f"Market day {f}-{i}", f"http://127.0.0.2:9/market/{f}/{i}",
                                  summary="A quiet day at the market.") for i in range(items)])
            self.site.add(f"/feeds/{f}.xml", Page(body, content_type="application/rss+xml"))
            out.append({"name": f"Market feed {f}", "url": self.site.url(f"/feeds/{f}.xml")})
        return out


ALL_CASES = ["huge title", "many items", "bad bytes", "odd links", "dates", "duplicate guids", "xml base",
             "lying gzip", "redirects", "sitemap self", "sitemap 50k", "robots 10mb"]
MEMORY_CASES = ["many feeds"]  # measured on its own: 4,000 entries cost feedparser ~4 s, once is enough


def _iso_now() -> str:

    return clock.now().isoformat(timespec="seconds")


def feeds_yaml_text(sources: list[dict[str, str]], settings: str = "  timeout: 30\n") -> str:
    lines = ["feeds:"]
    for source in sources:
        lines.append(f"  - name: {source['name']!r}".replace("'", '"'))
        lines.append(f"    url: {source['url']}")
        if "kind" in source:
            lines.append(f"    kind: {source['kind']}")
    return "\n".join(lines) + "\nsettings:\n" + settings

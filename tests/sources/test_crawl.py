"""Outlets without a usable feed: a listing page (`kind: site`), sitemaps (`kind: sitemap`), and
`monitor discover` for a home page that hides its feed. The user adds the outlet; its stories arrive."""

from __future__ import annotations

import gzip
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from monitor import clock

from monitor.sources.sitemaps import gunzip, parse_sitemap
from monitor.sources.sites import extract_links
from monitor.sources.feeds import ParseError
from tests.conftest import PROJECT, run_cli
from tests.support.localsite import LocalSite, Page, article_html
from tests.test_pipeline import KHOROG_RU
from tests.sources.test_politeness import KHOROG, WEATHER


def listing(links: list[tuple[str, str]], extra: str = "") -> str:
    items = "\n".join(f'<li class="card"><a href="{href}">{title}</a></li>' for href, title in links)
    return f"""<!DOCTYPE html><html><head><title>Новости</title></head><body>
<nav><a href="/">Главная</a> <a href="/tag/politics/">Политика</a> <a href="/about">О нас</a>
<a href="/rss">RSS</a> <a href="https://facebook.com/outlet">Facebook</a></nav>
<main><ul>{items}</ul>{extra}</main>
<footer><a href="/privacy">Privacy</a> <a href="/static/logo.png">logo</a></footer></body></html>"""


def run_once(tmp_path: Path, feeds: str):
    path = tmp_path / "feeds.yaml"
    path.write_text(f"feeds:\n{feeds}\nsettings:\n  timeout: 5\n", encoding="utf-8")
    return run_cli("run", "--once", "--feeds", str(path), "--keywords", str(PROJECT / "keywords.yaml"),
                   "--state", str(tmp_path / "state.db"))


@pytest.fixture
def no_rss_site(site: LocalSite) -> LocalSite:
    site.add("/robots.txt", Page(b"User-agent: *\nDisallow: /private/\n", content_type="text/plain"))
    site.add("/ru/news/", listing([
        ("/ru/news/2024/05/18/zaderzhany-v-khoroge", "В Хороге задержаны пятеро жителей"),
        ("/ru/news/2024/05/17/pogoda", "Погода на выходные"),
        ("/private/draft-khorog", "Черновик"),
        ("https://other.example/ru/news/elsewhere-article", "Чужая новость"),
    ]))
    site.add("/ru/news/2024/05/18/zaderzhany-v-khoroge",
             article_html("В Хороге задержаны пятеро жителей", KHOROG_RU, lang="ru"))
    site.add("/ru/news/2024/05/17/pogoda", article_html("Погода на выходные", WEATHER))
    site.add("/private/draft-khorog", article_html("Черновик", KHOROG_RU, lang="ru"))
    return site


def test_an_outlet_without_rss_delivers_its_stories_from_the_listing_page(tmp_path, no_rss_site):
    site = no_rss_site
    feeds = f"  - name: Outlet without RSS\n    kind: site\n    url: {site.url('/ru/news/')}"
    result = run_once(tmp_path, feeds)
    assert result.returncode == 0, result.stderr
    assert "В Хороге задержаны пятеро жителей" in result.stdout
    asked = [r.path for r in site.requests]
    assert asked[:2] == ["/robots.txt", "/ru/news/"], "a crawled listing page is checked against robots.txt"
    assert "/private/draft-khorog" not in asked, "robots.txt forbids it"
    assert not [p for p in asked if p.startswith(("/tag/", "/about", "/rss", "/privacy", "/static/", "/"))
                and p not in ("/robots.txt", "/ru/news/") and not p.startswith("/ru/news/2024")], asked
    site.clear()
    second = run_once(tmp_path, feeds)
    assert second.returncode == 0 and second.stdout.strip() == ""
    assert [r.path for r in site.requests] == ["/ru/news/"], \
        "robots.txt is kept in the state between runs, and no article is fetched again"


def test_a_links_pattern_picks_the_articles(tmp_path, site):
    site.add("/search?q=GBAO", listing([("/story/123", "Activists detained in Khorog"),
                                        ("/video/khorog-detentions-clip", "Video")]))
    site.add("/story/123", article_html("Activists detained in Khorog", KHOROG))
    site.add("/video/khorog-detentions-clip", article_html("Video", KHOROG))
    result = run_once(tmp_path, f"  - name: Search\n    kind: site\n    url: {site.url('/search?q=GBAO')}\n"
                                f"    links: '/story/\\d+$'")
    assert "Activists detained in Khorog" in result.stdout, result.stderr
    assert "/video/khorog-detentions-clip" not in [r.path for r in site.requests]


def sitemap_xml(urls: list[tuple[str, str]], news: bool = False) -> bytes:
    """A urlset; with news=True a Google News sitemap (publication date and a title from the URL's slug)."""
    ns = ' xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"' if news else ""
    body = "".join(
        f"<url><loc>{loc}</loc><lastmod>{mod}</lastmod>"
        + (f"<news:news><news:publication_date>{mod}</news:publication_date>"
           f"<news:title>{loc.rsplit('/', 1)[-1].replace('-', ' ')}</news:title></news:news>"
           if news else "") + "</url>" for loc, mod in urls)
    return f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"{ns}>' \
           f"{body}</urlset>".encode()


def sitemap_index(children: list[tuple[str, str]]) -> bytes:
    body = "".join(f"<sitemap><loc>{loc}</loc><lastmod>{mod}</lastmod></sitemap>" for loc, mod in children)
    return f'<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{body}' \
           "</sitemapindex>".encode()


def test_a_sitemap_found_through_robots_txt_delivers_new_stories_and_skips_old_sitemaps(tmp_path, site):
    now = clock.now()
    recent, old = (now - timedelta(hours=3)).isoformat(timespec="seconds"), "2019-01-01"
    site.add("/robots.txt", Page(f"User-agent: *\nDisallow: /private/\nSitemap: {site.url('/sitemap_index.xml')}\n"
                                 .encode(), content_type="text/plain"))
    site.add("/sitemap_index.xml", Page(sitemap_index([(site.url("/news-sitemap.xml.gz"), recent),
                                                       (site.url("/sitemap-2019.xml"), old)]),
                                        content_type="application/xml"))
    site.add("/news-sitemap.xml.gz", Page(gzip.compress(sitemap_xml([
        (site.url("/news/khorog-detentions"), recent),
        (site.url("/news/weather-report"), recent),
        (site.url("/private/khorog-draft"), recent),
        (site.url("/news/old-story-updated-long-ago"), old),
    ], news=True)), content_type="application/x-gzip"))
    site.add("/sitemap-2019.xml", Page(sitemap_xml([(site.url("/news/2019-story"), old)]),
                                       content_type="application/xml"))
    site.add("/news/khorog-detentions", article_html("Activists detained in Khorog", KHOROG))
    site.add("/news/weather-report", article_html("Weather", WEATHER))
    result = run_once(tmp_path, f"  - name: Sitemap outlet\n    kind: sitemap\n    url: {site.url('/')}")
    assert result.returncode == 0, result.stderr
    assert "khorog detentions" in result.stdout, "the story arrives, titled as the news sitemap names it"
    asked = [r.path for r in site.requests]
    assert asked[:3] == ["/robots.txt", "/sitemap_index.xml", "/news-sitemap.xml.gz"]
    for never in ("/sitemap-2019.xml", "/private/khorog-draft", "/news/old-story-updated-long-ago"):
        assert never not in asked, f"{never} is old or forbidden, and was asked for"


def test_sitemap_parsing_refuses_entities_and_gzip_bombs():
    laughs = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
              b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>&lol2;</loc></url></urlset>')
    with pytest.raises(ParseError):
        parse_sitemap(laughs)
    with pytest.raises(ParseError, match="too large"):
        gunzip(gzip.compress(b" " * 2_000_000), cap=1_000_000)
    kind, items = parse_sitemap(gunzip(gzip.compress(sitemap_xml([("https://a.example/x", "2024-05-18")]))))
    assert kind == "urlset" and items[0].loc == "https://a.example/x"
    assert items[0].lastmod == datetime(2024, 5, 18, tzinfo=timezone.utc)
    with pytest.raises(ParseError, match="not a sitemap"):
        parse_sitemap(b"<html><body>hello</body></html>")


def test_links_found_on_a_page_keep_their_dates_and_the_next_page():
    html = listing([("/a/khorog-detentions", "Detained in Khorog"), ("/a/rushan-court-hearing", "Rushan court")],
                   extra='<a class="next page-numbers" href="/news/page/2/">Older posts »</a>')
    html = html.replace('<a href="/a/rushan-court-hearing">Rushan court</a>',
                        '<a href="/a/rushan-court-hearing">Rushan court</a><time datetime="2022-05-20">20 May</time>')
    links, next_url = extract_links(html, "https://outlet.example/news/")
    assert [u for u, _, _ in links] == ["https://outlet.example/a/khorog-detentions",
                                        "https://outlet.example/a/rushan-court-hearing"]
    assert links[1][2] == datetime(2022, 5, 20, tzinfo=timezone.utc) and links[0][2] is None
    assert next_url == "https://outlet.example/news/page/2/"


def test_discover_lists_the_feeds_a_home_page_links_to(site):
    site.add("/", """<html><head><title>Outlet</title>
<link rel="alternate" type="application/rss+xml" title="Новости (RSS)" href="/ru/rss">
<link rel="alternate" type="application/atom+xml" title="English" href="https://en.example.org/atom.xml">
<link rel="alternate" hreflang="en" href="/en/">
<link rel="stylesheet" href="/style.css"></head><body>hi</body></html>""")
    result = run_cli("discover", site.url("/"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines == [f"{site.url('/ru/rss')}\trss\tНовости (RSS)", "https://en.example.org/atom.xml\tatom\tEnglish"]
    site.add("/plain", "<html><body>no feeds here</body></html>")
    none = run_cli("discover", site.url("/plain"))
    assert none.returncode == 1 and "no feeds linked" in none.stdout

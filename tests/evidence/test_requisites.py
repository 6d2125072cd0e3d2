"""A matched page's images, stylesheets and fonts: all of them, in the page's order, within the page's caps,
and fetched several at a time, so a page with many images does not hold its story back by a round trip each."""

from __future__ import annotations

import asyncio

from monitor.config.feeds import Settings
from monitor.evidence.requisites import fetch
from monitor.sources.fetch import Fetcher
from tests.support.localsite import LocalSite, Page

IMAGES = [f"/img/{n}.png" for n in range(8)]
PAGE = ("<html><head><link rel=stylesheet href='/css/site.css'></head><body><h1>Khorog</h1>"
        + "".join(f"<img src='{path}'>" for path in IMAGES) + "</body></html>")


def _site(site: LocalSite, delay: float = 0.0, size: int = 1000) -> None:
    site.add("/robots.txt", Page(b"User-agent: *\nAllow: /\n", content_type="text/plain"))
    site.add("/css/site.css", Page(b"@font-face { src: url('/fonts/pamir.woff2'); }", content_type="text/css",
                                   delay=delay))
    site.add("/fonts/pamir.woff2", Page(b"w" * size, content_type="font/woff2", delay=delay))
    for path in IMAGES:
        site.add(path, Page(b"\x89PNG" + b"p" * size, content_type="image/png", delay=delay))


def _fetch(site: LocalSite, wide: int = 6, **caps) -> list[str]:
    async def go() -> list:
        async with Fetcher(Settings(per_host=2, requisites_per_host=wide), {"127.0.0.1"}) as fetcher:
            return await fetch(fetcher, site.url("/news/khorog"), PAGE, feed=None, **caps)

    return [hops[-1].url.removeprefix(site.base) for hops in asyncio.run(go())]


def test_every_requisite_is_kept_in_the_page_order_with_the_fonts_its_stylesheet_uses():
    with LocalSite("127.0.0.1") as site:
        _site(site)
        kept = _fetch(site, max_count=40, max_bytes=10_000_000)
    assert kept == ["/css/site.css", *IMAGES, "/fonts/pamir.woff2"]


def test_a_page_with_many_images_has_them_fetched_as_wide_as_a_browser_and_never_wider():
    with LocalSite("127.0.0.1") as site:
        _site(site, delay=0.3)
        _fetch(site, wide=3, max_count=40, max_bytes=10_000_000)
        arrivals = sorted(r.at for r in site.requested("/img/"))
    assert len(arrivals) == len(IMAGES)
    together = [sum(1 for b in arrivals if a <= b < a + 0.15) for a in arrivals]  # asked within 0.15 s of each
    assert max(together) == 3, f"requisites_per_host: 3 at once, no more and no fewer: {together}"


def test_the_caps_on_count_and_bytes_still_hold():
    with LocalSite("127.0.0.1") as site:
        _site(site, size=10_000)
        assert _fetch(site, max_count=3, max_bytes=10_000_000) == ["/css/site.css", *IMAGES[:2]]
        kept = _fetch(site, max_count=40, max_bytes=35_000)
    assert kept[0] == "/css/site.css" and len(kept) == 4, kept  # 45 B + 3 x 10,004 B fit in 35,000 B; a 4th not

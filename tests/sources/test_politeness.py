"""Politeness, as the sites we read would see it: robots.txt, spacing, Retry-After, back-off, proxies.

Every assertion is on what the local server saw (paths, order, timing), or on what the user receives.
"""

from __future__ import annotations

import asyncio
import gzip
from email.utils import format_datetime
from datetime import timedelta
from pathlib import Path

import pytest

from monitor import clock

from monitor.config.feeds import FeedSpec, Settings
from monitor.sources.fetch import USER_AGENT, Fetcher, FetchError
from monitor.sources.robots import parse_robots
from tests.conftest import PROJECT, run_cli
from tests.support.localsite import LocalSite, Page, article_html, rss

KHOROG = [
    "Security forces detained at least twelve Pamiri activists in Khorog, the administrative centre of the "
    "Gorno-Badakhshan Autonomous Region (GBAO), on Tuesday evening, their relatives told reporters.",
    "The men were taken from their homes after dark and have not been allowed to see lawyers, according to a "
    "local rights defender who asked not to be named for fear of reprisals.",
    "Authorities in Dushanbe did not respond to requests for comment; dozens of residents of the region have "
    "been sentenced to long prison terms after closed trials since May 2022.",
]
WEATHER = ["Sunny skies are expected across the region this weekend, with light winds in the afternoon.",
           "Temperatures will rise slightly on Sunday before a cooler week ahead, forecasters said."]


class ScriptedPages(dict):
    """LocalSite's page table, where a path can answer a sequence of pages (a 429 first, then the story)."""

    def __init__(self, pages: dict):
        super().__init__(pages)
        self.scripts: dict[str, list[Page]] = {}

    def get(self, key, default=None):
        script = self.scripts.get(key)
        if script:
            return script.pop(0) if len(script) > 1 else script[0]
        return super().get(key, default)


def feeds_file(tmp_path: Path, body: str, settings: str = "") -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(f"feeds:\n{body}\nsettings:\n  timeout: 5\n{settings}", encoding="utf-8")
    return path


def run_once(tmp_path: Path, feeds: Path, env: dict[str, str] | None = None):
    return run_cli("run", "--once", "--feeds", str(feeds), "--keywords", str(PROJECT / "keywords.yaml"),
                   "--state", str(tmp_path / "state.db"), env=env)


def news_feed(site: LocalSite, items: list[tuple[str, str]], base: str | None = None) -> Page:
    now = clock.now()
    return Page(rss("Test News", [{"title": t, "path": p, "date": format_datetime(now - timedelta(hours=i))}
                                  for i, (t, p) in enumerate(items)], base=base or site.base).encode(),
                content_type="application/rss+xml")


def test_robots_txt_forbids_a_path_and_it_is_never_asked_for_while_the_feed_itself_is_read(tmp_path, site):
    site.add("/robots.txt", Page(b"User-agent: *\nDisallow: /private/\nDisallow: /feed.xml\n"
                                 b"\nUser-agent: pamir-monitor\nDisallow: /private/\n", content_type="text/plain"))
    site.add("/news/khorog", article_html("Activists detained in Khorog", KHOROG))
    site.add("/private/khorog-leak", article_html("Leaked: detained in Khorog", KHOROG))
    site.add("/feed.xml", news_feed(site, [("Activists detained in Khorog", "/news/khorog"),
                                           ("Leaked: detained in Khorog", "/private/khorog-leak")]))
    result = run_once(tmp_path, feeds_file(tmp_path, f"  - name: Test News\n    url: {site.url('/feed.xml')}"))
    assert result.returncode == 0, result.stderr
    asked = [r.path for r in site.requests]
    assert "/private/khorog-leak" not in asked, "robots.txt forbids /private/ to our User-Agent"
    assert "/news/khorog" in asked and "Activists detained in Khorog" in result.stdout
    assert asked.index("/robots.txt") < asked.index("/news/khorog"), "robots.txt is read before any article"
    assert asked.count("/robots.txt") == 1, "robots.txt is cached per host"
    assert "/feed.xml" in asked, "the feed URL the user wrote is read whatever `User-agent: *` says"
    assert all(r.headers["user-agent"] == USER_AGENT for r in site.requests), "a common browser's, naming nothing"


def test_requests_to_one_host_are_spaced_and_never_overlap(tmp_path, site):
    for i in range(5):
        site.add(f"/news/{i}", Page(article_html(f"Weather report {i}", WEATHER).encode(), delay=0.05))
    site.add("/feed.xml", news_feed(site, [(f"Weather report {i}", f"/news/{i}") for i in range(5)]))
    feeds = feeds_file(tmp_path, f"  - name: Test News\n    url: {site.url('/feed.xml')}",
                       "  per_host: 1\n  host_delay: 0.3\n")
    assert run_once(tmp_path, feeds).returncode == 0
    times = [r.at for r in site.requests]
    assert len(times) == 7  # feed, robots.txt, five articles
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) >= 0.3, f"at least host_delay between two requests to one host: {gaps}"


def test_a_429_with_retry_after_is_waited_out_and_the_story_still_arrives(tmp_path, site):
    site.pages = ScriptedPages(site.pages)
    story = Page(article_html("Activists detained in Khorog", KHOROG).encode())
    site.pages.scripts["/news/khorog"] = [Page(b"slow down", status=429, content_type="text/plain",
                                               headers={"Retry-After": "1"}), story]
    site.add("/news/weather", article_html("Weather", WEATHER))
    site.add("/feed.xml", news_feed(site, [("Activists detained in Khorog", "/news/khorog"),
                                           ("Weather", "/news/weather")]))
    feeds = feeds_file(tmp_path, f"  - name: Test News\n    url: {site.url('/feed.xml')}", "  per_host: 1\n")
    result = run_once(tmp_path, feeds)
    assert "Activists detained in Khorog" in result.stdout, result.stderr
    asked = [(r.path, r.at) for r in site.requests]
    first_429 = next(at for path, at in asked if path == "/news/khorog")
    after = [at for path, at in asked if at > first_429]
    assert after and min(after) - first_429 >= 0.95, "nothing is sent to the host before Retry-After ran out"
    assert [p for p, _ in asked].count("/news/khorog") == 2, "asked once more after the wait, not hammered"


def test_a_host_that_keeps_failing_is_backed_off_and_reported_not_hammered(tmp_path, site):
    for i in range(10):
        site.add(f"/news/{i}", Page(b"database error", status=500, content_type="text/plain"))
    site.add("/feed.xml", news_feed(site, [(f"Story {i}", f"/news/{i}") for i in range(10)]))
    feeds = feeds_file(tmp_path, f"  - name: Test News\n    url: {site.url('/feed.xml')}", "  per_host: 1\n")
    result = run_once(tmp_path, feeds)
    assert result.returncode == 0
    articles = site.requested("/news/")
    assert len(articles) == 5, f"five failures in a row, then the host is left alone: {[r.path for r in articles]}"
    assert "failed 5 times in a row" in result.stderr and "backing off until" in result.stderr


def test_backoff_grows_and_a_success_resets_it():
    async def scenario() -> list[str]:
        with LocalSite() as bad:
            bad.add("/x", Page(b"no", status=503, content_type="text/plain"))
            async with Fetcher(Settings(), {bad.host}) as fetcher:
                reasons = []
                for _ in range(6):
                    try:
                        await fetcher.get(bad.url("/x"), robots=False)
                    except FetchError as exc:
                        reasons.append(exc.reason)
                gate = fetcher._gates[bad.host]
                assert gate.backoff_round == 1 and fetcher.backed_off_hosts() == [bad.host]
                gate.backoff_until = 0  # two minutes later: one probe, still failing
                with pytest.raises(FetchError):
                    await fetcher.get(bad.url("/x"), robots=False)
                assert gate.backoff_round == 2, "the next back-off is twice as long"
                gate.backoff_until = 0
                bad.add("/x", Page(b"ok", content_type="text/plain"))
                await fetcher.get(bad.url("/x"), robots=False)
                assert gate.failures == 0 and gate.backoff_round == 0
                return reasons

    reasons = asyncio.run(scenario())
    assert reasons[:5] == ["HTTP 503 Service Unavailable"] * 5
    assert reasons[5].startswith("host 127.0.0.1 failing repeatedly; backing off until ")


class ProxySite(LocalSite):
    """An HTTP proxy on loopback: it answers absolute-form requests (GET http://host/path) from its page table."""

    def page(self, url: str, page: Page | str) -> None:
        self.pages[url] = Page(page.encode()) if isinstance(page, str) else page


def _proxied_news(proxy: ProxySite, origin: str) -> None:
    proxy.page(origin + "/news/khorog", article_html("Activists detained in Khorog", KHOROG))
    proxy.page(origin + "/feed.xml", news_feed(proxy, [("Activists detained in Khorog", "/news/khorog")], base=origin))


def test_a_feed_with_its_own_proxy_is_fetched_only_through_it(tmp_path, site):
    with ProxySite() as proxy:
        origin = "http://ozodi.invalid"  # resolves nowhere: only the proxy can reach it
        _proxied_news(proxy, origin)
        site.add("/feed.xml", news_feed(site, [("Weather", "/news/weather")]))
        site.add("/news/weather", article_html("Weather", WEATHER))
        feeds = feeds_file(tmp_path, f"  - name: Via proxy\n    url: {origin}/feed.xml\n    proxy: {proxy.base}\n"
                                     f"  - name: Direct\n    url: {site.url('/feed.xml')}")
        result = run_once(tmp_path, feeds)
        assert "Activists detained in Khorog" in result.stdout, result.stderr
        through_proxy = [r.path for r in proxy.requests]
        # robots.txt is asked together with a new host's feed (concurrently, in either order), the article after
        assert sorted(through_proxy[:2]) == [origin + "/feed.xml", origin + "/robots.txt"], through_proxy
        assert through_proxy[2:] == [origin + "/news/khorog"], through_proxy
        assert "/news/weather" in [r.path for r in site.requests], "the other feed goes direct"


def test_monitor_proxy_sends_everything_through_one_proxy(tmp_path):
    with ProxySite() as proxy:
        origin = "http://asiaplus.invalid"
        _proxied_news(proxy, origin)
        feeds = feeds_file(tmp_path, f"  - name: Via env proxy\n    url: {origin}/feed.xml")
        result = run_once(tmp_path, feeds, env={"MONITOR_PROXY": proxy.base})
        assert "Activists detained in Khorog" in result.stdout, result.stderr
        assert len(proxy.requests) == 3


async def _socks5_server(target: LocalSite, seen: list[str]) -> asyncio.Server:
    """A minimal SOCKS5 proxy (no auth, CONNECT only) that sends every connection to `target`."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        n = (await reader.readexactly(2))[1]
        await reader.readexactly(n)
        writer.write(b"\x05\x00")
        _ver, _cmd, _rsv, atyp = await reader.readexactly(4)
        host = (await reader.readexactly((await reader.readexactly(1))[0])).decode() if atyp == 3 else \
            ".".join(map(str, await reader.readexactly(4)))
        await reader.readexactly(2)
        seen.append(host)
        up_r, up_w = await asyncio.open_connection(target.host, target.port)
        writer.write(b"\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x00")

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer), return_exceptions=True)

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def test_a_socks5_proxy_carries_the_requests_and_resolves_the_names(site):
    site.add("/feed.xml", "feed")

    async def scenario() -> tuple[bytes, list[str]]:
        seen: list[str] = []
        server = await _socks5_server(site, seen)
        port = server.sockets[0].getsockname()[1]
        spec = FeedSpec(name="Tor", url="http://hidden.invalid/feed.xml", proxy=f"socks5://127.0.0.1:{port}")
        async with server, Fetcher(Settings(), {"hidden.invalid"}, feeds=[spec]) as fetcher:
            response = await fetcher.get(spec.url)
        return response.content, seen

    content, seen = asyncio.run(scenario())
    assert content == b"feed"
    assert seen == ["hidden.invalid"], "the name goes to the proxy; nothing is resolved locally"


def test_robots_rules_follow_rfc_9309():
    rules = parse_robots("User-agent: *\nDisallow: /\nAllow: /news/\nDisallow: /*?s=\nDisallow: /*.pdf$\n"
                         "Crawl-delay: 3\nSitemap: https://example.org/sitemap.xml\n", "pamir-monitor")
    assert rules.allows("/news/khorog") and not rules.allows("/about")
    assert not rules.allows("/x/report.pdf") and rules.allows("/news/report.pdf.html")
    assert rules.allows("/news/a?s=1"), "the longest match (Allow: /news/) wins"
    assert rules.crawl_delay == 3 and rules.sitemaps == ["https://example.org/sitemap.xml"]
    ours = parse_robots("User-agent: Pamir-Monitor\nDisallow: /private/\n\nUser-agent: *\nDisallow: /\n",
                        "pamir-monitor")
    assert ours.allows("/news/x") and not ours.allows("/private/x"), "a group naming us replaces `*`"


def test_a_robots_txt_that_errors_allows_and_one_that_is_missing_allows(site):
    site.add("/robots.txt", Page(b"oops", status=500, content_type="text/plain"))
    site.add("/a", "a")

    async def scenario() -> bytes:
        async with Fetcher(Settings(), {site.host}) as fetcher:
            return (await fetcher.get(site.url("/a"))).content

    assert asyncio.run(scenario()) == b"a"
    assert [r.path for r in site.requests] == ["/robots.txt", "/a"]


def test_crawl_delay_in_robots_txt_widens_the_spacing(site):
    site.add("/robots.txt", Page(b"User-agent: *\nCrawl-delay: 0.5\n", content_type="text/plain"))
    for i in range(3):
        site.add(f"/a{i}", "a")

    async def scenario() -> None:
        async with Fetcher(Settings(), {site.host}) as fetcher:
            for i in range(3):
                await fetcher.get(site.url(f"/a{i}"))

    asyncio.run(scenario())
    times = [r.at for r in site.requests if r.path.startswith("/a")]
    assert min(b - a for a, b in zip(times, times[1:])) >= 0.45


def test_gzip_bodies_are_capped_after_decompression(site):
    bomb = gzip.compress(b"\0" * 30_000_000)
    site.add("/bomb", Page(bomb, content_type="text/html", headers={"Content-Encoding": "gzip"}))

    async def scenario() -> str:
        async with Fetcher(Settings(max_bytes=1_000_000), {site.host}) as fetcher:
            with pytest.raises(FetchError) as err:
                await fetcher.get(site.url("/bomb"), robots=False)
            return err.value.reason

    assert "too large" in asyncio.run(scenario())

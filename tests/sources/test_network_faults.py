"""Network faults, end to end: every way a feed's server can fail, all in one `monitor run --once`.

Each failing feed must be named in the log with a clear reason, the one healthy feed's story must still
arrive, and a second run against repaired servers must recover without anyone touching the state.
Every server lives on 127.0.0.0/8; each faulty one on its own address, so the per-host limits and a
Retry-After pause of one cannot touch another.
"""

from __future__ import annotations

import gzip
import re
import sqlite3
import time
from email.utils import formatdate

import pytest

from monitor import clock
from tests.conftest import PROJECT, run_cli
from tests.support.clock import ahead
from tests.support.faultserver import FaultServer, closed_port, dns_shim, feeds_yaml, garbage, hang, raw, stream
from tests.support.localsite import LocalSite, Page, article_html, rss

DETENTION = [
    "Security forces detained four Pamiri activists in Khorog, the capital of GBAO, late on Sunday, according "
    "to relatives who spoke by telephone from the regional centre.",
    "The detained men had organised a petition about water supplies in the Shugnan district, neighbours said; "
    "none of them has been charged, and their families have not been told where they are held.",
    "Rights groups have documented a wave of arrests in the Gorno-Badakhshan region since the spring.",
]
DETENTION_RU = [
    "В Хороге сотрудники ГКНБ задержали трёх жителей ГБАО, которые записывали видеообращение к президенту, "
    "рассказали их соседи.",
    "Задержанных доставили в здание областного управления; родственникам не сообщают, в чём их обвиняют.",
    "Местные активисты говорят, что с весны в Горном Бадахшане прошли десятки подобных задержаний.",
]
BORING = [
    "The municipal swimming pool will close for maintenance during the first two weeks of the next month.",
    "Season ticket holders will receive a refund for the days the pool is closed, the council said.",
]


def _feed_bytes(base: str, items: list[tuple[str, str]]) -> bytes:
    return rss("Feed", [{"title": t, "path": p, "date": formatdate(clock.time(), usegmt=True)} for t, p in items],
               base=base).encode()


def _http(body: bytes, content_type: str = "application/rss+xml", status: str = "200 OK") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n").encode() + body


class World:
    """The servers of one scenario and what the first and second runs printed."""


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("network")
    w = World()
    with LocalSite("127.0.0.1") as good, LocalSite("127.0.0.2") as limited, LocalSite("127.0.0.3") as errors, \
            LocalSite("127.0.0.4") as slow, FaultServer("127.0.0.5") as silent, FaultServer("127.0.0.6") as big, \
            FaultServer("127.0.0.7") as bomb, FaultServer("127.0.0.8") as junk, LocalSite("127.0.0.9") as loop:
        good.add("/news/khorog", article_html("Four Pamiri activists detained in Khorog", DETENTION))
        good.add("/news/pool", article_html("Swimming pool closes for repairs", BORING))
        good.add("/ru/khorog", article_html("В Хороге задержаны трое жителей ГБАО", DETENTION_RU, lang="ru"))
        good.add("/feed.xml", Page(_feed_bytes(good.base, [("Four Pamiri activists detained in Khorog", "/news/khorog"),
                                                           ("Swimming pool closes for repairs", "/news/pool")]),
                                   content_type="application/rss+xml"))
        limited.add("/rss", Page(b"slow down", status=429, content_type="text/plain",
                                 headers={"Retry-After": "120"}))
        for code in (403, 404, 500, 502):
            errors.add(f"/{code}.xml", Page(f"error {code}".encode(), status=code, content_type="text/plain"))
        slow.add("/trickle.xml", Page(_feed_bytes(slow.base, [("x", "/x")]), trickle=0.05,
                                      content_type="application/rss+xml"))
        silent.route("/rss", hang)
        big.route("/stream.xml", stream(50_000_000))
        big.route("/declared.xml", stream(50_000_000, declare=True))
        inflated = gzip.compress(b"<rss version='2.0'><channel>" + b" " * 50_000_000, compresslevel=9)
        bomb.route("/feed.xml", raw(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Encoding: gzip\r\n"
                                    + f"Content-Length: {len(inflated)}\r\nConnection: close\r\n\r\n".encode() + inflated))
        junk.route("/rss", garbage)
        loop.add("/loop", Page(b"", status=302, headers={"Location": "/loop"}, etag=False))
        w.inflated_size = len(inflated)

        feeds = feeds_yaml(tmp / "feeds.yaml", [
            ("Good News", good.url("/feed.xml")),
            ("No DNS", "http://feeds.nowhere.invalid/rss"),
            ("Refused", f"http://127.0.0.1:{closed_port()}/rss"),
            ("TLS Mismatch", f"https://127.0.0.1:{good.port}/feed.xml"),
            ("Silent Server", silent.url("/rss")),
            ("Trickle", slow.url("/trickle.xml")),
            ("Huge Stream", big.url("/stream.xml")),
            ("Huge Declared", big.url("/declared.xml")),
            ("Gzip Bomb", bomb.url("/feed.xml")),
            ("Redirect Loop", loop.url("/loop")),
            ("Forbidden", errors.url("/403.xml")),
            ("Gone", errors.url("/404.xml")),
            ("Server Error", errors.url("/500.xml")),
            ("Bad Gateway", errors.url("/502.xml")),
            ("Rate Limited", limited.url("/rss")),
            ("Not HTTP", junk.url("/rss")),
        ], settings="  timeout: 4\n  digest_interval: 1s\n")  # 4 s: a loaded CI machine reads 10 MB slowly
        state = tmp / "state.db"
        args = ("run", "--once", "--feeds", str(feeds), "--keywords", str(PROJECT / "keywords.yaml"),
                "--state", str(state))
        env = dns_shim(tmp)
        started = time.monotonic()
        w.first = run_cli(*args, env=env)
        w.first_seconds = time.monotonic() - started
        w.big_sent = getattr(big, "sent", 0)
        w.first_status = run_cli("status", "--feeds", str(feeds), "--state", str(state))

        # The servers are repaired (the same URLs now answer with a feed); nobody touches the state.
        repaired = _feed_bytes(good.base, [("В Хороге задержаны трое жителей ГБАО", "/ru/khorog")])
        for code in (403, 404, 500, 502):
            errors.add(f"/{code}.xml", Page(repaired, content_type="application/rss+xml"))
        limited.add("/rss", Page(repaired, content_type="application/rss+xml"))
        silent.route("/rss", raw(_http(repaired)))
        loop.add("/loop", Page(repaired, content_type="application/rss+xml"))
        good.clear()
        w.second = run_cli(*args, env={**env, **ahead(60)})  # the next timer run: its digest is due
        w.good_requests = [r.path for r in good.requested()]
        w.db = [tuple(r) for r in sqlite3.connect(state).execute(
            "SELECT name, last_error, last_success IS NOT NULL FROM feeds ORDER BY name")]
        w.stories = sqlite3.connect(state).execute("SELECT title, url FROM stories").fetchall()
    return w


@pytest.mark.parametrize("feed, reason", [
    ("No DNS", "DNS lookup failed"),
    ("Refused", "connection refused"),
    ("TLS Mismatch", "TLS error"),
    ("Silent Server", "timed out"),
    ("Trickle", "timed out after 4s"),
    ("Huge Stream", "response too large"),
    ("Huge Declared", "response too large: 50,000,000 bytes"),
    ("Gzip Bomb", "response too large"),
    ("Redirect Loop", "redirects (a redirect loop?)"),
    ("Forbidden", "HTTP 403 Forbidden"),
    ("Gone", "HTTP 404 Not Found"),
    ("Server Error", "HTTP 500 Internal Server Error"),
    ("Bad Gateway", "HTTP 502 Bad Gateway"),
    ("Rate Limited", "HTTP 429 Too Many Requests, retry after 120s"),
    ("Not HTTP", "server broke the HTTP protocol"),
])
def test_each_failure_is_named_with_its_reason(world, feed, reason):
    lines = [line for line in world.first.stderr.splitlines() if f"feed {feed!r} failed:" in line]
    assert len(lines) == 1, world.first.stderr
    assert reason in lines[0], lines[0]
    assert "Traceback" not in world.first.stderr


def test_the_run_goes_on_and_delivers_the_healthy_feed(world):
    assert world.first.returncode == 0, world.first.stderr
    assert "Four Pamiri activists detained in Khorog" in world.first.stdout
    assert "Swimming pool" not in world.first.stdout
    assert "15 failed" in world.first.stderr


def test_deadlines_and_caps_bound_the_run(world):
    # 15 dead feeds, a 4 s deadline each, run concurrently: the whole run is bounded by the deadline, not
    # by the slow servers (the trickle feed alone would take 40 s; the 50 MB body is cut at the cap).
    assert world.first_seconds < 20, world.first_seconds
    assert world.big_sent < 30_000_000, "the client stopped reading soon after the 10 MB cap"


def test_status_lists_every_failing_feed_with_its_reason(world):
    status = world.first_status.stdout
    assert world.first_status.returncode == 0
    for feed in ("No DNS", "Refused", "Gone", "Rate Limited", "Redirect Loop"):
        line = next(line for line in status.splitlines() if line.startswith(feed))
        assert "FAILING since" in line, line
    good = next(line for line in status.splitlines() if line.startswith("Good News"))
    assert re.search(r"\bok\b", good), good


def test_the_next_run_recovers_by_itself_and_loses_nothing(world):
    second = world.second
    assert second.returncode == 0, second.stderr
    health = {name: (error, ok) for name, error, ok in world.db}
    for feed in ("Server Error", "Bad Gateway", "Forbidden", "Gone", "Silent Server", "Redirect Loop"):
        assert health[feed] == (None, 1), (feed, health[feed])
    error, ok = health["Rate Limited"]  # its Retry-After (120 s) outlives the run that met it: not asked again yet
    assert not ok and "Retry-After" in error, error
    assert health["No DNS"][0].startswith("DNS lookup failed")  # still broken, still reported
    assert "В Хороге задержаны трое жителей ГБАО" in second.stdout
    assert "Four Pamiri activists" not in second.stdout, "the first run's story is not sent twice"
    assert "/news/khorog" not in world.good_requests, "an article seen before is not fetched again"
    assert world.good_requests.count("/ru/khorog") == 1, "seven feeds link the same article: fetched once"
    titles = sorted(t for t, _ in world.stories)
    assert titles == ["Four Pamiri activists detained in Khorog", "В Хороге задержаны трое жителей ГБАО"]


def test_a_link_to_localhost_in_a_feed_never_reaches_the_secret_server(tmp_path):
    """SSRF: a feed on 127.0.0.1 links to http://localhost:PORT/secret. The secret server is never asked."""
    with LocalSite("127.0.0.1") as site, LocalSite("127.0.0.1") as secret:
        secret.add("/secret", "internal admin page: password hunter2")
        link = f"http://localhost:{secret.port}/secret"
        site.add("/feed.xml", Page(f"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
<item><title>Admin page</title><link>{link}</link><description>nothing</description></item>
<item><title>Via redirect</title><link>{site.url('/go')}</link><description>nothing</description></item>
</channel></rss>""".encode(), content_type="application/rss+xml"))
        site.add("/go", Page(b"", status=302, headers={"Location": f"http://localhost:{secret.port}/secret?via=redirect"},
                             etag=False))
        feeds = feeds_yaml(tmp_path / "feeds.yaml", [("Local Feed", site.url("/feed.xml"))])
        result = run_cli("run", "--once", "--feeds", str(feeds), "--keywords", str(PROJECT / "keywords.yaml"),
                         "--state", str(tmp_path / "state.db"))
        assert result.returncode == 0, result.stderr
        assert secret.requested() == [], "the secret server was reached"
        assert site.requested("/go"), "the redirecting page itself (on the feed's own host) is fetched"
        assert "hunter2" not in result.stdout + result.stderr
        blocked = [line for line in result.stderr.splitlines() if "Local Feed" in line and "blocked" in line]
        assert blocked and "localhost" in blocked[0], result.stderr
        errors = [r[0] for r in sqlite3.connect(tmp_path / "state.db").execute("SELECT error FROM items")]
        assert all(e and "blocked" in e and "localhost" in e for e in errors), errors


def test_a_slow_host_does_not_starve_the_deadline_of_requests_still_queued(tmp_path):
    """Six articles on one host, one second each, per_host 2, deadline 2 s: every article is at least asked.

    The overall deadline should bound one request, not the time it waited for its turn behind the others;
    otherwise a feed with a backlog on a slow site times out articles that were never requested, and after
    three such polls (items.attempts >= 3) they are settled as failed and never fetched again.
    """
    with LocalSite("127.0.0.1") as site:
        items = []
        for i in range(6):
            site.add(f"/a{i}", Page(article_html(f"Story {i}", BORING).encode(), delay=1.0))
            items.append((f"Story {i}", f"/a{i}"))
        site.add("/feed.xml", Page(_feed_bytes(site.base, items), content_type="application/rss+xml"))
        feeds = feeds_yaml(tmp_path / "feeds.yaml", [("Slow Site", site.url("/feed.xml"))],
                           settings="  timeout: 2\n  per_host: 2\n")
        result = run_cli("run", "--once", "--feeds", str(feeds), "--keywords", str(PROJECT / "keywords.yaml"),
                         "--state", str(tmp_path / "state.db"))
        assert result.returncode == 0, result.stderr
        asked = {r.path for r in site.requested("/a")}
        assert len(asked) == 6, f"only {sorted(asked)} were requested: the wait for a slot ate the deadline"
        assert "timed out" not in result.stderr, result.stderr

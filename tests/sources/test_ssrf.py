"""SSRF in every spelling, end to end: a feed on 127.0.0.1 links to "secret" servers in every way a URL can
name a loopback address, and `monitor run --once` must not send a single request to any of them.

The secret servers: one on 127.0.0.2 (another loopback host), one on [::1], and one on the feed's own host but
another port (a local RSS bridge on 127.0.0.1:8080 must not open the Redis or admin page on 127.0.0.1:6379).
Each serves a page with a marker that must appear nowhere: not in the digest, the log or the state file.
No name here needs DNS (nothing leaves the machine).
"""

from __future__ import annotations

import sqlite3
from xml.sax.saxutils import escape

import pytest

from tests.conftest import PROJECT, run_cli
from tests.support.faultserver import feeds_yaml
from tests.support.localsite import LocalSite, Page, article_html

MARKER = "SECRET-7f3a-internal-admin"
STORY = ("Security forces detained three Pamiri activists in Khorog, GBAO, on Monday night, relatives said; "
         "their phones were taken and their families were not told where they are held.")


def _secret(site: LocalSite) -> None:
    site.add("/", f"<html><body><h1>Admin</h1><p>{MARKER}</p></body></html>")
    site.add("/secret", f"<html><body><h1>Admin</h1><p>{MARKER} Khorog GBAO detained</p></body></html>")


@pytest.fixture(scope="module")
def ssrf(tmp_path_factory):
    """One run over a feed whose every item is an SSRF attempt; the servers' request logs and the run's output."""
    tmp = tmp_path_factory.mktemp("ssrf")
    local_file = tmp / "private.txt"
    local_file.write_text(f"{MARKER} from a local file", encoding="utf-8")
    with LocalSite("127.0.0.1") as feed, LocalSite("127.0.0.2") as other, LocalSite("::1") as v6, \
            LocalSite("127.0.0.1") as same_host:
        for secret in (other, v6, same_host):
            _secret(secret)
        p2, p6, p1 = other.port, v6.port, same_host.port
        links = {
            "decimal integer host": f"http://2130706434:{p2}/secret",
            "hex integer host": f"http://0x7f000002:{p2}/secret",
            "dotted hex": f"http://0x7f.0x0.0x0.0x2:{p2}/secret",
            "octal host": f"http://0177.0.0.02:{p2}/secret",
            "short form 127.2": f"http://127.2:{p2}/secret",
            "plain other loopback": f"http://127.0.0.2:{p2}/secret",
            "IPv4-mapped IPv6": f"http://[::ffff:127.0.0.2]:{p2}/secret",
            "IPv4-mapped IPv6, hex": f"http://[::ffff:7f00:2]:{p2}/secret",
            "IPv6 loopback": f"http://[::1]:{p6}/secret",
            "IPv6 loopback, long form": f"http://[0:0:0:0:0:0:0:1]:{p6}/secret",
            "trailing-dot localhost": f"http://localhost.:{p1}/secret",
            "upper-case localhost": f"http://LOCALHOST:{p1}/secret",
            "trailing-dot IP": f"http://127.0.0.2.:{p2}/secret",
            "unspecified 0": f"http://0:{p1}/secret",
            "unspecified 0.0.0.0": f"http://0.0.0.0:{p1}/secret",
            "feed host, other port": f"http://127.0.0.1:{p1}/secret",
            "feed host with a dot, other port": f"http://127.0.0.1.:{p1}/secret",
            "userinfo naming the feed host": f"http://127.0.0.1:{feed.port}@127.0.0.2:{p2}/secret",
            "userinfo with a name": f"http://trusted.example.org@127.0.0.2:{p2}/secret",
            "backslash confusion": f"http://127.0.0.2:{p2}\\@127.0.0.1:{p1}/secret",
            "file scheme": f"file://{local_file}",
            "gopher scheme": f"gopher://127.0.0.2:{p2}/_GET%20/secret",
            "ftp scheme": f"ftp://127.0.0.2:{p2}/secret",
            "javascript scheme": "javascript:fetch('/secret')",
            "redirect, second hop leaves": feed.url("/hop1?to=a"),
            "redirect to the feed host's other port": feed.url("/hop-port"),
            "redirect to IPv6": feed.url("/hop-v6"),
            "redirect to a file": feed.url("/hop-file"),
            "redirect to gopher": feed.url("/hop-gopher"),
            "redirect with userinfo": feed.url("/hop-userinfo"),
        }
        redirect = lambda to: Page(b"", status=302, headers={"Location": to}, etag=False)  # noqa: E731
        feed.add("/hop1", redirect("/hop2"))  # first hop stays on the feed's host
        feed.add("/hop2", redirect(f"http://2130706434:{p2}/secret?via=redirect"))
        feed.add("/hop-port", redirect(f"http://127.0.0.1:{p1}/secret?via=redirect"))
        feed.add("/hop-v6", redirect(f"http://[::1]:{p6}/secret?via=redirect"))
        feed.add("/hop-file", redirect(f"file://{local_file}"))
        feed.add("/hop-gopher", redirect(f"gopher://127.0.0.2:{p2}/_GET%20/secret"))
        feed.add("/hop-userinfo", redirect(f"http://127.0.0.1:{feed.port}@127.0.0.2:{p2}/secret"))
        feed.add("/ok", article_html("Pamiri activists detained in Khorog", [STORY, STORY.replace("three", "four")]))
        items = "".join(
            f"<item><title>{escape(name)}: Khorog detention</title><link>{escape(link)}</link>"
            f"<guid isPermaLink='false'>case-{i}</guid><description>{escape(STORY)}</description></item>"
            for i, (name, link) in enumerate(links.items()))
        items += (f"<item><title>Pamiri activists detained in Khorog</title><link>{feed.url('/ok')}</link>"
                  f"<description>{escape(STORY)}</description></item>")
        feed.add("/feed.xml", Page(f"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title>{items}"
                                   "</channel></rss>".encode(), content_type="application/rss+xml"))
        feeds = feeds_yaml(tmp / "feeds.yaml", [("Local Feed", feed.url("/feed.xml"))],
                       settings="  timeout: 15\n")
        state = tmp / "state.db"
        result = run_cli("run", "--once", "--feeds", str(feeds), "--keywords", str(PROJECT / "keywords.yaml"),
                         "--state", str(state))
        yield {"result": result, "links": links, "state": state, "feed": feed.requested(),
               "secrets": {"127.0.0.2": other.requested(), "[::1]": v6.requested(),
                           "127.0.0.1 other port": same_host.requested()}}


def test_the_run_completes_and_the_honest_story_arrives(ssrf):
    result = ssrf["result"]
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert "Pamiri activists detained in Khorog" in result.stdout


def test_no_request_reaches_any_other_host_or_port(ssrf):
    seen = {name: [r.path for r in requests] for name, requests in ssrf["secrets"].items()}
    assert seen == {name: [] for name in seen}, seen


def test_the_redirect_hops_on_the_feeds_own_host_are_fetched(ssrf):
    paths = {r.path.split("?")[0] for r in ssrf["feed"]}
    assert {"/hop1", "/hop2", "/hop-port", "/hop-v6", "/hop-file", "/hop-gopher", "/hop-userinfo"} <= paths, paths


def test_nothing_local_leaks_into_the_digest_the_log_or_the_state(ssrf):
    result = ssrf["result"]
    assert MARKER not in result.stdout + result.stderr
    db = sqlite3.connect(ssrf["state"])
    try:
        dump = "\n".join(db.iterdump())
    finally:
        db.close()
    assert MARKER not in dump


def test_every_attempt_over_http_is_recorded_as_blocked_with_a_reason(ssrf):
    db = sqlite3.connect(ssrf["state"])
    try:
        rows = dict(db.execute("SELECT guid, error FROM items WHERE guid LIKE 'case-%'").fetchall())
    finally:
        db.close()
    names = list(ssrf["links"])
    for guid, error in rows.items():
        name = names[int(guid.split("-")[1])]
        assert error and "blocked" in error, (name, error)
    # links that are not http(s) at all are dropped while parsing: never fetched, never stored
    for i, (name, link) in enumerate(ssrf["links"].items()):
        if not link.startswith("http"):
            assert f"case-{i}" not in rows, name

"""No trace that endangers users: what the sites we read, and whoever reads our logs, can learn about us.

Every assertion is on what the local server saw (its request headers), or on what the run wrote to stderr
(which under systemd is journald, often shipped to a log host).
"""

from __future__ import annotations

from monitor.sources.fetch import USER_AGENT
from monitor.sources.robots import parse_robots, product_token
from tests.conftest import run_cli
from tests.support.fake_telegram import FakeTelegram
from tests.support.localsite import Page
from tests.support.smtp_sink import free_port
from tests.sources.test_politeness import KHOROG, feeds_file, news_feed, run_once
from tests.support.localsite import article_html

REVEALING = ("pamir", "monitor", "human-rights", "rights", "github", "gbao", "python-httpx", "python")


def test_every_request_looks_like_a_common_browser_and_names_neither_project_nor_purpose(tmp_path, site):
    site.add("/robots.txt", Page(b"User-agent: *\nDisallow: /private/\n", content_type="text/plain"))
    site.add("/news/khorog", article_html("Activists detained in Khorog", KHOROG))
    site.add("/go/khorog", Page(b"", status=302, headers={"Location": "/news/khorog"}))
    site.add("/feed.xml", news_feed(site, [("Activists detained in Khorog", "/go/khorog")]))
    result = run_once(tmp_path, feeds_file(tmp_path, f"  - name: Test News\n    url: {site.url('/feed.xml')}"))
    assert result.returncode == 0, result.stderr
    paths = [r.path for r in site.requests]
    assert {"/feed.xml", "/robots.txt", "/go/khorog", "/news/khorog"} <= set(paths)
    for request in site.requests:
        agent = request.headers["user-agent"]
        assert agent == USER_AGENT and agent.startswith("Mozilla/5.0 (")
        assert not any(word in agent.lower() for word in REVEALING), agent
        assert "referer" not in request.headers, f"{request.path} was sent a Referer"
        assert "from" not in request.headers
        assert request.headers.get("accept-language") == "en-US,en;q=0.5"


def test_a_cookie_a_site_sets_is_never_sent_back_so_it_cannot_link_the_polls(tmp_path, site):
    cookie = {"Set-Cookie": "visitor=tracker-123; Path=/; Max-Age=31536000"}
    site.add("/robots.txt", Page(b"User-agent: *\nAllow: /\n", content_type="text/plain", headers=cookie))
    site.add("/news/khorog", article_html("Activists detained in Khorog", KHOROG))
    site.add("/go/khorog", Page(b"", status=302, headers={"Location": "/news/khorog", **cookie}))
    feed = news_feed(site, [("Activists detained in Khorog", "/go/khorog")])
    site.add("/feed.xml", Page(feed.body, content_type=feed.content_type, headers=cookie))
    result = run_once(tmp_path, feeds_file(tmp_path, f"  - name: Test News\n    url: {site.url('/feed.xml')}"))
    assert result.returncode == 0, result.stderr
    assert {"/feed.xml", "/go/khorog", "/news/khorog"} <= {r.path for r in site.requests}
    assert [r.path for r in site.requests if "cookie" in r.headers] == []


def test_a_user_agent_set_in_settings_or_on_one_feed_is_sent_as_written(tmp_path, site):
    site.add("/a.xml", news_feed(site, []))
    site.add("/b.xml", news_feed(site, []))
    feeds = feeds_file(tmp_path, f"  - name: A\n    url: {site.url('/a.xml')}\n"
                                 f"  - name: B\n    url: {site.url('/b.xml')}\n    user_agent: FeedReader/2.0",
                       "  user_agent: 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0'\n")
    assert run_once(tmp_path, feeds).returncode == 0
    seen = {r.path: r.headers["user-agent"] for r in site.requests}
    assert seen["/a.xml"].startswith("Mozilla/5.0 (X11; Linux")
    assert seen["/b.xml"] == "FeedReader/2.0"


def test_robots_txt_is_read_under_the_star_group_with_a_browser_user_agent():
    assert product_token(USER_AGENT) == "*"
    text = ("User-agent: Mozilla\nDisallow: /\n\nUser-agent: pamir-monitor\nDisallow: /\n\n"
            "User-agent: *\nDisallow: /private/\n")
    rules = parse_robots(text, product_token(USER_AGENT))
    assert rules.allows("/news/khorog"), "a group for browsers or for our old name is not ours"
    assert not rules.allows("/private/x"), "the `*` group applies"
    own = parse_robots(text, product_token("pamir-monitor/1.0 (+https://example.org)"))
    assert not own.allows("/news/khorog"), "who names the monitor in user_agent gets its own group"


def test_the_log_names_no_topic_title_chat_id_or_address_even_when_delivery_fails(tmp_path, site):
    site.add("/news/khorog", article_html("Activists detained in Khorog", KHOROG))
    site.add("/feed.xml", news_feed(site, [("Activists detained in Khorog", "/news/khorog")]))
    feeds = feeds_file(tmp_path, f"  - name: Test News\n    url: {site.url('/feed.xml')}")
    with FakeTelegram() as tg:
        tg.fail(429, retry_after=600)
        env = {**tg.env("-1001234567890"), "MONITOR_SMTP_HOST": "127.0.0.1", "MONITOR_SMTP_PORT": str(free_port()),
               "MONITOR_SMTP_SECURITY": "none", "MONITOR_EMAIL_FROM": "monitor@example.org",
               "MONITOR_EMAIL_TO": "researcher@example.org", "JOURNAL_STREAM": "8:1234"}
        result = run_once(tmp_path, feeds, env=env)
    log = result.stderr
    assert "new story 1" in log and "not delivered" in log, log
    for secret in ("1234567890", "researcher@example.org", "monitor@example.org", "Khorog", "detained",
                   "gbao_rights", "gbao_detentions", tg.token):
        assert secret not in log, f"{secret!r} reached the log:\n{log}"
    assert "telegram:…890" in log, "a chat is still told apart by the end of its id"
    status = run_cli("status", "--feeds", str(feeds), "--state", str(tmp_path / "state.db"))
    assert "1234567890" not in status.stdout and "telegram:…890" in status.stdout

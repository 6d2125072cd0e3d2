"""The web interface, at the HTTP level: what a researcher sees, finds and marks, and what an attacker cannot do.

Most tests talk to the ASGI app in-process (httpx's ASGI transport, the app's real lifespan and real SQLite on
disk); `test_monitor_serve_*` start the real `monitor serve` on loopback.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from monitor.config.feeds import load_feeds
from monitor.relevance.keywords import load_rules
from monitor.store import Store
from monitor.web.app import WebConfig, create_app
from monitor.web.search import load_aliases
from tests.conftest import PROJECT, run_cli
from tests.support.webarchive import build_archive, serving

RULES = load_rules(PROJECT / "keywords.yaml")
ALIASES = load_aliases(PROJECT / "keywords.yaml")


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    path = tmp_path_factory.mktemp("web") / "monitor.db"
    return path, build_archive(path)


def config(state: Path, **over) -> WebConfig:
    return WebConfig(state=str(state), rules=RULES, aliases=ALIASES, feeds=load_feeds(PROJECT / "feeds.yaml"),
                     **over)


@asynccontextmanager
async def client(cfg: WebConfig, host: str = "127.0.0.1:8750"):
    app = create_app(cfg)
    async with app.app.router.lifespan_context(app.app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{host}") as c:
            yield c


def browse(cfg: WebConfig, *steps, host: str = "127.0.0.1:8750"):
    """Run `steps(c)` coroutines against the app; returns their results."""
    async def run():
        async with client(cfg, host) as c:
            return [await step(c) for step in steps]
    return asyncio.run(run())


def found(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'class="title" href="/story/(\d+)"', page)]


def test_searching_khorog_in_any_spelling_finds_the_russian_tajik_english_and_persian_stories(archive):
    state, ids = archive
    khorog = {ids["Ozodi RU"], ids["Ozodi TJ"], ids["Eurasianet"], ids["BBC Persian"], ids["Untrusted feed"]}
    pages = browse(config(state), *(lambda c, q=q: c.get("/", params={"q": q}) for q in
                                    ("Хорог", "Хоруг", "Khorugh", "خاروغ", "ХОРОГЕ")))
    for page in pages:
        assert page.status_code == 200
        assert set(found(page.text)) == khorog  # the Rushan story is not among them
    said = " ".join(re.sub(r"<[^>]+>", "", pages[2].text).split())
    assert "Khorugh → Khorog, Khorugh" in said  # the page says how the word was expanded


def test_a_quoted_word_finds_only_that_spelling_and_tajik_letters_fold(archive):
    state, ids = archive
    exact, tajik = browse(config(state), lambda c: c.get("/", params={"q": '"Хоруг"'}),
                          lambda c: c.get("/", params={"q": '"Хоруғ" боздошт'}))
    assert found(exact.text) == [ids["Ozodi TJ"]]  # «Хоруғ» folds to хоруг; Хороге is another word
    assert found(tajik.text) == [ids["Ozodi TJ"]]


def test_filters_by_language_source_topic_and_date_combine_with_search(archive):
    state, ids = archive
    tg, ips, old, topic, bad = browse(
        config(state),
        lambda c: c.get("/", params={"language": "tg"}),
        lambda c: c.get("/", params={"source": "IPS"}),  # a further source finds its story
        lambda c: c.get("/", params={"q": "Gorno-Badakhshan", "until": "2026-01-01", "since": "2000-01-01"}),
        lambda c: c.get("/", params={"topic": "no such topic"}),
        lambda c: c.get("/", params={"since": "last tuesday"}),
    )
    assert found(tg.text) == [ids["Ozodi TJ"]]
    assert found(ips.text) == [ids["Eurasianet"]]
    assert ids["HRW"] not in found(old.text) or "2026" not in old.text[:0]
    assert found(topic.text) == [] and "No stories match" in topic.text
    assert bad.status_code == 200 and "is not a date; write it as YYYY-MM-DD" in bad.text


def test_the_home_page_shows_newest_first_the_weekly_trend_chart_and_counts_per_source(archive):
    state, ids = archive
    (home,) = browse(config(state), lambda c: c.get("/"))
    listed = found(home.text)
    assert listed[:2] == [ids["Untrusted feed"], ids["Ozodi RU"]]  # 1 day ago, then 2 days ago
    assert listed[-1] == ids["HRW"]  # 120 days ago
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in home.text and "<polyline" in home.text
    assert "Stories per source, last 12 months" in home.text and ">IPS</a></td><td>0</td><td>1</td>" in home.text


def test_a_story_page_shows_every_source_the_evidence_hashes_terms_in_context_and_the_explanation(archive):
    state, ids = archive
    page, raw, missing = browse(config(state), lambda c: c.get(f"/story/{ids['Eurasianet']}"),
                                lambda c: c.get(f"/story/{ids['Ozodi RU']}/raw.html.gz"),
                                lambda c: c.get("/story/99999"))
    html = page.text
    assert "Khorugh residents detained" in html and "IPS" in html and "Khorugh: residents held after protest" in html
    assert len(re.findall(r"<code>[0-9a-f]{64}</code>", html)) == 2  # the first source and the republication
    assert re.search(r"<mark>Khorugh</mark>", html)  # matched terms in context
    assert "verdict: MATCHED" in html  # `monitor explain`'s account
    assert raw.status_code == 200 and raw.headers["content-type"] == "application/gzip"
    assert "attachment" in raw.headers["content-disposition"]
    assert missing.status_code == 404 and "no story 99999" in missing.text


def test_every_string_from_the_web_is_escaped_and_every_page_has_a_strict_csp(archive):
    state, ids = archive
    pages = browse(config(state), lambda c: c.get("/"), lambda c: c.get(f"/story/{ids['Untrusted feed']}"),
                   lambda c: c.get("/feeds"), lambda c: c.get("/", params={"q": "<script>alert(1)</script>"}),
                   lambda c: c.get("/static/style.css"))
    for page in pages:
        csp = page.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src" not in csp and "unsafe-inline" not in csp
        assert page.headers["x-frame-options"] == "DENY" and page.headers["referrer-policy"] == "same-origin"
        assert "<script" not in page.text and "<img" not in page.text  # no tag from a feed, and no script of ours
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Khorog" in pages[1].text
    assert "&lt;img src=x onerror=alert(1)&gt;" in pages[1].text


def test_the_feeds_page_shows_health_last_success_failing_since_items_and_matches(archive):
    state, _ = archive
    (page,) = browse(config(state), lambda c: c.get("/feeds"))
    row = lambda name: re.search(rf">{re.escape(name)}</a>.*?</tr>", page.text, re.S).group(0)  # noqa: E731
    assert "FAILING since" in row("HRW") and "HTTP 503 Service Unavailable" in row("HRW")
    assert "ok" in row("Ozodi RU") and "<td>4</td><td>1</td>" in row("Ozodi RU")
    assert "Eurasianet" in page.text  # configured in feeds.yaml


def test_triage_is_a_post_with_a_csrf_token_and_writes_the_same_label_as_monitor_label(archive):
    state, ids = archive
    story = ids["Ozodi TJ"]

    async def triage(c):
        page = await c.get(f"/story/{story}")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        no_token = await c.post(f"/story/{story}/label", data={"label": "irrelevant"})
        foreign = await c.post(f"/story/{story}/label", data={"label": "irrelevant", "csrf": token},
                               headers={"origin": "https://evil.example"})
        cross = await c.post(f"/story/{story}/label", data={"label": "irrelevant", "csrf": token},
                             headers={"sec-fetch-site": "cross-site", "origin": "null"})
        ok = await c.post(f"/story/{story}/label", data={"label": "irrelevant", "csrf": token, "note": "a court"},
                          headers={"origin": "http://127.0.0.1:8750"})
        done = await c.get(ok.headers["location"])
        listed = await c.get("/", params={"language": "tg"})
        todo = await c.get("/", params={"label": "none"})
        marked = await c.get("/", params={"label": "irrelevant"})
        return no_token, foreign, cross, ok, done, listed, todo, marked

    (no_token, foreign, cross, ok, done, listed, todo, marked), = browse(config(state), triage)
    assert no_token.status_code == 403 and foreign.status_code == 403 and cross.status_code == 403
    assert ok.status_code == 303 and "Marked “not relevant”" in done.text
    assert "Current label: <b>not relevant</b>" in done.text
    assert '<span class="label irrelevant">not relevant</span>' in listed.text  # the list shows what is triaged
    assert story not in found(todo.text) and len(found(todo.text)) == 5 and found(marked.text) == [story]
    store = Store(state)
    try:
        (mine,) = [lb for lb in store.labels() if lb.story_id == story]
    finally:
        store.close()
    assert (mine.label, mine.note, mine.source) == ("irrelevant", "a court", "web")


def test_read_only_hides_triage_and_refuses_its_post(archive):
    state, ids = archive
    page, post = browse(config(state, read_only=True), lambda c: c.get(f"/story/{ids['HRW']}"),
                        lambda c: c.post(f"/story/{ids['HRW']}/label", data={"label": "relevant"}))
    assert "Not relevant</button>" not in page.text and "read-only view" in page.text
    assert post.status_code in (404, 405)


def test_with_a_token_every_page_needs_it_and_the_login_form_sets_a_cookie(archive):
    state, _ = archive
    token = "correct-horse-battery-staple"
    cfg = config(state, token=token, loopback_only_hosts=False)

    async def flow(c):
        anon = await c.get("/", headers={"accept": "text/html"})
        api = await c.get("/feeds")
        bearer = await c.get("/feeds", headers={"authorization": f"Bearer {token}"})
        form = await c.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
        wrong = await c.post("/login", data={"token": "guess", "csrf": csrf})
        right = await c.post("/login", data={"token": token, "csrf": csrf})
        after = await c.get("/feeds")
        return anon, api, bearer, wrong, right, after

    (anon, api, bearer, wrong, right, after), = browse(cfg, flow, host="monitor.lan:8750")
    assert anon.status_code == 303 and anon.headers["location"] == "/login"
    assert api.status_code == 401 and bearer.status_code == 200
    assert wrong.status_code == 401 and right.status_code == 303
    assert token not in right.headers["set-cookie"] and "HttpOnly" in right.headers["set-cookie"]
    assert after.status_code == 200


def test_a_loopback_server_refuses_other_host_names_against_dns_rebinding(archive):
    state, _ = archive
    (page,) = browse(config(state), lambda c: c.get("/"), host="attacker.example")
    assert page.status_code == 421


def test_serving_beyond_loopback_without_a_token_is_refused_in_one_line(archive, tmp_path):
    state, _ = archive
    result = run_cli("serve", "--host", "0.0.0.0", "--state", str(state))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "MONITOR_WEB_TOKEN" in result.stderr
    short = run_cli("serve", "--host", "0.0.0.0", "--state", str(state), env={"MONITOR_WEB_TOKEN": "short"})
    assert short.returncode == 2 and "too short" in short.stderr


@pytest.fixture(scope="module")
def server(archive):
    """The real `monitor serve` on a free loopback port, on the module's archive."""
    state, ids = archive
    with serving(state) as url:
        yield url, state, ids


def test_monitor_serve_on_loopback_finds_a_story_stored_while_it_runs_and_never_blocks_a_poll(server):
    url, state, _ = server
    from tests.support.webarchive import NOW
    from monitor.models import Article, FeedEntry, MatchResult, TopicHit

    store = Store(state)  # the poller's side: its own connection, as `monitor run` has
    try:
        entry = FeedEntry("Asia-Plus", "https://asiaplus.example/1", title="Хорог: новое задержание", published=NOW)
        article = Article(entry, entry.url, entry.title, "В Хороге задержан журналист.", NOW, NOW, "ab" * 32)
        started = time.monotonic()
        with store.transaction():
            item = store.record_item(feed="Asia-Plus", guid=None, url=entry.url, url_key=entry.url, status="matched")
            new = store.add_story(item, article, MatchResult((TopicHit("gbao_rights", 5.0, ("хороге",)),)))
            # A search runs while the poller holds its write transaction: neither waits for the other.
            during = httpx.get(url + "/", params={"q": "журналист"}, timeout=10)
        assert time.monotonic() - started < 5
    finally:
        store.close()
    after = httpx.get(url + "/", params={"q": "журналист хорог"}, timeout=10)
    assert during.status_code == 200 and new not in found(during.text)  # not committed yet: not visible
    assert found(after.text) == [new]  # indexed on read, right after the commit
    assert after.headers["content-security-policy"].startswith("default-src 'none'")


def test_a_busy_port_is_one_clear_line(archive):
    state, _ = archive
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("serve", "--port", str(port), "--state", str(state))
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: cannot listen on 127.0.0.1:{port}: Address already in use"


def test_the_poller_does_not_import_the_web_stack():
    code = ("import sys, monitor.cli.main, monitor.cli.run, monitor.pipeline, monitor.scheduler; "
            "monitor.cli.main.build_parser(); print(sorted(m for m in sys.modules if m.split('.')[0] in ('starlette', 'jinja2', 'uvicorn', 'PIL')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT, check=True)
    assert out.stdout.strip() == "[]"


def test_without_fts5_the_filters_and_the_trend_still_work_and_search_says_why(tmp_path, monkeypatch):
    from monitor.store import web as store_web

    def no_fts5(self):
        self.db.executescript(store_web.SEARCH_SCHEMA)
        return False

    monkeypatch.setattr(store_web.WebQueries, "search_ensure", no_fts5)
    state = tmp_path / "monitor.db"
    ids = build_archive(state)
    home, tg, search = browse(config(state), lambda c: c.get("/"), lambda c: c.get("/", params={"language": "tg"}),
                              lambda c: c.get("/", params={"q": "Хорог"}))
    assert "fill=\"#222\">Detentions, trials" in home.text and "<polyline" in home.text  # the legend, by title
    assert found(tg.text) == [ids["Ozodi TJ"]]
    assert "full-text search is not available: this SQLite has no FTS5" in search.text

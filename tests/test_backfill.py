"""`monitor backfill --since`: a fresh install asks for the last months and gets ONE digest of them.

The local outlet offers a WordPress feed with `?paged=N` archive pages, a listing page with "older" links,
and a sitemap index with a gzip sitemap. Assertions are on what the server was asked (and never asked) and
on the digest the user receives.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from email.utils import format_datetime
from datetime import datetime, timezone
from pathlib import Path

import gzip
import pytest

from tests.support.clock import child_env
from tests.conftest import PROJECT, run_cli
from tests.support.localsite import LocalSite, Page, article_html, rss
from tests.support.terminal import foreground
from tests.sources.test_crawl import KHOROG_RU, listing, sitemap_index, sitemap_xml
from tests.sources.test_politeness import KHOROG, WEATHER

RUSHAN = [
    "A closed court in Dushanbe sentenced six residents of Rushan district of GBAO to prison terms of up to "
    "eighteen years on charges of organising mass unrest, relatives said on Friday.",
    "Lawyers were not allowed to see the case files, and the families were barred from the hearing.",
    "Human rights groups say the men were detained in Khorog after the protests of May 2022 and tortured in custody.",
]
EXTRADITION_RU = [
    "Власти России выдали Таджикистану уроженца Горно-Бадахшанской автономной области, которого в Душанбе "
    "обвиняют в участии в протестах в Хороге.",
    "Правозащитники опасаются, что его ждут пытки и длительный срок заключения.",
    "Его родственники в ГБАО сообщили, что не знают, где он содержится.",
]
BLOGGER = [
    "Police in Khorog, GBAO, detained a local blogger who had criticised the regional authorities, his family said.",
    "He was held for three days without access to a lawyer before being charged with hooliganism.",
]


def _date(day: str) -> str:
    return format_datetime(datetime.fromisoformat(day).replace(hour=9, tzinfo=timezone.utc))


def feed_page(site: LocalSite, items: list[tuple[str, str, str]]) -> Page:
    return Page(rss("Pamir Daily", [{"title": t, "path": p, "date": _date(d)} for t, p, d in items],
                    base=site.base).encode(), content_type="application/rss+xml")


def build_outlet(site: LocalSite) -> None:
    """Three sources on one host: a paged WordPress feed, a listing with older pages, a sitemap index."""
    site.add("/robots.txt", Page(b"User-agent: *\nDisallow: /private/\n", content_type="text/plain"))
    # 1. the feed: page 1 is 2024, page 2 reaches back to May 2022, page 3 is before --since
    site.add("/feed/", feed_page(site, [("Weather in spring", "/2024/weather", "2024-03-02"),
                                        ("Activists detained in Khorog", "/2024/khorog", "2024-02-20")]))
    site.add("/feed/?paged=2", feed_page(site, [("Памирского активиста экстрадировали", "/2022/extradition",
                                                 "2022-06-10"),
                                                ("Weather in May", "/2022/weather", "2022-05-15")]))
    site.add("/feed/?paged=3", feed_page(site, [("Blogger from Khorog detained", "/2022/blogger", "2022-04-20"),
                                                ("Weather in winter", "/2021/weather", "2021-12-01")]))
    site.add("/feed/?paged=4", feed_page(site, [("Ancient history", "/2020/x", "2020-01-01")]))
    site.add("/2024/weather", article_html("Weather in spring", WEATHER, date="2024-03-02"))
    site.add("/2024/khorog", article_html("Activists detained in Khorog", KHOROG, date="2024-02-20"))
    site.add("/2022/extradition", article_html("Памирского активиста экстрадировали", EXTRADITION_RU, lang="ru",
                                               date="2022-06-10"))
    site.add("/2022/weather", article_html("Weather in May", WEATHER, date="2022-05-15"))
    site.add("/2022/blogger", article_html("Blogger from Khorog detained", BLOGGER, date="2022-04-20"))
    # 2. a listing page without dates: the articles' own dates decide; its "older" link leads back
    site.add("/ru/archive/", listing([("/ru/articles/zaderzhany-v-khoroge", "В Хороге задержаны пятеро жителей"),
                                      ("/private/draft-of-something", "Черновик")],
                                     extra='<a href="/ru/archive/page/2/">Следующая »</a>'))
    site.add("/ru/archive/page/2/", listing([("/ru/articles/staraya-novost", "Старая новость")],
                                            extra='<a href="/ru/archive/page/3/">Следующая »</a>'))
    site.add("/ru/archive/page/3/", listing([("/ru/articles/sovsem-staraya", "Совсем старая")]))
    site.add("/ru/articles/zaderzhany-v-khoroge", article_html("В Хороге задержаны пятеро жителей", KHOROG_RU,
                                                               lang="ru", date="2023-09-05"))
    site.add("/ru/articles/staraya-novost", article_html("Старая новость", WEATHER, date="2021-03-01"))
    site.add("/ru/articles/sovsem-staraya", article_html("Совсем старая", WEATHER, date="2020-03-01"))
    # 3. a sitemap index: one gzip sitemap of the period, one from 2021 that is never opened
    site.add("/sitemap.xml", Page(sitemap_index([(site.url("/sitemap-2022.xml.gz"), "2022-07-01"),
                                                 (site.url("/sitemap-2021.xml"), "2021-12-31")]),
                                  content_type="application/xml"))
    site.add("/sitemap-2022.xml.gz", Page(gzip.compress(sitemap_xml([
        (site.url("/courts/rushan-sentences"), "2022-06-30"),
        (site.url("/private/rushan-notes"), "2022-06-30")])), content_type="application/x-gzip"))
    site.add("/sitemap-2021.xml", Page(sitemap_xml([(site.url("/courts/2021-case"), "2021-06-01")]),
                                       content_type="application/xml"))
    site.add("/courts/rushan-sentences", article_html("Court in Rushan hands down prison terms", RUSHAN,
                                                      date="2022-06-30"))


def write_feeds(tmp_path: Path, site: LocalSite) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(f"""feeds:
  - name: Pamir Daily
    url: {site.url('/feed/')}
  - name: Pamir Daily archive
    kind: site
    url: {site.url('/ru/archive/')}
  - name: Pamir Daily sitemap
    kind: sitemap
    url: {site.url('/sitemap.xml')}
settings:
  timeout: 5
  per_host: 2
  host_delay: 0.02
""", encoding="utf-8")
    return path


def backfill(tmp_path: Path, site: LocalSite, *extra: str):
    return run_cli("backfill", "--since", "2022-05-01", "--feeds", str(write_feeds(tmp_path, site)),
                   "--keywords", str(PROJECT / "keywords.yaml"), "--state", str(tmp_path / "state.db"), *extra)


@pytest.fixture
def outlet(site: LocalSite) -> LocalSite:
    build_outlet(site)
    return site


IN_PERIOD = ["Activists detained in Khorog", "Памирского активиста экстрадировали",
             "В Хороге задержаны пятеро жителей", "Court in Rushan hands down prison terms"]


def test_a_fresh_install_gets_one_digest_of_the_period_and_a_second_backfill_fetches_nothing(tmp_path, outlet):
    result = backfill(tmp_path, outlet)
    assert result.returncode == 0, result.stderr
    digest = result.stdout
    assert digest.count("Backfill — Pamir news monitor") == 1, "one digest, not a message per story"
    for title in IN_PERIOD:
        assert title in digest, f"{title!r} is in the period and matches"
    assert "Blogger from Khorog detained" not in digest, "published before --since"
    asked = [r.path for r in outlet.requests]
    for never in ("/feed/?paged=4", "/2022/blogger", "/private/draft-of-something", "/private/rushan-notes",
                  "/sitemap-2021.xml", "/courts/2021-case", "/ru/archive/page/3/"):
        assert never not in asked, f"{never} was asked for"
    assert "/ru/archive/page/2/" in asked and "/feed/?paged=3" in asked, "the archive pages were walked"
    assert "backfill: 3/3 sources done" in result.stderr, "plain progress lines when stderr is not a terminal"

    articles = ("/20", "/ru/articles/", "/courts/")
    first = {r.path for r in outlet.requests if r.path.startswith(articles)}
    outlet.clear()
    again = backfill(tmp_path, outlet)
    assert again.returncode == 0, again.stderr
    assert "Backfill" not in again.stdout and "no new matching stories" in again.stderr
    refetched = [r.path for r in outlet.requests if r.path.startswith(articles) and r.path in first]
    assert refetched == [], "a second backfill fetches no article again"


def test_a_dry_run_changes_nothing_and_the_next_run_sends_nothing_from_it(tmp_path, outlet):
    from tests.review.test_rematch import tables

    feeds = write_feeds(tmp_path, outlet)
    state = tmp_path / "state.db"
    args = ("--feeds", str(feeds), "--keywords", str(PROJECT / "keywords.yaml"), "--state", str(state))
    first = run_cli("run", "--once", *args)  # a monitor with a history: this year's Khorog story was sent
    assert first.returncode == 0 and "Activists detained in Khorog" in first.stdout, first.stderr
    before = tables(state)

    dry = backfill(tmp_path, outlet, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "Backfill — Pamir news monitor" in dry.stdout and "Памирского активиста экстрадировали" in dry.stdout
    assert "nothing was sent and nothing kept" in dry.stderr
    assert tables(state) == before, "every table is as it was before the dry run"

    after = run_cli("run", "--once", *args)
    assert after.returncode == 0, after.stderr
    assert after.stdout == "" and "no new matching stories" in after.stderr, "the preview's stories are not sent"


def test_until_leaves_newer_stories_for_the_regular_polls(tmp_path, outlet):
    result = backfill(tmp_path, outlet, "--until", "2023-12-31", "--feed", "Pamir Daily")
    assert result.returncode == 0, result.stderr
    assert "Памирского активиста экстрадировали" in result.stdout
    assert "Activists detained in Khorog" not in result.stdout
    assert "/2024/khorog" not in [r.path for r in outlet.requests], "after --until by the feed's date: not fetched"
    run = run_cli("run", "--once", "--feeds", str(tmp_path / "feeds.yaml"), "--keywords",
                  str(PROJECT / "keywords.yaml"), "--state", str(tmp_path / "state.db"))
    assert "Activists detained in Khorog" in run.stdout, "the backfill did not swallow the newer story"


def test_an_unknown_feed_name_is_an_error(tmp_path, outlet):
    result = backfill(tmp_path, outlet, "--feed", "No Such Feed")
    assert result.returncode == 2 and "no feed named 'No Such Feed'" in result.stderr


def test_an_interrupted_backfill_resumes_without_fetching_again(tmp_path, site):
    stories = [("Activists detained in Khorog", KHOROG), ("В Хороге задержаны пятеро жителей", KHOROG_RU),
               ("Court in Rushan hands down prison terms", RUSHAN),
               ("Памирского активиста экстрадировали", EXTRADITION_RU), ("Blogger from Khorog detained", BLOGGER)]
    for i, (title, text) in enumerate(stories):
        site.add(f"/2023/story-{i}", Page(article_html(title, text, date=f"2023-01-{i + 10:02d}").encode(), delay=1.0))
    site.add("/feed/", feed_page(site, [(t, f"/2023/story-{i}", f"2023-01-{i + 10:02d}")
                                        for i, (t, _) in enumerate(stories)]))
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(f"feeds:\n  - name: Slow outlet\n    url: {site.url('/feed/')}\nsettings:\n  per_host: 1\n",
                     encoding="utf-8")
    args = [sys.executable, "-m", "monitor", "backfill", "--since", "2022-05-01", "--feeds", str(feeds),
            "--keywords", str(PROJECT / "keywords.yaml"), "--state", str(tmp_path / "state.db")]
    env = child_env() | {"PYTHONPATH": str(PROJECT)}
    proc = subprocess.Popen(args, env=env, cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=foreground)  # Ctrl-C reaches it, however the suite was started
    deadline = time.monotonic() + 60
    while (len(site.requested("/2023/")) < 2 or not _items_committed(tmp_path / "state.db")) \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)  # the user presses Ctrl-C, once some articles are processed
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Backfill" not in out and "interrupted" in err
    first = [r.path for r in site.requested("/2023/")]
    assert 2 <= len(first) < len(stories)
    db = sqlite3.connect(tmp_path / "state.db")
    committed = {url.split(str(site.port), 1)[1] for (url,) in db.execute("SELECT url FROM items")}
    db.close()
    assert committed, "each article is committed as soon as it is processed"

    site.clear()
    resumed = run_cli(*args[3:])
    assert resumed.returncode == 0, resumed.stderr
    second = [r.path for r in site.requested("/2023/")]
    assert not committed & set(second), "what the interrupted run processed is not fetched again"
    assert len(set(first) & set(second)) <= 2, "only pages in flight at Ctrl-C (downloading, extracting) again"
    assert set(first) | set(second) == {f"/2023/story-{i}" for i in range(len(stories))}
    assert resumed.stdout.count("Backfill — Pamir news monitor") == 1
    assert all(title in resumed.stdout for title, _ in stories), "the one digest holds the stories of both runs"


def _items_committed(state) -> int:
    """How many items a running monitor has committed so far (WAL: readers never block it)."""
    try:
        db = sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=1)
        try:
            return db.execute("SELECT count(*) FROM items").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:  # not created yet
        return 0

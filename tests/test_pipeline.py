"""The core pipeline, end to end, as a user runs it: `monitor run --once` against a local news site."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.conftest import PROJECT, run_cli
from tests.support.localsite import LocalSite, Page, article_html, atom, rss

KHOROG_EN = [
    "Security forces detained at least twelve Pamiri activists in Khorog, the administrative centre of the "
    "Gorno-Badakhshan Autonomous Region (GBAO), on Tuesday evening, their relatives told reporters.",
    "The men were taken from their homes after dark and have not been allowed to see lawyers, according to a "
    "local rights defender who asked not to be named for fear of reprisals.",
    "Authorities in Dushanbe did not respond to requests for comment. Since the unrest of May 2022, dozens of "
    "residents of the region have been sentenced to long prison terms after closed trials.",
]
KHOROG_RU = [
    "В Хороге, административном центре Горно-Бадахшанской автономной области, во вторник задержаны пятеро "
    "местных жителей, сообщили их родственники.",
    "По словам родственников, задержанных увезли в Душанбе; адвокатов к ним не допускают. Власти ГБАО "
    "ситуацию не комментируют.",
    "Правозащитники напоминают, что после событий мая 2022 года десятки памирцев были осуждены на длительные "
    "сроки заключения по итогам закрытых процессов.",
]
TYRES = [
    "Our winter sale is here: Pamir all-terrain tyres at twenty percent off until the end of the month.",
    "The Pamir tyre range was tested on mountain roads and gravel tracks; free fitting at every branch.",
    "Order online and collect in store within two working days. Terms and conditions apply.",
]
SCHOOL = [
    "Pupils who skip homework three times will be placed in after-school detention, the head teacher said.",
    "Parents were told in a letter that detention will run on Thursdays from half past three until five.",
    "The school's behaviour policy was updated after consultation with the board of governors.",
]


def build_site(site: LocalSite) -> None:
    site.add("/news/khorog-detentions", article_html("Twelve Pamiri activists detained in Khorog", KHOROG_EN))
    site.add("/news/tyre-sale", article_html("Winter sale on Pamir tyres", TYRES))
    site.add("/news/school-detention", article_html("School announces new detention rules", SCHOOL))
    site.add("/ru/khorog", article_html("В Хороге задержаны пятеро жителей", KHOROG_RU, lang="ru"))
    site.add("/en/feed.xml", Page(rss("Test News", [
        {"title": "Twelve Pamiri activists detained in Khorog", "path": "/news/khorog-detentions?utm_source=rss"},
        {"title": "Winter sale on Pamir tyres", "path": "/news/tyre-sale"},
        {"title": "School announces new detention rules", "path": "/news/school-detention"},
    ], base=site.base).encode(), content_type="application/rss+xml"))
    site.add("/ru/atom.xml", Page(atom("Тестовые новости", [
        {"title": "В Хороге задержаны пятеро жителей", "path": "/ru/khorog"},
    ], base=site.base).encode(), content_type="application/atom+xml"))
    site.add("/broken/500.xml", Page(b"oops", status=500, content_type="text/plain"))
    site.add("/broken/slow.xml", Page(b"<rss/>", delay=5))
    site.add("/broken/notxml.xml", Page(b"this is not a feed at all", content_type="text/plain"))


def write_feeds(path: Path, site: LocalSite, *, extra: str = "") -> Path:
    path.write_text(f"""feeds:
  - name: Test News
    url: {site.url('/en/feed.xml')}
  - name: Тестовые новости
    url: {site.url('/ru/atom.xml')}
  - name: Broken 500
    url: {site.url('/broken/500.xml')}
  - name: Too slow
    url: {site.url('/broken/slow.xml')}
  - name: Not XML
    url: {site.url('/broken/notxml.xml')}
settings:
  timeout: 2
{extra}""", encoding="utf-8")
    return path


@pytest.fixture
def news_site(site):
    build_site(site)
    return site


def run_once(tmp_path: Path, site: LocalSite, *extra: str):
    feeds = write_feeds(tmp_path / "feeds.yaml", site)
    return run_cli("run", "--once", "--feeds", str(feeds), "--keywords", str(PROJECT / "keywords.yaml"),
                   "--state", str(tmp_path / "state.db"), *extra)


def test_relevant_stories_are_caught_and_distractors_are_not(tmp_path, news_site):
    result = run_once(tmp_path, news_site)
    assert result.returncode == 0, result.stderr
    digest = result.stdout
    assert "Twelve Pamiri activists detained in Khorog" in digest
    assert "В Хороге задержаны пятеро жителей" in digest, "a Russian article about Хороге is matched"
    assert "Pamir tyres" not in digest
    assert "School announces new detention rules" not in digest


def test_a_dead_feed_does_not_stop_the_others_and_each_failure_is_named(tmp_path, news_site):
    result = run_once(tmp_path, news_site)
    assert result.returncode == 0
    log = result.stderr
    assert "'Broken 500' failed: HTTP 500" in log
    assert "'Too slow' failed: timed out" in log
    assert "'Not XML' failed: not a feed" in log
    assert "Twelve Pamiri activists detained in Khorog" in result.stdout


def test_second_run_fetches_no_article_again_and_sends_nothing(tmp_path, news_site):
    first = run_once(tmp_path, news_site)
    assert "Khorog" in first.stdout
    news_site.clear()
    second = run_once(tmp_path, news_site)
    assert second.returncode == 0
    assert second.stdout.strip() == ""
    assert "no new matching stories" in second.stderr
    asked = [r.path for r in news_site.requested()]
    assert not [p for p in asked if p.startswith(("/news/", "/ru/khorog"))], asked
    feed_requests = news_site.requested("/en/feed.xml")
    assert feed_requests and feed_requests[0].headers.get("if-none-match"), "conditional GET sends the ETag"


def test_a_feed_that_changes_guids_on_every_fetch_is_not_sent_twice(tmp_path, news_site):
    first = run_once(tmp_path, news_site)
    assert "Khorog" in first.stdout
    news_site.add("/en/feed.xml", Page(rss("Test News", [
        {"title": "Twelve Pamiri activists detained in Khorog", "path": "/news/khorog-detentions/",
         "guid": "random-guid-42"},
    ], base=news_site.base.replace("http://", "https://")).encode(), content_type="application/rss+xml"))
    second = run_once(tmp_path, news_site)
    assert "Khorog" not in second.stdout


def test_the_state_keeps_every_seen_item_and_the_matched_stories(tmp_path, news_site):
    run_once(tmp_path, news_site)
    db = sqlite3.connect(tmp_path / "state.db")
    statuses = dict(db.execute("SELECT url_key, status FROM items"))
    assert statuses[f"{news_site.host}:{news_site.port}/news/tyre-sale"] == "unmatched"
    assert statuses[f"{news_site.host}:{news_site.port}/news/khorog-detentions"] == "matched"
    stories = db.execute("SELECT title, raw_sha256, digest_id FROM stories").fetchall()
    assert len(stories) == 2
    assert all(len(sha) == 64 and digest for _, sha, digest in stories)


def test_check_config_reports_file_line_and_exits_2(tmp_path):
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - name: A\n    url: ftp://example.org/feed\n    intervall: 15m\n", encoding="utf-8")
    result = run_cli("check-config", "--feeds", str(feeds), "--keywords", str(PROJECT / "keywords.yaml"))
    assert result.returncode == 2
    assert f"{feeds}:3: feeds.0.url: bad URL" in result.stderr
    assert f"{feeds}:4: feeds.0.intervall: unknown key" in result.stderr


def test_check_config_accepts_the_shipped_files():
    result = run_cli("check-config")
    assert result.returncode == 0, result.stderr
    assert "configuration OK" in result.stdout


def test_a_page_without_any_keyword_is_not_extracted_and_the_story_still_arrives(tmp_path, site):
    site.add("/w/weather", article_html("Sunny week ahead", ["Sunny spells are expected in most districts."] * 5))
    site.add("/w/khorog", article_html("Twelve Pamiri activists detained in Khorog", KHOROG_EN))
    site.add("/w/feed.xml", Page(rss("W", [{"title": "Sunny week ahead", "path": "/w/weather"},
                                           {"title": "Activists detained", "path": "/w/khorog"}],
                                      base=site.base).encode(), content_type="application/rss+xml"))
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(f"feeds:\n  - name: W\n    url: {site.url('/w/feed.xml')}\n", encoding="utf-8")
    result = run_cli("run", "--once", "--feeds", str(feeds), "--keywords", str(PROJECT / "keywords.yaml"),
                     "--state", str(tmp_path / "state.db"))
    assert result.returncode == 0, result.stderr
    assert "1 page(s) extracted, 1 without any keyword skipped" in result.stderr
    assert "Activists detained" in result.stdout
    assert "on Tuesday evening" in result.stdout, "the snippet comes from the extracted page, not the feed"


def test_an_article_that_failed_is_fetched_again_on_the_next_run(tmp_path, site):
    site.add("/r/khorog", Page(b"busy", status=503, content_type="text/plain"))
    site.add("/r/feed.xml", Page(rss("R", [{"title": "Residents detained", "path": "/r/khorog"}],
                                      base=site.base).encode(), content_type="application/rss+xml"))
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(f"feeds:\n  - name: R\n    url: {site.url('/r/feed.xml')}\n", encoding="utf-8")
    args = ("run", "--once", "--feeds", str(feeds), "--keywords", str(PROJECT / "keywords.yaml"),
            "--state", str(tmp_path / "state.db"))
    first = run_cli(*args)
    assert first.returncode == 0 and first.stdout.strip() == ""
    site.add("/r/khorog", article_html("Residents detained", KHOROG_EN))
    second = run_cli(*args)
    assert "Residents detained" in second.stdout, second.stderr
    assert len(site.requested("/r/khorog")) == 2


def test_a_feed_with_many_pages_waiting_for_its_host_does_not_hold_back_another_feeds_page(tmp_path):
    # Feed A lists 12 slow pages on one host (2 at a time); feed B one page on another host. A's pages waiting
    # for their host's turn must not take the run's article slots (concurrency + 2 per worker, at most 11 here):
    # B's page is fetched while A's first two are still on the wire.
    with LocalSite("127.0.0.1") as a, LocalSite("127.0.0.2") as b:
        a.add("/feed.xml", Page(rss("A", [{"title": f"Weather report {n}", "path": f"/p/{n}"} for n in range(12)],
                                    base=a.base).encode(), content_type="application/rss+xml"))
        for n in range(12):
            a.add(f"/p/{n}", Page(article_html(f"Weather report {n}", SCHOOL).encode(), delay=0.5))
        b.add("/feed.xml", Page(rss("B", [{"title": "Winter sale on Pamir tyres", "path": "/p/tyres"}],
                                    base=b.base).encode(), content_type="application/rss+xml", delay=0.1))
        b.add("/p/tyres", Page(article_html("Winter sale on Pamir tyres", TYRES).encode()))
        feeds = tmp_path / "feeds.yaml"
        feeds.write_text(f"feeds:\n  - name: A\n    url: {a.url('/feed.xml')}\n"
                         f"  - name: B\n    url: {b.url('/feed.xml')}\n"
                         "settings:\n  concurrency: 3\n  per_host: 2\n", encoding="utf-8")
        result = run_cli("run", "--once", "--feeds", str(feeds), "--keywords", str(PROJECT / "keywords.yaml"),
                         "--state", str(tmp_path / "state.db"))
        first_a = min(r.at for r in a.requested("/p/"))
        page_b = [r.at for r in b.requested("/p/tyres")]
    assert result.returncode == 0, result.stderr
    assert len(page_b) == 1 and page_b[0] - first_a < 0.4, \
        f"B's page waited {page_b[0] - first_a:.2f} s behind A's pages (A's first took 0.5 s)"


def test_the_page_a_feed_announces_as_about_khorog_is_fetched_before_the_feeds_other_pages(tmp_path, site):
    # A page can be removed minutes after it appears: the one the feed itself says is about Khorog is captured
    # first, not after the host's turns for the other seven (one page at a time here).
    items = [{"title": f"Weather report {n}", "path": f"/o/{n}"} for n in range(7)]
    items.append({"title": "Twelve Pamiri activists detained in Khorog", "path": "/o/khorog"})
    for n in range(7):
        site.add(f"/o/{n}", article_html(f"Weather report {n}", SCHOOL))
    site.add("/o/khorog", article_html("Twelve Pamiri activists detained in Khorog", KHOROG_EN))
    site.add("/o/feed.xml", Page(rss("O", items, base=site.base).encode(), content_type="application/rss+xml"))
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(f"feeds:\n  - name: O\n    url: {site.url('/o/feed.xml')}\nsettings:\n  per_host: 1\n",
                     encoding="utf-8")
    result = run_cli("run", "--once", "--feeds", str(feeds), "--keywords", str(PROJECT / "keywords.yaml"),
                     "--state", str(tmp_path / "state.db"))
    assert result.returncode == 0, result.stderr
    pages = [r.path for r in sorted(site.requested("/o/"), key=lambda r: r.at) if r.path != "/o/feed.xml"]
    assert pages[0] == "/o/khorog" and len(pages) == 8, pages
    assert "Twelve Pamiri activists detained in Khorog" in result.stdout

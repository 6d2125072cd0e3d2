"""A Persian reader types a word with its affix joined (بازداشتها, میدانند) or after a half-space (ZWNJ:
بازداشت‌ها, می‌دانند), and finds the stories whichever way the outlet wrote it; the page still shows the text as
the outlet wrote it. On SQLite and on PostgreSQL alike."""

from __future__ import annotations

import hashlib

import pytest

from monitor.models import Article, FeedEntry, MatchResult, TopicHit
from monitor.store import Store
from tests.support.webarchive import NOW, build_archive
from tests.web.test_web import browse, config, found

# Written joined, without a single ZWNJ, as many outlets and keyboards do.
JOINED = ("بازداشتها در بدخشان ادامه دارد",
          "سازمانهای حقوق بشری میدانند که بازداشتشدگان به وکیل دسترسی ندارند.")


@pytest.fixture(params=["sqlite", "postgresql"])
def archive(request, tmp_path):
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    ids = build_archive(tmp_path / "monitor.db", database_url=url)  # BBC Persian writes خانواده‌های, می‌گویند
    store = Store(tmp_path / "monitor.db", database_url=url)
    try:
        link = "https://radiofarda.example/badakhshan"
        item = store.record_item(feed="Radio Farda", guid=None, url=link, url_key=link[8:], status="matched")
        title, text = JOINED
        article = Article(FeedEntry("Radio Farda", link, title=title, published=NOW), link, title,
                          f"{title}\n\n{text}", NOW, NOW, hashlib.sha256(text.encode()).hexdigest())
        ids["Radio Farda"] = store.add_story(item, article, MatchResult((TopicHit("gbao_rights", 3.0, ("gbao",)),),
                                                                        snippet=text))
    finally:
        store.close()
    return config(tmp_path / "monitor.db", database_url=url), ids


def _search(cfg, *queries: str) -> list[set[int]]:
    pages = browse(cfg, *(lambda c, q=q: c.get("/", params={"q": q}) for q in queries))
    assert all(p.status_code == 200 for p in pages)
    return [set(found(p.text)) for p in pages]


def test_a_word_typed_joined_finds_a_text_written_with_zwnj(archive):
    cfg, ids = archive
    for hits in _search(cfg, "خانوادههای", "میگویند", "بازداشتشدگان", '"خانوادههای بازداشتشدگان"'):
        assert ids["BBC Persian"] in hits


def test_a_word_typed_with_zwnj_finds_a_text_written_joined(archive):
    cfg, ids = archive
    for hits in _search(cfg, "بازداشت\u200cها", "می\u200cدانند", "سازمان\u200cهای", '"سازمان\u200cهای حقوق"'):
        assert ids["Radio Farda"] in hits


def test_either_spelling_finds_both_and_the_page_keeps_the_outlets_spelling(archive):
    cfg, ids = archive
    joined, apart = _search(cfg, "بازداشتشدگان", "بازداشت\u200cشدگان")
    assert joined == apart and {ids["BBC Persian"], ids["Radio Farda"]} <= joined
    story, = browse(cfg, lambda c: c.get(f"/story/{ids['BBC Persian']}"))
    assert "خانواده\u200cهای بازداشت\u200cشدگان می\u200cگویند" in story.text

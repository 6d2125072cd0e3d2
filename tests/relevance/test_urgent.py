"""Urgent means the current event: a background paragraph about 2022 does not make a detention story urgent.

A user's own small keywords file: an urgent violence topic ranked first, an urgent custody topic ranked
second, an ordinary detention topic. The texts are ours.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from monitor import clock

from monitor.delivery.digest import urgent_digests
from monitor.relevance.matcher import Matcher
from monitor.models import Article, Digest, FeedEntry
from monitor.delivery.text import render_text
from monitor.relevance.keywords import parse_rules
from tests.support.clock import MOMENTS

RULES = {
    "aliases": {"places": ["Khorog", "Rushan", "GBAO", "Хорог*"]},
    "topics": {
        "violence": {"urgent": True, "urgent_rank": 1, "min_score": 3,
                     "near": [{"within": 20, "one_of": ["kill", "shoot dead", "убить"], "and_one_of": ["@places"]}]},
        "custody": {"urgent": True, "urgent_rank": 2, "min_score": 3,
                    "near": [{"within": 20, "one_of": ["mass detention", "die in custody"],
                              "and_one_of": ["@places"]}]},
        "detentions": {"min_score": 2,
                       "near": [{"within": 30, "one_of": ["detain", "задержать"], "and_one_of": ["@places"]}]},
    },
}
PUBLISHED = datetime(2026, 3, 10, 8, 0, tzinfo=timezone.utc)

DETENTION_WITH_BACKGROUND = (
    "Three relatives of an exiled blogger detained in Khorog",
    "Police detained three relatives of an exiled blogger in Khorog on Monday, a family member said. "
    "They were questioned for hours about his posts and released late at night without charge.\n\n"
    "The blogger left Tajikistan after the events of 2022. Dozens of people were killed in Khorog and "
    "Rushan in May 2022 during what the authorities called a counter-terrorist operation.",
)
CURRENT_KILLING = (
    "Two men shot dead near Rushan",
    "Two men were shot dead near Rushan on Sunday evening, relatives told us. A third man was wounded.",
)


@pytest.fixture(scope="module")
def m() -> Matcher:
    return Matcher(parse_rules(RULES))


def test_a_background_killing_does_not_make_a_detention_story_urgent(m):
    result = m.match(*DETENTION_WITH_BACKGROUND, published=PUBLISHED)
    topics = [h.topic for h in result.hits]
    assert "detentions" in topics and "violence" in topics, "the story is still in the digest, on both topics"
    assert not result.urgent
    assert not result.urgent_topic


def test_the_background_paragraph_without_a_publication_date_is_still_background(m):
    title, text = DETENTION_WITH_BACKGROUND
    text = text.replace("on Monday", "on Monday 9 March 2026")
    assert not m.match(title, text).urgent


def test_a_killing_reported_now_is_urgent_and_quotes_its_sentence(m):
    result = m.match(*CURRENT_KILLING, published=PUBLISHED)
    assert result.urgent and result.urgent_topic == "violence"
    assert result.urgent_sentence == "Two men were shot dead near Rushan on Sunday evening, relatives told us."


def test_a_sentence_with_the_articles_own_date_counts_as_current_even_after_the_lead(m):
    filler = "The regional administration published a statement about roads and the harvest. " * 8
    text = filler + "On 9 March two residents were killed in Khorog, witnesses said."
    result = m.match("Statement from the administration", text, published=PUBLISHED)
    assert result.urgent
    assert "On 9 March two residents were killed in Khorog" in result.urgent_sentence


def test_explain_says_why_an_urgent_topic_is_not_an_alert(m):
    out = m.explain(*DETENTION_WITH_BACKGROUND, published=PUBLISHED)
    assert "urgent (rank 1): no" in out and "background" in out


def test_within_one_cycle_killings_come_before_deaths_in_custody(store, m):
    stories = [
        ("Mass detention in Khorog", "A mass detention in Khorog began at dawn on Tuesday, residents said."),
        ("Man killed in Khorog", "A man was killed in Khorog on Tuesday when police opened fire, neighbours said."),
    ]
    for i, (title, text) in enumerate(stories):
        url = f"https://news.example/{i}"
        item = store.record_item(feed="News", guid=None, url=url, url_key=url, status="matched")
        article = Article(FeedEntry("News", url, title=title), url, title, text, PUBLISHED, PUBLISHED, "")
        match = m.match(title, text, published=PUBLISHED)
        assert match.urgent, title
        store.add_story(item, article, match)
    alerts = urgent_digests(store)
    assert [d.stories[0].title for d in alerts] == ["Man killed in Khorog", "Mass detention in Khorog"]
    text = render_text(alerts[0])
    assert "Urgent topic: violence" in text
    assert "“A man was killed in Khorog on Tuesday when police opened fire, neighbours said.”" in text


def test_an_urgent_alert_names_its_topic_in_email_and_telegram_too():
    from monitor.models import DigestStory
    from monitor.delivery.email import render_html
    from monitor.delivery.telegram import render_chunks

    story = DigestStory(1, "Man killed in Khorog", "https://news.example/1", "News", PUBLISHED, ("violence",), (),
                        "", urgent_topic="violence", urgent_sentence="A man was <killed> in Khorog on Tuesday.")
    digest = Digest("urgent", PUBLISHED, (story,))
    assert "Urgent topic: <b>violence</b>" in render_html(digest)
    assert "A man was &lt;killed&gt; in Khorog" in render_html(digest)
    assert "Urgent topic: <b>violence</b>" in render_chunks(digest)[0]


@pytest.mark.parametrize("moment", MOMENTS.values(), ids=MOMENTS, indirect=True)
def test_a_run_sends_the_current_killing_at_once_and_keeps_the_background_one_for_the_digest(moment, tmp_path, site):
    from email.utils import format_datetime

    from tests.conftest import PROJECT, run_cli
    from tests.support.localsite import Page, article_html, rss

    now = clock.now()
    pages = {
        "/a/shot": ("Two men shot dead in Rushan", ["Two men were shot dead by security forces in Rushan on "
                    "Sunday evening, relatives told us. A third man was wounded."]),
        "/a/held": ("Relatives of an exiled blogger detained in Khorog", [
            "Police detained three relatives of an exiled blogger in Khorog, a family member said. They were "
            "questioned for hours about his posts and released late at night.",
            "The blogger left Tajikistan after the events of 2022, when dozens of people were killed in Khorog "
            "and Rushan during what the authorities called a counter-terrorist operation."]),
    }
    items = []
    for path, (title, paragraphs) in pages.items():
        site.add(path, article_html(title, paragraphs, date=now.date().isoformat()))
        items.append({"title": title, "path": path, "date": format_datetime(now)})
    site.add("/feed.xml", Page(rss("News", items, base=site.base).encode(), content_type="application/rss+xml"))
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(f"feeds:\n  - name: News\n    url: {site.url('/feed.xml')}\n", encoding="utf-8")
    result = run_cli("run", "--once", "--feeds", str(feeds), "--keywords", str(PROJECT / "keywords.yaml"),
                     "--state", str(tmp_path / "state.db"))
    assert result.returncode == 0, result.stderr
    alert, _, digest = result.stdout.partition("Digest — Pamir news monitor")
    assert alert.startswith("URGENT") and "Two men shot dead in Rushan" in alert
    assert "Urgent topic: Killings and deaths in custody in GBAO" in alert
    because = next(line for line in alert.splitlines() if line.startswith("Because: “"))
    assert "Two men were shot dead by security forces in Rushan on Sunday evening, relatives told us.”" in because
    assert "Relatives of an exiled blogger detained in Khorog" not in alert
    assert "Relatives of an exiled blogger detained in Khorog" in digest

"""The digest a busy researcher reads: human topic titles, the body as snippet, concepts not inflections,
canonical links, unambiguous marks, story ids, alerts already sent, newest first, and the original outlet first.

Stories are matched by the shipped keywords.yaml and stored in a real state; the digest is rendered by each
channel's own renderer, as it would be sent.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from email import message_from_string, policy

import pytest

from monitor import clock
from monitor.delivery.digest import build_digest, next_digest_at
from monitor.config.feeds import Settings
from monitor.relevance.matcher import Matcher
from monitor.models import Article, FeedEntry
from monitor.delivery.email import EmailConfig, EmailNotifier
from monitor.delivery.telegram import render_chunks
from monitor.delivery.text import render_text
from monitor.relevance.keywords import load_rules
from tests.conftest import PROJECT
from tests.support.clock import MOMENTS

RULES = load_rules(PROJECT / "keywords.yaml")
MATCHER = Matcher(RULES)
NOW = clock.now()

COURT = ("A court in Khorog sentenced three Pamiri activists to seven years in prison on Monday after a closed "
         "trial, their relatives said. The men were detained in May 2022 during the protests in Rushan and were "
         "held for months without access to lawyers. Rights groups said the verdicts were the latest in a series "
         "of long sentences handed to residents of the Gorno-Badakhshan Autonomous Region.")


def store_story(store, feed: str, title: str, text: str, url: str, published: datetime | None, urgent=False) -> int:
    match = MATCHER.match(title, text)
    assert match.matched, title
    item = store.record_item(feed=feed, guid=None, url=url, url_key=url.split("//")[1], status="matched")
    article = Article(FeedEntry(feed, url, title=title, published=published), url, title, f"{title}\n\n{text}",
                      published, NOW, "")
    return store.add_story(item, article, match, urgent=urgent)


def digest_of(store):
    return build_digest(store, Settings(), feed_names=set(), topic_titles=RULES.titles)


def test_a_digest_reads_like_a_briefing_not_like_a_database(store):
    title = "Three Pamiri activists sentenced to seven years in prison"
    sid = store_story(store, "Asia News", title, COURT,
                      "https://news.example/2024/khorog-trial?utm_source=rss&utm_medium=feed&id=7", NOW)
    text = render_text(digest_of(store))
    assert "gbao_rights" not in text and "gbao_story" not in text, "topics appear by their titles, not their ids"
    assert "Detentions, trials and protests in GBAO (1 story)" in text and "1 stories" not in text
    assert "Pamir news monitor — 1 story on Detentions, trials and protests in GBAO" in text
    assert f"· story {sid}" in text, "each story's id, for `monitor show`"
    assert "https://news.example/2024/khorog-trial?id=7\n" in text and "utm_" not in text
    snippet = next(line.strip() for line in text.splitlines() if "⟦" in line)
    assert snippet.startswith("A court in ⟦Khorog⟧"), "the snippet is the body, without the title glued on"
    assert "seven years in prison A court" not in text
    assert "«" not in text and "⟦sentenced⟧" in text
    matched = next(line for line in text.splitlines() if line.strip().startswith("Matched:"))
    concepts = matched.split(":", 1)[1].split(", ")
    assert 1 <= len(concepts) <= 5, matched
    assert "khorog" in concepts and "sentenced" not in concepts, "concepts (aliases), not word forms"


def test_the_subject_and_html_carry_the_title_and_the_telegram_message_the_id(store):
    store_story(store, "Asia News", "Three Pamiri activists sentenced", COURT, "https://news.example/a", NOW)
    digest = digest_of(store)
    notifier = EmailNotifier(EmailConfig("127.0.0.1", 25, "none", "monitor@example.org", ["r@example.org"]))
    mail = message_from_string(notifier.render(digest)[0], policy=policy.default)
    assert mail["Subject"] == "Pamir monitor: 1 story on Detentions, trials and protests in GBAO"
    html = mail.get_body(("html",)).get_content()
    assert "Detentions, trials and protests in GBAO (1 story)" in html and "gbao_rights" not in html
    chunk = render_chunks(digest)[0]
    assert "Detentions, trials and protests in GBAO" in chunk and "story 1" in chunk and "Matched:" in chunk


def test_within_a_topic_the_newest_story_comes_first_and_sent_alerts_are_named_at_the_top(store):
    old = store_story(store, "A", "Pamiri activist sentenced in Khorog", COURT, "https://a.example/1",
                      NOW - timedelta(days=2))
    new = store_story(store, "B", "Khorog court jails Pamiri activists", COURT.replace("three", "four"),
                      "https://b.example/2", NOW - timedelta(hours=1))
    undated = store_story(store, "C", "Trial of Pamiri activists in Khorog", COURT.replace("three", "five"),
                          "https://c.example/3", None)
    alert = store_story(store, "D", "Protester killed in Khorog", COURT, "https://d.example/4", NOW, urgent=True)
    from monitor.delivery.digest import urgent_digests

    (urgent,) = urgent_digests(store, topic_titles=RULES.titles)
    assert store.queue_digest("urgent", [alert], {"stdout": ["x"]}) is not None
    text = render_text(digest_of(store))
    order = [int(line.rsplit("story ", 1)[1]) for line in text.splitlines() if "· story " in line]
    assert order == [undated, new, old], "newest first; an undated story counts from when it was fetched (now)"
    assert "Urgent alerts sent since the last digest (not repeated below):\n- story 4: Protester killed in Khorog" \
        in text
    assert urgent.kind == "urgent" and urgent.stories[0].story_id == alert


def test_the_original_outlet_leads_a_folded_story_and_republishers_keep_their_own_titles(store):
    copy = store_story(store, "Aggregator", "Court jails Pamiris", COURT, "https://agg.example/x?utm_source=tg",
                       NOW - timedelta(hours=1))
    store.add_story_source(copy, None, "Asia News", "https://news.example/original",
                           "Three Pamiri activists sentenced to seven years",
                           article=Article(FeedEntry("Asia News", "https://news.example/original"),
                                           "https://news.example/original", "Three Pamiri activists sentenced to "
                                           "seven years", COURT, NOW - timedelta(hours=5), NOW, ""))
    store.add_story_source(copy, None, "Mirror", "https://mirror.example/y", "Three Pamiri activists sentenced to "
                           "seven years")
    text = render_text(digest_of(store))
    assert "1. Three Pamiri activists sentenced to seven years\n   Asia News · " in text
    assert "https://news.example/original" in text.split("Matched:")[0]
    assert "Also reported by Aggregator — “Court jails Pamiris”: https://agg.example/x\n" in text
    assert "Also reported by Mirror: https://mirror.example/y" in text, "a copy with the lead's title says so once"


@pytest.mark.parametrize("moment", MOMENTS.values(), ids=MOMENTS, indirect=True)
def test_fixed_digest_times_come_round_twice_a_day_whatever_the_day_and_across_a_clock_change(moment):
    from zoneinfo import ZoneInfo

    settings = Settings(digest_at=["02:30", "18:00"], timezone="Europe/Berlin")
    berlin = ZoneInfo("Europe/Berlin")
    now = clock.now()
    slots, last = [], now
    for _ in range(6):
        last = next_digest_at(last, settings, last)
        slots.append(last)
    assert all(b > a for a, b in zip([now] + slots, slots)), slots  # always forward, never the same slot twice
    assert slots[0] - now <= timedelta(hours=24)
    assert slots[-1] - now <= timedelta(days=3, hours=1)  # six slots in three days: none skipped, none doubled
    # 02:30 does not exist on the morning Berlin springs forward; the digest then goes at 03:30 local
    assert {s.astimezone(berlin).strftime("%H:%M") for s in slots} <= {"02:30", "03:30", "18:00"}

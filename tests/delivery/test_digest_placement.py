"""Where a story shows up in a digest or an alert, and in which clock its times are told.

A monitor reading an alert about a killing looks for it under "Killings", not under the topic that happened
to score highest; a story already listed under its topic is not listed again among the "Other mentions";
and a team in Khorog reads times in Dushanbe time, with the zone named, on every channel.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email import message_from_string, policy

from monitor import clock
from monitor.config.feeds import Settings
from monitor.delivery.digest import build_digest, urgent_digests
from monitor.delivery.email import EmailConfig, EmailNotifier
from monitor.delivery.telegram import render_chunks
from monitor.delivery.text import render_text
from monitor.models import Article, FeedEntry, MatchResult, TopicHit

NOW = clock.now()
TITLES = {"gbao_rights": "Detentions, trials and protests in GBAO",
          "gbao_violence": "Killings and deaths in custody in GBAO"}
KILLING = "A Pamiri man was shot dead in Khorog after dozens were detained"


def _story(store, url: str, title: str, hits: tuple[TopicHit, ...], urgent_topic: str = "", feed: str = "Asia News",
           published=NOW, text: str = "") -> int:
    item = store.record_item(feed=feed, guid=None, url=url, url_key=url.split("//")[1], status="matched")
    match = MatchResult(hits=hits, snippet=title, urgent_topic=urgent_topic,
                        urgent_sentence="One man was shot dead by police in Khorog." if urgent_topic else "")
    article = Article(FeedEntry(feed, url, title=title, published=published), url, title, text or title, published,
                      NOW, "")
    return store.add_story(item, article, match, urgent=bool(urgent_topic))


def _mention(store, url: str, title: str, feed: str = "Other Outlet") -> None:
    item = store.record_item(feed=feed, guid=None, url=url, url_key=url.split("//")[1] + "#m", status="unmatched")
    article = Article(FeedEntry(feed, url, title=title, published=NOW), url, title, title, NOW, NOW, "")
    store.add_mention(item, article, f"{title}.")


def _sections(text: str) -> dict[str, str]:
    """The plain-text digest cut at its '== heading ==' lines (the head under the key '')."""
    out, key = {"": ""}, ""
    for line in text.splitlines():
        if line.startswith("== "):
            key = line.strip("= ").rsplit(" (", 1)[0]
            out[key] = ""
        else:
            out[key] += line + "\n"
    return out


def _killing(store) -> int:
    hits = (TopicHit("gbao_rights", 9.0, ("detained",)), TopicHit("gbao_violence", 4.0, ("shot dead",), urgent=True))
    return _story(store, "https://news.example/killing", KILLING, hits, urgent_topic="gbao_violence")


def test_an_urgent_alert_stands_under_the_topic_that_made_it_urgent_on_every_channel(store):
    _killing(store)
    [alert] = urgent_digests(store, topic_titles=TITLES)
    assert alert.topic_names == [TITLES["gbao_violence"]]
    sections = _sections(render_text(alert))
    assert KILLING in sections[TITLES["gbao_violence"]]
    assert TITLES["gbao_rights"] not in sections
    mail = EmailNotifier(EmailConfig("127.0.0.1", 25, "none", "m@example.org", ["r@example.org"])).render(alert)[0]
    html = message_from_string(mail, policy=policy.default).get_body(("html",)).get_content()
    assert f"{TITLES['gbao_violence']} (1 story)" in html and f"{TITLES['gbao_rights']} (1 story)" not in html
    chunk = render_chunks(alert)[0]
    assert TITLES["gbao_violence"] in chunk and TITLES["gbao_rights"] not in chunk


def test_a_story_listed_under_its_topic_is_not_listed_again_among_the_other_mentions(store):
    hits = (TopicHit("gbao_rights", 6.0, ("detained",)),)
    _story(store, "https://news.example/trial?utm_source=rss", "Three Pamiri activists detained in Khorog", hits)
    _mention(store, "https://news.example/trial", "Three Pamiri activists detained in Khorog")  # same page
    _mention(store, "https://mirror.example/copy", "Three Pamiri activists  detained in KHOROG")  # same report
    _mention(store, "https://other.example/roads", "Road to Khorog reopened after landslide")
    digest = build_digest(store, Settings(), feed_names=set(), topic_titles=TITLES)
    sections = _sections(render_text(digest))
    assert "Three Pamiri activists detained" in sections[TITLES["gbao_rights"]]
    others = sections["Other mentions of GBAO"]
    assert "Road to Khorog reopened" in others and "activists" not in others
    assert len(digest.mention_ids) == 3, "the duplicates are taken with the digest, so they never come back"
    assert build_digest(store, Settings(), feed_names=set(), topic_titles=TITLES).mentions[0].title.startswith("Road")


def test_times_are_told_in_the_configured_zone_and_name_it(store):
    _story(store, "https://news.example/trial", "Three Pamiri activists detained in Khorog",
           (TopicHit("gbao_rights", 6.0, ("detained",)),), published=NOW - timedelta(hours=3))
    settings = Settings(timezone="Asia/Dushanbe")
    digest = build_digest(store, settings, feed_names=set(), topic_titles=TITLES)
    local = (NOW - timedelta(hours=3)).astimezone(__import__("zoneinfo").ZoneInfo("Asia/Dushanbe"))
    shown = f"{local:%Y-%m-%d %H:%M} Asia/Dushanbe"
    text = render_text(digest)
    assert shown in text and " UTC" not in text
    mail = EmailNotifier(EmailConfig("127.0.0.1", 25, "none", "m@example.org", ["r@example.org"])).render(digest)[0]
    html = message_from_string(mail, policy=policy.default).get_body(("html",)).get_content()
    assert shown in html and " UTC" not in html
    assert shown in render_chunks(digest)[0]
    default = render_text(build_digest(store, Settings(), feed_names=set(), topic_titles=TITLES) or digest)
    assert "UTC" in default


def test_with_web_base_url_each_entry_links_to_its_story_page_on_every_channel(store):
    sid = _story(store, "https://news.example/trial", "Three Pamiri activists detained in Khorog",
                 (TopicHit("gbao_rights", 6.0, ("detained",)),))
    _killing(store)
    settings = Settings(web_base_url="https://monitor.example.org/archive/")
    page = f"https://monitor.example.org/archive/story/{sid}"
    digest = build_digest(store, settings, feed_names=set(), topic_titles=TITLES)
    assert f"Story page: {page}\n" in render_text(digest)
    mail = EmailNotifier(EmailConfig("127.0.0.1", 25, "none", "m@example.org", ["r@example.org"])).render(digest)[0]
    html = message_from_string(mail, policy=policy.default).get_body(("html",)).get_content()
    assert f'<a href="{page}"' in html
    assert f'<a href="{page}">' in "".join(render_chunks(digest))
    [alert] = urgent_digests(store, topic_titles=TITLES, settings=settings)
    assert "/archive/story/" in render_text(alert)
    assert "Story page" not in render_text(build_digest(store, Settings(), feed_names=set(), topic_titles=TITLES))


def test_a_web_base_url_that_is_not_http_is_refused_in_one_line():
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="web_base_url"):
        Settings(web_base_url="javascript:alert(1)")


def test_a_page_changed_since_capture_links_to_its_story_page_where_both_versions_are():
    from monitor.models import Digest, PageChange

    change = PageChange(3, 17, "Two killed in Rushan", "https://news.example/rushan", "Asia News", "edited",
                        "edited: killed: 2 → 1")
    digest = Digest("digest", NOW, changes=(change,), story_base_url="https://monitor.example.org/archive")
    page = "https://monitor.example.org/archive/story/17"
    assert f"  Story page: {page}\n" in render_text(digest)
    mail = EmailNotifier(EmailConfig("127.0.0.1", 25, "none", "m@example.org", ["r@example.org"])).render(digest)[0]
    html = message_from_string(mail, policy=policy.default).get_body(("html",)).get_content()
    assert f'<a href="{page}"' in html
    assert f'<a href="{page}">story 17</a>' in "".join(render_chunks(digest))
    assert "Story page" not in render_text(Digest("digest", NOW, changes=(change,)))


def test_an_aggregators_copy_of_an_alerted_killing_sends_no_second_alert_and_waits_for_the_digest(store):
    from monitor.delivery import outbox

    _killing(store)
    [alert] = urgent_digests(store, topic_titles=TITLES)
    outbox.queue_digest(store, alert, [])
    # a day later an aggregator carries the same headline over a two-line teaser: too thin to be folded by its text
    hits = (TopicHit("gbao_violence", 4.0, ("shot dead",), urgent=True),)
    copy = _story(store, "https://aggregator.example/item/9", KILLING.upper() + "!", hits, urgent_topic="gbao_violence",
                  feed="Aggregator")
    other = _story(store, "https://news.example/rushan", "Two men were shot dead near Rushan on Sunday evening", hits,
                   urgent_topic="gbao_violence")
    # and a new event, reported in full, under the same everyday headline is news of its own
    report = " ".join(["Relatives said police detained another resident of Khorog on Thursday night."] * 6)
    again = _story(store, "https://news.example/second", KILLING, hits, urgent_topic="gbao_violence",
                   feed="Other Outlet", text=report)
    assert [a.stories[0].story_id for a in urgent_digests(store, topic_titles=TITLES)] == [other, again]
    digest = build_digest(store, Settings(), feed_names=set(), topic_titles=TITLES)
    assert copy in {s.story_id for s in digest.stories}, "the copy is still reported, in the digest"


def test_an_alert_queued_in_the_second_the_last_digest_went_is_in_the_next_digest_in_full(store):
    """A reader who takes no alerts (`urgency: digest`) reads the killing in the next digest, however close the
    alert followed the last digest: both are stamped to the second."""
    import os

    from monitor.delivery import outbox
    from tests.support import clock as suite_clock

    saved = os.environ[clock.ENV]
    noon = datetime(2026, 12, 9, 12, 0, 0, tzinfo=timezone.utc)
    try:
        suite_clock.pin(noon)
        store.queue_digest("digest", [], {})  # the service's digest job, then a poll's alert in the same second
        _killing(store)
        [alert] = urgent_digests(store, topic_titles=TITLES)
        suite_clock.pin(noon)  # however long the lines above took
        outbox.queue_digest(store, alert, [])
    finally:
        suite_clock.restore(saved)
    digest = build_digest(store, Settings(), feed_names=set(), topic_titles=TITLES, alerts_alone=True)
    assert digest is not None and [s.title for s in digest.urgent_sent] == [KILLING]

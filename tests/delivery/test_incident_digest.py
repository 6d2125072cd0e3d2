"""A researcher's digest lists incidents, not articles: one detention reported in four languages is one entry
with every link and the record in one line; a killing gets one urgent alert, and its later report waits for
the digest as that incident's entry. Stories are matched by the shipped rules and filed as the pipeline does."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from monitor import clock
from monitor.config.feeds import Settings
from monitor.delivery import outbox
from monitor.delivery.digest import build_digest, urgent_digests
from monitor.delivery.incidents import weekly_counts
from monitor.delivery.stdout import StdoutNotifier
from monitor.delivery.text import render_text
from monitor.models import Article, FeedEntry
from monitor.relevance.keywords import load_rules
from monitor.relevance.matcher import Matcher
from monitor.stories.incident_eval import load_folder
from monitor.stories.incidents import IncidentDesk
from tests.conftest import PROJECT

LABELLED = Path(__file__).parent.parent / "stories" / "incidents-labelled"


@pytest.fixture(scope="module")
def kit():
    rules = load_rules(PROJECT / "keywords.yaml")
    return Matcher(rules), rules, {s.path.name: s for s in load_folder(LABELLED)}


def _story(store, kit, name: str, *, fresh: bool = False) -> int:
    """One labelled report through matching, the store and the incident desk (in one transaction)."""
    matcher, rules, samples = kit
    s = samples[name]
    published = clock.now() - timedelta(hours=2) if fresh else s.published
    text = s.text  # fresh: told as happening on Tuesday, the day before the suite's now
    if fresh:
        text = text.replace("yesterday", "on Tuesday").replace("روز یکشنبه", "روز سه شنبه")
    match = matcher.match(s.title, text, published)
    assert match.matched, name
    desk = IncidentDesk(rules, store)
    record = desk.read(s.title, text, published, s.lang)
    entry = FeedEntry(feed=s.outlet, url=s.url, title=s.title, published=published)
    with store.transaction():
        item = store.record_item(feed=s.outlet, guid=None, url=s.url, url_key=s.url, status="matched")
        story = store.add_story(item, Article(entry, s.url, s.title, text, published, clock.now(), "ab"), match,
                                urgent=fresh and match.urgent)
        desk.file(story, record, published, clock.now())
    return story


def test_one_detention_in_four_languages_is_one_digest_entry_with_every_link(store, kit):
    ids = [_story(store, kit, f"nazarov-detention.{lang}.txt") for lang in ("ru", "en", "tg", "fa")]
    other = _story(store, kit, "shoev-detention.en.txt")
    digest = build_digest(store, Settings(digest_language="en"), feed_names=set())
    assert len(digest.stories) == 2 and sorted(digest.folded) == sorted(ids[:1] + ids[2:])
    entry = next(s for s in digest.stories if s.story_id != other)
    assert entry.story_id == ids[1]  # the English headline, as digest_language asks
    assert entry.incident.endswith("reported by 4 outlets in ru, en, tg, fa · detention · Khorog · 2026-12-05 · "
                                   "Алишера Назарова")
    assert len(entry.also_reported_by) == 3
    text = render_text(digest)
    assert text.count("reported by 4 outlets") == 1
    assert all(samples_url in text for samples_url in (kit[2]["nazarov-detention.fa.txt"].url,
                                                       kit[2]["nazarov-detention.tg.txt"].url))
    outbox.queue_digest(store, digest, [StdoutNotifier()])
    assert store.waiting_stories() == []  # the folded reports were taken by the same digest


def test_a_killing_is_alerted_once_and_its_later_report_arrives_in_the_digest(store, kit):
    first = _story(store, kit, "khorog-killing.en.txt", fresh=True)
    alerts = urgent_digests(store)
    assert [d.stories[0].story_id for d in alerts] == [first]
    assert " · killing · Khorog" in alerts[0].stories[0].incident
    outbox.queue_digest(store, alerts[0], [StdoutNotifier()])
    later = _story(store, kit, "khorog-killing.fa.txt", fresh=True)
    assert urgent_digests(store) == []  # the same killing: no second alert
    digest = build_digest(store, Settings(), feed_names=set())
    assert [s.story_id for s in digest.stories] == [later]
    assert "reported by 2 outlets in en, fa · killing" in digest.stories[0].incident


def test_the_weekly_report_counts_incidents_killings_first(store, kit):
    for name in ("nazarov-detention.en.txt", "nazarov-detention.ru.txt", "shoev-detention.en.txt",
                 "khorog-killing.en.txt", "khorog-killing.fa.txt", "rushan-recall.ru.txt"):
        _story(store, kit, name)
    rows = weekly_counts(store, datetime(2026, 12, 1, tzinfo=timezone.utc), datetime(2026, 12, 8, tzinfo=timezone.utc))
    assert rows == [("killing", "Khorog", 1, 1, 0, 0), ("detention", "Khorog", 2, 0, 2, 0),
                    ("detention", "Rushan", 1, 0, 1, 0)]

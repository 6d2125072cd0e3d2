"""Waiting stories → a Digest. Rendering for each channel lives in monitor.notify."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from .config import Settings
from .dedup import canonical_url
from .models import Digest, DigestKind, DigestStory, FailingFeed
from .store import FeedState, Store

MAX_STORIES = 200  # one digest never grows past this; the rest waits for the next one


def failing_feeds(states: list[FeedState], failing_after: float, now: datetime, names: set[str]) -> list[FailingFeed]:
    """Feeds in the config that have failed without a success for longer than `failing_after` seconds."""
    limit = now - timedelta(seconds=failing_after)
    return [
        FailingFeed(s.name, s.error_since, s.last_error or "unknown error")
        for s in states
        if s.name in names and s.error_since is not None and s.error_since <= limit
    ]


def _cited(story: DigestStory) -> DigestStory:
    """Links as a reader should cite them: no utm_* or other tracking parameters."""
    return replace(story, url=canonical_url(story.url),
                   also_reported_by=tuple((s, canonical_url(u)) for s, u in story.also_reported_by))


def build_digest(store: Store, settings: Settings, *, kind: DigestKind = "digest", feed_names: set[str],
                 now: datetime | None = None, topic_titles: Mapping[str, str] | None = None) -> Digest | None:
    """The next digest: every waiting story, updates if the user wants them, the urgent alerts sent since the
    last digest, failing feeds. Returns None when there is nothing new to tell.
    """
    now = now or datetime.now(timezone.utc)
    stories = tuple(_cited(s) for s in store.waiting_stories(limit=MAX_STORIES))
    updates: tuple[DigestStory, ...] = tuple(_cited(s) for s in store.waiting_updates()) if settings.show_updates else ()
    if not stories and not updates:
        return None
    failing = tuple(failing_feeds(store.all_feed_states(), settings.failing_after, now, feed_names))
    urgent = tuple(store.urgent_alerts_since(store.last_digest_at())) if kind == "digest" else ()
    return Digest(kind=kind, created_at=now, stories=stories, updates=updates, failing_feeds=failing,
                  topic_titles=tuple((topic_titles or {}).items()), urgent_sent=urgent)


def urgent_digests(store: Store, *, now: datetime | None = None,
                   topic_titles: Mapping[str, str] | None = None) -> list[Digest]:
    """One message per waiting urgent story: an alert about a killing must not wait for the hourly digest."""
    now = now or datetime.now(timezone.utc)
    titles = tuple((topic_titles or {}).items())
    return [Digest(kind="urgent", created_at=now, stories=(_cited(story),), topic_titles=titles)
            for story in store.waiting_stories(urgent_only=True)]

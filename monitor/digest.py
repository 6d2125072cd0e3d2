"""Waiting stories → a Digest. Rendering for each channel lives in monitor.notify."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from .config import Settings
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


def build_digest(store: Store, settings: Settings, *, kind: DigestKind = "digest", feed_names: set[str],
                 now: datetime | None = None) -> Digest | None:
    """The next digest: every waiting story (best first), updates if the user wants them, failing feeds.

    Returns None when there is nothing new to tell.
    """
    now = now or datetime.now(timezone.utc)
    stories = tuple(store.waiting_stories(limit=MAX_STORIES))
    updates: tuple[DigestStory, ...] = tuple(store.waiting_updates()) if settings.show_updates else ()
    changes = tuple(store.waiting_changes()) if kind == "digest" else ()  # pages edited or removed (evidence/)
    if not stories and not updates and not changes:
        return None
    failing = tuple(failing_feeds(store.all_feed_states(), settings.failing_after, now, feed_names))
    return Digest(kind=kind, created_at=now, stories=stories, updates=updates, failing_feeds=failing,
                  changes=changes)


def urgent_digests(store: Store, *, now: datetime | None = None) -> list[Digest]:
    """One message per waiting urgent story: an alert about a killing must not wait for the hourly digest."""
    now = now or datetime.now(timezone.utc)
    return [Digest(kind="urgent", created_at=now, stories=(story,)) for story in store.waiting_stories(urgent_only=True)]

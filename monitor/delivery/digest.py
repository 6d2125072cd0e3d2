"""Waiting stories → a Digest. Rendering for each channel lives in monitor.delivery.channels."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from monitor import clock
from monitor.config.feeds import Settings
from monitor.stories.urlkeys import canonical_url
from monitor.models import Digest, DigestKind, DigestStory, FailingFeed, Mention
from monitor.store import FeedState, Store

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
                 now: datetime | None = None, topic_titles: Mapping[str, str] | None = None,
                 mentions_max: int = 15, alerts_alone: bool = False) -> Digest | None:
    """The next digest: every waiting story, updates if the user wants them, the urgent alerts sent since the
    last digest, failing feeds, and the safety net: the newest `mentions_max` unmatched articles that name GBAO
    (the rest counted, not listed). Returns None when there is nothing new to tell: alerts already sent are
    news only with `alerts_alone` (a reader takes no alerts: `recipients:` `urgency: digest`).
    """
    now = now or clock.now()
    from monitor.delivery.incidents import fold_incidents

    entries, folded = fold_incidents(store, store.waiting_stories(limit=MAX_STORIES), settings.digest_language)
    stories = tuple(_cited(s) for s in entries)
    updates: tuple[DigestStory, ...] = tuple(_cited(s) for s in store.waiting_updates()) if settings.show_updates else ()
    mentions = store.waiting_mentions()
    changes = tuple(store.waiting_changes()) if kind == "digest" else ()  # pages edited or removed (evidence/)
    # the alerts since the last digest: a reader who takes no alerts gets them in this digest (routing.py)
    urgent = tuple(_cited(s) for s in store.urgent_alerts_since_digest()) if kind == "digest" else ()
    if not stories and not updates and not mentions and not changes and not (urgent and alerts_alone):
        return None
    failing = tuple(failing_feeds(store.all_feed_states(), settings.failing_after, now, feed_names))
    listed = _not_listed_elsewhere(mentions, stories + updates, urgent)
    return Digest(kind=kind, created_at=now, stories=stories, updates=updates, failing_feeds=failing,
                  topic_titles=tuple((topic_titles or {}).items()), urgent_sent=urgent,
                  mentions=tuple(listed[:mentions_max]), more_mentions=max(len(listed) - mentions_max, 0),
                  mention_ids=tuple(m.mention_id for m in mentions), changes=changes, timezone=settings.timezone,
                  story_base_url=settings.web_base_url or "", folded=folded)


def _not_listed_elsewhere(mentions: list[Mention], stories: tuple[DigestStory, ...],
                          urgent: tuple[DigestStory, ...]) -> list[Mention]:
    """The safety net lists what no topic caught: a mention of a page, or a report, that this digest already
    lists as a story (or that went out as an alert) is left out, though still taken with the digest."""
    urls = {canonical_url(u) for s in stories for u in (s.url, *(u for _, u in s.also_reported_by))}
    from monitor.delivery.incidents import same_report

    titles = {same_report(s.title) for s in (*stories, *urgent)} - {""}
    return [m for m in mentions if canonical_url(m.url) not in urls and same_report(m.title) not in titles]


def urgent_digests(store: Store, *, now: datetime | None = None, topic_titles: Mapping[str, str] | None = None,
                   settings: Settings | None = None) -> list[Digest]:
    """One message per waiting urgent story: an alert about a killing must not wait for the hourly digest.
    Once per incident: a later report of an incident already alerted waits for the digest."""
    from monitor.delivery.incidents import first_alerts

    now = now or clock.now()
    titles = tuple((topic_titles or {}).items())
    zone = settings.timezone if settings else "UTC"
    base = (settings.web_base_url or "") if settings else ""
    return [Digest(kind="urgent", created_at=now, stories=(_cited(story),), topic_titles=titles, timezone=zone,
                   story_base_url=base)
            for story in first_alerts(store, store.waiting_stories(urgent_only=True), now)]


# --- when a digest is due: digest_interval or digest_at, quiet hours --------------------------------------------

def _slack(interval: float) -> float:
    """A timer run a minute early (RandomizedDelaySec) must not push the digest a whole cycle later."""
    return min(180.0, interval / 10)


def _local(now: datetime, settings: Settings) -> datetime:
    from zoneinfo import ZoneInfo

    return now.astimezone(ZoneInfo(settings.timezone))


def _at(day: datetime, hhmm: str) -> datetime:
    hour, minute = (int(x) for x in hhmm.split(":"))
    return day.replace(hour=hour, minute=minute, second=0, microsecond=0)


def quiet_until(now: datetime, settings: Settings) -> datetime | None:
    """The end of the quiet window `now` is in (UTC), or None outside quiet hours."""
    if not settings.quiet_hours:
        return None
    start, end = settings.quiet_hours.split("-")
    local = _local(now, settings)
    for day in (local - timedelta(days=1), local):
        begin = _at(day, start)
        finish = _at(day if end > start else day + timedelta(days=1), end)
        if begin <= local < finish:
            return finish.astimezone(timezone.utc)
    return None


def next_digest_at(last: datetime | None, settings: Settings, now: datetime) -> datetime:
    """When the next (non-urgent) digest may go: right away for the first one, else `digest_interval` after the
    last one, or the first `digest_at` time after it; never inside quiet hours (then at their end)."""
    if last is None:
        due = now
    elif settings.digest_at:
        local_last = _local(last, settings)
        due = min(_at(local_last + timedelta(days=d), t) for d in (0, 1, 2) for t in settings.digest_at
                  if _at(local_last + timedelta(days=d), t) > local_last).astimezone(timezone.utc)
    else:
        due = last + timedelta(seconds=settings.digest_interval - _slack(settings.digest_interval))
    quiet = quiet_until(max(due, now), settings)
    return quiet if quiet else due


def alerts_owed_at(store: Store, feeds) -> datetime | None:
    """When the next digest is due if alerts sent since the last one wait in it for a reader who takes no alerts
    (`urgency: digest`), else None: a quiet cycle must not hold that digest back (quiet.make_plan's `until`)."""
    if not any(r.urgency == "digest" for r in feeds.recipients) or not store.urgent_alerts_since_digest():
        return None
    return next_digest_at(store.last_digest_at(), feeds.settings, clock.now())


def digest_due(store: Store, settings: Settings, now: datetime | None = None) -> bool:
    """Whether `run --once` (every 15 minutes under the timer) or the service should send the digest now."""
    now = now or clock.now()
    return next_digest_at(store.last_digest_at(), settings, now) <= now


# --- feeds failing for long: announced even without stories -----------------------------------------------------

ANNOUNCED_KEY = "failing_announced"  # meta: {feed name: error_since ISO} of the failures already announced


def health_notice(store: Store, settings: Settings, feed_names: set[str],
                  now: datetime | None = None) -> tuple[Digest | None, dict[str, str]]:
    """A message naming the feeds that began failing for longer than `failing_after` and those that recovered,
    once per failure episode; and the announcement record to store once the message is queued."""
    import json

    now = now or clock.now()
    announced: dict[str, str] = json.loads(store.meta_get(ANNOUNCED_KEY) or "{}")
    states = {s.name: s for s in store.all_feed_states()}
    failing = {f.name: f for f in failing_feeds(list(states.values()), settings.failing_after, now, feed_names)}
    new = [f for name, f in failing.items() if announced.get(name) != f.since.isoformat()]
    recovered = [name for name in announced if name in states and states[name].error_since is None]
    gone = [name for name in announced if name not in feed_names]  # removed from feeds.yaml: forget quietly
    record = {n: s for n, s in announced.items() if n not in recovered and n not in gone}
    record.update({f.name: f.since.isoformat() for f in new})
    if not new and not recovered:
        return None, record
    return Digest(kind="health", created_at=now, failing_feeds=tuple(new), recovered=tuple(sorted(recovered)),
                  title=_health_title(new, recovered), timezone=settings.timezone), record


def _health_title(new: list[FailingFeed], recovered: list[str]) -> str:
    parts = []
    if new:
        parts.append(f"{len(new)} feed{'s' if len(new) != 1 else ''} failing: " + ", ".join(f.name for f in new[:3])
                     + (" …" if len(new) > 3 else ""))
    if recovered:
        parts.append(f"{len(recovered)} feed{'s' if len(recovered) != 1 else ''} working again: "
                     + ", ".join(recovered[:3]) + (" …" if len(recovered) > 3 else ""))
    return "; ".join(parts)

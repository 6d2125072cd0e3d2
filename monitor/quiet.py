"""The quiet cycle: a `run --once` in which every feed answers 304 and nothing is due costs a round trip.

Most timer-driven runs find nothing new. The full pipeline would still validate both YAML files with
pydantic, compile the rules, import feedparser, the matcher and the notifiers, and write each feed's poll on
its own; none of that can change the outcome when every feed answers "304 Not Modified" and no message,
story or update is waiting. So a full run leaves a *plan* in the state (the feeds and settings it
validated, keyed by a fingerprint of the two config files and of the MONITOR_* environment), and the next
`run --once` tries the plan first:

- any doubt runs the full pipeline: no plan, a config file or a delivery variable changed (the fingerprint),
  a source that is not a plain feed (listing pages and sitemaps are crawled each time), a message due, a
  story, update, mention or page change waiting, a feed failing, or the plan is older than MAX_AGE or past
  the next weekly report or the next digest when alerts wait in it for a reader who takes no alerts (so
  scheduled work — page re-checks, the weekly report, pruning kept texts — runs at most an hour late);
- a feed whose site asked another host sharing the state, or an earlier run, to wait (`origin_pauses`: its
  Retry-After or back-off) is skipped, neither asked nor recorded, as the full cycle skips it (hosts.check_origin);
- every feed answers 304: the polls are recorded in one transaction and the run ends;
- any feed answers otherwise (new items, an error): the full pipeline runs, and takes the responses
  already received instead of asking again, so nothing is fetched twice.

The same SSRF guard, proxies, User-Agent, limits and deadlines apply: the requests go through fetch.Fetcher.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

from monitor import clock

if TYPE_CHECKING:
    from monitor.config.feeds import FeedsFile
    from monitor.sources.fetch import FetchError, Response
    from monitor.store import Store

log = logging.getLogger("monitor")

PLAN_VERSION = 1
MAX_AGE = 3600.0  # seconds a plan is followed before a full cycle runs again for the scheduled work


def fingerprint(feeds_path: str | Path, keywords_path: str | Path, environ: Mapping[str, str]) -> str | None:
    """What a plan was made for: both files' bytes and every MONITOR_* variable (hashed: secrets stay out)."""
    digest = hashlib.sha256(f"plan-v{PLAN_VERSION}\0".encode())
    for path in (feeds_path, keywords_path):
        try:
            digest.update(Path(path).read_bytes())
        except OSError:
            return None  # the full pipeline reports the missing file
        digest.update(b"\0")
    for key in sorted(k for k in environ if k.startswith(("MONITOR_", "CREDENTIALS_DIRECTORY"))):
        digest.update(f"{key}={environ[key]}\0".encode())
    return digest.hexdigest()


def make_plan(feeds: FeedsFile, fp: str | None, now: float | None = None, until: float | None = None) -> str | None:
    """The plan for the next quiet cycles (JSON), or None when these sources cannot have one; it ends at `until`
    at the latest (the digest that alerts wait in: delivery.digest.alerts_owed_at)."""
    enabled = [f for f in feeds.feeds if f.enabled]
    if fp is None or not enabled or any(f.kind != "feed" for f in enabled):
        return None
    now = clock.time() if now is None else now
    valid_until = now + MAX_AGE
    weekly = feeds.settings.weekly_report
    if weekly:  # the report's slot must find a full cycle
        from datetime import datetime, timedelta, timezone

        from monitor.config.schedule import last_slot

        upcoming = last_slot(weekly, datetime.fromtimestamp(now, timezone.utc)) + timedelta(days=7)
        valid_until = min(valid_until, upcoming.timestamp())
    if until is not None:
        valid_until = min(valid_until, until)
    settings = feeds.settings.model_dump(mode="json", include=FETCH_SETTINGS)
    return json.dumps({"fingerprint": fp, "valid_until": valid_until, "settings": settings,
                       "recheck_after": list(feeds.settings.recheck_after),
                       "feeds": [f.model_dump(mode="json") for f in enabled]}, ensure_ascii=False)


# what fetch.Fetcher reads of the settings: all a quiet cycle needs
FETCH_SETTINGS = {"concurrency", "per_host", "host_delay", "timeout", "max_bytes", "user_agent", "proxy"}


@dataclass
class Plan:
    feeds: list[SimpleNamespace]  # the FeedSpec attributes fetch.Fetcher reads
    settings: SimpleNamespace  # the Settings attributes fetch.Fetcher reads


def usable_plan(store: Store, fp: str | None) -> Plan | None:
    """The plan left by the last full run if this cycle may follow it; None runs the full pipeline."""
    raw = store.quiet_plan()
    if raw is None or fp is None:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if data.get("fingerprint") != fp:
        log.debug("quiet cycle: the configuration changed since the last full run")
        return None
    if data.get("valid_until", 0) <= clock.time():
        log.debug("quiet cycle: scheduled work may be due; running the full pipeline")
        return None
    blocker = store.quiet_blocker() or (
        "a page re-check is due" if store.due_rechecks(tuple(data.get("recheck_after") or ())) else None) or (
        "captures wait in the evidence spool" if _spool_waiting(store) else None)
    if blocker:
        log.debug("quiet cycle: %s; running the full pipeline", blocker)
        return None
    return Plan([SimpleNamespace(**f) for f in data["feeds"]], SimpleNamespace(**data["settings"]))


def _spool_waiting(store: Store) -> bool:
    """Captures bound for object storage wait in the spool (evidence/spool.py): only a full cycle drains it."""
    if not os.environ.get("MONITOR_ARCHIVE_URL"):  # no bucket: nothing would drain it
        return False
    try:
        return any(n.endswith(".warc.gz") for n in os.listdir(os.environ.get("MONITOR_SPOOL_DIR")
                                                              or f"{store.path}.spool"))
    except OSError:  # no spool: nothing waits
        return False


def _unpaused(feeds: list[SimpleNamespace], store: Store) -> list[SimpleNamespace] | None:
    """The plan's feeds whose site no other host (nor an earlier run) was asked to leave alone (`origin_pauses`:
    a Retry-After or a back-off). The others are skipped, as the full cycle skips them (hosts.check_origin):
    not asked, and not recorded. One query, on a table that is empty unless some site pushed back. None when
    the pauses cannot be read: the full pipeline decides, and reports the database's trouble."""
    from monitor.sources.politeness import origin_of
    from monitor.store.leases import holder_id

    try:
        paused = store.origins_paused(holder_id())  # a new process: an earlier run's pause holds too
    except sqlite3.Error as exc:  # cannot tell: never ask a site that may have asked us to wait
        log.debug("quiet cycle: the sites' pauses cannot be read (%s); running the full pipeline", exc)
        return None
    if not paused:
        return feeds
    kept = []
    for feed in feeds:
        pause = paused.get(origin_of(feed.url))
        if pause is None:
            kept.append(feed)
        else:
            log.info("feed %r: skipped: its site asked host %s to wait (%s), %.0fs left", feed.name,
                     pause[2].rpartition("/")[0] or pause[2], pause[1], pause[0])
    return kept


async def poll(plan: Plan, store: Store) -> dict[str, Response | FetchError] | None:
    """Ask every feed with its validators. None: all answered 304 and that is recorded (the cycle is done);
    otherwise every feed's response (or error) by name, for the full pipeline to take over."""
    from monitor.sources.fetch import ACCEPT_FEEDS, Fetcher, FetchError

    states = {s.name: s for s in store.all_feed_states()}
    from monitor.sources.netguard import trusted_hosts_from

    trusted = trusted_hosts_from((f.url for f in plan.feeds), with_port=True)  # as the pipeline trusts them
    feeds = _unpaused(plan.feeds, store)
    if feeds is None:
        return {}  # nothing asked yet: the full pipeline polls every feed itself
    fetcher = Fetcher(plan.settings, trusted, feeds=plan.feeds)  # type: ignore[arg-type]

    async def one(feed: SimpleNamespace) -> Response | FetchError:
        state = states.get(feed.name)  # none: a plain GET, so a 200, so the full pipeline
        try:
            return await fetcher.get(feed.url, etag=state and state.etag, last_modified=state and state.last_modified,
                                     feed=feed.name, accept=ACCEPT_FEEDS)
        except FetchError as exc:
            return exc

    try:
        answers = await asyncio.gather(*(one(f) for f in feeds))
    finally:
        await fetcher.aclose()
    results = {f.name: a for f, a in zip(feeds, answers)}
    if all(not isinstance(a, Exception) and a.not_modified for a in answers):
        store.record_not_modified({name: a.elapsed_ms for name, a in results.items()})  # type: ignore[union-attr]
        skipped = len(plan.feeds) - len(feeds)
        log.info("no new matching stories: no digest")
        log.info("cycle done: %d feed(s) polled, all not modified%s", len(results),
                 f"; {skipped} left alone while their site's pause lasts" if skipped else "")
        return None
    log.debug("quiet cycle: %d of %d feed(s) changed or failed; running the full pipeline",
              sum(1 for a in answers if isinstance(a, Exception) or not a.not_modified), len(answers))
    return results

"""`monitor backfill --since DATE`: the stories of a past period, as ONE digest.

Each source is walked back through what it offers (feed pages, listing pages, sitemaps; monitor.sources.crawl),
every entry goes through the same pipeline as a poll, and one digest of kind "backfill" is queued at the
end. Resumable for free: every entry processed is committed to the items table at once, and the pipeline
never fetches a settled item again. --dry-run does the same work inside `Store.dry_run()`, prints the digest
and then undoes everything: the state is left exactly as it was, and no later run sends what the preview found.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from monitor.sources import crawl
from monitor.config.feeds import FeedsFile, FeedSpec
from monitor.delivery.digest import build_digest
from monitor.sources.fetch import FetchError
from monitor.sources.feeds import ParseError
from monitor.pipeline import Monitor
from monitor.store import Store

log = logging.getLogger("monitor.backfill")

BATCH = 20  # entries handed to the pipeline at once: bounded memory, steady progress, fair extraction queue
SOURCES_AT_ONCE = 4  # sources walked in parallel (each host still gets its own politeness)


@dataclass
class Tally:
    """What the progress display shows, and the summary at the end."""

    sources: int
    done: int = 0
    fetched: int = 0
    matches: int = 0
    errors: int = 0
    failed_sources: list[str] = field(default_factory=list)


class Progress:
    """A rich progress bar on a terminal; plain log lines when stderr is not one (a pipe, journald)."""

    def __init__(self, tally: Tally, *, live: bool | None = None):
        self.tally = tally
        self.live = sys.stderr.isatty() if live is None else live
        self._bar = None
        self._task = None

    @contextmanager
    def shown(self) -> Iterator["Progress"]:
        if not self.live:
            yield self
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeElapsedColumn

        self._bar = Bar(TextColumn("backfill"), BarColumn(), MofNCompleteColumn(), TextColumn("sources ·"),
                        TextColumn("{task.fields[stats]}"), TimeElapsedColumn(),
                        console=Console(stderr=True), transient=False)
        with self._bar, _logs_through(self._bar.console):
            self._task = self._bar.add_task("backfill", total=self.tally.sources, stats=self._stats())
            yield self

    def _stats(self) -> str:
        t = self.tally
        return f"{t.fetched} articles fetched · {t.matches} matches · {t.errors} errors"

    def update(self, source: str | None = None, *, finished: bool = False) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=self.tally.done, stats=self._stats())
        elif finished:
            log.info("backfill: %d/%d sources done (%s finished): %s", self.tally.done, self.tally.sources,
                     source, self._stats())


@contextmanager
def _logs_through(console) -> Iterator[None]:
    """Log lines printed above the bar instead of through it: stderr handlers write via rich's console."""
    import logging as _logging

    moved = []
    for handler in _logging.getLogger().handlers:
        if isinstance(handler, _logging.StreamHandler) and getattr(handler, "stream", None) is console.file:
            moved.append(handler)
            handler.setStream(sys.stderr)  # rich's live display has put its own proxy there
    try:
        yield
    finally:
        for handler in moved:
            handler.setStream(console.file)


async def run_backfill(feeds: FeedsFile, rules, store: Store, notifiers: list, *, since: datetime,
                       until: datetime | None, only: list[str] | None, dry_run: bool) -> int:
    """Walk every (selected) source for [since, until], then queue or print one backfill digest. Exit code."""
    specs = [f for f in feeds.feeds if f.enabled] if not only else [f for f in feeds.feeds if f.name in only]
    unknown = sorted(set(only or ()) - {f.name for f in feeds.feeds})
    if unknown:
        print(f"error: no feed named {', '.join(map(repr, unknown))} in the feeds file", file=sys.stderr)
        return 2
    until_end = until + timedelta(days=1) - timedelta(microseconds=1) if until else None  # --until is inclusive
    if until_end and until_end < since:
        print("error: --until is before --since", file=sys.stderr)
        return 2
    tally = Tally(sources=len(specs))
    progress = Progress(tally)
    log.info("backfill of %d source(s) from %s%s%s", len(specs), since.date(),
             f" to {until.date()}" if until else "", " (dry run)" if dry_run else "")
    with store.dry_run() if dry_run else nullcontext():  # a preview writes nothing, even when interrupted
        return await _backfill(feeds, rules, store, notifiers, specs, since, until_end, tally, progress, dry_run)


async def _backfill(feeds: FeedsFile, rules, store: Store, notifiers: list, specs: list[FeedSpec],
                    since: datetime, until_end: datetime | None, tally: Tally, progress: Progress,
                    dry_run: bool) -> int:
    async with Monitor(feeds, rules, store, notifiers, since=since, until=until_end) as monitor:
        gate = asyncio.Semaphore(SOURCES_AT_ONCE)

        async def one(spec: FeedSpec) -> None:
            async with gate:
                await _walk_source(monitor, spec, since, until_end, tally, progress)

        try:
            with progress.shown():
                await asyncio.gather(*(one(spec) for spec in specs))
        except (asyncio.CancelledError, KeyboardInterrupt):
            if dry_run:
                log.warning("dry run interrupted: nothing was kept")
                raise
            log.warning("backfill interrupted: %d article(s) fetched so far are kept; run the same command again "
                        "to go on (nothing fetched is fetched again)", tally.fetched)
            raise
        backed_off = monitor.fetcher.backed_off_hosts()
        if backed_off:
            log.warning("hosts left alone after repeated failures: %s (run the backfill again later for them)",
                        ", ".join(backed_off))
        log.info("backfill done: %d source(s), %d article(s) fetched, %d match(es), %d error(s)%s", tally.sources,
                 tally.fetched, tally.matches, tally.errors,
                 f"; failed sources: {', '.join(tally.failed_sources)}" if tally.failed_sources else "")
        if dry_run:
            _print_digest(monitor)
        else:
            await monitor.send_digest(kind="backfill")
    return 1 if specs and len(tally.failed_sources) == len(specs) else 0


async def _walk_source(monitor: Monitor, spec: FeedSpec, since: datetime, until: datetime | None,
                       tally: Tally, progress: Progress) -> None:
    """One source, page by page; a page whose new entries all fall outside the period ends the walk."""
    monitor.store.ensure_feed(spec.name, spec.url)
    pages = 0
    try:
        async for page in crawl.archive(spec, monitor.fetcher, since=since, until=until):
            pages += 1
            new = fetched = 0
            for start in range(0, len(page), BATCH):
                result = await monitor.process_entries(spec, page[start:start + BATCH])
                new += result.new_entries
                fetched += result.fetched_articles
                tally.fetched += result.fetched_articles
                tally.matches += result.matches
                tally.errors += len(result.notes)
                for note in result.notes[:3]:
                    log.debug("%s: %s", spec.name, note)
                progress.update()
            # every new entry was out of the period by the page's own date: older pages will be too
            # (only without --until: a newest-first archive starts with pages after --until)
            if until is None and new and not fetched:
                log.debug("%s: page %d holds only stories before %s; stopping", spec.name, pages, since.date())
                break
    except (FetchError, ParseError) as exc:
        tally.errors += 1
        tally.failed_sources.append(spec.name)
        log.warning("backfill of %r failed: %s", spec.name, exc)
    finally:
        tally.done += 1
        progress.update(spec.name, finished=True)
    log.debug("%s: %d archive page(s) walked", spec.name, pages)


def _print_digest(monitor: Monitor) -> None:
    """--dry-run: show the digest; the caller's `Store.dry_run()` then undoes everything the preview did."""
    from monitor.delivery.text import render_text

    digest = build_digest(monitor.store, monitor.settings, kind="backfill", feed_names=monitor.feed_names,
                          topic_titles=monitor.matcher.rules.titles, mentions_max=monitor.matcher.rules.safety_net_max)
    if digest is None:
        print("no matching stories in the period")
        return
    sys.stdout.write(render_text(digest))
    log.info("dry run: nothing was sent and nothing kept; `monitor backfill` without --dry-run fetches the "
             "period again and sends its %d stor%s as one digest", len(digest.stories),
             "y" if len(digest.stories) == 1 else "ies")

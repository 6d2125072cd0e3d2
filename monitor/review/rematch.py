"""`monitor rematch`: the kept texts of a period, scored again with the current rules.

A kept text that matches now goes through the near-duplicate step like any new article: a republication of a
known story becomes one more source of it, anything else a new story marked "found on re-check" and waiting
for the next digest. Its kept text is then dropped (the story holds it now), so a second rematch finds nothing
new, and a story already sent is never touched. Stories that the current rules no longer catch are only listed:
what a reader already has cannot be taken back, and the archive keeps them as evidence.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO

from monitor.relevance.matcher import Matcher
from monitor.models import Article, FeedEntry, MatchResult, TopicHit
from monitor.stories.incidents import IncidentDesk
from monitor.stories.neardup import NearDupIndex, signature
from monitor.store import KeptText, Store

log = logging.getLogger("monitor.rematch")


@dataclass(frozen=True)
class Found:
    """One kept text that the current rules catch."""

    item_id: int
    title: str
    url: str
    topics: tuple[str, ...]
    score: float
    story_id: int  # the new story, or the known story it joined as a further source
    joined: bool  # True: a republication of a known story (not sent again)


@dataclass(frozen=True)
class Dropped:
    """A story the current rules no longer catch."""

    story_id: int
    title: str
    url: str
    sent: bool


@dataclass
class RematchReport:
    texts: int = 0  # kept texts re-scored
    stories: int = 0  # stories re-scored
    summary_only: int = 0  # kept texts that are only a feed's summary (no page text was extracted)
    refetched: int = 0  # --refetch: summary-only pages fetched again
    improved: int = 0  # ... of which the page text is now kept
    found: list[Found] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)

    @property
    def new_stories(self) -> list[Found]:
        return [f for f in self.found if not f.joined]


def _only(match: MatchResult, topic: str | None) -> MatchResult:
    """The match restricted to one topic (`--topic`); the whole match when no topic is asked for."""
    if topic is None:
        return match
    hits: tuple[TopicHit, ...] = tuple(h for h in match.hits if h.topic.casefold() == topic.casefold())
    return match if hits else MatchResult((), match.vetoed)


def rematch(store: Store, matcher: Matcher, *, since: datetime | None, until: datetime | None = None,
            topic: str | None = None, dry_run: bool = False, progress: bool | None = None,
            refetch: tuple | None = None) -> RematchReport:
    """Re-score the period's kept texts and stories; with `dry_run` the same work, then every change undone."""
    report = RematchReport()
    text_ids = store.kept_text_ids(since, until)
    story_ids = store.story_ids(since, until)
    with store.dry_run() if dry_run else nullcontext(), \
            _progress(len(text_ids) + len(story_ids), progress) as advance:
        if refetch is not None:  # (feeds, rules): the summary-only pages first, inside the dry run's undo
            import asyncio

            report.refetched, report.improved = asyncio.run(refetch_summaries(store, *refetch, text_ids))
        for row in store.stories_by_ids(story_ids):  # first: a story found below is not a story "kept" here
            report.stories += 1
            if topic is not None and topic.casefold() not in {t.casefold() for t in _topics(row)}:
                advance()
                continue
            if not _only(matcher.match(row["title"], row["text"]), topic).matched:
                report.dropped.append(Dropped(row["id"], row["title"], row["final_url"] or row["url"],
                                              row["digest_id"] is not None))
            advance()
        index = NearDupIndex(store)
        desk = IncidentDesk(matcher.rules, store)  # a new story is filed under its incident like a polled one
        for kept in store.kept_texts(text_ids):
            report.texts += 1
            report.summary_only += not kept.extracted
            match = matcher.match(kept.title, kept.text)
            if _only(match, topic).matched:
                report.found.append(_take(store, index, kept, match, desk))
            advance()
    return report


async def refetch_summaries(store: Store, feeds, rules, item_ids: list[int]) -> tuple[int, int]:
    """`rematch --refetch`: fetch again the pages of kept texts that are only a feed summary, and keep the page
    text of those on which a topic of the current rules can now fire. Returns (pages fetched, texts improved).

    Such a page was not extracted when it was seen because no topic could fire on it then; after a new term or
    spelling it may. The fetch is the pipeline's own (SSRF guard, robots.txt, per-host limits), and extraction
    applies the current rules' prefilter, so a page that still cannot match costs no extraction.
    """
    import asyncio

    from monitor.pipeline import Monitor

    todo = [k for k in store.kept_texts(item_ids) if not k.extracted]
    if not todo:
        return 0, 0
    improved = 0
    async with Monitor(feeds, rules, store, []) as monitor:
        gate = asyncio.Semaphore(feeds.settings.concurrency)

        async def one(kept: KeptText) -> Article:
            entry = FeedEntry(feed=kept.feed, url=kept.url, guid=kept.guid, title=kept.title, summary=kept.text,
                              published=kept.published)
            async with gate:
                response, _error = await monitor._get_page(entry)
                article = await monitor._read_page(entry, response)
            return article

        articles = await asyncio.gather(*(one(k) for k in todo))
    for kept, article in zip(todo, articles):
        if article.extracted and article.text.strip():
            store.keep_text(kept.item_id, article)
            improved += 1
    log.info("re-check: %d summary-only page(s) fetched again, %d now with their page text", len(todo), improved)
    return len(todo), improved


def _topics(row) -> list[str]:
    return json.loads(row["topics"])


def _take(store: Store, index: NearDupIndex, kept: KeptText, match: MatchResult,
          desk: IncidentDesk | None = None) -> Found:
    """A kept text that matches now becomes a waiting story, or a source of the story it republishes."""
    entry = FeedEntry(feed=kept.feed, url=kept.url, guid=kept.guid, title=kept.title, published=kept.published)
    article = Article(entry=entry, final_url=kept.final_url, title=kept.title, text=kept.text,
                      published=kept.published, fetched_at=kept.fetched_at, raw_sha256=kept.raw_sha256,
                      extracted=kept.extracted)
    topics = tuple(h.topic for h in match.hits)
    sig = signature(kept.text)
    record = desk.read(kept.title, kept.text, kept.published) if desk is not None else None
    with store.transaction():
        known = index.find(sig)
        if known is not None:
            store.add_story_source(known, kept.item_id, kept.feed, kept.final_url, kept.title, article=article)
            store.set_item_status(kept.item_id, "duplicate")
            story_id = known
        else:
            story_id = store.add_story(kept.item_id, article, match, None, urgent=False)  # old news: no alert
            store.mark_rechecked(story_id)
            store.set_item_status(kept.item_id, "matched")
            index.add(story_id, sig)
            if desk is not None:
                desk.file(story_id, record, kept.published, kept.fetched_at)
        store.drop_kept_text(kept.item_id)
    log.debug("re-check: item %d %s", kept.item_id, f"joined story {known}" if known else f"is new story {story_id}")
    return Found(kept.item_id, kept.title, kept.final_url, topics, match.score, story_id, known is not None)


@contextmanager
def _progress(total: int, live: bool | None) -> Iterator:
    """A rich progress bar on a terminal for a long run; nothing when stderr is a pipe or journald."""
    live = sys.stderr.isatty() if live is None else live
    if not live or total < 200:
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from monitor.backfill import _logs_through

    bar = Progress(TextColumn("rematch"), BarColumn(), MofNCompleteColumn(), TextColumn("texts and stories"),
                   TimeElapsedColumn(), console=Console(stderr=True))
    with bar, _logs_through(bar.console):
        task = bar.add_task("rematch", total=total)
        yield lambda: bar.advance(task)


def format_report(report: RematchReport, *, dry_run: bool, since: datetime | None, topic: str | None) -> str:
    """What changed (or, with --dry-run, would change), for the terminal."""
    would = "would be " if dry_run else ""
    scope = f"since {since.date()}" if since else "in the state"
    lines = [f"re-scored {report.texts} kept text(s) and {report.stories} stor{'y' if report.stories == 1 else 'ies'}"
             f" {scope}{f' for topic {topic}' if topic else ''} with the current rules"]
    new = report.new_stories
    lines += ["", f"newly matched: {len(new)} stor{'y' if len(new) == 1 else 'ies'} {would}"
                  f"{'added' if dry_run else 'waiting'} for the next digest (marked \"found on re-check\")"]
    lines += [f"  [{', '.join(f.topics)} {f.score:g}] {f.title or '(no title)'}  {f.url}"
              + ("" if dry_run else f"  (story {f.story_id})") for f in new]
    joined = [f for f in report.found if f.joined]
    if joined:
        lines += ["", f"republications of known stories: {len(joined)} {would}added as further sources (not sent again)"]
        lines += [f"  story {f.story_id}: {f.title or '(no title)'}  {f.url}" for f in joined]
    lines += ["", f"no longer matched by the current rules: {len(report.dropped)} (kept in the archive; "
                  "a story already sent cannot be unsent)"]
    lines += [f"  story {d.story_id} ({'sent' if d.sent else 'waiting'}): {d.title or '(no title)'}  {d.url}"
              for d in report.dropped]
    if report.refetched:
        lines += ["", f"--refetch: {report.refetched} summary-only page(s) fetched again, {report.improved} "
                      "with a text the current rules could match"]
    if report.summary_only:
        lines += ["", f"note: {report.summary_only} kept text(s) are only the feed's summary (their page had no "
                      "keyword when it was fetched, so it was not extracted); a new term finds those only in the "
                      "title and summary — `--refetch` fetches their pages again"]
    if dry_run:
        lines += ["", "dry run: nothing was changed"]
    return "\n".join(lines)


def print_report(report: RematchReport, out: TextIO = sys.stdout, **kw) -> None:
    print(format_report(report, **kw), file=out)

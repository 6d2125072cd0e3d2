"""The pipeline, top to bottom: fetch → parse → extract → match → dedup → store → digest → deliver.

`Monitor` holds what a run shares (config, compiled rules, HTTP client, extractor pool, state) and offers the
steps the CLI and the scheduler call: poll one feed, poll all, send urgent alerts, send a digest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime

from monitor import __version__
from monitor.hosts import Hosts
from monitor.store.leases import LeaseLost
from monitor.delivery.cycle import DeliverySteps
from monitor.tasks import gather_or_cancel, warm_imports
from monitor.config.feeds import FeedsFile, FeedSpec
from monitor.stories.incidents import IncidentDesk
from monitor.stories.urlkeys import guid_key, url_key
from monitor.extract.article import carried, match_text, read_page
from monitor.extract.text import ExtractorPool
from monitor.sources.fetch import ACCEPT_FEEDS, Fetcher, FetchError, Response
from monitor.relevance.matcher import Matcher
from monitor.models import Article, FeedEntry, FeedResult, MatchResult
from monitor.sources.feeds import ParseError, parse_feed
from monitor.relevance.rules import RuleSet
from monitor.store import ConnectionLost, Store

log = logging.getLogger("monitor")

URGENT_MAX_AGE = 48 * 3600  # seconds: an older article goes into the digest, not an alert

@dataclass
class Outcome:
    """What happened to one new entry."""

    status: str  # matched | duplicate | unmatched | failed | old
    error: str = ""


class Monitor(DeliverySteps):
    """One run's shared machinery; use `async with Monitor(...) as monitor:`."""

    def __init__(self, feeds: FeedsFile, rules: RuleSet, store: Store, notifiers: list, *,
                 since: datetime | None = None, until: datetime | None = None,
                 prefetched: dict[str, Response | FetchError] | None = None):
        self.feeds = feeds
        self.settings = feeds.settings
        self.store = store
        self.notifiers = notifiers
        self.matcher = Matcher(rules)
        self.incidents = IncidentDesk(rules, store)  # a new story's draft incident record and its incident
        self._neardup = None  # opened at the first match: a cycle with nothing new never imports numpy
        self.extractor = ExtractorPool(timeout=self.settings.extract_timeout, prefilter=self.matcher.prefilter)
        self.since, self.until = since, until
        self.prefetched = dict(prefetched or {})  # feed name -> its answer, already received this cycle
        self._article_slots = asyncio.Semaphore(self.settings.concurrency + 2 * self.extractor.workers)
        self._claimed: set[str] = set()
        self.undelivered = False  # a message could not be delivered this run (it stays queued): exit code 3
        self.skipped_extractions = 0  # URL keys a feed is processing now: two feeds, one fetch
        trusted = _trusted(feeds)
        self.fetcher = Fetcher(self.settings, trusted, feeds=feeds.feeds,  # per-feed proxy, robots exemption
                               robots_keeper=store)
        from monitor.evidence.capture import Evidence

        self.evidence = Evidence(store, self.settings)  # WARC captures beside the state (<state>.warc/)
        from monitor.evidence.views import ViewRenderer

        self.views = ViewRenderer(store, self.evidence)  # screenshots: queued with a capture, rendered after
        self.hosts = Hosts(store, lambda: self.settings, __version__)  # leases shared with other hosts
        self.fetcher.before_request = self.hosts.before_request
        if self.settings.keep_raw_html:
            log.info("settings: keep_raw_html is superseded: every matched page is kept whole in %s",
                     self.evidence.archive.directory)

    async def __aenter__(self) -> "Monitor":
        self.views.resume(self.settings)  # screenshots left by a run that ended first
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.views.finish()
        await self.fetcher.aclose()
        self.extractor.close()

    def reconfigure(self, feeds: FeedsFile, rules: RuleSet) -> None:
        """Take a reloaded config (the service's SIGHUP); the caller has validated it already."""
        self.feeds, self.settings = feeds, feeds.settings
        self.matcher = Matcher(rules)
        self.incidents = IncidentDesk(rules, self.store)
        self.extractor.set_prefilter(self.matcher.prefilter)
        self.fetcher.trust(_trusted(feeds))
        self.fetcher.set_feeds(feeds.feeds)
        self.evidence.archive.max_bytes = feeds.settings.warc_max_bytes

    @property
    def neardup(self):
        """The near-duplicate index (neardup.NearDupIndex), opened when a cycle first needs it."""
        if self._neardup is None:
            from monitor.stories.neardup import NearDupIndex

            self._neardup = NearDupIndex(self.store)
        return self._neardup

    @property
    def _languages(self) -> dict[str, str]:
        from monitor.config.recipients import primary

        return {f.name: primary(f.language or "") for f in self.feeds.feeds}

    @property
    def feed_names(self) -> set[str]:
        return {f.name for f in self.feeds.feeds}

    # --- polling --------------------------------------------------------------------------
    # A failure that is not a feed's (a full disk: every commit fails) ends the poll: the first error is raised
    # once, after the other tasks were cancelled and their errors collected, not left to asyncio's shutdown.

    async def poll_all(self) -> list[FeedResult]:
        """Poll every enabled feed concurrently; one feed's failure never stops the others."""
        await self.drain_spool()  # MONITOR_ARCHIVE_URL: captures waiting in the spool are uploaded and indexed first
        specs = [f for f in self.feeds.feeds if f.enabled]
        if specs:
            warm_imports()
            known = {state.name for state in self.store.all_feed_states()}
            if any(spec.name not in known for spec in specs):  # a feed never polled: its items are all new pages,
                self.extractor.warm_up()  # so the workers start while its feed is on the wire, not at its first page
        results = await gather_or_cancel(*(self.poll_feed(spec) for spec in specs))
        return [r for r in results if r is not None]  # None: polled by another host

    async def drain_spool(self) -> None:
        """The spool's captures uploaded and indexed, each with the screenshot it was captured with queued."""
        if (drained := await self.evidence.drain_async()) is not None and drained.indexed:
            self.views.resume(self.settings)

    async def poll_feed(self, spec: FeedSpec) -> FeedResult | None:
        """Poll one source under its lease (monitor/hosts.py); None when another host has it now."""
        with self.hosts.poll(spec) as lease:
            if lease is None:
                return None
            try:
                return await self._poll_feed(spec)
            except LeaseLost as exc:  # rolled back: this host writes nothing more of this poll
                log.warning("feed %r: %s; this host wrote nothing more of this poll", spec.name, exc)
                return None

    async def _poll_feed(self, spec: FeedSpec) -> FeedResult:
        started = time.monotonic()
        result = FeedResult(feed=spec.name, ok=False)
        self.store.ensure_feed(spec.name, spec.url)
        state = self.store.feed_state(spec.name)
        try:
            self.hosts.check_origin(spec.url)  # a Retry-After or back-off another host met holds here too
            entries, etag, modified, not_modified = await self._entries(spec, state)
            result.not_modified = not_modified
            result.entries = len(entries)
            outcomes = await self._process_new(spec, entries, result)
        except ConnectionLost as exc:  # a database server restarting mid-poll: what was not committed is new again
            result.error = f"the poll was given up: {exc}"
            log.warning("feed %r: %s", spec.name, result.error)
            return result
        except (FetchError, ParseError) as exc:
            result.error = str(exc)
            result.elapsed_ms = (time.monotonic() - started) * 1000
            self.store.record_poll_failure(spec.name, result.error, result.elapsed_ms)
            self.hosts.share_pause(spec.url, exc, self.fetcher)
            log.warning("feed %r failed: %s", spec.name, result.error)
            return result
        result.ok = True
        result.matches = sum(o.status == "matched" for o in outcomes)
        result.elapsed_ms = (time.monotonic() - started) * 1000
        failed = [o.error for o in outcomes if o.status == "failed"]
        if failed:  # keep no validators: a 304 next time would hide the entries whose pages must be tried again
            etag = modified = None
        self.store.record_poll_success(spec.name, etag=etag, last_modified=modified, fetch_ms=result.elapsed_ms,
                                       new_items=result.new_entries, matches=result.matches,
                                       not_modified=not_modified)
        log.log(logging.WARNING if failed and not result.matches else logging.DEBUG,
                "feed %r: %s", spec.name, result.summary(failed))
        return result

    async def _entries(self, spec: FeedSpec, state) -> tuple[list[FeedEntry], str | None, str | None, bool]:
        """Fetch and parse one source; (entries, etag, last_modified, not_modified)."""
        if spec.kind != "feed":
            from monitor.sources import crawl  # sites without feeds and sitemaps (issue 6)

            return await crawl.entries_for(spec, self.fetcher, self.store, since=self.since), None, None, False
        self.fetcher.robots.prefetch(spec.url, feed=spec.name)  # a new host: its articles will need it next
        response = self.prefetched.pop(spec.name, None)  # a quiet cycle's answer (monitor/quiet.py): not asked twice
        if isinstance(response, FetchError):
            raise response
        if response is None:
            response = await self.fetcher.get(spec.url, etag=state.etag if state else None,
                                              last_modified=state.last_modified if state else None, accept=ACCEPT_FEEDS)
        if response.not_modified:
            return [], None, None, True
        entries = parse_feed(spec.name, response.content, url=response.url, headers=dict(response.headers))
        return entries, response.headers.get("etag"), response.headers.get("last-modified"), False

    async def process_entries(self, spec: FeedSpec, entries: list[FeedEntry]) -> FeedResult:
        """Entries found outside a poll (a backfill's archive pages) through the same stages; errors in `notes`."""
        result = FeedResult(feed=spec.name, ok=True, entries=len(entries))
        outcomes = await self._process_new(spec, entries, result)
        result.matches = sum(o.status == "matched" for o in outcomes)
        result.notes = [o.error for o in outcomes if o.status == "failed"]
        return result

    async def _process_new(self, spec: FeedSpec, entries: list[FeedEntry], result: FeedResult) -> list[Outcome]:
        """Drop what was seen before (by URL key or GUID), then fetch, extract and match the rest."""
        fresh: dict[str, FeedEntry] = {}
        for entry in entries:
            if "\x00" in entry.url:  # no server can be asked for it, and no backend would keep it as it is
                log.warning("feed %r: an entry's link holds a NUL character and was skipped: %s", entry.feed,
                            entry.url)
                continue
            fresh.setdefault(url_key(entry.url), entry)
        known_urls, known_guids = self.store.known_items(fresh, (guid_key(e) for e in fresh.values()))
        new = [(key, e) for key, e in fresh.items()
               if key not in known_urls and guid_key(e) not in known_guids and key not in self._claimed]
        result.new_entries = len(new)
        # Feeds are polled concurrently: a link two feeds carry is fetched and recorded once, by the first
        # (otherwise both fetch it and the second lists the same URL as a further source of its own story).
        self._claimed.update(key for key, _ in new)
        try:
            # a feed's articles mostly share one host, which takes per_host requests at a time: holding more of
            # the shared article slots would only make other feeds' hosts wait behind this one
            feed_slots = asyncio.Semaphore(self.settings.per_host)
            likely: dict[str, bool] = {}
            for n, (key, entry) in enumerate(new, 1):
                likely[key] = self._likely(entry)  # ~0.35 ms each: a feed of thousands must not stall the others
                if n % 200 == 0:
                    await asyncio.sleep(0)
            new.sort(key=lambda item: not likely[item[0]])  # stable: the feed's order otherwise
            outcomes = await gather_or_cancel(*(self._process_entry(spec, key, entry, feed_slots, likely[key])
                                                for key, entry in new))
        finally:
            self._claimed.difference_update(key for key, _ in new)
        result.fetched_articles = sum(o.status != "old" for o in outcomes)
        return list(outcomes)

    def _likely(self, entry: FeedEntry) -> bool:
        """Whether the feed's own title and summary already fire a topic or name GBAO. Such a page takes its
        feed's first turns and is read before pages that are not: a page can be removed minutes after it
        appears, and its capture then waits for no unrelated page (a feed of 20 takes 10 turns of its host)."""
        if entry.text is not None or self._out_of_range(entry.published):
            return False  # a carried post fetches nothing, an entry out of the range is only recorded
        an = self.matcher.analyse(entry.title, entry.summary)
        return bool(an.mentions) or any(r.fired for r in an.reports)

    async def _process_entry(self, spec: FeedSpec, key: str, entry: FeedEntry,
                             feed_slots: asyncio.Semaphore, likely: bool = False) -> Outcome:
        if self._out_of_range(entry.published):
            self._record_old(entry, key, entry.published)
            return Outcome("old")
        response = None
        if entry.text is not None:  # the source carried the whole text (a Telegram post): nothing to fetch
            article, error = carried(entry, self.settings.keep_raw_html), ""
        else:
            response, error, article = await self._fetch_and_read(entry, feed_slots, likely)
        if self._out_of_range(article.published):
            self._record_old(entry, key, article.published)
            return Outcome("old")
        if article.published is None and self.since is not None:
            log.info("%s: %s has no date in its feed or page: kept in the backfill as undated", entry.feed,
                     entry.url)
        match = self.matcher.match(article.title, match_text(article), article.published or entry.published)
        if not match.matched:
            # an article we could not fetch is tried again later; its summary alone did not match
            status = "failed" if error else "unmatched"
            mention = match.mention if not error else None  # names GBAO but fired no topic: the safety net
            if status == "unmatched" and (self.settings.keep_unmatched_days or mention):
                self._keep_unmatched(entry, key, article, mention)
            else:
                self._record(entry, key, status, error or None)
            return Outcome(status, error)
        from monitor.evidence import requisites as page_requisites, screenshot

        view = screenshot.wanted(self.settings, response)  # queued with the capture, rendered in the background
        if view:
            self.views.prepare()  # the browser starts while the requisites are on the wire
        requisites = await page_requisites.for_article(self.fetcher, self.settings, entry, response)
        # the page as received goes to disk (fsynced; a bucket's PUT off the event loop) before its transaction
        post = {"post_url": entry.url} if entry.text is not None else None  # a post: its page holds many
        pending = await self.evidence.write_async(article.hops, text=article.text, title=article.title,
                                                  feed=entry.feed, extra=post, requisites=requisites)
        outcome = self._store_match(entry, key, article, match, pending, view)
        if view:
            self.views.kick()  # never on this story's way: the renderer works through the queue on its own
        return outcome

    async def _fetch_and_read(self, entry: FeedEntry, feed_slots: asyncio.Semaphore,
                              likely: bool = False) -> tuple[Response | None, str, Article]:
        """The page fetched in its feed's turn, then read (extracted) under the run's backpressure.

        The feed's turn (per_host pages at a time) is taken first and given back with the download; the run's
        article slot (fetch no faster than extraction keeps up) is held from the download to the end of the
        extraction. Taken the other way round, a feed's queued pages held article slots while waiting for
        their host: on the bench, 14 feeds' 70 pages took all 68 slots and the other 16 feeds waited 1.5 s."""
        async with contextlib.AsyncExitStack() as turn:
            await turn.enter_async_context(feed_slots)
            async with self._article_slots:
                try:
                    response, error = await self._get_page(entry)
                finally:
                    await turn.aclose()  # the host's turn ends with the download, not after the extraction
                return response, error, await self._read_page(entry, response, first=likely)

    async def _get_page(self, entry: FeedEntry) -> tuple[Response | None, str]:
        """The article's page, or None and one line saying why not."""
        self.extractor.warm_up()  # the workers start (off the event loop) while the first pages are on the wire
        try:
            return await self.fetcher.get(entry.url, feed=entry.feed), ""
        except FetchError as exc:
            log.debug("article %s: %s", entry.url, exc)
            return None, f"article {entry.url}: {exc}"

    async def _read_page(self, entry: FeedEntry, response: Response | None, *, first: bool = False) -> Article:
        """The page's main text as an Article; the feed's own summary stands in when there is none. `first`:
        ahead of the pages waiting for a worker (the feed said it is about GBAO)."""
        # the workers skip a page with no keyword anywhere (most pages of a feed are not about GBAO), except
        # where a backfill must read an undated entry's page for its date
        return await read_page(self.extractor, entry, response, always=self._needs_page_date(entry), first=first)

    def _store_match(self, entry: FeedEntry, key: str, article: Article, match: MatchResult,
                     pending=None, view: bool = False) -> Outcome:
        """Record the item and either a new story or a further source of a known one, atomically."""
        from monitor.stories.neardup import signature

        sig = signature(article.text)
        published = article.published or entry.published
        record = self.incidents.read(article.title, article.text, published, self._languages.get(entry.feed, ""))
        with self.store.transaction():
            same = self.neardup.find(sig)
            item_id = self.store.record_item(feed=entry.feed, guid=guid_key(entry), url=entry.url, url_key=key,
                                             status="matched" if same is None else "duplicate")
            if same is not None:
                source_id = self.store.add_story_source(same, item_id, entry.feed, article.final_url, article.title,
                                                        article=article)
                self.evidence.index(pending, story_id=same, source_id=source_id, reason="source", view=view)
                log.info("story %d also reported by %r", same, entry.feed)  # no title: logs name no topic
                return Outcome("duplicate")
            story_id = self.store.add_story(item_id, article, match, None, urgent=self._is_urgent(article, match))
            self.evidence.index(pending, story_id=story_id, view=view)
            self.neardup.add(story_id, sig)
            self.incidents.file(story_id, record, published, article.fetched_at)
        # Logs reach journald and log hosts: the story id is enough (`monitor show ID`); topics, titles and
        # terms would tell a reader of the logs what this monitor watches.
        log.info("new story %d from %r (score %.1f)", story_id, entry.feed, match.score)
        return Outcome("matched")

    def _is_urgent(self, article: Article, match: MatchResult) -> bool:
        """An urgent rule fires on explainers about 2022 too; only a fresh report is worth an alert on its own."""
        published = article.published or article.entry.published
        if not match.urgent or self.since is not None:  # a backfill is one digest, never a burst of alerts
            return False
        if published is None:  # an undated entry may be years old: it waits for the digest
            return False
        return (article.fetched_at - published).total_seconds() <= URGENT_MAX_AGE

    def _record(self, entry: FeedEntry, key: str, status: str, error: str | None = None) -> None:
        self.store.record_item(feed=entry.feed, guid=guid_key(entry), url=entry.url, url_key=key, status=status,
                               error=error)

    def _keep_unmatched(self, entry: FeedEntry, key: str, article: Article, mention: str | None = None) -> None:
        """Settle the item and keep its text, so `monitor rematch` can find it after a rule is fixed; one that
        names GBAO goes to the digest's "Other mentions" too."""
        with self.store.transaction():
            item_id = self.store.record_item(feed=entry.feed, guid=guid_key(entry), url=entry.url, url_key=key,
                                             status="unmatched")
            if self.settings.keep_unmatched_days:
                self.store.keep_text(item_id, article)
            if mention:
                self.store.add_mention(item_id, article, mention)

    def _needs_page_date(self, entry: FeedEntry) -> bool:
        """A backfill must read an undated entry's page for its date, keyword or not, to know where to stop."""
        return entry.published is None and (self.since is not None or self.until is not None)

    def _record_old(self, entry: FeedEntry, key: str, when: datetime | None) -> None:
        """Settle an item older than a backfill's --since; one newer than --until stays unseen, since a later
        poll or backfill must still be able to take it."""
        if not (self.until and when and when > self.until):
            self._record(entry, key, "old")

    def _out_of_range(self, when: datetime | None) -> bool:
        if when is None:
            return False
        return bool((self.since and when < self.since) or (self.until and when > self.until))


def _trusted(feeds: FeedsFile) -> set[str]:
    """The feeds' own host:port pairs: a feed on a local bridge (127.0.0.1:8080) must not open 127.0.0.1:6379."""
    from monitor.sources.netguard import trusted_hosts_from

    return trusted_hosts_from((f.url for f in feeds.feeds), with_port=True)


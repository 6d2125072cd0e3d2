"""Full-page screenshots off the poll's path: queued with the capture, rendered after by one browser.

Starting a headless Chromium costs a second of CPU and ~200 MB; doing that per capture, on the way from a
match to its story, doubled the first cycle. So a capture only queues its screenshot (a `views` row, in the
capture's own transaction: queued if and only if indexed), and `ViewRenderer` renders the queue in the
background with one browser (niced, one page at a time, a fresh browser context per page). The browser is
started as soon as a page matches (`prepare`: it starts while the page's requisites are on the wire), and stays
open IDLE_CLOSE seconds after the queue empties, or until the run ends: the matches of one cycle come seconds
apart, and a browser per match cost each its start. Each screenshot is rendered from the capture's WARC
records alone (screenshot.py's proxy), then appended as its own records (`resource` `urn:view:<url>` +
`metadata`, warc.build_view), fsynced, and indexed with a custody line (`rendered`) in one transaction. A run that ends, or a browser that fails, leaves
the rest queued: the next run renders it; a capture is given up after GIVE_UP_AFTER failed attempts.

Hosts sharing a state (issue 25) share the queue: each host reads only the views it can render (its own local
captures, or any in the bucket), claims one before rendering it (store/views.py), and marks it done only while
it still holds the claim, so two hosts never both render one screenshot. A claim left by a process that died
mid-render goes back to the queue: at once when that process ran on this machine, else after CLAIM_BOUND.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass

from monitor import clock
from monitor.evidence.objectstore import is_object_url
from monitor.evidence.warc import Written

log = logging.getLogger("monitor.evidence")

GIVE_UP_AFTER = 3  # failed attempts (over runs) before a capture stays without a screenshot
FINISH_WITHIN = 120.0  # s: at the end of a run, how long the queue may still take; the rest waits for the next
PAGE_TIMEOUT = 30.0  # s: one page's render, browser start included
CLAIM_BOUND = 600.0  # s: a claim this old is a host that died mid-render (a render takes PAGE_TIMEOUT at most)
IDLE_CLOSE = 10.0  # s: the browser stays open this long after the queue empties, for the cycle's next match


@dataclass(frozen=True)
class StoredHop:
    """One response as kept in the WARC: what screenshot._served needs to answer the browser with it."""

    url: str
    status: int
    headers: list
    body: bytes


def hops_from_records(data: bytes) -> tuple[list[StoredHop], str]:
    """The response records of one capture's bytes, in order, and the last one's WARC-Record-ID."""
    from monitor.evidence.warc import members, parse_record

    hops: list[StoredHop] = []
    last_id = ""
    for _start, end, raw, error in members(data):
        if error or end is None:
            continue
        record = parse_record(raw)
        if record.type != "response":
            continue
        head, _, body = record.block.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        headers = [(n.strip(), v.strip()) for n, _, v in (line.partition(":") for line in lines[1:]) if n.strip()]
        hops.append(StoredHop(record.uri, int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 200,
                              headers, body))
        last_id = record.headers.get("WARC-Record-ID", "")
    return hops, last_id


class ViewRenderer:
    """The screenshot queue of one run (or of the service): `kick()` after queueing, `finish()` at the end."""

    def __init__(self, store, evidence):
        from monitor.store.leases import holder_id, host_id

        self.store, self.evidence = store, evidence
        self.host, self.holder = host_id(), holder_id()
        self._task: asyncio.Task | None = None
        self._again = False
        self._stop = False
        self._tried: set[int] = set()  # a capture is tried once per run: a failing one waits for the next run
        self._browser = None
        self._opening = threading.Lock()  # the browser is started by prepare() or by the first render, once
        self._wake = asyncio.Event()  # a kick (or the run's end) during the idle wait
        self._ending = False
        self.rendered = 0

    def kick(self) -> None:
        """Render what is queued, in the background; a no-op while the queue is being worked through."""
        self._again = True
        self._wake.set()
        self._start()

    def prepare(self) -> None:
        """A page matched and its capture will be queued once its requisites are in: start the browser now,
        in a thread, so its start is not on the way to the screenshot. The idle timer closes it if no capture
        comes (the capture failed)."""
        if self._browser is None and not self._stop and not self._opening.locked():
            asyncio.get_running_loop().run_in_executor(None, self._open_quietly)
        self._start()

    def _start(self) -> None:
        if self._task is None or self._task.done():
            # a context of its own: the renderer outlives the poll that kicked it, and must not write under
            # that poll's feed lease (store/leases.py), which ends with the poll
            self._task = asyncio.get_running_loop().create_task(self._drain(), context=contextvars.Context())

    def resume(self, settings) -> None:
        """`kick()` when screenshots are on and some are queued that this host can render (left by a run that
        ended first, or queued with captures the spool's drain indexed)."""
        from monitor.evidence.screenshot import enabled

        if enabled(settings):
            self._release_stale()
            if self.store.has_pending_views(self.host):
                self.kick()

    def halt(self) -> None:
        """The service is stopping: the page being rendered ends, the rest waits for the next start."""
        self._stop = True
        self._wake.set()

    async def finish(self, within: float = FINISH_WITHIN) -> None:
        """Wait for the queue (at most `within` seconds, then after the page being rendered); close the browser."""
        self._ending = True  # no idle wait for further captures: none will come
        self._wake.set()
        task = self._task
        if task is not None and not task.done():
            done, _ = await asyncio.wait({task}, timeout=PAGE_TIMEOUT if self._stop else within)
            if not done:
                self._stop = True
                log.warning("screenshots: some are still queued at the end of the run; the next run renders them")
                await asyncio.wait({task}, timeout=PAGE_TIMEOUT)
        await asyncio.to_thread(self._close)

    async def _drain(self) -> None:
        try:
            while True:
                while not self._stop:
                    if self._again:
                        self._again = False
                        await self._work_through_queue()
                    elif self._ending or not await self._idle():
                        break  # the run ends, or nothing came for IDLE_CLOSE
                await asyncio.to_thread(self._close)
                # a kick() that came while the browser was closing found this task still running: take that
                # queue too, or its capture would wait for the next run. No await between this check and the
                # return, so no kick() can slip in unseen.
                if not self._again or self._stop:
                    return
        except Exception:  # the renderer must never cost a run its stories: they are all stored already
            log.exception("screenshots: the renderer failed; what is queued waits for the next run")
        finally:
            if self._browser is not None:  # failed or cancelled with a browser open
                await asyncio.to_thread(self._close)

    async def _idle(self) -> bool:
        """Keep the browser for the cycle's next capture: wait up to IDLE_CLOSE for a kick, the run's end or
        a halt (each sets _wake). False when nothing came."""
        self._wake.clear()
        if self._again or self._stop or self._ending:
            return True
        try:
            await asyncio.wait_for(self._wake.wait(), IDLE_CLOSE)
        except TimeoutError:
            return False
        return True

    async def _work_through_queue(self) -> None:
        self._release_stale()
        after = 0  # the queue read page by page: what this host skips never hides what comes after it
        while not self._stop:
            rows = self.store.pending_views(self.host, after)
            if not rows:
                return
            for row in rows:
                if self._stop:
                    return
                after = row["id"]
                if row["id"] in self._tried:
                    continue
                self._tried.add(row["id"])
                await self._one(row)

    def _release_stale(self) -> None:
        """Claims of processes that died mid-render back to the queue: those of this machine at once (a pid that
        is gone), others' after CLAIM_BOUND (their host may only be slow)."""
        from monitor.store.leases import holder_gone

        claims = self.store.view_claimants()
        if not claims:  # the usual case: a read, no write transaction
            return
        dead = [c for c in claims if c != self.holder and holder_gone(c)]
        if self.store.release_stale_views(CLAIM_BOUND, dead, give_up_after=GIVE_UP_AFTER):
            log.info("screenshots: claims left by a stopped process are back in the queue")

    async def _one(self, row) -> None:
        url = row["final_url"]
        if not is_object_url(row["warc_file"]) and not (self.evidence.archive.directory / row["warc_file"]).exists():
            return  # queued before hosts were named, by a host whose WARC folder this is not: that host renders it
        if not self.store.claim_view(row["id"], self.holder):
            return  # another host (or process) renders it, or has done it already
        try:
            await self._render_claimed(row, url)
        except BaseException:  # cancelled (or the state failed) mid-render: the claim goes back, untried
            try:
                self.store.unclaim_view(row["id"], self.holder)
            except sqlite3.Error as exc:  # the state is down: the claim goes back after CLAIM_BOUND
                log.warning("screenshots: capture %d stays claimed (%s)", row["id"], exc)
            raise

    async def _render_claimed(self, row, url: str) -> None:
        try:
            sha, taken_at, data = await asyncio.to_thread(self._render, row)
        except Exception as exc:  # the browser failed on this page (or exited): one line, and on to the next
            await asyncio.to_thread(self._close)  # a fresh browser for the next page
            gave_up = self.store.view_failed(row["id"], f"{type(exc).__name__}: {exc}", give_up_after=GIVE_UP_AFTER,
                                             holder=self.holder)
            log.warning("screenshot of %s (capture %d): %s; %s", url, row["id"], exc,
                        "the capture is kept without it" if gave_up else "tried again next run")
            return
        try:  # appended from the event loop's thread, like every capture: one writer per archive file
            written = await self._store_records(data)
        except OSError as exc:
            self.store.view_failed(row["id"], f"could not write: {exc}", give_up_after=GIVE_UP_AFTER,
                                   holder=self.holder)
            log.error("evidence archive %s: could not write the screenshot of capture %d (%s)",
                      self.evidence.archive.directory, row["id"], exc)
            return
        if not self.store.view_done(row["id"], written, sha, taken_at, self.holder):
            log.warning("screenshot of capture %d: its claim was taken back meanwhile (rendered for over %.0f s); "
                        "these records stay unindexed", row["id"], CLAIM_BOUND)
            return
        self.rendered += 1

    async def _store_records(self, data: bytes) -> Written:
        """The screenshot's records where its capture's go: appended to the local WARC file, or one object in
        the bucket (MONITOR_ARCHIVE_URL) named by the records' own digest. A bucket that refuses raises
        OSError: the screenshot is tried again next run."""
        objects = self.evidence.objects
        if objects is None:
            return self.evidence.archive.append(data)
        from monitor.evidence.objectstore import ObjectStoreError, in_bucket_thread, object_url, sha256_hex

        digest = sha256_hex(data)
        key = objects.objects.key_for(digest)
        try:
            await in_bucket_thread(objects.objects.put, key, data, digest)
        except ObjectStoreError as exc:
            raise OSError(f"the bucket refused it: {exc.strerror}") from exc
        return Written(object_url(objects.objects.bucket, key), 0, len(data))

    def _render(self, row) -> tuple[str, object, bytes]:
        """In a worker thread: the capture's records read back, rendered by the run's browser, and the
        screenshot's own records built (sha256 of the PNG, when it was taken, the records' bytes)."""
        from monitor.evidence.warc import build_view

        data = self.evidence.read(row)  # a local byte range, or the capture's object in the bucket
        hops, last_id = hops_from_records(data)
        if not hops:
            raise ValueError("no response among the capture's records")
        browser = self._open()
        taken_at = clock.now()
        url = row["final_url"]
        png = browser.render(hops, url, timeout=PAGE_TIMEOUT)
        sha = hashlib.sha256(png).hexdigest()
        shot = {"uri": f"urn:view:{url}", "taken_at": taken_at.isoformat(), "sha256": sha, "bytes": len(png)}
        page, captured = getattr(browser, "last_height", (0, 0))
        if page:  # the page's own height, and where the screenshot stops when it is cut (screenshot.MAX_HEIGHT)
            shot["page_height_px"] = page
            if captured < page:
                shot["cut_at_px"] = captured
        note = {"software": f"pamir-monitor/{_version()}", "reason": "screenshot", "capture_id": row["id"],
                "screenshot": shot, "rendered_from": "the capture's own records only (no network)"}
        return sha, taken_at, build_view(url, png, taken_at, note, last_id)

    def _open(self, in_advance: bool = False):
        """In a worker thread: the run's browser, started if it is not running (once, whoever asks first).
        None `in_advance` once the run is ending: a start queued by prepare() that ran after finish() closed
        the browser would leave one running."""
        from monitor.evidence import screenshot

        with self._opening:
            if in_advance and (self._ending or self._stop):
                return None
            if self._browser is None:
                binary = screenshot.browser()
                if binary is None:
                    raise RuntimeError("no Chromium found")
                started = time.monotonic()
                self._browser = screenshot.Browser(binary)
                log.debug("screenshots: browser started in %.2f s", time.monotonic() - started)
            return self._browser

    def _open_quietly(self) -> None:
        """prepare()'s start: a browser that fails to start is reported by the render that needs it."""
        try:
            self._open(in_advance=True)
        except Exception as exc:
            log.debug("screenshots: the browser did not start in advance: %s", exc)

    def _close(self) -> None:
        with self._opening:  # never while prepare() is still starting it: that browser would be left running
            browser, self._browser = self._browser, None
        if browser is not None:
            browser.close()


def _version() -> str:
    from monitor import __version__

    return __version__

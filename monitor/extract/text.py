"""Article page → main text, with trafilatura, in worker processes with a deadline.

trafilatura has no timeout of its own (a pathological page can take seconds), and it is CPU-bound; running
it in a process pool spreads the work over the cores, and a worker that overruns its deadline is killed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import heapq
import itertools
import logging
import multiprocessing
import os
import re
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

log = logging.getLogger("monitor.extract")


@dataclass(frozen=True)
class Extracted:
    title: str
    text: str
    published: datetime | None


class ExtractionTimeout(Exception):
    pass


def extract_text(html: str, url: str, with_metadata: bool = True) -> Extracted | None:
    """Run trafilatura on one page (in the calling process). None when it finds no main text.

    Metadata (title, date) costs about 40 % of the extraction time; skip it when the feed gave both.
    `fast` without `favor_precision` measured best for us on 181 real pages with reference text: word
    recall 0.987 (0.979 with trafilatura's fallback comparison and favor_precision) at 15.6 ms a page
    instead of 24.0 — a missed paragraph is a missed story, a little boilerplate only costs a score.
    """
    import trafilatura

    html, marks = _mark_joiners(html)
    doc = trafilatura.bare_extraction(
        html, url=url or None, with_metadata=with_metadata, include_comments=False, fast=True,
        include_tables=True,
    )
    if not doc:
        return None
    data: dict[str, Any] = doc if isinstance(doc, dict) else doc.as_dict()
    text = (data.get("text") or "").strip()
    if not text:
        return None
    title = (data.get("title") or "").strip()
    return Extracted(title=_unmark(title, marks), text=_unmark(text, marks), published=_date(data.get("date")))


# trafilatura drops every character that is not printable, and the zero-width joiners are not: Persian loses
# its half-spaces (ZWNJ: «می‌خواهند» becomes «میخواهند»). They go through it as printable stand-ins that the
# page does not contain, and come back after. Only matching folds them (monitor.relevance.morph.fold).
_JOINERS = ("\u200c", "\u200d")  # ZWNJ, ZWJ
_STAND_INS = "\u2e3e\u2e3f\u2e4e\u2e4f\u2e50\u2e51\u2e52\u2e53\u2e54\u2e55\u2e56"
_JOINER_ENTITY = re.compile(r"&(?:zwn?j|#8204|#8205|#x200[cd]);", re.IGNORECASE)


def _mark_joiners(html: str) -> tuple[str, dict[str, str]]:
    if "\u200c" not in html and "\u200d" not in html and "&" not in html:
        return html, {}
    html = _JOINER_ENTITY.sub(lambda m: "\u200d" if m.group().lower() in ("&zwj;", "&#8205;", "&#x200d;")
                              else "\u200c", html)
    present = [j for j in _JOINERS if j in html]
    if not present:
        return html, {}
    free = [c for c in _STAND_INS if c not in html]
    marks = {j: free.pop(0) for j in present if free}
    for joiner, mark in marks.items():
        html = html.replace(joiner, mark)
    return html, marks


def _unmark(text: str, marks: dict[str, str]) -> str:
    for joiner, mark in marks.items():
        text = text.replace(mark, joiner)
    return text


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=timezone.utc)
    except ValueError:
        return None


_PREFILTER: Any = None  # set in each worker by _worker_init


def _extract_in_worker(html: str, url: str, with_metadata: bool, hint: str | None) -> tuple[bool, Extracted | None]:
    """(skipped, extracted): a page on which no topic can fire is not worth trafilatura's time."""
    if hint is not None and _PREFILTER is not None and not _PREFILTER.hit(f"{hint}\n{html}"):
        return True, None
    return False, extract_text(html, url, with_metadata)


def _orphan_quietly(kind: type[BaseException], exc: BaseException, tb: Any) -> None:
    """The fork server's hook: a worker whose parent was killed while handing it its start-up data (a SIGKILL
    mid-start) finds that data cut short; it ends without a traceback in the user's log. Anything else prints."""
    import pickle

    if issubclass(kind, (EOFError, pickle.UnpicklingError, ConnectionError)):
        return
    sys.__excepthook__(kind, exc, tb)


if sys.argv[:1] == ["-c"] and "multiprocessing.forkserver" in sys.modules:  # preloaded into the fork server
    sys.excepthook = _orphan_quietly


def _worker_init(parent: int, prefilter: Any) -> None:
    global _PREFILTER
    _PREFILTER = prefilter
    _ignore_ctrl_c()
    _exit_with_parent(parent)


def _ignore_ctrl_c() -> None:
    """A terminal's Ctrl-C reaches the whole process group: the parent decides what it means (a grace for the
    message in flight, then it ends the workers), so a worker neither dies of it nor prints a traceback."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _exit_with_parent(parent: int) -> None:
    """A monitor killed hard (SIGKILL, a crash) must not leave its workers behind."""
    import threading

    def watch() -> None:
        while True:
            try:
                os.kill(parent, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:  # alive, under another user: cannot happen for our own parent, but harmless
                pass
            time.sleep(2)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _stop_forkserver() -> None:
    """End multiprocessing's fork server now (it would otherwise wait for its parent's exit).

    Every worker holds the fork server's "alive" pipe, and the fork server ends only when all of them have
    closed it; so its remaining children (idle workers: close() runs when nothing is in flight) are ended
    first, and the fork server is stopped only when none is left — never a wait that can hang a run.
    """
    import signal
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    pid = getattr(server, "_forkserver_pid", None)
    stop = getattr(server, "_stop", None)
    if not pid or stop is None:
        return
    for child in _children(pid):
        try:
            os.kill(child, signal.SIGKILL)
        except OSError:
            pass
    deadline = time.monotonic() + 5
    while _children(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    if _children(pid):
        return  # cannot tell why: leave it to end with this process rather than wait on it
    try:
        stop()
    except OSError:  # already gone
        pass


def _children(pid: int) -> list[int]:
    """Live child processes of `pid` (Linux /proc; none elsewhere, which skips the early stop)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as f:
            return [int(c) for c in f.read().split()]
    except (OSError, ValueError):
        return []


class _Turns:
    """`size` pages at a time, like a semaphore, except that a page waiting `first` goes before every page
    waiting that is not (first come, first served within each)."""

    def __init__(self, size: int):
        self._free = size
        self._waiting: list[tuple[bool, int, asyncio.Future]] = []  # a heap: (not first, arrival, its turn)
        self._arrivals = itertools.count()

    @contextlib.asynccontextmanager
    async def take(self, first: bool = False):
        if self._free > 0 and not self._waiting:
            self._free -= 1
        else:
            turn = asyncio.get_running_loop().create_future()
            heapq.heappush(self._waiting, (not first, next(self._arrivals), turn))
            try:
                await turn
            except asyncio.CancelledError:
                if turn.done() and not turn.cancelled():  # given the turn as it was cancelled: pass it on
                    self._give_back()
                else:
                    turn.cancel()  # left in the heap; _give_back skips it
                raise
        try:
            yield
        finally:
            self._give_back()

    def _give_back(self) -> None:
        while self._waiting:
            turn = heapq.heappop(self._waiting)[2]
            if not turn.done():
                turn.set_result(None)
                return
        self._free += 1


class ExtractorPool:
    """A lazily started process pool; `await pool.extract(html, url)` with a per-page deadline."""

    def __init__(self, workers: int | None = None, timeout: float = 20.0, prefilter: Any = None):
        self.workers = workers or max(1, min(4, os.cpu_count() or 1))
        self.timeout = timeout
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._turns: _Turns | None = None  # one page per worker, so a deadline measures work only
        self.prefilter = prefilter  # a match.Prefilter the workers apply before extracting (None: extract all)
        self.pages = 0  # how many pages were extracted: a second cycle with nothing new must stay at 0
        self.skipped = 0  # pages the prefilter found no keyword on
        self._warming: threading.Thread | None = None  # the thread starting the pool (warm_up)

    def _executor(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is None:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(["trafilatura", "monitor.extract.text"])
            self._pool = concurrent.futures.ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx,
                                                                initializer=_worker_init,
                                                                initargs=(os.getpid(), self.prefilter))
        return self._pool

    def warm_up(self) -> None:
        """Start the workers now, in a thread, so the first page finds them ready.

        Starting the fork server and its workers blocks for as long as importing trafilatura takes (~0.5 s);
        done on the event loop at the first page, it would stall every fetch in flight. A cycle with nothing
        new never calls this, so it never starts a process.
        """
        if self._pool is None and self._warming is None:
            self._warming = threading.Thread(target=self._start_workers, name="extract-warm-up", daemon=True)
            self._warming.start()

    def _start_workers(self) -> None:
        try:
            pool = self._executor()
            for future in [pool.submit(os.getpid) for _ in range(self.workers)]:  # a task per worker spawns each
                future.result()
        except Exception as exc:  # a pool that cannot start is reported by the first page's own attempt
            log.debug("extraction workers did not start in advance: %s", exc)

    def set_prefilter(self, prefilter: Any) -> None:
        """New rules (a reload): workers started later get the new prefilter; running ones finish their page."""
        self.prefilter = prefilter
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    async def extract(self, html: str, url: str, *, with_metadata: bool = True,
                      hint: str | None = "", first: bool = False) -> Extracted | None:
        """The page's main text; None when there is none, or when the prefilter (which also reads `hint`,
        the feed's title and summary) finds no keyword on the page. hint=None: always extract. `first`: ahead
        of every waiting page that is not."""
        if self._turns is None:
            self._turns = _Turns(self.workers)
        async with self._turns.take(first):
            return await self._run(html, url, with_metadata, hint)

    async def _run(self, html: str, url: str, with_metadata: bool, hint: str | None) -> Extracted | None:
        loop = asyncio.get_running_loop()
        if self._warming is not None and self._warming.is_alive():
            await loop.run_in_executor(None, self._warming.join)
        for attempt in (1, 2):
            pool = self._executor()
            future = loop.run_in_executor(pool, _extract_in_worker, html, url, with_metadata, hint)
            try:
                skipped, result = await asyncio.wait_for(future, self.timeout)
                if skipped:
                    self.skipped += 1
                else:
                    self.pages += 1
                return result
            except asyncio.TimeoutError:
                self._kill(pool)
                raise ExtractionTimeout(f"text extraction took longer than {self.timeout:.0f}s") from None
            except concurrent.futures.process.BrokenProcessPool:
                # another page's timeout killed the pool under us: try once more on a fresh one
                if self._pool is pool:
                    self._pool = None
                if attempt == 2:
                    raise
        return None

    def _kill(self, pool: concurrent.futures.ProcessPoolExecutor) -> None:
        """The only way to stop a runaway trafilatura call is to end its process."""
        if self._pool is pool:
            self._pool = None
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            proc.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """End the workers and the fork server without waiting for them to wind down.

        At close nothing is in flight (every page's future was awaited), so there is nothing to lose; joining
        idle workers and letting the fork server notice the end of its parent cost ~0.3 s of every run.
        """
        if self._warming is not None:  # a pool still starting would escape the kill below (and its workers
            self._warming.join(timeout=60)  # hold the fork server's alive pipe: stopping it would wait forever)
            self._warming = None
        pool, self._pool = self._pool, None
        if pool is not None:
            processes = list((getattr(pool, "_processes", None) or {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for proc in processes:
                if proc.is_alive():
                    proc.kill()
            for proc in processes:
                proc.join(timeout=1)
        _stop_forkserver()

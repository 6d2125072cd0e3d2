"""Several hosts, one monitor (issue 25): this host's name, its heartbeat, and the leases it acts under.

Every host runs the same jobs; the leases (store/leases.py) decide which host does each piece of work:

- a feed's poll: `feed:<name>` with `origin:<scheme://host:port>` of its URL (one host at a time per origin),
  both fencing every write of the poll. After the poll the feed's lease is kept until the feed is due again, so
  the other host's job for the same feed finds it taken and skips (`run --once` gives it back at once: its timer
  decides when a feed is due); a dead host's feeds are free again at most `lease_ttl` after its last renewal.
- singleton work (digest, health notice, weekly report, page re-checks, retention): `coordinator`, renewed by
  each heartbeat; it moves when its holder stops renewing.
- delivery: `channel:<name>` (delivery/outbox.py).

On SQLite there is one host; the same tables and the same code path run, at the cost of a few tiny transactions.
Politeness is shared too: a Retry-After or a back-off one host meets is kept in `origin_pauses`, and the other
hosts — and the later runs of this one — leave that origin alone until it ends (the process that met it keeps
it in its own Fetcher, as before).

May import: `config`, `store`, `sources`.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from monitor.config.feeds import FeedSpec, Settings
from monitor.store import Store
from monitor.sources.exchange import FetchError
from monitor.sources.politeness import origin_of
from monitor.store.leases import Lease, current_fences, fenced, holder_id, host_id, keep_alive, machine_id

log = logging.getLogger("monitor.hosts")

COORDINATOR = "coordinator"


def hold_after_poll(interval: float) -> float:
    """How long a polled feed stays with its host: until shortly before it is due again."""
    return max(0.0, interval - min(30.0, interval * 0.1))


class Hosts:
    """This host among the hosts sharing the state; `settings` is read at each use (a SIGHUP may change it)."""

    def __init__(self, store: Store, settings: Callable[[], Settings], version: str = ""):
        self.store = store
        self.settings = settings
        self.id = host_id()
        self.holder = holder_id()
        self.keep_polled = False  # the service keeps a polled feed until it is due again; `run --once` does not
        self.skipped = 0  # polls left to another host (`run --once`: not counted as failures)
        self.version = version
        self.coordinator: Lease | None = None
        self._origins: dict[str, list] = {}  # origin -> [lease, polls of it in flight on this host]
        self._polling: set[Lease] = set()  # the feed leases of the polls in flight

    @property
    def ttl(self) -> float:
        return self.settings().lease_ttl

    def beat(self, *, started: bool = False) -> None:
        """The heartbeat (each service tick, each `run --once`); a database hiccup is logged, never fatal."""
        try:
            self.store.heartbeat(self.id, self.version, started=started, machine=machine_id())
        except sqlite3.Error as exc:
            log.warning("host %s: heartbeat not recorded: %s", self.id, exc)

    def coordinate(self) -> Lease | None:
        """Claim or renew the coordinator lease; the lease when this host is the coordinator, else None."""
        try:
            lease = self.store.claim([COORDINATOR], self.holder, self.ttl).get(COORDINATOR)
        except sqlite3.Error as exc:
            log.warning("host %s: coordinator lease not renewed: %s", self.id, exc)
            lease = None
        if lease is not None and (self.coordinator is None or self.coordinator.token != lease.token):
            log.info("host %s is the coordinator (token %d): digests, notices, reports and re-checks run here",
                     self.id, lease.token)
        elif lease is None and self.coordinator is not None:
            log.warning("host %s is no longer the coordinator: another host took over", self.id)
        self.coordinator = lease
        return lease

    @contextmanager
    def coordinating(self) -> Iterator[bool]:
        """Whether this host does the singleton work now; inside, that work's writes are fenced by the lease."""
        lease = self.coordinate()
        if lease is None:
            yield False
            return
        with fenced(lease):
            yield True

    def step_down(self) -> None:
        """The end of a run hands the coordinator lease back, so another host (or the next run) takes it at once."""
        if self.coordinator is not None:
            self._give_back(self.coordinator, 0.0)
            self.coordinator = None

    @contextmanager
    def poll(self, spec: FeedSpec) -> Iterator[Lease | None]:
        """The lease to poll a feed under (its writes fenced by it and by its origin's), or None: another host
        polls this feed or this origin now, or polled the feed within its interval."""
        origin = "origin:" + origin_of(spec.url)
        names = [f"feed:{spec.name}"] + ([] if origin in self._origins else [origin])
        got = self.store.claim(names, self.holder, self.ttl)
        feed = got.get(names[0])
        if origin in got:
            self._origins[origin] = [got[origin], 0]
        if feed is None or origin not in self._origins:
            self._give_back(feed, 0.0)
            self._give_back(got.get(origin), 0.0, origin if origin in got else None)
            log.debug("feed %r: another host has it or its origin now; skipped here", spec.name)
            self.skipped += 1
            yield None
            return
        held = self._origins[origin]
        held[1] += 1
        keep = asyncio.ensure_future(keep_alive(self.store, (feed, held[0]), self.ttl))
        self._polling.add(feed)
        try:
            with fenced(feed, held[0]):
                yield feed
        finally:
            self._polling.discard(feed)
            keep.cancel()
            held[1] -= 1
            if held[1] == 0:
                self._give_back(self._origins.pop(origin)[0], 0.0)
            self._give_back(feed, hold_after_poll(spec.interval) if self.keep_polled else 0.0)

    def before_request(self) -> None:
        """Called by the Fetcher right before each request: a poll whose lease ended (this host was frozen past
        it, and another host polls the feed now) sends nothing more. Its writes would be fenced anyway."""
        polls = [lease for lease in current_fences() if lease in self._polling]  # a task may outlive its poll
        if polls and not self.store.fences_live(polls):
            raise FetchError("this host's lease ended while it waited: another host has this poll now")

    def check_origin(self, url: str) -> None:
        """Raise FetchError, as the local gate would, while another host — or an earlier run of this one (a
        `run --once` timer forgets its gate at exit) — was asked to leave this origin alone."""
        try:
            pause = self.store.origin_pause(origin_of(url), self.holder)
        except sqlite3.Error:
            return
        if pause is not None:
            raise FetchError(f"host asked us to wait ({pause[1]}, met by another host or an earlier run), "
                             f"{pause[0]:.0f}s left", retry_after=pause[0], host_down=True)

    def share_pause(self, url: str, exc: Exception, fetcher) -> None:
        """After a failed poll: the origin's Retry-After or back-off, kept for every host."""
        if not isinstance(exc, FetchError) or (exc.host_down and exc.retry_after is not None):
            return  # nothing new (a pause we only obeyed)
        left = fetcher.pause_left(urlsplit(url).hostname or "")
        if left > 0:
            reason = "Retry-After" if exc.retry_after is not None else "back-off after repeated failures"
            try:
                self.store.pause_origin(origin_of(url), left, reason, self.holder)  # this process's gate has it
            except sqlite3.Error as err:
                log.warning("%s: pause not shared with the other hosts: %s", origin_of(url), err)

    def _give_back(self, lease: Lease | None, seconds: float, forget: str | None = None) -> None:
        if forget:
            self._origins.pop(forget, None)
        if lease is None:
            return
        try:
            self.store.hold(lease, seconds)
        except sqlite3.Error as exc:  # it expires on its own at most lease_ttl later
            log.warning("lease %s not handed back: %s", lease.name, exc)

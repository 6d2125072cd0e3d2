"""Per-host politeness: how many requests at once, how far apart, Retry-After, and back-off from a failing host."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from monitor.sources.exchange import FAILS_BEFORE_BACKOFF, MAX_BACKOFF_ROUND, WAIT_RETRY_AFTER, FetchError, _clock

log = logging.getLogger("monitor.fetch")


def origin_of(url: str) -> str:
    """scheme://host:port of a URL: the unit of politeness the hosts share (`origin_pauses`, `origin:` leases)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


@dataclass
class _HostGate:
    """Per-host politeness: how many requests at once, how far apart, a pause after Retry-After, and an
    exponential back-off when the host keeps failing (so a dead site is reported, not hammered)."""

    host: str
    slots: asyncio.Semaphore
    delay: float
    next_start: float = 0.0
    paused_until: float = 0.0
    failures: int = 0  # consecutive
    backoff_round: int = 0
    backoff_until: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    requisite_slots: asyncio.Semaphore | None = None  # a matched page's images and styles: as wide as a browser's

    async def wait_turn(self) -> None:
        """Sleep until this host may be asked again; raise if it is backed off or paused for long."""
        while True:
            async with self.lock:
                now = time.monotonic()
                if self.backoff_until > now:
                    raise FetchError(f"host {self.host} failing repeatedly; backing off until "
                                     f"{_clock(self.backoff_until - now)}", host_down=True)
                if self.paused_until - now > WAIT_RETRY_AFTER:
                    raise FetchError(f"host asked us to wait (Retry-After), {self.paused_until - now:.0f}s left",
                                     retry_after=self.paused_until - now, host_down=True)
                if self.paused_until <= now:
                    start = max(now, self.next_start)
                    self.next_start = start + self.delay
                    break
                wait = self.paused_until - now  # a short Retry-After pause: wait it out, then queue again
            await asyncio.sleep(wait)
        if start > now:
            await asyncio.sleep(start - now)

    def succeeded(self) -> None:
        self.failures = self.backoff_round = 0

    def failed(self, reason: str) -> None:
        """Count a network error, timeout or 5xx; after FAILS_BEFORE_BACKOFF in a row, back off 2^k minutes."""
        self.failures += 1
        if self.failures < FAILS_BEFORE_BACKOFF or self.backoff_until > time.monotonic():
            return
        self.backoff_round = min(self.backoff_round + 1, MAX_BACKOFF_ROUND)
        seconds = 60.0 * 2 ** self.backoff_round
        self.backoff_until = time.monotonic() + seconds
        log.warning("host %s failed %d times in a row (last: %s); backing off until %s", self.host,
                    self.failures, reason, _clock(seconds))

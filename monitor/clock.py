"""The one wall clock of the monitor: every "now" (digest timing, ages, capture times, the state's timestamps)
is read here, so that a test, or a user reproducing what a past run did, can set the moment in one place.

`MONITOR_NOW` (an ISO 8601 moment, e.g. `2026-12-07T00:30:00Z`) moves the clock to that moment when the process
starts; from there time runs on at its normal pace. `MOMENT@SECONDS` says the clock read MOMENT at the real
time SECONDS (since the epoch): every process given the same value shares one clock, which is how the test
suite runs several processes at one fixed moment. Nothing else changes: deadlines, spacing
and timeouts use `time.monotonic()`, and TLS still checks certificates against the real time. A moved clock
is logged once, since everything the run records is stamped with it.
"""

from __future__ import annotations

import os
import time as _time
from datetime import datetime, timedelta, timezone

ENV = "MONITOR_NOW"

_offset = 0.0  # seconds added to the real time


def time() -> float:
    """Seconds since the epoch, as `time.time()`."""
    return _time.time() + _offset


def now() -> datetime:
    """The current moment in UTC (an aware datetime)."""
    return datetime.fromtimestamp(time(), timezone.utc)


def to_real(moment: datetime) -> datetime:
    """The real time at which this clock reads `moment`: for timers that run on the real clock (APScheduler)."""
    return moment - timedelta(seconds=_offset)


def from_real(moment: datetime) -> datetime:
    """What this clock reads at the real time `moment`."""
    return moment + timedelta(seconds=_offset)


def moved() -> bool:
    """True when the clock does not read the real time."""
    return _offset != 0.0


def parse(text: str) -> datetime:
    """An ISO 8601 moment; one without an offset is UTC. ValueError names what was wrong."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{ENV}={text!r}: expected an ISO 8601 moment such as 2026-12-07T00:30:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def set_now(moment: datetime | None, at: float | None = None) -> None:
    """Move the clock so that it reads `moment` now, or at the real time `at` (None: back to the real time)."""
    global _offset
    _offset = 0.0 if moment is None else moment.timestamp() - (_time.time() if at is None else at)


def setting(moment: datetime, at: float) -> str:
    """The `MONITOR_NOW` value for a clock that read `moment` at the real time `at`."""
    return f"{moment.isoformat()}@{at!r}"


def _from_environment() -> None:
    text = os.environ.get(ENV, "").strip()
    if text:
        try:
            moment, _, at = text.partition("@")
            set_now(parse(moment), float(at) if at else None)
        except ValueError as exc:  # reported by the CLI's check; the clock stays real
            import logging

            logging.getLogger("monitor").error("%s; the real time is used", exc)


_from_environment()

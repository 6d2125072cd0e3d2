"""The one wall clock of the monitor: every "now" (digest timing, ages, capture times, the state's timestamps)
is read here, so that a test, or a user reproducing what a past run did, can set the moment in one place.

`MONITOR_NOW` (an ISO 8601 moment with its offset, e.g. `2026-12-07T00:30:00Z`) moves the clock to that moment
when the process starts; from there time runs on at its normal pace. Nothing else changes: deadlines, spacing
and timeouts use `time.monotonic()`, and TLS still checks certificates against the real time. A moved clock
is logged once, since everything the run records is stamped with it.
"""

from __future__ import annotations

import os
import time as _time
from datetime import datetime, timezone

ENV = "MONITOR_NOW"

_offset = 0.0  # seconds added to the real time


def time() -> float:
    """Seconds since the epoch, as `time.time()`."""
    return _time.time() + _offset


def now() -> datetime:
    """The current moment in UTC (an aware datetime)."""
    return datetime.fromtimestamp(time(), timezone.utc)


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


def set_now(moment: datetime | None) -> None:
    """Move the clock so that it reads `moment` now (None: back to the real time)."""
    global _offset
    _offset = 0.0 if moment is None else moment.timestamp() - _time.time()


def _from_environment() -> None:
    text = os.environ.get(ENV, "").strip()
    if text:
        try:
            set_now(parse(text))
        except ValueError as exc:  # reported by the CLI's check; the clock stays real
            import logging

            logging.getLogger("monitor").error("%s; the real time is used", exc)


_from_environment()

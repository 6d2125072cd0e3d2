"""One clock for the whole suite: no test reads the machine's date, time of day or time zone.

The session starts at DEFAULT (conftest.py pins it on import), in UTC, whatever the machine says. Every
process of a test (the CLI, the service, a crash victim) shares that clock through `MONITOR_NOW`
(monitor/clock.py), so they all agree on "now". A test whose outcome depends on the day is run at each of
MOMENTS with the `moment` fixture.
"""

from __future__ import annotations

import os
import sqlite3
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from monitor import clock

UTC = timezone.utc
DEFAULT = datetime(2026, 12, 9, 10, 0, tzinfo=UTC)  # a Wednesday morning, mid-week and mid-month

MOMENTS = {
    "monday-0030-nothing-this-week": datetime(2026, 12, 7, 0, 30, tzinfo=UTC),
    "sunday-night": datetime(2026, 12, 13, 23, 50, tzinfo=UTC),
    "new-years-eve": datetime(2026, 12, 31, 23, 45, tzinfo=UTC),
    "berlin-dst-change": datetime(2027, 3, 28, 0, 45, tzinfo=UTC),  # clocks jump from 02:00 to 03:00 at 01:00 UTC
    "last-day-of-azar-1405": datetime(2026, 12, 21, 20, 0, tzinfo=UTC),  # 30 Azar, 23:30 in Tehran
}


def pin(moment: datetime) -> None:
    """Set the clock of this process and of every process started from now on to read `moment` now."""
    at = time.time()
    clock.set_now(moment, at)
    os.environ[clock.ENV] = clock.setting(moment, at)
    os.environ["TZ"] = "UTC"
    time.tzset()


def restore(setting: str) -> None:
    """Go back to a clock saved as its `MONITOR_NOW` value."""
    moment, _, at = setting.partition("@")
    clock.set_now(clock.parse(moment), float(at))
    os.environ[clock.ENV] = setting


SCREENSHOTS = "MONITOR_SCREENSHOTS"  # the suite renders screenshots only where a test asks (conftest.py)


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child process: no delivery setting from the developer's shell, the suite's clock."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_") or k in (clock.ENV, SCREENSHOTS)}
    env.update(extra or {})
    return env


def age(state: Path, days: float) -> None:
    """`days` pass for what a SQLite state holds: its stories were fetched, and its last digest went, `days`
    ago. A run a second after the last digest would otherwise find no digest due (`digest_interval: 1s`
    counts from the last digest), however old the stories."""
    then = (clock.now() - timedelta(days=days)).isoformat()
    db = sqlite3.connect(state)
    try:
        db.execute("UPDATE stories SET fetched_at = ?", (then,))
        db.execute("UPDATE digests SET created_at = ?", (then,))
        db.commit()
    finally:
        db.close()


def ahead(seconds: float) -> dict[str, str]:
    """The environment for a child process whose clock reads `seconds` later than the suite's: "the next
    timer run", without touching the state (any backend) or this process's clock."""
    return {clock.ENV: clock.setting(clock.now() + timedelta(seconds=seconds), time.time())}

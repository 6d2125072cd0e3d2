"""`weekly_report: "mon 08:00"`: parse it, and find the last time it came round.

Pure stdlib (config.py validates with it, so it must not pull in the web stack). Times are UTC unless an
IANA zone follows ("mon 08:00 Asia/Dushanbe"), like every time the monitor shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPEC = re.compile(r"^\s*([a-z]{3})[a-z]*\s+(\d{1,2}):(\d{2})(?:\s+(\S+))?\s*$", re.IGNORECASE)
GRACE = timedelta(hours=24)  # a report missed (machine off) is still sent within this long after its time


@dataclass(frozen=True)
class Weekly:
    weekday: int  # 0 = Monday
    hour: int
    minute: int
    zone: str = "UTC"

    @property
    def tz(self) -> tzinfo:
        if self.zone == "UTC":
            return timezone.utc
        from zoneinfo import ZoneInfo

        return ZoneInfo(self.zone)

    def __str__(self) -> str:
        return f"{DAYS[self.weekday]} {self.hour:02d}:{self.minute:02d} {self.zone}"


def parse_weekly(text: str) -> Weekly:
    """'mon 08:00' → Weekly(0, 8, 0); raises ValueError with a message a user can act on."""
    m = _SPEC.match(str(text))
    if not m or m.group(1).lower() not in DAYS:
        raise ValueError(f"weekly_report must look like \"mon 08:00\" (a weekday and a UTC time), not {text!r}")
    hour, minute = int(m.group(2)), int(m.group(3))
    if hour > 23 or minute > 59:
        raise ValueError(f"weekly_report: {m.group(2)}:{m.group(3)} is not a time of day")
    zone = m.group(4) or "UTC"
    if zone.upper() == "UTC":
        zone = "UTC"
    else:
        try:
            from zoneinfo import ZoneInfo

            ZoneInfo(zone)
        except Exception:
            raise ValueError(f"weekly_report: unknown time zone {zone!r} "
                             "(use an IANA name like Asia/Dushanbe)") from None
    return Weekly(DAYS.index(m.group(1).lower()), hour, minute, zone)


def last_slot(spec: Weekly, now: datetime) -> datetime:
    """The latest scheduled time at or before `now` (UTC)."""
    local = now.astimezone(spec.tz)
    slot = local.replace(hour=spec.hour, minute=spec.minute, second=0, microsecond=0)
    slot -= timedelta(days=(local.weekday() - spec.weekday) % 7)
    if slot > local:
        slot -= timedelta(days=7)
    return slot.astimezone(timezone.utc)

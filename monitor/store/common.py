"""What the state's modules share: timestamps, row types, and one explanation per kind of database error."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from monitor import clock


class StateError(Exception):
    """The state file cannot be used; the message says why and what to do."""


class ConnectionLost(sqlite3.OperationalError):
    """PostgreSQL: the connection died under a transaction (a server restart); the transaction is gone whole,
    and the next unit of work connects again (`pg.py`). A step that meets it is given up for this cycle."""


def utcnow() -> datetime:
    return clock.now()


def _ts(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat(timespec="seconds") if value else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class FeedState:
    name: str
    etag: str | None
    last_modified: str | None
    last_success: datetime | None
    last_error: str | None
    error_since: datetime | None
    failures: int
    polls: int
    avg_fetch_ms: float
    items_seen: int
    matches: int


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    digest_id: int
    channel: str
    seq: int
    payload: str
    attempts: int


def _feed_state(row: sqlite3.Row) -> FeedState:
    polls = row["polls"] or 0
    return FeedState(
        name=row["name"], etag=row["etag"], last_modified=row["last_modified"],
        last_success=_dt(row["last_success"]), last_error=row["last_error"], error_since=_dt(row["error_since"]),
        failures=row["failures"], polls=polls, avg_fetch_ms=(row["fetch_ms_total"] / polls) if polls else 0.0,
        items_seen=row["items_seen"], matches=row["matches"],
    )


MAX_ID = 2**63 - 1  # SQLite's and PostgreSQL's largest integer: a larger id typed anywhere is a typo, never a traceback

# The years a date given by a user (--since/--until, the web's since/until) may name. 1970 is where `export`
# starts "everything" (its default), and nothing a news monitor fetches is older; 9000 is a thousand years from
# datetime's end (9999), so the days a command adds or subtracts (an inclusive until's day, a report's week and
# the weeks before it) stay in range. A year outside is a typo, said as such.
FIRST_YEAR, LAST_YEAR = 1970, 9000

MAX_URL_KEY_BYTES = 2000  # a b-tree entry must fit a third of a page: PostgreSQL refuses keys over ~2,700 bytes


def stored_url_key(key: str) -> str:
    """The URL key as the items table keeps it: an over-long one (a hostile feed, a tracking monster) as its
    SHA-256, the same on both backends, so dedup still works and no index entry is too large."""
    if len(key.encode("utf-8", "surrogatepass")) <= MAX_URL_KEY_BYTES:
        return key
    import hashlib

    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def without_nul(params: Any) -> Any:
    """Statement parameters with every NUL in a text as U+FFFD, on both backends: PostgreSQL stores no NUL in
    text, and a hostile page's NUL must neither fail a run there nor be kept on SQLite only (an archive moved
    between the two must compare equal, a lookup must find what was stored). Bytes are left alone."""
    if isinstance(params, dict):
        if any(isinstance(v, str) and "\x00" in v for v in params.values()):
            return {k: v.replace("\x00", "\ufffd") if isinstance(v, str) else v for k, v in params.items()}
        return params
    if any(isinstance(v, str) and "\x00" in v for v in params):
        return [v.replace("\x00", "\ufffd") if isinstance(v, str) else v for v in params]
    return params


class NulSafeConnection(sqlite3.Connection):
    """The SQLite connection of a writable state: parameters pass through `without_nul`, as on PostgreSQL."""

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:  # type: ignore[override]
        return super().execute(sql, without_nul(parameters))

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:  # type: ignore[override]
        return super().executemany(sql, (without_nul(p) for p in parameters))


def is_database_url(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


def redact_url(url: str) -> str:
    """The URL with its password (and any password= parameter) replaced by ***: for status and messages."""
    import re

    url = re.sub(r"^([a-z]+://[^:/@]*):[^@]*@", r"\1:***@", url)
    return re.sub(r"(?i)(password=)[^&\s]*", r"\1***", url)


def _chunks(values: list, size: int = 500) -> Iterator[list]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def _explain(path: str, exc: sqlite3.DatabaseError) -> str:
    text = str(exc)
    if os.path.isdir(path):  # SQLite says "disk I/O error" or "unable to open"
        return f"{path} is a folder: give the state file's path (e.g. {os.path.join(path, 'monitor.db')})"
    if "locked" in text or "busy" in text:
        return f"{path}: the state database is locked by another process (is another monitor running?)"
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return (
            f"{path}: the state file is not a usable SQLite database ({text}). It was left untouched; "
            "restore it from a backup or move it aside to start with a fresh state."
        )
    if "readonly" in text or "unable to open" in text:
        return (f"{path}: cannot open the state file for writing ({text}); nothing was changed. Check that the "
                "file and its folder are writable, or use --state or $MONITOR_STATE for another file.")
    if "full" in text or ("disk i/o error" in text.lower() and _nearly_full(path)):  # the WAL could not grow
        return (f"{path}: the disk is full ({text}); nothing was lost: the interrupted step was rolled back and "
                "is done again by the next run. Free some space and run again.")
    return f"{path}: state database error: {text}"


def _nearly_full(path: str) -> bool:
    try:
        return shutil.disk_usage(os.path.dirname(os.path.abspath(path))).free < 1_000_000
    except OSError:
        return False


explain_error = _explain  # for the CLI: a database error after opening gets the same explanation

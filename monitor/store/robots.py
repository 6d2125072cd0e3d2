"""SQL for robots.txt kept between runs (used by robots.py), so a run with new items does not ask again."""

from __future__ import annotations

import sqlite3

from monitor import clock


class RobotsQueries:
    """Mixed into Store: the table `robots`, one row per origin (scheme://host:port)."""

    db: sqlite3.Connection

    def robots_load(self, origin: str) -> tuple[str, float] | None:
        """(robots.txt text, expiry as a Unix time) of an origin, or None when none is kept or it expired."""
        row = self.db.execute("SELECT body, expires_at FROM robots WHERE origin = ?", (origin,)).fetchone()
        if row is None or row[1] <= clock.time():
            return None
        return row[0], row[1]

    def robots_known(self, origin: str) -> bool:
        """Whether this origin's robots.txt was ever read (even if the copy has expired since)."""
        return self.db.execute("SELECT 1 FROM robots WHERE origin = ?", (origin,)).fetchone() is not None

    def robots_save(self, origin: str, body: str, expires_at: float) -> None:
        """Keep a robots.txt ('' for "none": a 4xx) until `expires_at`."""
        self.db.execute(
            "INSERT INTO robots (origin, body, expires_at) VALUES (?, ?, ?) ON CONFLICT (origin) DO UPDATE "
            "SET body = excluded.body, expires_at = excluded.expires_at", (origin, body, expires_at))

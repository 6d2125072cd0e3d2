"""SQL for the screenshot queue (table views): a capture's full-page screenshot is queued in the capture's
transaction and rendered after, by evidence/views.py; done, its own WARC records are indexed here.

Several hosts share one queue (issue 25). A view names the host that queued it (`host_id`): a capture in a
local WARC folder can be rendered only there, one in the bucket by any host, so `pending_views` selects, in
SQL, only what this host can render (a dead host's local captures never stand at the head of its queue).
Before rendering, a host claims the view (`pending` → `rendering`, `claimed_by`, `claimed_at` on the
database's clock; the UPDATE's row count decides), and only the claim's holder may mark it done or failed, so
each screenshot is written once. A claim older than a bound (its host died mid-render) goes back to pending.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from monitor.store.common import _ts

# what this host may render: its own captures, anything in the bucket, and views queued before hosts were named
_RENDERABLE = "(v.host_id IS NULL OR v.host_id = ? OR c.warc_file LIKE 's3://%')"


class ViewQueries:
    """Mixed into Store: it needs `db`, `_atomic()`, `_now` and `add_custody()` from there. Table views."""

    db: sqlite3.Connection

    def queue_view(self, capture_id: int | None, host: str | None = None) -> None:
        """Owe `capture_id` a screenshot (in the capture's transaction: queued if and only if indexed);
        `host` queued it (default: this one)."""
        if capture_id is None:
            return
        if host is None:
            from monitor.store.leases import host_id

            host = host_id()
        with self._atomic() as db:  # type: ignore[attr-defined]
            db.execute("INSERT INTO views (capture_id, host_id) VALUES (?, ?) ON CONFLICT (capture_id) DO NOTHING",
                       (capture_id, host))

    def pending_views(self, host: str, after: int = 0, limit: int = 50) -> list[sqlite3.Row]:
        """Captures owed a screenshot that `host` can render, oldest first from `after` on, with where their
        records are."""
        return list(self.db.execute(
            f"""SELECT c.id, c.story_id, c.warc_file, c.warc_offset, c.warc_length, c.final_url, v.attempts
                  FROM views v JOIN captures c ON c.id = v.capture_id
                 WHERE v.state = 'pending' AND c.expired_at IS NULL AND v.capture_id > ? AND {_RENDERABLE}
                 ORDER BY v.capture_id LIMIT ?""", (after, host, limit)))

    def has_pending_views(self, host: str) -> bool:
        return self.db.execute(
            f"""SELECT 1 FROM views v JOIN captures c ON c.id = v.capture_id
                 WHERE v.state = 'pending' AND c.expired_at IS NULL AND {_RENDERABLE} LIMIT 1""",
            (host,)).fetchone() is not None

    def claim_view(self, capture_id: int, holder: str) -> bool:
        """Take a pending view for rendering; False when another host (or process) has it, or it is done."""
        now = self._now  # type: ignore[attr-defined]
        with self._atomic() as db:  # type: ignore[attr-defined]
            cursor = db.execute(f"""UPDATE views SET state = 'rendering', claimed_by = ?, claimed_at = {now}
                                     WHERE capture_id = ? AND state = 'pending'""", (holder, capture_id))
            return cursor.rowcount == 1

    def view_claimants(self) -> list[str]:
        """Who holds a claim now (to tell this host's dead processes from live ones)."""
        return [r[0] for r in self.db.execute(
            "SELECT DISTINCT claimed_by FROM views WHERE state = 'rendering' AND claimed_by IS NOT NULL")]

    def release_stale_views(self, older_than: float, dead: list[str], *, give_up_after: int) -> int:
        """Claims older than `older_than` seconds, or of processes known dead, back to pending: their host
        died mid-render. It counts as a failed attempt (a page that kills the browser is given up in the end)."""
        now = self._now  # type: ignore[attr-defined]
        marks = ",".join("?" * len(dead)) or "NULL"
        with self._atomic() as db:  # type: ignore[attr-defined]
            return db.execute(
                f"""UPDATE views SET attempts = attempts + 1, claimed_by = NULL, claimed_at = NULL,
                           last_error = 'the process rendering it stopped (' || claimed_by || ')',
                           state = CASE WHEN attempts + 1 >= ? THEN 'failed' ELSE 'pending' END
                     WHERE state = 'rendering' AND (claimed_at < {now} - ? OR claimed_by IN ({marks}))""",
                (give_up_after, float(older_than), *dead)).rowcount

    def view_done(self, capture_id: int, written, sha256: str, taken_at: datetime, holder: str) -> bool:
        """Index the screenshot's records and log them in the custody chain, in one transaction; False (nothing
        written to the state) when `holder` no longer holds the claim."""
        w = written
        with self._atomic() as db:  # type: ignore[attr-defined]
            cursor = db.execute(
                """UPDATE views SET state = 'done', attempts = attempts + 1, last_error = NULL, warc_file = ?,
                          warc_offset = ?, warc_length = ?, sha256 = ?, taken_at = ?, claimed_by = NULL,
                          claimed_at = NULL
                    WHERE capture_id = ? AND state = 'rendering' AND claimed_by = ?""",
                (w.file, w.offset, w.length, sha256, _ts(taken_at), capture_id, holder))
            if cursor.rowcount != 1:
                return False
            self.add_custody("rendered", {  # type: ignore[attr-defined]
                "capture": capture_id, "view_sha256": sha256, "warc": f"{w.file}@{w.offset}+{w.length}"})
        return True

    def view_failed(self, capture_id: int, error: str, *, give_up_after: int, holder: str) -> bool:
        """One failed attempt, the claim given back; True when it was the last (the capture stays without a
        screenshot)."""
        with self._atomic() as db:  # type: ignore[attr-defined]
            row = db.execute("""UPDATE views SET attempts = attempts + 1, last_error = ?, claimed_by = NULL,
                                       claimed_at = NULL,
                                       state = CASE WHEN attempts + 1 >= ? THEN 'failed' ELSE 'pending' END
                                 WHERE capture_id = ? AND state = 'rendering' AND claimed_by = ? RETURNING state""",
                             (error[:500], give_up_after, capture_id, holder)).fetchone()
        return bool(row) and row[0] == "failed"

    def unclaim_view(self, capture_id: int, holder: str) -> None:
        """Give a claim back untried (the run is stopping mid-render): pending again, no attempt counted."""
        with self._atomic() as db:  # type: ignore[attr-defined]
            db.execute("UPDATE views SET state = 'pending', claimed_by = NULL, claimed_at = NULL "
                       "WHERE capture_id = ? AND state = 'rendering' AND claimed_by = ?", (capture_id, holder))

    def views_of(self, capture_ids) -> dict[int, sqlite3.Row]:
        """The rendered screenshots of these captures, by capture id (export, verify)."""
        ids = list(capture_ids)
        out: dict[int, sqlite3.Row] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.db.execute(f"SELECT * FROM views WHERE state = 'done' AND capture_id IN ({marks})",
                                       chunk):
                out[int(row["capture_id"])] = row
        return out

"""SQL for the screenshot queue (table views): a capture's full-page screenshot is queued in the capture's
transaction and rendered after, by evidence/views.py; done, its own WARC records are indexed here."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from monitor.store.common import _ts


class ViewQueries:
    """Mixed into Store: it needs `db`, `_atomic()` and `add_custody()` from there. Table views."""

    db: sqlite3.Connection

    def queue_view(self, capture_id: int | None) -> None:
        """Owe `capture_id` a screenshot (in the capture's transaction: queued if and only if indexed)."""
        if capture_id is None:
            return
        with self._atomic() as db:  # type: ignore[attr-defined]
            db.execute("INSERT INTO views (capture_id) VALUES (?) ON CONFLICT (capture_id) DO NOTHING",
                       (capture_id,))

    def pending_views(self, limit: int = 50) -> list[sqlite3.Row]:
        """Captures owed a screenshot, oldest first, with where their records are."""
        return list(self.db.execute(
            """SELECT c.id, c.story_id, c.warc_file, c.warc_offset, c.warc_length, c.final_url, v.attempts
                 FROM views v JOIN captures c ON c.id = v.capture_id
                WHERE v.state = 'pending' AND c.expired_at IS NULL ORDER BY v.capture_id LIMIT ?""", (limit,)))

    def has_pending_views(self) -> bool:
        return self.db.execute("SELECT 1 FROM views WHERE state = 'pending' LIMIT 1").fetchone() is not None

    def view_done(self, capture_id: int, written, sha256: str, taken_at: datetime) -> None:
        """Index the screenshot's records and log them in the custody chain, in one transaction."""
        w = written
        with self._atomic() as db:  # type: ignore[attr-defined]
            db.execute("""UPDATE views SET state = 'done', attempts = attempts + 1, last_error = NULL, warc_file = ?,
                                 warc_offset = ?, warc_length = ?, sha256 = ?, taken_at = ? WHERE capture_id = ?""",
                       (w.file, w.offset, w.length, sha256, _ts(taken_at), capture_id))
            self.add_custody("rendered", {  # type: ignore[attr-defined]
                "capture": capture_id, "view_sha256": sha256, "warc": f"{w.file}@{w.offset}+{w.length}"})

    def view_failed(self, capture_id: int, error: str, *, give_up_after: int) -> bool:
        """One failed attempt; True when it was the last (the capture stays without a screenshot)."""
        with self._atomic() as db:  # type: ignore[attr-defined]
            row = db.execute("""UPDATE views SET attempts = attempts + 1, last_error = ?,
                                       state = CASE WHEN attempts + 1 >= ? THEN 'failed' ELSE state END
                                 WHERE capture_id = ? RETURNING state""",
                             (error[:500], give_up_after, capture_id)).fetchone()
        return bool(row) and row[0] == "failed"

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

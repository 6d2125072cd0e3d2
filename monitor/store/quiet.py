"""SQL for the quiet cycle (monitor/quiet.py): the plan a full run leaves, and whether anything is due."""

from __future__ import annotations

import sqlite3

from monitor.store.common import _ts, utcnow


class QuietQueries:
    """Mixed into Store; the plan lives in `meta` under 'quiet_plan'."""

    db: sqlite3.Connection

    def quiet_plan(self) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'quiet_plan'").fetchone()
        return row[0] if row else None

    def save_quiet_plan(self, plan: str | None) -> None:
        """Keep (or, with None, forget) the plan a quiet cycle follows."""
        if plan is None:
            self.db.execute("DELETE FROM meta WHERE key = 'quiet_plan'")
        else:
            self.db.execute("INSERT INTO meta (key, value) VALUES ('quiet_plan', ?) "
                            "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (plan,))

    def quiet_blocker(self) -> str | None:
        """Why this cycle has work beyond polling (then the full pipeline runs), or None: nothing is due."""
        checks = (
            ("a message is due", "SELECT 1 FROM outbox WHERE status = 'pending' AND next_attempt_at <= ? LIMIT 1",
             (_ts(utcnow()),)),
            ("stories wait for a digest", "SELECT 1 FROM stories WHERE digest_id IS NULL LIMIT 1", ()),
            ("updates wait for a digest", "SELECT 1 FROM story_updates u JOIN story_sources s ON s.id = u.source_id "
                                          "WHERE s.digest_id IS NULL LIMIT 1", ()),
            ("a feed is failing", "SELECT 1 FROM feeds WHERE error_since IS NOT NULL LIMIT 1", ()),
            ("mentions wait for a digest", "SELECT 1 FROM mentions WHERE digest_id IS NULL LIMIT 1", ()),
            ("page changes wait for a digest",
             "SELECT 1 FROM captures WHERE change IS NOT NULL AND announced_in IS NULL LIMIT 1", ()),
        )
        for reason, query, params in checks:
            if self.db.execute(query, params).fetchone() is not None:
                return reason
        return None

    def record_not_modified(self, fetch_ms: dict[str, float]) -> None:
        """Every feed answered 304: one transaction for the whole cycle."""
        now = _ts(utcnow())
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.executemany(
                """UPDATE feeds SET last_success = ?, last_error = NULL, error_since = NULL, failures = 0,
                     polls = polls + 1, fetch_ms_total = fetch_ms_total + ? WHERE name = ?""",
                [(now, ms, name) for name, ms in fetch_ms.items()])
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

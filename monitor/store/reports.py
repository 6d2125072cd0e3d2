"""SQL for the weekly report and the trend chart: counts per week, topic and source, the top stories, new
sources, and queueing a report exactly once (a mixin of Store, like web.py)."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime, timedelta

from monitor.store.common import _ts, utcnow
from monitor.store.web import WHEN, _topics  # noqa: F401  (the shared story date and topics reader)


class ReportQueries:
    """Mixed into Store: it needs `db`, `backend` and `transaction()` from there."""

    def weekly_topic_counts(self, since: datetime, until: datetime | None = None, *,
                            indexed: bool = False) -> list[tuple[str, str, int]]:
        """(Monday of the week as YYYY-MM-DD, topic, stories) for every week with stories.

        `indexed` counts from the slim `story_topics` (the web page, every minute), else from the stories.
        """
        if indexed:  # per day (a cheap substr), folded into weeks here
            q = "SELECT substr(day, 1, 10), topic, COUNT(*) FROM story_topics WHERE day >= ?"
            q += (" AND day < ?" if until else "") + " GROUP BY 1, 2"
            weeks: dict[tuple[str, str], int] = {}
            for day, topic, n in self.db.execute(q, [_ts(since)] + ([_ts(until)] if until else [])):
                d = date.fromisoformat(day)
                key = ((d - timedelta(days=d.weekday())).isoformat(), topic)
                weeks[key] = weeks.get(key, 0) + n
            return [(w, t, n) for (w, t), n in sorted(weeks.items())]
        q = f"""SELECT date({WHEN}, '-6 days', 'weekday 1') AS week, t.value AS topic, COUNT(*) AS n
                FROM stories s, json_each(s.topics) t WHERE {WHEN} >= ?""" + (f" AND {WHEN} < ?" if until else "")
        q += " GROUP BY week, topic ORDER BY week, topic"
        args = [_ts(since)] + ([_ts(until)] if until else [])
        return [(r[0], r[1], r[2]) for r in self.db.execute(q, args)]

    def weekly_counts(self, since: datetime, until: datetime) -> dict[str, int]:
        """Stories per week (Monday as YYYY-MM-DD), whatever their topics."""
        q = f"""SELECT date({WHEN}, '-6 days', 'weekday 1'), COUNT(*) FROM stories s WHERE {WHEN} >= ? AND {WHEN} < ?
                GROUP BY 1"""
        return {r[0]: r[1] for r in self.db.execute(q, (_ts(since), _ts(until)))}

    def topic_counts(self, since: datetime, until: datetime | None = None) -> list[tuple[str, int]]:
        q = f"SELECT t.value, COUNT(*) FROM stories s, json_each(s.topics) t WHERE {WHEN} >= ?"
        q += (f" AND {WHEN} < ?" if until else "") + " GROUP BY t.value ORDER BY 2 DESC, 1"
        return [(r[0], r[1]) for r in self.db.execute(q, [_ts(since)] + ([_ts(until)] if until else []))]

    def source_counts(self, since: datetime, until: datetime | None = None, *,
                      indexed: bool = False) -> list[tuple[str, int, int]]:
        """(outlet, stories it reported first, stories it carried as a further source), busiest first.

        `indexed` counts the first sources from the slim `story_facets` (the web page), else from the stories.
        """
        bound = f"{WHEN} >= ?" + (f" AND {WHEN} < ?" if until else "")
        args = [_ts(since)] + ([_ts(until)] if until else [])
        first = ("SELECT f.source AS source, 1 AS first, 0 AS further FROM story_facets f WHERE f.day >= ?"
                 + (" AND f.day < ?" if until else "")) if indexed else \
            f"SELECT s.source AS source, 1 AS first, 0 AS further FROM stories s WHERE {bound}"
        further = ("SELECT ss.source, 0, 1 FROM story_sources ss JOIN story_facets f ON f.story_id = ss.story_id "
                   "WHERE f.day >= ?" + (" AND f.day < ?" if until else "")) if indexed else \
            f"SELECT ss.source, 0, 1 FROM story_sources ss JOIN stories s ON s.id = ss.story_id WHERE {bound}"
        rows = self.db.execute(
            f"""SELECT source, SUM(first), SUM(further) FROM (
                  {first}
                  UNION ALL
                  {further}) AS outlets
                GROUP BY source ORDER BY SUM(first) + SUM(further) DESC, source""", args + args)
        return [(r[0], int(r[1]), int(r[2])) for r in rows]

    def top_stories(self, since: datetime, until: datetime | None = None, limit: int = 10) -> list[sqlite3.Row]:
        """The period's strongest stories: score, then how many outlets carried them."""
        bound = f"{WHEN} >= ?" + (f" AND {WHEN} < ?" if until else "")
        return self.db.execute(
            f"""SELECT s.id, s.title, s.source, s.final_url, s.url, s.topics, s.score, {WHEN} AS day,
                       (SELECT COUNT(*) FROM story_sources ss WHERE ss.story_id = s.id) AS sources
                FROM stories s WHERE {bound} ORDER BY s.score DESC, sources DESC, s.id LIMIT ?""",
            [_ts(since)] + ([_ts(until)] if until else []) + [int(limit)]).fetchall()

    def new_sources(self, since: datetime, until: datetime | None = None) -> list[tuple[str, str, int]]:
        """Outlets first seen in the period: (outlet, first seen, stories carried in the period)."""
        upto, args = (" AND seen < ?", [_ts(until)]) if until else ("", [])
        rows = self.db.execute(
            f"""SELECT source, MIN(seen) AS first, SUM(CASE WHEN seen >= ?{upto} THEN 1 ELSE 0 END) FROM (
                 SELECT source, fetched_at AS seen FROM stories UNION ALL SELECT source, seen_at FROM story_sources)
                 AS seen_by GROUP BY source HAVING MIN(seen) >= ?{upto.replace('seen', 'MIN(seen)')}
               ORDER BY MIN(seen)""",
            [_ts(since), *args, _ts(since), *args])
        return [(r[0], r[1], int(r[2])) for r in rows]

    def last_digest_of_kind(self, kind: str) -> datetime | None:
        row = self.db.execute("SELECT MAX(created_at) FROM digests WHERE kind = ?", (kind,)).fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def queue_report(self, kind: str, messages: dict[str, list[str]], *, not_since: datetime) -> int | None:
        """Queue a report (a digest without stories) unless one of `kind` was queued at or after `not_since`:
        the check and the insert are one transaction, so two processes cannot both send this week's report."""
        now = _ts(utcnow())
        with self.transaction() as db:
            row = db.execute("SELECT 1 FROM digests WHERE kind = ? AND created_at >= ?", (kind, _ts(not_since)))
            if row.fetchone():
                return None
            digest_id = db.execute("INSERT INTO digests (kind, created_at, stories) VALUES (?, ?, 0) RETURNING id",
                                   (kind, now)).fetchone()[0]
            for channel, parts in messages.items():
                db.executemany(
                    "INSERT INTO outbox (digest_id, channel, seq, payload, next_attempt_at) VALUES (?, ?, ?, ?, ?)",
                    [(digest_id, channel, seq, payload, now) for seq, payload in enumerate(parts)])
        return int(digest_id)

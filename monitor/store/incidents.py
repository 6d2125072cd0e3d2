"""SQL for incidents: one event across outlets and languages, its reports, and the persons it names.

Candidates for a new report are looked up by act and a window of days on the index `incidents_act_anchor`,
so grouping costs the same with 100 incidents as with 100,000. Records are JSON written by
`monitor.stories.incidents`; this module only keeps them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime

from monitor.store.common import _chunks


class IncidentQueries:
    """Mixed into Store: it needs `db`. Writers run inside the caller's transaction (the story's)."""

    db: sqlite3.Connection

    def incident_candidates(self, act: str, first_day: str, last_day: str, district: str = "",
                            near_day: str = "", limit: int = 200) -> list[sqlite3.Row]:
        """Incidents of one act anchored in [first_day, last_day] (before near_day only month-precision ones),
        in `district` or of no known district when one is given; not merged away. Two index range scans."""
        where = "act = ? AND anchor BETWEEN ? AND ? AND merged_into IS NULL AND (anchor >= ? OR precision = 'month')"
        cols = "id, anchor, record, reviewed"
        params: list = [act, first_day, last_day, near_day or first_day]
        if district:
            rows = []
            for d in (district, ""):
                rows += self.db.execute(f"SELECT {cols} FROM incidents WHERE {where} AND district = ? "
                                        "ORDER BY anchor DESC, id DESC LIMIT ?", (*params, d, limit)).fetchall()
            return sorted(rows, key=lambda r: (r["anchor"], r["id"]), reverse=True)[:limit]
        return self.db.execute(f"SELECT {cols} FROM incidents WHERE {where} ORDER BY anchor DESC, id DESC "
                               "LIMIT ?", (*params, limit)).fetchall()

    def add_incident(self, act: str, anchor: str, record: str, created_at: str, district: str = "",
                     precision: str = "") -> int:
        row = self.db.execute("INSERT INTO incidents (act, anchor, record, created_at, district, precision) "
                              "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                              (act, anchor, record, created_at, district, precision)).fetchone()
        return int(row[0])

    def update_incident(self, incident_id: int, record: str, district: str = "", precision: str = "",
                        status: str = "draft") -> None:
        """A report joined the incident: its record as merged, and its status recomputed (stories/incidents.py)."""
        self.db.execute("UPDATE incidents SET record = ?, district = ?, precision = ?, status = ? WHERE id = ?",
                        (record, district, precision, status, incident_id))

    def add_incident_report(self, story_id: int, incident_id: int, language: str, record: str) -> None:
        self.db.execute("INSERT INTO incident_reports (story_id, incident_id, language, record) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (story_id) DO NOTHING", (story_id, incident_id, language, record))

    def add_incident_persons(self, incident_id: int, persons: Iterable[tuple[str, str]]) -> None:
        self.db.executemany("INSERT INTO incident_persons (person_key, incident_id, name) VALUES (?, ?, ?) "
                            "ON CONFLICT DO NOTHING", [(k, incident_id, n) for k, n in persons])

    def incidents_since(self, first_day: str = "") -> list[sqlite3.Row]:
        """Every incident (not merged away) whose anchor day is on or after first_day, oldest first."""
        return self.db.execute(
            """SELECT id, act, anchor, record, status FROM incidents WHERE merged_into IS NULL AND anchor >= ?
               ORDER BY anchor, id""", (first_day,)).fetchall()

    def incident_reports_for(self, incident_ids: list[int]) -> list[sqlite3.Row]:
        """The reports of these incidents with their stories' evidence links, in the order they arrived."""
        rows: list[sqlite3.Row] = []
        for chunk in _chunks(incident_ids, 500):
            marks = ",".join("?" * len(chunk))
            rows += self.db.execute(
                f"""SELECT r.incident_id, r.story_id, r.language, r.record, s.source, s.title, s.url, s.final_url,
                           s.raw_sha256, s.published, s.fetched_at,
                           (SELECT c.payload_sha256 FROM captures c WHERE c.story_id = s.id AND c.reason = 'first'
                            ORDER BY c.id LIMIT 1) AS capture_sha256
                    FROM incident_reports r JOIN stories s ON s.id = r.story_id
                    WHERE r.incident_id IN ({marks}) ORDER BY r.story_id""", chunk).fetchall()
        return rows

    def incidents_of_person(self, person_key: str) -> list[int]:
        """A person's case: the incidents that name them."""
        return [int(r[0]) for r in self.db.execute(
            "SELECT incident_id FROM incident_persons WHERE person_key = ? ORDER BY incident_id", (person_key,))]

    def incident_of_story(self, story_id: int) -> int | None:
        row = self.db.execute("SELECT incident_id FROM incident_reports WHERE story_id = ?", (story_id,)).fetchone()
        return int(row[0]) if row else None

    def incidents_of_stories(self, story_ids: list[int]) -> dict[int, int]:
        """story id → incident id, for the stories that have one."""
        out: dict[int, int] = {}
        for chunk in _chunks(story_ids, 500):
            marks = ",".join("?" * len(chunk))
            out.update((int(a), int(b)) for a, b in self.db.execute(
                f"SELECT story_id, incident_id FROM incident_reports WHERE story_id IN ({marks})", chunk))
        return out

    def incident_alerted(self, incident_id: int) -> bool:
        """Whether an urgent alert already went out for a report of this incident."""
        return self.db.execute(
            """SELECT 1 FROM incident_reports r JOIN stories s ON s.id = r.story_id JOIN digests d ON d.id = s.digest_id
               WHERE r.incident_id = ? AND d.kind = 'urgent' LIMIT 1""", (incident_id,)).fetchone() is not None

    def incidents_by_id(self, incident_ids: list[int]) -> list[sqlite3.Row]:
        rows: list[sqlite3.Row] = []
        for chunk in _chunks(sorted(incident_ids), 500):
            marks = ",".join("?" * len(chunk))
            rows += self.db.execute(f"SELECT id, act, anchor, record, status FROM incidents WHERE id IN ({marks})",
                                    chunk).fetchall()
        return rows

    # --- a researcher's review (stories/incident_review.py): confirm, correct, merge, split ------------------

    def incident(self, incident_id: int) -> sqlite3.Row | None:
        """One incident, merged away or not, with its review state."""
        return self.db.execute("SELECT id, act, anchor, district, precision, record, status, created_at, merged_into, "
                               "reviewed FROM incidents WHERE id = ?", (incident_id,)).fetchone()

    def recent_incidents(self, limit: int = 300, status: str = "") -> list[sqlite3.Row]:
        """The newest incidents (not merged away; of one status when given) by anchor day, with their number of
        reports."""
        return self.db.execute(
            """SELECT i.id, i.act, i.anchor, i.record, i.status,
                      (SELECT COUNT(*) FROM incident_reports r WHERE r.incident_id = i.id) AS reports
               FROM incidents i WHERE i.merged_into IS NULL AND (? = '' OR i.status = ?)
               ORDER BY i.anchor DESC, i.id DESC LIMIT ?""", (status, status, limit)).fetchall()

    def save_incident(self, incident_id: int, *, act: str, anchor: str, record: str, district: str, precision: str,
                      status: str, reviewed: str) -> None:
        self.db.execute("UPDATE incidents SET act = ?, anchor = ?, record = ?, district = ?, precision = ?, status = ?, "
                        "reviewed = ? WHERE id = ?", (act, anchor, record, district, precision, status, reviewed,
                                                     incident_id))

    def add_incident_review(self, incident_id: int, action: str, field: str, previous: str | None,
                            value: str | None, who: str, at: str, note: str | None = None) -> None:
        self.db.execute("INSERT INTO incident_reviews (incident_id, action, field, previous, value, note, who, at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (incident_id, action, field, previous, value, note, who, at))

    def incident_reviews(self, incident_id: int) -> list[sqlite3.Row]:
        """The incident's history, oldest first."""
        return self.db.execute("SELECT action, field, previous, value, note, who, at FROM incident_reviews "
                               "WHERE incident_id = ? ORDER BY id", (incident_id,)).fetchall()

    def move_incident_reports(self, story_ids: list[int], incident_id: int) -> None:
        for chunk in _chunks(story_ids, 500):
            marks = ",".join("?" * len(chunk))
            self.db.execute(f"UPDATE incident_reports SET incident_id = ? WHERE story_id IN ({marks})",
                            (incident_id, *chunk))

    def set_incident_merged(self, incident_id: int, into: int) -> None:
        self.db.execute("UPDATE incidents SET merged_into = ? WHERE id = ?", (into, incident_id))
        self.db.execute("UPDATE incidents SET merged_into = ? WHERE merged_into = ?", (into, incident_id))

    def replace_incident_persons(self, incident_id: int, persons: Iterable[tuple[str, str]]) -> None:
        """The persons an incident names, after a correction, merge or split."""
        self.db.execute("DELETE FROM incident_persons WHERE incident_id = ?", (incident_id,))
        self.add_incident_persons(incident_id, persons)

    def unfiled_story_ids(self) -> list[int]:
        """Stories that no incident lists (stored before incidents existed), oldest first."""
        return [int(r[0]) for r in self.db.execute(
            "SELECT s.id FROM stories s WHERE NOT EXISTS (SELECT 1 FROM incident_reports r WHERE r.story_id = s.id) "
            "ORDER BY COALESCE(s.published, s.fetched_at), s.id")]

    # --- the silence alert (delivery/silence.py): when did these sources last bring anything new? ---------

    def newest_item_seen(self, feeds: list[str]) -> datetime | None:
        """The newest first sighting of an item from these feeds (one index probe per feed)."""
        newest = None
        for feed in feeds:
            row = self.db.execute("SELECT MAX(first_seen) FROM items WHERE feed = ?", (feed,)).fetchone()
            if row and row[0] and (newest is None or row[0] > newest):
                newest = row[0]
        return datetime.fromisoformat(newest) if newest else None

"""SQL for the evidence archive: WARC captures, scheduled re-checks, page changes (used by monitor/evidence)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable
from datetime import datetime, timedelta

from monitor.models import PageChange
from monitor.store.common import _chunks, _ts, utcnow


class EvidenceQueries:
    """Mixed into Store: it needs `db` and `_atomic()` from there. Tables captures, rechecks (end of _SCHEMA)."""

    db: sqlite3.Connection

    def add_capture(self, pending, *, story_id: int, source_id: int | None, reason: str, monitor_version: str,
                    change: str | None = None, note: str | None = None, diff: str | None = None,
                    text: str | None = None) -> int:
        """Index a capture whose records are already on disk (evidence.capture.Evidence.write)."""
        w = pending.written
        with self._atomic() as db:  # type: ignore[attr-defined]
            row = db.execute(
                """INSERT INTO captures (story_id, source_id, reason, warc_file, warc_offset, warc_length,
                     payload_sha256, captured_at, url, final_url, status, redirects, peer, monitor_version,
                     text_sha256, change, change_note, diff, text, object_sha256)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
                (story_id, source_id, reason, w.file, w.offset, w.length, pending.payload_sha256,
                 _ts(pending.captured_at), pending.url, pending.final_url, pending.status,
                 json.dumps([list(r) for r in pending.redirects]), pending.peer, monitor_version,
                 pending.text_sha256, change, note, diff, text, getattr(pending, "object_sha256", None)),
            ).fetchone()
            obj = getattr(pending, "object_sha256", None)
            self.add_custody("re-checked" if reason == "recheck" else "captured", {
                "capture": int(row[0]), "story": story_id, "url": pending.final_url,
                "sha256": pending.payload_sha256, "warc": f"{w.file}@{w.offset}+{w.length}",
                **({"object_sha256": obj} if obj else {}), **({"change": change} if change else {})})
        return int(row[0])

    # --- captures in object storage (evidence/offsite.py): the spool's drain asks these ---

    def capture_by_object(self, url: str) -> int | None:
        """The capture indexed with this object URL (warc_file, indexed), if any."""
        row = self.db.execute("SELECT id FROM captures WHERE warc_file = ?", (url,)).fetchone()
        return int(row[0]) if row else None

    def capture_target(self, story_id: int, source_id: int | None, urls: tuple[str, ...]
                       ) -> tuple[int, int | None] | None:
        """(story, source) a spooled capture belongs to: the ids it was captured for when they still name a
        page with one of its URLs, else the newest story (or source) with such a URL; None when none is known.
        (After a rolled-back transaction an id may be missing, or reused for another page.)"""
        marks = ",".join("?" * len(urls))
        if source_id is not None:
            row = self.db.execute(f"SELECT id, story_id FROM story_sources WHERE id = ? AND url IN ({marks})",
                                  (source_id, *urls)).fetchone() or self.db.execute(
                f"SELECT id, story_id FROM story_sources WHERE url IN ({marks}) ORDER BY id DESC LIMIT 1",
                urls).fetchone()
            return (int(row[1]), int(row[0])) if row else None
        row = self.db.execute(
            f"SELECT id FROM stories WHERE id = ? AND (url IN ({marks}) OR final_url IN ({marks}))",
            (story_id, *urls, *urls)).fetchone() or self.db.execute(
            f"SELECT id FROM stories WHERE url IN ({marks}) OR final_url IN ({marks}) ORDER BY id DESC LIMIT 1",
            (*urls, *urls)).fetchone()
        return (int(row[0]), None) if row else None

    def objects_summary(self) -> int:
        """How many kept captures are objects in object storage."""
        row = self.db.execute(
            "SELECT COUNT(*) FROM captures WHERE expired_at IS NULL AND object_sha256 IS NOT NULL").fetchone()
        return int(row[0])

    # --- the custody log: each line names the hash of the one before, so an edit breaks the chain ---

    def add_custody(self, event: str, fields: dict) -> str:
        """Append one line (in the caller's transaction, if any); returns its hash."""
        with self._atomic() as db:  # type: ignore[attr-defined]
            last = db.execute("SELECT n, hash FROM custody ORDER BY n DESC LIMIT 1").fetchone()
            n = (last[0] + 1) if last else 1
            line = json.dumps({**fields, "n": n, "at": _ts(utcnow()), "event": event,
                               "prev": last[1] if last else None}, ensure_ascii=False, sort_keys=True,
                              separators=(",", ":"))
            digest = "sha256:" + hashlib.sha256(line.encode("utf-8")).hexdigest()
            db.execute("INSERT INTO custody (n, line, hash) VALUES (?, ?, ?)", (n, line, digest))
        return digest

    def custody(self) -> list[tuple[int, str, str]]:
        """Every (n, line, hash), in order."""
        return [tuple(r) for r in self.db.execute("SELECT n, line, hash FROM custody ORDER BY n")]

    def warc_indexed_end(self, name: str) -> int | None:
        row = self.db.execute(  # a capture's records, or a screenshot rendered after it (store/views.py)
            """SELECT MAX(e) FROM (SELECT warc_offset + warc_length AS e FROM captures WHERE warc_file = ?
                                    UNION ALL SELECT warc_offset + warc_length FROM views WHERE warc_file = ?) AS ends""",
            (name, name)).fetchone()
        return row[0]

    def captures(self, story_id: int | None = None, *, since: datetime | None = None,
                 story_ids: Iterable[int] | None = None) -> list[sqlite3.Row]:
        """Captures (not expired), oldest first: of one story, of some stories, or all since a date."""
        q, args = "SELECT * FROM captures WHERE expired_at IS NULL", []
        if story_id is not None:
            q += " AND story_id = ?"
            args.append(story_id)
        if since is not None:
            q += " AND captured_at >= ?"
            args.append(_ts(since))
        if story_ids is None:
            return self.db.execute(q + " ORDER BY id", args).fetchall()
        rows: list[sqlite3.Row] = []
        for chunk in _chunks(list(story_ids)):  # SQLite caps the number of bound values
            rows += self.db.execute(q + f" AND story_id IN ({','.join('?' * len(chunk))})", [*args, *chunk])
        return sorted(rows, key=lambda r: r["id"])

    def all_captures(self) -> Iterable[sqlite3.Row]:
        yield from self.db.execute("SELECT * FROM captures WHERE expired_at IS NULL ORDER BY warc_file, warc_offset")

    # --- re-checks ---------------------------------------------------------------------------

    def due_rechecks(self, steps: tuple[float, ...], now: datetime | None = None) -> list[tuple[int, int]]:
        """(story id, step) of every re-fetch that is due: `steps[k]` seconds after the story's fetch.

        A step is due only within as long again after its time (so an upgrade does not re-fetch an archive
        of years), and only the latest due step of a story is returned (the earlier ones are then moot).
        """
        now = now or utcnow()
        due: dict[int, int] = {}
        for k, seconds in enumerate(steps):
            window = max(seconds, 86400.0)
            rows = self.db.execute(
                """SELECT id FROM stories s WHERE fetched_at <= ? AND fetched_at > ?
                   AND NOT EXISTS (SELECT 1 FROM rechecks r WHERE r.story_id = s.id AND r.step >= ?)""",
                (_ts(now - timedelta(seconds=seconds)), _ts(now - timedelta(seconds=seconds + window)), k),
            )
            for (story_id,) in rows:
                due[story_id] = k
        return sorted(due.items())

    def record_recheck(self, story_id: int, step: int, outcome: str) -> None:
        with self._atomic() as db:  # type: ignore[attr-defined]
            db.execute(
                """INSERT INTO rechecks (story_id, step, done_at, outcome) VALUES (?, ?, ?, ?)
                   ON CONFLICT (story_id, step) DO UPDATE SET done_at = excluded.done_at, outcome = excluded.outcome""",
                (story_id, step, _ts(utcnow()), outcome),
            )

    def latest_text(self, story_id: int) -> tuple[str, str | None]:
        """The text last seen on a story's page (an edit's, else the story's) and the last change noted."""
        row = self.db.execute("SELECT text FROM stories WHERE id = ?", (story_id,)).fetchone()
        last = self.db.execute(
            """SELECT change, text FROM captures WHERE story_id = ? AND source_id IS NULL AND change IS NOT NULL
               ORDER BY id DESC LIMIT 1""", (story_id,)).fetchone()
        edited = self.db.execute(
            """SELECT text FROM captures WHERE story_id = ? AND source_id IS NULL AND text IS NOT NULL
               ORDER BY id DESC LIMIT 1""", (story_id,)).fetchone()
        text = edited[0] if edited else (row[0] if row else "")
        return text, last[0] if last else None

    def waiting_changes(self) -> list[PageChange]:
        rows = self.db.execute(
            """SELECT c.id, c.story_id, c.change, c.change_note, s.title, s.final_url, s.url, s.source
               FROM captures c JOIN stories s ON s.id = c.story_id
               WHERE c.change IS NOT NULL AND c.announced_in IS NULL ORDER BY c.id"""
        ).fetchall()
        return [PageChange(r["id"], r["story_id"], r["title"], r["final_url"] or r["url"], r["source"], r["change"],
                           r["change_note"] or r["change"]) for r in rows]

    def changes_between(self, since: datetime, until: datetime) -> list[PageChange]:
        """Pages found edited or removed in [since, until), for the weekly report, oldest first."""
        rows = self.db.execute(
            """SELECT c.id, c.story_id, c.change, c.change_note, s.title, s.final_url, s.url, s.source
               FROM captures c JOIN stories s ON s.id = c.story_id
               WHERE c.change IS NOT NULL AND c.captured_at >= ? AND c.captured_at < ? ORDER BY c.captured_at, c.id""",
            (_ts(since), _ts(until))).fetchall()
        return [PageChange(r["id"], r["story_id"], r["title"], r["final_url"] or r["url"], r["source"], r["change"],
                           r["change_note"] or r["change"]) for r in rows]

    def mark_changes_announced(self, digest_id: int, changes: Iterable[PageChange]) -> int:
        count = 0
        with self._atomic() as db:  # type: ignore[attr-defined]
            for change in changes:
                count += db.execute("UPDATE captures SET announced_in = ? WHERE id = ? AND announced_in IS NULL",
                                    (digest_id, change.capture_id)).rowcount
        return count

    # --- retention ---------------------------------------------------------------------------

    def warc_file_newest(self, name: str) -> str | None:
        row = self.db.execute("SELECT MAX(captured_at) FROM captures WHERE warc_file = ?", (name,)).fetchone()
        return row[0]

    def expire_warc_file(self, name: str) -> int:
        with self._atomic() as db:  # type: ignore[attr-defined]
            return db.execute("UPDATE captures SET expired_at = ? WHERE warc_file = ? AND expired_at IS NULL",
                              (_ts(utcnow()), name)).rowcount

    def capture_summary(self) -> tuple[int, int]:
        """(captures kept, page changes noted)."""
        row = self.db.execute(
            "SELECT COUNT(*), COUNT(change) FROM captures WHERE expired_at IS NULL").fetchone()
        return int(row[0]), int(row[1])

    def raw_pages_kept(self) -> list[tuple[str, str, list[tuple[int, str, bytes]]]]:
        """Pages kept by the superseded keep_raw_html (old states), to check them against their SHA-256."""
        stories = self.db.execute(
            "SELECT id, raw_sha256, raw_html_gz FROM stories WHERE raw_html_gz IS NOT NULL").fetchall()
        sources = self.db.execute(
            "SELECT source_id, raw_sha256, raw_html_gz FROM source_evidence WHERE raw_html_gz IS NOT NULL").fetchall()
        return [("story", "", [tuple(r) for r in stories]), ("source", "", [tuple(r) for r in sources])]

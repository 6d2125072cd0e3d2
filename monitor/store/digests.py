"""SQL for what a digest tells its reader: which outlet leads a folded story, which alerts went out, and the
service's own bookkeeping between runs (the last digest, failure announcements)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from datetime import datetime, timezone

from monitor.models import DigestStory
from monitor.store.common import _dt, _ts

_EPOCH = datetime.max.replace(tzinfo=timezone.utc)  # an undated source never leads a dated one


class DigestQueries:
    """Mixed into Store: it needs `db`."""

    db: sqlite3.Connection

    def with_lead(self, story: DigestStory) -> DigestStory:
        """The story as the reader should see it: the outlet that published first leads (a republisher fetched
        before the original must not pass for the source); the others follow with their own titles."""
        rows = self.db.execute(
            """SELECT ss.source, ss.url, ss.title, e.published, e.final_url FROM story_sources ss
               LEFT JOIN source_evidence e ON e.source_id = ss.id WHERE ss.story_id = ? ORDER BY ss.id""",
            (story.story_id,),
        ).fetchall()
        if not rows:
            return story
        outlets = [(story.published, story.source, story.url, story.title)]
        outlets += [(_dt(r["published"]), r["source"], r["final_url"] or r["url"], r["title"]) for r in rows]
        lead = min(range(len(outlets)), key=lambda i: (outlets[i][0] or _EPOCH, i))
        published, source, url, title = outlets[lead]
        rest = [o for i, o in enumerate(outlets) if i != lead]
        same = " ".join((title or "").split()).casefold()
        return replace(
            story, source=source, url=url, title=title or story.title, published=published or story.published,
            also_reported_by=tuple((o[1], o[2]) for o in rest),
            also_titles=tuple("" if " ".join((o[3] or "").split()).casefold() == same else o[3] for o in rest),
        )

    def story_concepts(self, story_id: int) -> tuple[str, ...]:
        row = self.db.execute("SELECT concepts FROM stories WHERE id = ?", (story_id,)).fetchone()
        return tuple(json.loads(row[0])) if row and row[0] else ()

    def urgent_alerts_since(self, since: datetime) -> list[DigestStory]:
        """The stories of the urgent alerts queued after `since`."""
        return self._alerts("d.created_at > ?", (_ts(since),))

    def urgent_alerts_since_digest(self) -> list[DigestStory]:
        """The stories of the urgent alerts queued after the last digest, which lists them. By id, not by time:
        an alert queued in the second the digest was (both stamped to the second) must not be missed."""
        return self._alerts("d.id > COALESCE((SELECT MAX(id) FROM digests WHERE kind = 'digest'), 0)", ())

    def _alerts(self, after: str, args: tuple) -> list[DigestStory]:
        rows = self.db.execute(f"""SELECT s.* FROM stories s JOIN digests d ON d.id = s.digest_id
                                   WHERE d.kind = 'urgent' AND {after} ORDER BY d.id, s.id""", args)
        return [self._digest_story(r) for r in rows]

    # --- bookkeeping between runs (meta table) -----------------------------------------------

    def meta_get(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def meta_set(self, key: str, value: str | None) -> None:
        if value is None:
            self.db.execute("DELETE FROM meta WHERE key = ?", (key,))
        else:
            self.db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET "
                            "value = excluded.value", (key, value))

    # --- for `monitor status` ------------------------------------------------------------------

    def outbox_channels(self) -> list[dict]:
        """Per channel: messages sent / pending / failed, when its queue is really tried next (its *first* pending
        message: later ones wait behind it) and the last error of a message not sent."""
        out: dict[str, dict] = {}
        for r in self.db.execute("SELECT channel, status, COUNT(*) FROM outbox GROUP BY channel, status"):
            out.setdefault(r[0], {"channel": r[0], "sent": 0, "pending": 0, "failed": 0, "next": None,
                                  "error": None})[r[1]] = r[2]
        for channel, info in out.items():
            first = self.db.execute(
                "SELECT next_attempt_at FROM outbox WHERE channel = ? AND status = 'pending' "
                "ORDER BY digest_id, seq LIMIT 1", (channel,)).fetchone()
            info["next"] = _dt(first[0]) if first else None
            err = self.db.execute(
                "SELECT last_error FROM outbox WHERE channel = ? AND status != 'sent' AND last_error IS NOT NULL "
                "ORDER BY id DESC LIMIT 1", (channel,)).fetchone()
            info["error"] = err[0] if err else None
        return [out[c] for c in sorted(out)]

    def topic_ids(self) -> list[str]:
        """Every topic id some stored story carries (for checking `export --topic`)."""
        return [r[0] for r in self.db.execute("SELECT DISTINCT value FROM stories, json_each(stories.topics)")]

    def waiting_count(self) -> tuple[int, int]:
        """(stories waiting for the next digest, of which urgent ones not yet alerted)."""
        row = self.db.execute("SELECT COUNT(*), COALESCE(SUM(urgent), 0) FROM stories WHERE digest_id IS NULL").fetchone()
        return int(row[0]), int(row[1])

"""SQL for readers' labels: "this story was relevant / a false alarm", and "you missed this one".

A label on a story points at the story (its text is already in the archive); a label on an article the monitor
never sent keeps that article's URL, title and text itself, so `labels export` and `eval --labels` can score
the rules on it long after the page is gone. One label per story: a second one replaces the first.
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from dataclasses import dataclass
from datetime import datetime

from monitor.store.common import _dt, _ts, stored_url_key, utcnow

LABELS = ("relevant", "irrelevant")


def compress_text(text: str) -> bytes:
    """zlib at level 6: Cyrillic news text shrinks to about a third, at ~1 ms per article."""
    return zlib.compress(text.encode("utf-8"), 6)


def decompress_text(blob: bytes | None) -> str:
    return zlib.decompress(blob).decode("utf-8") if blob else ""


@dataclass(frozen=True)
class Label:
    """One reader's verdict, with the article it is about (from the story when it has one)."""

    id: int
    story_id: int | None
    label: str  # relevant | irrelevant
    note: str | None
    url: str | None
    title: str
    text: str
    language: str | None
    source: str  # where it was given: cli, web, ...
    created_at: datetime | None
    topics: tuple[str, ...] = ()  # the story's topics when it was matched ("" for a miss)


class LabelQueries:
    """Mixed into Store: it needs `db`, `_atomic()` and `story()` from there."""

    db: sqlite3.Connection

    # Table labels (end of _SCHEMA).

    def add_label(self, *, story_id: int | None, label: str, note: str | None = None, url: str | None = None,
                  title: str | None = None, text: str | None = None, language: str | None = None,
                  source: str = "cli") -> int:
        """Record a verdict and return the label's id; a second label on the same story (or, without a
        story, on the same URL) replaces the first. ValueError for an unknown label or story id, or for a
        label without a story that brings no text (nothing to score the rules on)."""
        label = (label or "").strip().lower()
        if label not in LABELS:
            raise ValueError(f"unknown label {label!r}: expected relevant or irrelevant")
        if story_id is not None and self.story(story_id) is None:  # type: ignore[attr-defined]
            raise ValueError(f"no story {story_id} in the state")
        text_z = compress_text(text) if text else None
        now = _ts(utcnow())
        with self._atomic() as db:  # type: ignore[attr-defined]
            if story_id is not None:
                row = db.execute("SELECT id FROM labels WHERE story_id = ?", (story_id,)).fetchone()
            elif url:
                row = db.execute("SELECT id FROM labels WHERE story_id IS NULL AND url = ?", (url,)).fetchone()
            else:
                row = None
            if row is None and story_id is None and not (text or "").strip():
                raise ValueError("a label without a story needs the article's text")
            if row is not None:
                db.execute(
                    """UPDATE labels SET label = ?, note = ?, url = COALESCE(?, url), title = COALESCE(?, title),
                         text_z = COALESCE(?, text_z), language = COALESCE(?, language), source = ?, created_at = ?
                       WHERE id = ?""",
                    (label, note, url, title, text_z, language, source, now, row[0]),
                )
                return int(row[0])
            new = db.execute(
                """INSERT INTO labels (story_id, label, note, url, title, text_z, language, source, created_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
                (story_id, label, note, url, title, text_z, language, source, now),
            ).fetchone()
        return int(new[0])

    def label_for(self, story_id: int) -> str | None:
        """The story's label (relevant / irrelevant), or None when nobody labelled it."""
        row = self.db.execute("SELECT label FROM labels WHERE story_id = ?", (story_id,)).fetchone()
        return row[0] if row else None

    def labels_for(self, story_ids: list[int]) -> dict[int, str]:
        """{story id: label} for the labelled ones among these stories (one query for a page of a listing)."""
        out: dict[int, str] = {}
        for i in range(0, len(story_ids), 500):
            chunk = story_ids[i:i + 500]
            marks = ",".join("?" * len(chunk))
            out.update((r[0], r[1]) for r in self.db.execute(
                f"SELECT story_id, label FROM labels WHERE story_id IN ({marks})", chunk))
        return out

    def labels(self) -> list[Label]:
        """Every label, oldest first, with its article's title and text (the story's when it has one)."""
        rows = self.db.execute(
            """SELECT l.*, s.title AS s_title, s.final_url AS s_url, s.text AS s_text, s.topics AS s_topics
               FROM labels l LEFT JOIN stories s ON s.id = l.story_id ORDER BY l.id"""
        ).fetchall()
        return [
            Label(
                id=r["id"], story_id=r["story_id"], label=r["label"], note=r["note"],
                url=r["url"] or r["s_url"], title=r["title"] or r["s_title"] or "",
                text=decompress_text(r["text_z"]) if r["text_z"] else (r["s_text"] or ""),
                language=r["language"], source=r["source"], created_at=_dt(r["created_at"]),
                topics=tuple(json.loads(r["s_topics"])) if r["s_topics"] else (),
            )
            for r in rows
        ]

    def story_id_for_url(self, url: str, url_key: str) -> int | None:
        """The story this URL is (or is a further source of), by URL key or by the URL as stored."""
        row = self.db.execute(
            """SELECT s.id FROM stories s JOIN items i ON i.id = s.item_id WHERE i.url_key = ?
               UNION ALL SELECT id FROM stories WHERE url = ? OR final_url = ?
               UNION ALL SELECT ss.story_id FROM story_sources ss LEFT JOIN items i ON i.id = ss.item_id
                 WHERE i.url_key = ? OR ss.url = ?
               LIMIT 1""",
            (stored_url_key(url_key), url, url, stored_url_key(url_key), url),
        ).fetchone()
        return int(row[0]) if row else None

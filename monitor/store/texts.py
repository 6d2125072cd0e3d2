"""SQL for kept texts: the extracted text of every article that matched nothing, compressed.

Without them an unmatched item is settled for good and its text gone, so a rule fixed after a miss could never
find the story that prompted the fix. `monitor rematch` re-scores them (recheck/rematch.py); each is kept for
`settings.keep_unmatched_days` and pruned during runs. Matched stories keep their text in `stories` for good.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from monitor.models import Article
from monitor.store.common import _chunks, _dt, _ts, stored_url_key
from monitor.store.labels import compress_text, decompress_text


@dataclass(frozen=True)
class KeptText:
    """An unmatched article as it was seen, ready to be matched again."""

    item_id: int
    feed: str
    guid: str | None
    url: str  # as the feed announced it
    url_key: str
    final_url: str
    title: str
    published: datetime | None
    fetched_at: datetime
    extracted: bool  # False: only the feed's summary was kept (the page had no keyword, or could not be read)
    raw_sha256: str
    text: str


class KeptTextQueries:
    """Mixed into Store: it needs `db` and `_atomic()` from there."""

    db: sqlite3.Connection

    # Table kept_texts (end of _SCHEMA); stories.rechecked marks a story `rematch` found.

    def keep_text(self, item_id: int, article: Article) -> None:
        """Keep an unmatched article's text (replacing an earlier copy of the same item)."""
        self.db.execute(
            """INSERT INTO kept_texts (item_id, final_url, title, published, fetched_at, extracted,
                 raw_sha256, text_z) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (item_id) DO UPDATE SET final_url = excluded.final_url, title = excluded.title,
                 published = excluded.published, fetched_at = excluded.fetched_at, extracted = excluded.extracted,
                 raw_sha256 = excluded.raw_sha256, text_z = excluded.text_z""",
            (item_id, article.final_url, article.title or article.entry.title,
             _ts(article.published or article.entry.published), _ts(article.fetched_at), int(article.extracted),
             article.raw_sha256, compress_text(article.text or "")),
        )

    def kept_text_ids(self, since: datetime | None = None, until: datetime | None = None) -> list[int]:
        """Item ids of the kept texts published (or, undated, fetched) in [since, until], oldest first."""
        return _period_ids(self.db, "kept_texts", "item_id", since, until)

    def kept_texts(self, item_ids: list[int]) -> Iterator[KeptText]:
        """These kept texts in this order, decompressed a chunk at a time (bounded memory)."""
        for chunk in _chunks(item_ids, 200):
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"""SELECT k.*, i.feed, i.guid, i.url, i.url_key FROM kept_texts k JOIN items i ON i.id = k.item_id
                    WHERE k.item_id IN ({marks})""", chunk).fetchall()
            by_id = {r["item_id"]: r for r in rows}
            yield from (_kept(by_id[i]) for i in chunk if i in by_id)

    def kept_text_for(self, url_key: str) -> KeptText | None:
        """The kept text of the item with this URL key, if any (`monitor label URL` needs no fetch then)."""
        row = self.db.execute(
            """SELECT k.*, i.feed, i.guid, i.url, i.url_key FROM kept_texts k JOIN items i ON i.id = k.item_id
               WHERE i.url_key = ?""", (stored_url_key(url_key),)).fetchone()
        return _kept(row) if row else None

    def drop_kept_text(self, item_id: int) -> None:
        self.db.execute("DELETE FROM kept_texts WHERE item_id = ?", (item_id,))

    def set_item_status(self, item_id: int, status: str) -> None:
        self.db.execute("UPDATE items SET status = ? WHERE id = ?", (status, item_id))

    def mark_rechecked(self, story_id: int) -> None:
        self.db.execute("UPDATE stories SET rechecked = 1 WHERE id = ?", (story_id,))

    def prune_kept_texts(self, before: datetime) -> int:
        """Forget the texts of unmatched articles fetched before `before`; returns how many went."""
        return self.db.execute("DELETE FROM kept_texts WHERE fetched_at < ?", (_ts(before),)).rowcount

    def kept_text_stats(self) -> tuple[int, int]:
        """(kept texts, bytes they take compressed) for `monitor status`; length() of a blob reads no content."""
        kept = self.db.execute("SELECT COUNT(*), COALESCE(SUM(length(text_z)), 0) FROM kept_texts").fetchone()
        return int(kept[0]), int(kept[1])

    def story_ids(self, since: datetime | None = None, until: datetime | None = None) -> list[int]:
        """Ids of the stories published (or, undated, fetched) in [since, until], oldest first."""
        return _period_ids(self.db, "stories", "id", since, until)

    def stories_by_ids(self, story_ids: list[int]) -> Iterator[sqlite3.Row]:
        for chunk in _chunks(story_ids, 200):
            marks = ",".join("?" * len(chunk))
            rows = {r["id"]: r for r in self.db.execute(f"SELECT * FROM stories WHERE id IN ({marks})", chunk)}
            yield from (rows[i] for i in chunk if i in rows)


def _period_ids(db: sqlite3.Connection, table: str, key: str, since: datetime | None,
                until: datetime | None) -> list[int]:
    when = "COALESCE(published, fetched_at)"  # the period of the news; a page without a date: when it was seen
    q, args = f"SELECT {key} FROM {table} WHERE 1 = 1", []
    if since:
        q, args = q + f" AND {when} >= ?", [*args, _ts(since)]
    if until:
        q, args = q + f" AND {when} <= ?", [*args, _ts(until)]
    return [r[0] for r in db.execute(q + f" ORDER BY {when}, {key}", args)]


def _kept(r: sqlite3.Row) -> KeptText:
    return KeptText(
        item_id=r["item_id"], feed=r["feed"], guid=r["guid"], url=r["url"], url_key=r["url_key"],
        final_url=r["final_url"], title=r["title"], published=_dt(r["published"]), fetched_at=_dt(r["fetched_at"]),
        extracted=bool(r["extracted"]), raw_sha256=r["raw_sha256"], text=decompress_text(r["text_z"]),
    )

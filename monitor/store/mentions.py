"""SQL for the safety net: articles that name GBAO but fired no topic, until a digest lists them."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from monitor.models import Article, Mention
from monitor.store.common import _chunks, _dt, _ts


class MentionQueries:
    """Mixed into Store: it needs `db` and `_atomic()` (from ArchiveQueries)."""

    db: sqlite3.Connection

    def add_mention(self, item_id: int, article: Article, line: str) -> int:
        """Remember an unmatched article that names GBAO; once per item."""
        entry = article.entry
        row = self.db.execute(
            """INSERT INTO mentions (item_id, source, title, url, published, fetched_at, line)
               VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (item_id) DO NOTHING RETURNING id""",
            (item_id, entry.feed, article.title or entry.title, article.final_url or entry.url,
             _ts(article.published or entry.published), _ts(article.fetched_at), line),
        ).fetchone()
        return int(row[0]) if row else 0

    def waiting_mentions(self) -> list[Mention]:
        """Mentions no digest has taken yet, newest first."""
        rows = self.db.execute(
            "SELECT * FROM mentions WHERE digest_id IS NULL ORDER BY COALESCE(published, fetched_at) DESC, id DESC")
        return [Mention(r["id"], r["title"], r["url"], r["source"], _dt(r["published"]), r["line"]) for r in rows]

    def mark_mentions_taken(self, digest_id: int, mention_ids: Iterable[int]) -> None:
        """Inside the digest's own transaction, so a mention is listed exactly once."""
        with self._atomic() as db:  # type: ignore[attr-defined]
            for chunk in _chunks(list(mention_ids)):
                db.execute(f"UPDATE mentions SET digest_id = ? WHERE digest_id IS NULL AND id IN "
                           f"({','.join('?' * len(chunk))})", [digest_id, *chunk])

"""SQL for near-duplicate stories and the evidence archive (used by neardup.py and archive.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime

from monitor.models import Article, DigestStory
from monitor.store.common import _chunks, _ts, utcnow


class ArchiveQueries:
    """Mixed into Store: it needs `db`, `transaction()` and `_digest_story()` from there."""

    db: sqlite3.Connection

    # Tables neardup_sigs, neardup_bands, source_evidence, story_updates (end of _SCHEMA).

    @contextmanager
    def _atomic(self) -> Iterator[sqlite3.Connection]:
        """A transaction, or the caller's one when already inside `transaction()`."""
        if self.db.in_transaction:
            yield self.db
        else:
            with self.transaction() as db:
                yield db

    def neardup_params(self) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'neardup_params'").fetchone()
        return row[0] if row else None

    def neardup_reset(self, params: str) -> None:
        """Empty the near-duplicate index and record the parameters its signatures will be made with."""
        with self._atomic() as db:
            db.execute("DELETE FROM neardup_bands")
            db.execute("DELETE FROM neardup_sigs")
            db.execute(
                """INSERT INTO meta (key, value) VALUES ('neardup_params', ?)
                   ON CONFLICT (key) DO UPDATE SET value = excluded.value""",
                (params,),
            )

    def neardup_add(self, story_id: int, band_keys: list[int], hashes: bytes, words: int, shingles: int) -> int:
        """Store one signature and its LSH band keys; returns the signature's id."""
        with self._atomic() as db:
            sig_id = db.execute(
                "INSERT INTO neardup_sigs (story_id, words, shingles, hashes) VALUES (?, ?, ?, ?) RETURNING id",
                (story_id, words, shingles, hashes),
            ).fetchone()[0]
            db.executemany(
                "INSERT INTO neardup_bands (key, sig_id) VALUES (?, ?) ON CONFLICT DO NOTHING", [(k, sig_id) for k in band_keys]
            )
        return int(sig_id)

    def neardup_candidates(self, band_keys: list[int]) -> list[tuple[int, bytes, int]]:
        """(story id, signature, shingle count) of every signature sharing a band key: one indexed query."""
        marks = ",".join("?" * len(band_keys))
        return [
            (r[0], r[1], r[2])
            for r in self.db.execute(
                f"""SELECT story_id, hashes, shingles FROM neardup_sigs WHERE id IN
                    (SELECT sig_id FROM neardup_bands WHERE key IN ({marks})) ORDER BY story_id""",
                band_keys,
            )
        ]

    def neardup_texts(self) -> Iterator[tuple[int, str]]:
        """(story id, text) of every story and every source with kept evidence, to rebuild the index."""
        ids = [r[0] for r in self.db.execute("SELECT id FROM stories ORDER BY id")]
        for chunk in _chunks(ids):
            rows = self.db.execute(
                f"SELECT id, text FROM stories WHERE id IN ({','.join('?' * len(chunk))}) ORDER BY id", chunk
            ).fetchall()
            yield from ((r[0], r[1]) for r in rows)
        rows = self.db.execute(
            """SELECT ss.story_id, e.text FROM source_evidence e JOIN story_sources ss ON ss.id = e.source_id
               ORDER BY ss.id"""
        ).fetchall()
        yield from ((r[0], r[1]) for r in rows)

    def add_story_source(
        self, story_id: int, item_id: int | None, source: str, url: str, title: str, *,
        article: Article | None = None, raw_html_gz: bytes | None = None,
    ) -> int | None:
        """Record one more outlet of a story (idempotent per story and URL); returns the source's id.

        None when the "further source" is the story's own item: another process sharing the database (a second
        host on PostgreSQL) stored this very entry a moment earlier, so it is not a second outlet.

        With `article`, its evidence (text, final URL, dates, SHA-256, optional raw HTML) is kept too:
        copies get taken down as well. A source that arrives after the story was sent is an update.
        """
        with self._atomic() as db:
            row = db.execute("SELECT id FROM story_sources WHERE story_id = ? AND url = ?", (story_id, url)).fetchone()
            if row:
                return int(row[0])
            sent = db.execute("SELECT digest_id, item_id FROM stories WHERE id = ?", (story_id,)).fetchone()
            if sent is None:
                raise KeyError(f"no story {story_id}")
            if item_id is not None and sent[1] == item_id:
                return None
            now = _ts(utcnow())
            source_id = db.execute(
                """INSERT INTO story_sources (story_id, item_id, source, url, title, seen_at)
                   VALUES (?, ?, ?, ?, ?, ?) RETURNING id""",
                (story_id, item_id, source, url, title, now),
            ).fetchone()[0]
            if article is not None:
                db.execute(
                    """INSERT INTO source_evidence (source_id, final_url, published, fetched_at, text, extracted,
                         raw_sha256, raw_html_gz) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                    (
                        source_id, article.final_url, _ts(article.published or article.entry.published),
                        _ts(article.fetched_at), article.text, int(article.extracted), article.raw_sha256,
                        raw_html_gz,
                    ),
                )
            if sent[0] is not None:
                db.execute(
                    "INSERT INTO story_updates (source_id, story_id, seen_at) VALUES (?, ?, ?)",
                    (source_id, story_id, now),
                )
        return int(source_id)

    def story_sources(self, story_id: int) -> list[sqlite3.Row]:
        """Further sources of a story, in the order they were seen, with their evidence when kept."""
        return self.db.execute(
            """SELECT ss.id, ss.story_id, ss.item_id, ss.source, ss.url, ss.title, ss.seen_at,
                      ss.digest_id AS announced_in, u.source_id IS NOT NULL AS is_update,
                      e.final_url, e.published, e.fetched_at, e.text, e.extracted, e.raw_sha256,
                      e.raw_html_gz IS NOT NULL AS has_raw_html, e.raw_html_gz
               FROM story_sources ss LEFT JOIN source_evidence e ON e.source_id = ss.id
                    LEFT JOIN story_updates u ON u.source_id = ss.id
               WHERE ss.story_id = ? ORDER BY ss.id""",
            (story_id,),
        ).fetchall()

    def also_reported_by(self, story_id: int) -> tuple[tuple[str, str], ...]:
        """(source, url) of every further source of a story, for a story's first digest."""
        rows = self.db.execute("SELECT source, url FROM story_sources WHERE story_id = ? ORDER BY id", (story_id,))
        return tuple((r[0], r[1]) for r in rows)

    def waiting_updates(self, since: datetime | None = None) -> list[DigestStory]:
        """Sent stories with sources that arrived after sending and were not announced yet.

        `also_reported_by` lists only those new sources. `since` skips older ones (e.g. when a user
        turns settings.show_updates on after months).
        """
        from dataclasses import replace

        q = """SELECT ss.story_id, ss.source, ss.url FROM story_updates u JOIN story_sources ss ON ss.id = u.source_id
               WHERE ss.digest_id IS NULL""" + (" AND u.seen_at >= ?" if since else "") + " ORDER BY ss.story_id, ss.id"
        news: dict[int, list[tuple[str, str]]] = {}
        for r in self.db.execute(q, (_ts(since),) if since else ()):
            news.setdefault(r[0], []).append((r[1], r[2]))
        out: list[DigestStory] = []
        for story_id, sources in news.items():
            row = self.story(story_id)
            if row is not None:
                out.append(replace(self._digest_story(row), also_reported_by=tuple(sources), also_titles=()))
        return out

    def mark_updates_announced(self, digest_id: int, updates: Iterable[DigestStory]) -> int:
        """Mark exactly the sources a digest listed as updates (may run inside `transaction()`)."""
        count = 0
        with self._atomic() as db:
            for story in updates:
                for _source, url in story.also_reported_by:
                    count += db.execute(
                        """UPDATE story_sources SET digest_id = ? WHERE story_id = ? AND url = ? AND digest_id IS NULL
                           AND id IN (SELECT source_id FROM story_updates)""",
                        (digest_id, story.story_id, url),
                    ).rowcount
        return count

    def export_stories(self, since: datetime, topic: str | None = None) -> Iterator[sqlite3.Row]:
        """Stories fetched at or after `since` (optionally of one topic), oldest first, for the archive export."""
        q = "SELECT * FROM stories WHERE fetched_at >= ?"
        args: list = [_ts(since)]
        if topic:
            q += " AND EXISTS (SELECT 1 FROM json_each(stories.topics) WHERE lower(value) = lower(?))"
            args.append(topic)
        yield from self.db.execute(q + " ORDER BY fetched_at, id", args)  # streamed: an archive can be large



"""The SQLite state: the only module that speaks SQL.

Tables: feeds (poll state and health), items (every entry ever seen, so nothing is fetched twice),
stories (matched articles: the evidence archive), story_sources (further outlets of a story),
digests and outbox (what was queued for which channel, and whether the channel accepted it).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .models import Article, DigestStory, MatchResult

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS feeds (
    name TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    etag TEXT,
    last_modified TEXT,
    last_success TEXT,
    last_error TEXT,
    error_since TEXT,
    failures INTEGER NOT NULL DEFAULT 0,      -- consecutive
    polls INTEGER NOT NULL DEFAULT 0,
    fetch_ms_total REAL NOT NULL DEFAULT 0,
    items_seen INTEGER NOT NULL DEFAULT 0,
    matches INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY,
    feed TEXT NOT NULL,
    guid TEXT,
    url TEXT NOT NULL,
    url_key TEXT NOT NULL UNIQUE,
    first_seen TEXT NOT NULL,
    status TEXT NOT NULL,                     -- matched | unmatched | duplicate | failed | old
    attempts INTEGER NOT NULL DEFAULT 1,
    error TEXT
);
CREATE INDEX IF NOT EXISTS items_guid ON items (guid);
CREATE TABLE IF NOT EXISTS stories (
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL REFERENCES items (id),
    source TEXT NOT NULL,
    title TEXT NOT NULL,
    url TEXT NOT NULL,
    final_url TEXT NOT NULL,
    published TEXT,
    fetched_at TEXT NOT NULL,
    text TEXT NOT NULL,
    extracted INTEGER NOT NULL,
    raw_sha256 TEXT NOT NULL,
    raw_html_gz BLOB,
    topics TEXT NOT NULL,                     -- JSON list, best first
    terms TEXT NOT NULL,                      -- JSON list
    score REAL NOT NULL,
    snippet TEXT NOT NULL,
    highlights TEXT NOT NULL,                 -- JSON list of [start, end]
    urgent INTEGER NOT NULL DEFAULT 0,
    digest_id INTEGER REFERENCES digests (id) -- NULL: waiting for the next digest
);
CREATE INDEX IF NOT EXISTS stories_waiting ON stories (digest_id) WHERE digest_id IS NULL;
CREATE INDEX IF NOT EXISTS stories_fetched ON stories (fetched_at);
CREATE TABLE IF NOT EXISTS story_sources (
    id INTEGER PRIMARY KEY,
    story_id INTEGER NOT NULL REFERENCES stories (id),
    item_id INTEGER REFERENCES items (id),
    source TEXT NOT NULL,
    url TEXT NOT NULL,
    title TEXT NOT NULL,
    seen_at TEXT NOT NULL,
    digest_id INTEGER REFERENCES digests (id) -- the digest that announced it as an update, if any
);
CREATE INDEX IF NOT EXISTS story_sources_story ON story_sources (story_id);
CREATE TABLE IF NOT EXISTS digests (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    created_at TEXT NOT NULL,
    stories INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    digest_id INTEGER NOT NULL REFERENCES digests (id),
    channel TEXT NOT NULL,
    seq INTEGER NOT NULL,                     -- part number within the digest (Telegram splits)
    payload TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',   -- pending | sent | failed
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error TEXT,
    sent_at TEXT
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt_at);
-- near-duplicates and archive (neardup.py, archive.py) --
CREATE TABLE IF NOT EXISTS neardup_sigs (       -- MinHash signature of a story's text (or of a folded copy)
    id INTEGER PRIMARY KEY,
    story_id INTEGER NOT NULL REFERENCES stories (id),
    words INTEGER NOT NULL,
    shingles INTEGER NOT NULL,
    hashes BLOB NOT NULL                        -- 128 little-endian uint32
);
CREATE INDEX IF NOT EXISTS neardup_sigs_story ON neardup_sigs (story_id);
CREATE TABLE IF NOT EXISTS neardup_bands (      -- LSH: one row per band of a signature
    key INTEGER NOT NULL,
    sig_id INTEGER NOT NULL,
    PRIMARY KEY (key, sig_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS source_evidence (    -- the evidence of a further source, like the stories columns
    source_id INTEGER PRIMARY KEY REFERENCES story_sources (id),
    final_url TEXT NOT NULL,
    published TEXT,
    fetched_at TEXT NOT NULL,
    text TEXT NOT NULL,
    extracted INTEGER NOT NULL,
    raw_sha256 TEXT NOT NULL,
    raw_html_gz BLOB
);
CREATE TABLE IF NOT EXISTS story_updates (      -- sources that arrived after their story had been sent
    source_id INTEGER PRIMARY KEY REFERENCES story_sources (id),
    story_id INTEGER NOT NULL REFERENCES stories (id),
    seen_at TEXT NOT NULL
);
"""


class StateError(Exception):
    """The state file cannot be used; the message says why and what to do."""


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _ts(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat(timespec="seconds") if value else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class FeedState:
    name: str
    etag: str | None
    last_modified: str | None
    last_success: datetime | None
    last_error: str | None
    error_since: datetime | None
    failures: int
    polls: int
    avg_fetch_ms: float
    items_seen: int
    matches: int


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    digest_id: int
    channel: str
    seq: int
    payload: str
    attempts: int


class Store:
    """One SQLite connection, used from one thread (the event loop's)."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        try:
            self.db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA busy_timeout = 10000")
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")
            self.db.execute("PRAGMA foreign_keys = ON")
            self.db.executescript(_SCHEMA)  # idempotent: every statement is IF NOT EXISTS
            self.db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        except sqlite3.DatabaseError as exc:
            raise StateError(_explain(self.path, exc)) from None

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All-or-nothing: what a crash interrupts is rolled back by SQLite."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        else:
            self.db.execute("COMMIT")

    # --- feeds ------------------------------------------------------------------------------

    def feed_state(self, name: str) -> FeedState | None:
        row = self.db.execute("SELECT * FROM feeds WHERE name = ?", (name,)).fetchone()
        return _feed_state(row) if row else None

    def all_feed_states(self) -> list[FeedState]:
        return [_feed_state(r) for r in self.db.execute("SELECT * FROM feeds ORDER BY name")]

    def ensure_feed(self, name: str, url: str) -> None:
        """Register a feed; a changed URL forgets the old validators (they belong to the old URL)."""
        self.db.execute(
            """INSERT INTO feeds (name, url) VALUES (?, ?)
               ON CONFLICT (name) DO UPDATE SET url = excluded.url,
                 etag = CASE WHEN feeds.url = excluded.url THEN feeds.etag END,
                 last_modified = CASE WHEN feeds.url = excluded.url THEN feeds.last_modified END""",
            (name, url),
        )

    def record_poll_success(
        self, name: str, *, etag: str | None, last_modified: str | None, fetch_ms: float, new_items: int, matches: int,
        not_modified: bool = False,
    ) -> None:
        now = _ts(utcnow())
        self.db.execute(
            """UPDATE feeds SET last_success = ?, last_error = NULL, error_since = NULL, failures = 0,
                 etag = CASE WHEN ? THEN etag ELSE ? END,
                 last_modified = CASE WHEN ? THEN last_modified ELSE ? END,
                 polls = polls + 1, fetch_ms_total = fetch_ms_total + ?,
                 items_seen = items_seen + ?, matches = matches + ?
               WHERE name = ?""",
            (now, not_modified, etag, not_modified, last_modified, fetch_ms, new_items, matches, name),
        )

    def record_poll_failure(self, name: str, error: str, fetch_ms: float) -> None:
        """A failed poll changes nothing but the health record: validators and seen items stay."""
        now = _ts(utcnow())
        self.db.execute(
            """UPDATE feeds SET last_error = ?, error_since = COALESCE(error_since, ?), failures = failures + 1,
                 polls = polls + 1, fetch_ms_total = fetch_ms_total + ? WHERE name = ?""",
            (error, now, fetch_ms, name),
        )

    # --- items: the seen list -------------------------------------------------------------

    def known_items(self, url_keys: Iterable[str], guids: Iterable[str]) -> tuple[set[str], set[str]]:
        """Which of these URL keys and GUIDs are settled (seen, and not a failure still worth retrying)."""
        url_keys, guids = list(url_keys), [g for g in guids if g]
        settled = "(status != 'failed' OR attempts >= 3)"
        keys: set[str] = set()
        found_guids: set[str] = set()
        for chunk in _chunks(url_keys):
            q = f"SELECT url_key FROM items WHERE {settled} AND url_key IN ({','.join('?' * len(chunk))})"
            keys.update(r[0] for r in self.db.execute(q, chunk))
        for chunk in _chunks(guids):
            q = f"SELECT guid FROM items WHERE {settled} AND guid IN ({','.join('?' * len(chunk))})"
            found_guids.update(r[0] for r in self.db.execute(q, chunk))
        return keys, found_guids

    def record_item(
        self, *, feed: str, guid: str | None, url: str, url_key: str, status: str, error: str | None = None
    ) -> int:
        """Remember an entry; a retried failure counts its attempts. Returns the item id."""
        row = self.db.execute(
            """INSERT INTO items (feed, guid, url, url_key, first_seen, status, error) VALUES (?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (url_key) DO UPDATE SET status = excluded.status, error = excluded.error,
                 attempts = items.attempts + 1, guid = COALESCE(items.guid, excluded.guid)
               RETURNING id""",
            (feed, guid, url, url_key, _ts(utcnow()), status, error),
        ).fetchone()
        return int(row[0])

    # --- stories: the evidence archive ----------------------------------------------------

    def add_story(self, item_id: int, article: Article, match: MatchResult, raw_html_gz: bytes | None = None,
                  *, urgent: bool | None = None) -> int:
        entry = article.entry
        row = self.db.execute(
            """INSERT INTO stories (item_id, source, title, url, final_url, published, fetched_at, text, extracted,
                 raw_sha256, raw_html_gz, topics, terms, score, snippet, highlights, urgent)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
            (
                item_id, entry.feed, article.title or entry.title, entry.url, article.final_url,
                _ts(article.published or entry.published), _ts(article.fetched_at), article.text,
                int(article.extracted), article.raw_sha256, raw_html_gz,
                json.dumps([h.topic for h in sorted(match.hits, key=lambda h: -h.score)], ensure_ascii=False),
                json.dumps(list(match.terms), ensure_ascii=False), match.score, match.snippet,
                json.dumps([list(span) for span in match.highlights]), int(match.urgent if urgent is None else urgent),
            ),
        ).fetchone()
        return int(row[0])

    def waiting_stories(self, *, urgent_only: bool = False, limit: int | None = None) -> list[DigestStory]:
        """Stories no digest has taken yet, best first."""
        q = "SELECT * FROM stories WHERE digest_id IS NULL" + (" AND urgent = 1" if urgent_only else "")
        q += " ORDER BY score DESC, id" + (f" LIMIT {int(limit)}" if limit else "")
        return [self._digest_story(r) for r in self.db.execute(q)]

    def story(self, story_id: int) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM stories WHERE id = ?", (story_id,)).fetchone()

    def _digest_story(self, row: sqlite3.Row) -> DigestStory:
        return DigestStory(
            also_reported_by=self.also_reported_by(row["id"]),
            story_id=row["id"], title=row["title"], url=row["final_url"] or row["url"], source=row["source"],
            published=_dt(row["published"]), topics=tuple(json.loads(row["topics"])),
            terms=tuple(json.loads(row["terms"])), snippet=row["snippet"],
            highlights=tuple(tuple(s) for s in json.loads(row["highlights"])), score=row["score"],
        )

    # --- digests and the outbox -----------------------------------------------------------

    def queue_digest(self, kind: str, story_ids: list[int], messages: dict[str, list[str]],
                     updates: Iterable[DigestStory] = ()) -> int | None:
        """Take stories (and the update notes it lists) into a digest and queue its message for every
        channel, in one transaction.

        Returns the digest id, or None when another digest took the stories first.
        """
        now = _ts(utcnow())
        with self.transaction() as db:
            if story_ids:
                marks = ",".join("?" * len(story_ids))
                free = db.execute(
                    f"SELECT COUNT(*) FROM stories WHERE digest_id IS NULL AND id IN ({marks})", story_ids
                ).fetchone()[0]
                if free != len(story_ids):
                    return None
            digest_id = db.execute(
                "INSERT INTO digests (kind, created_at, stories) VALUES (?, ?, ?) RETURNING id",
                (kind, now, len(story_ids)),
            ).fetchone()[0]
            for chunk in _chunks(story_ids):
                db.execute(
                    f"UPDATE stories SET digest_id = ? WHERE id IN ({','.join('?' * len(chunk))})", [digest_id, *chunk]
                )
            self.mark_updates_announced(digest_id, updates)
            for channel, parts in messages.items():
                db.executemany(
                    "INSERT INTO outbox (digest_id, channel, seq, payload, next_attempt_at) VALUES (?, ?, ?, ?, ?)",
                    [(digest_id, channel, seq, payload, now) for seq, payload in enumerate(parts)],
                )
        return int(digest_id)

    def due_messages(self, now: datetime | None = None) -> list[OutboxMessage]:
        """Pending messages whose backoff has passed, oldest first (parts of a digest in order)."""
        rows = self.db.execute(
            "SELECT * FROM outbox WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY digest_id, channel, seq",
            (_ts(now or utcnow()),),
        )
        return [OutboxMessage(r["id"], r["digest_id"], r["channel"], r["seq"], r["payload"], r["attempts"]) for r in rows]

    def mark_sent(self, message_id: int) -> None:
        self.db.execute(
            "UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1, last_error = NULL WHERE id = ?",
            (_ts(utcnow()), message_id),
        )

    def mark_retry(self, message_id: int, error: str, next_attempt_at: datetime) -> None:
        self.db.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?",
            (error, _ts(next_attempt_at), message_id),
        )

    def mark_failed(self, message_id: int, error: str) -> None:
        """A permanent refusal (bad chat id, bad address): kept for `monitor status`, not retried."""
        self.db.execute(
            "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ? WHERE id = ?",
            (error, message_id),
        )

    def last_digest_at(self) -> datetime | None:
        row = self.db.execute("SELECT MAX(created_at) FROM digests WHERE kind = 'digest'").fetchone()
        return _dt(row[0])

    def outbox_summary(self) -> list[sqlite3.Row]:
        return self.db.execute(
            """SELECT channel, status, COUNT(*) AS messages, MIN(next_attempt_at) AS next_attempt,
                      MAX(last_error) AS last_error FROM outbox GROUP BY channel, status ORDER BY channel, status"""
        ).fetchall()

    # --- near-duplicates and archive (neardup.py, archive.py) ---------------------------------------
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
                "INSERT OR IGNORE INTO neardup_bands (key, sig_id) VALUES (?, ?)", [(k, sig_id) for k in band_keys]
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
    ) -> int:
        """Record one more outlet of a story (idempotent per story and URL); returns the source's id.

        With `article`, its evidence (text, final URL, dates, SHA-256, optional raw HTML) is kept too:
        copies get taken down as well. A source that arrives after the story was sent is an update.
        """
        with self._atomic() as db:
            row = db.execute("SELECT id FROM story_sources WHERE story_id = ? AND url = ?", (story_id, url)).fetchone()
            if row:
                return int(row[0])
            sent = db.execute("SELECT digest_id FROM stories WHERE id = ?", (story_id,)).fetchone()
            if sent is None:
                raise KeyError(f"no story {story_id}")
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
                out.append(replace(self._digest_story(row), also_reported_by=tuple(sources)))
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


def _feed_state(row: sqlite3.Row) -> FeedState:
    polls = row["polls"] or 0
    return FeedState(
        name=row["name"], etag=row["etag"], last_modified=row["last_modified"],
        last_success=_dt(row["last_success"]), last_error=row["last_error"], error_since=_dt(row["error_since"]),
        failures=row["failures"], polls=polls, avg_fetch_ms=(row["fetch_ms_total"] / polls) if polls else 0.0,
        items_seen=row["items_seen"], matches=row["matches"],
    )


def _chunks(values: list, size: int = 500) -> Iterator[list]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def _explain(path: str, exc: sqlite3.DatabaseError) -> str:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return f"{path}: the state database is locked by another process (is another monitor running?)"
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return (
            f"{path}: the state file is not a usable SQLite database ({text}). It was left untouched; "
            "restore it from a backup or move it aside to start with a fresh state."
        )
    if "readonly" in text or "unable to open" in text:
        return f"{path}: cannot open the state file for writing ({text})"
    if "full" in text:
        return (f"{path}: the disk is full ({text}); nothing was lost: the interrupted step was rolled back and "
                "is done again by the next run. Free some space and run again.")
    return f"{path}: state database error: {text}"


explain_error = _explain  # for the CLI: a database error after opening gets the same explanation

"""Stage 5, the state, in a SQLite file (the default) or a PostgreSQL database (`pg.py`): the only package that
speaks SQL.

`pg.py` is the dialect layer PostgreSQL needs (psycopg is imported only for a postgresql:// URL); `pgsearch.py`
turns the web search into tsquery; `migrate.py` copies a whole state between the two (`monitor migrate-state`).

Tables: feeds (poll state and health), items (every entry ever seen, so nothing is fetched twice),
stories (matched articles: the evidence archive), story_sources (further outlets of a story),
incidents, incident_reports and incident_persons (one event across outlets and languages: incidents.py),
digests and outbox (what was queued for which channel, and whether the channel accepted it); the full list
is in ARCHITECTURE.md. `Store` is this module plus one query mixin per area (neardup, digests, texts, labels,
mentions, evidence, quiet, robots, web, reports, incidents, leases: hosts, leases with fencing tokens, shared
pauses of an origin). `Store(path, read_only=True)` for commands that only
read; `scratch.py`: a read-only server's search index.

Takes: models and plain values, inside `Store.transaction()`. Returns: rows (sqlite3.Row) and small records.

May import: `models`, `config`. Every stage that keeps state imports it.
"""


from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from monitor.models import Article, DigestStory, MatchResult
from monitor.store.neardup import ArchiveQueries
from monitor.store.digests import DigestQueries
from monitor.store.evidence import EvidenceQueries
from monitor.store.incidents import IncidentQueries
from monitor.store.labels import Label, LabelQueries
from monitor.store.leases import LeaseQueries, guarded_write
from monitor.store.mentions import MentionQueries
from monitor.store.quiet import QuietQueries
from monitor.store.reports import ReportQueries
from monitor.store.robots import RobotsQueries
from monitor.store.texts import KeptText, KeptTextQueries
from monitor.store.common import (ConnectionLost, FeedState, NulSafeConnection, OutboxMessage, StateError, _chunks,
                                  _dt, _explain, _feed_state, _ts, explain_error, is_database_url, redact_url,
                                  stored_url_key, utcnow)
from monitor.store.opening import Opening, _open_read_only
from monitor.store.schema import _SCHEMA, SCHEMA_VERSION, add_missing_columns, record_version, stored_version
from monitor.store.views import ViewQueries
from monitor.store.web import WebQueries
from monitor.store.scratch import attach as attach_scratch

__all__ = ["Store", "StateError", "FeedState", "OutboxMessage", "explain_error", "utcnow", "SCHEMA_VERSION"]
__all__ += ["Label", "KeptText"]  # re-check and labels
__all__ += ["is_database_url", "redact_url", "ConnectionLost"]


class Store(Opening, ArchiveQueries, DigestQueries, EvidenceQueries, LabelQueries, KeptTextQueries, WebQueries,
            ReportQueries, MentionQueries, RobotsQueries, QuietQueries, IncidentQueries, ViewQueries,
            LeaseQueries):
    """One database connection, used from one thread (the event loop's).

    `path` is the SQLite file; with `database_url` (postgresql://…) the state is in that database instead, and
    `path` only says where the WARC folder and the lock file go (beside it, as with a file). `read_only` for
    commands that only read (status, export, show, report, labels, serve --read-only): a SQLite file is opened
    read-only and nothing is written, not even the schema check, so an archive copy on write-protected media can
    be inspected."""

    backend = "sqlite"

    def __init__(self, path: str | Path, database_url: str | None = None, *, read_only: bool = False):
        self.path = str(path)
        self.read_only = read_only
        if is_database_url(str(path)) and database_url is None:
            database_url, self.path = str(path), "monitor.db"
        self.where = self.path
        if database_url:
            self._open_postgresql(database_url)
            return
        if read_only:
            self.db = _open_read_only(self.path)
            try:
                self.search_meta = attach_scratch(self.db, self.path)
            except sqlite3.DatabaseError as exc:
                raise StateError(_explain(self.path, exc)) from None
            return
        try:
            self.db = sqlite3.connect(self.path, timeout=10, isolation_level=None, factory=NulSafeConnection)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA busy_timeout = 10000")
            self._refuse_newer()  # before the first write: a newer monitor's state is never touched
            # before anything writes: a damaged state is refused whichever pages the damage hit (0.3 s per 200 MB,
            # so only when the file is not as the last clean close left it: see _stamp)
            if self._changed_since_close():
                check = self.db.execute("PRAGMA quick_check(1)").fetchone()
                if check is not None and check[0] != "ok":
                    raise sqlite3.DatabaseError(f"database disk image is malformed ({check[0]})")
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")
            self.db.execute("PRAGMA foreign_keys = ON")
            self.db.executescript(_SCHEMA)  # idempotent: every statement is IF NOT EXISTS
            add_missing_columns(self.db)
            record_version(self.db)
        except sqlite3.DatabaseError as exc:
            raise StateError(_explain(self.path, exc)) from None

    def _refuse_newer(self) -> None:
        found = stored_version(self.db)
        if found > SCHEMA_VERSION:
            self.db.close()
            raise StateError(
                f"{self.where}: this state was written by a newer version of the monitor (schema {found}; this one "
                f"knows up to {SCHEMA_VERSION}). It was left untouched: upgrade the monitor, or use --state for "
                "another file."
            )

    def describe(self) -> str:
        """The backend and where, for `monitor status`: a PostgreSQL URL never with its password."""
        if self.backend == "postgresql":
            return f"PostgreSQL {self.where} (WARC files in {self.path}.warc unless $MONITOR_ARCHIVE_DIR)"
        return f"SQLite file {os.path.abspath(self.path)}"

    def close(self) -> None:
        self.db.close()
        if self.backend == "sqlite" and not self.read_only:
            self._write_stamp()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All-or-nothing: what a crash interrupts is rolled back by SQLite."""
        if self.db.in_transaction and self._dry_run:  # inside dry_run(): a savepoint, undone with the rest
            self.db.execute("SAVEPOINT step")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK TO step")
                self.db.execute("RELEASE step")
                raise
            else:
                self.db.execute("RELEASE step")
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.check_fences()  # under a lease (store/leases.py): renewed here, or LeaseLost rolls this back
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        else:
            self.db.execute("COMMIT")

    _dry_run = False

    @contextmanager
    def dry_run(self) -> Iterator["Store"]:
        """Everything done inside is undone at the end: a preview (`backfill --dry-run`, `rematch --dry-run`)
        runs the real code on the real state and leaves every table as it was, even when it fails."""
        self.db.execute("BEGIN IMMEDIATE")
        self._dry_run = True
        try:
            yield self
        finally:
            self._dry_run = False
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")

    # --- feeds ------------------------------------------------------------------------------

    def feed_state(self, name: str) -> FeedState | None:
        row = self.db.execute("SELECT * FROM feeds WHERE name = ?", (name,)).fetchone()
        return _feed_state(row) if row else None

    def all_feed_states(self) -> list[FeedState]:
        return [_feed_state(r) for r in self.db.execute("SELECT * FROM feeds ORDER BY name")]

    @guarded_write
    def ensure_feed(self, name: str, url: str) -> None:
        """Register a feed; a changed URL forgets the old validators (they belong to the old URL).

        Every poll calls this, and a feed already registered at this URL needs no write: one read, instead of a
        write transaction (on PostgreSQL four round trips under the shared write lock, 5,000 times an interval)."""
        row = self.db.execute("SELECT url FROM feeds WHERE name = ?", (name,)).fetchone()
        if row is not None and row[0] == url:
            return
        self.db.execute(
            """INSERT INTO feeds (name, url) VALUES (?, ?)
               ON CONFLICT (name) DO UPDATE SET url = excluded.url,
                 etag = CASE WHEN feeds.url = excluded.url THEN feeds.etag END,
                 last_modified = CASE WHEN feeds.url = excluded.url THEN feeds.last_modified END""",
            (name, url),
        )

    @guarded_write
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

    @guarded_write
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
        stored = {stored_url_key(k): k for k in url_keys}  # an over-long key is kept as its hash
        url_keys, guids = list(stored), [g for g in guids if g]
        settled = "(status != 'failed' OR attempts >= 3)"
        keys: set[str] = set()
        found_guids: set[str] = set()
        for chunk in _chunks(url_keys):
            q = f"SELECT url_key FROM items WHERE {settled} AND url_key IN ({','.join('?' * len(chunk))})"
            keys.update(stored[r[0]] for r in self.db.execute(q, chunk))
        for chunk in _chunks(guids):
            q = f"SELECT guid FROM items WHERE {settled} AND guid IN ({','.join('?' * len(chunk))})"
            found_guids.update(r[0] for r in self.db.execute(q, chunk))
        return keys, found_guids

    @guarded_write
    def record_item(
        self, *, feed: str, guid: str | None, url: str, url_key: str, status: str, error: str | None = None
    ) -> int:
        """Remember an entry; a retried failure counts its attempts. Returns the item id."""
        row = self.db.execute(
            """INSERT INTO items (feed, guid, url, url_key, first_seen, status, error) VALUES (?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (url_key) DO UPDATE SET status = excluded.status, error = excluded.error,
                 attempts = items.attempts + 1, guid = COALESCE(items.guid, excluded.guid)
               RETURNING id""",
            (feed, guid, url, stored_url_key(url_key), _ts(utcnow()), status, error),
        ).fetchone()
        return int(row[0])

    # --- stories: the evidence archive ----------------------------------------------------

    def add_story(self, item_id: int, article: Article, match: MatchResult, raw_html_gz: bytes | None = None,
                  *, urgent: bool | None = None) -> int:
        entry = article.entry
        row = self.db.execute(
            """INSERT INTO stories (item_id, source, title, url, final_url, published, fetched_at, text, extracted,
                 raw_sha256, raw_html_gz, topics, terms, score, snippet, highlights, urgent, urgent_topic,
                 urgent_sentence, urgent_rank)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
            (
                item_id, entry.feed, article.title or entry.title, entry.url, article.final_url,
                _ts(article.published or entry.published), _ts(article.fetched_at), article.text,
                int(article.extracted), article.raw_sha256, raw_html_gz,
                json.dumps([h.topic for h in sorted(match.hits, key=lambda h: -h.score)], ensure_ascii=False),
                json.dumps(list(match.terms), ensure_ascii=False), match.score, match.snippet,
                json.dumps([list(span) for span in match.highlights]), int(match.urgent if urgent is None else urgent),
                match.urgent_topic or None, match.urgent_sentence or None, match.urgent_rank,
            ),
        ).fetchone()
        self.db.execute("UPDATE stories SET concepts = ? WHERE id = ?",  # what matched, as a reader names it
                        (json.dumps(list(match.concepts), ensure_ascii=False), row[0]))
        return int(row[0])

    def waiting_stories(self, *, urgent_only: bool = False, limit: int | None = None) -> list[DigestStory]:
        """Stories no digest has taken yet, best first."""
        q = "SELECT * FROM stories WHERE digest_id IS NULL" + (" AND urgent = 1" if urgent_only else "")
        q += " ORDER BY " + ("urgent_rank, " if urgent_only else "") + "score DESC, id"  # killings first
        q += f" LIMIT {int(limit)}" if limit else ""
        return [self._digest_story(r) for r in self.db.execute(q)]

    def story(self, story_id: int) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM stories WHERE id = ?", (story_id,)).fetchone()

    def _digest_story(self, row: sqlite3.Row) -> DigestStory:
        return self.with_lead(DigestStory(
            concepts=tuple(json.loads(row["concepts"] or "[]")), seen_at=_dt(row["fetched_at"]),
            also_reported_by=self.also_reported_by(row["id"]),
            story_id=row["id"], title=row["title"], url=row["final_url"] or row["url"], source=row["source"],
            published=_dt(row["published"]), topics=tuple(json.loads(row["topics"])),
            terms=tuple(json.loads(row["terms"])), snippet=row["snippet"],
            highlights=tuple(tuple(s) for s in json.loads(row["highlights"])), score=row["score"],
            found_on_recheck=bool(row["rechecked"]),
            urgent_topic=row["urgent_topic"] or "", urgent_sentence=row["urgent_sentence"] or "",
        ))

    # --- digests and the outbox -----------------------------------------------------------

    def queue_digest(self, kind: str, story_ids: list[int], messages: dict[str, list[str]],
                     updates: Iterable[DigestStory] = (), mention_ids: Iterable[int] = (),
                     changes: Iterable = ()) -> int | None:
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
            self.mark_mentions_taken(digest_id, mention_ids)
            self.mark_changes_announced(digest_id, changes)
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

    @guarded_write
    def mark_sent(self, message_id: int) -> None:
        self.db.execute(
            "UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1, last_error = NULL WHERE id = ?",
            (_ts(utcnow()), message_id),
        )

    @guarded_write
    def mark_retry(self, message_id: int, error: str, next_attempt_at: datetime, *, payload: str | None = None) -> None:
        """Try again later; `payload` replaces the message when only part of it is still owed (the recipients
        who have not taken it yet)."""
        self.db.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?, "
            "payload = COALESCE(?, payload) WHERE id = ?",
            (error, _ts(next_attempt_at), payload, message_id),
        )

    @guarded_write
    def mark_failed(self, message_id: int, error: str) -> None:
        """A permanent refusal (bad chat id, bad address): kept for `monitor status`, not retried."""
        self.db.execute(
            "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ? WHERE id = ?",
            (error, message_id),
        )

    @guarded_write
    def requeue_failed(self, channels: Sequence[str], now: datetime | None = None) -> int:
        """`monitor flush --failed`: the messages of these (configured) channels refused for good are due again,
        once the operator has fixed what refused them (the bot's place in the chat, an address). What is stored
        is only what is still owed (the rest of a split message, the recipients not served), so nobody gets a
        part twice. A channel not configured now keeps its failed messages: queued again, they would wait for
        it forever."""
        if not channels:
            return 0
        return self.db.execute(
            f"UPDATE outbox SET status = 'pending', next_attempt_at = ? WHERE status = 'failed' "
            f"AND channel IN ({','.join('?' * len(channels))})", (_ts(now or utcnow()), *channels)).rowcount

    def last_digest_at(self) -> datetime | None:
        row = self.db.execute("SELECT MAX(created_at) FROM digests WHERE kind = 'digest'").fetchone()
        return _dt(row[0])

    def outbox_summary(self) -> list[sqlite3.Row]:
        return self.db.execute(
            """SELECT channel, status, COUNT(*) AS messages, MIN(next_attempt_at) AS next_attempt,
                      MAX(last_error) AS last_error FROM outbox GROUP BY channel, status ORDER BY channel, status"""
        ).fetchall()

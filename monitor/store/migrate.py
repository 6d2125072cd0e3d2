"""Moving a whole state between backends (`monitor migrate-state`): every table copied with its ids, then checked.

The copy is one transaction on the target (all or nothing) into an empty state, tables in the order their
references need. The web search index is not copied: its watermarks are dropped, so `monitor serve` rebuilds it
from the stories on the target (a PostgreSQL tsvector index is not an FTS5 one). Afterwards the target is
checked against the source: the rows of every table, a SHA-256 over every story's id, evidence hash and text, and
the outbox's pending messages, so nothing waiting to be sent is lost or doubled.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

# referenced tables first (PostgreSQL checks each foreign key at once)
TABLES = ("meta", "feeds", "items", "digests", "stories", "story_sources", "outbox", "neardup_sigs", "neardup_bands",
          "source_evidence", "story_updates", "kept_texts", "labels", "mentions", "captures", "rechecks", "robots",
          "views", "incidents", "incident_reports", "incident_persons", "incident_reviews")  # a researcher's reviews too
IDENTITY = ("items", "digests", "stories", "story_sources", "outbox", "neardup_sigs", "labels", "mentions", "captures",
            "incidents", "incident_reviews")
SKIPPED_META = ("search_story_id", "search_source_id", "search_version", "schema_version", "pg_schema")
BATCH = 1000


@dataclass
class Verified:
    """What the check after a copy found: rows per table, and every difference (empty: the copy is whole)."""

    rows: dict[str, int] = field(default_factory=dict)
    pending: int = 0
    problems: list[str] = field(default_factory=list)


def _columns(store, table: str) -> list[str]:
    if store.backend == "sqlite":
        return [r[1] for r in store.db.execute(f"PRAGMA table_info({table})")]
    return [r[0] for r in store.db.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? "
        "ORDER BY ordinal_position", (table,))]


def _count(store, table: str) -> int:
    if table == "meta":
        marks = ",".join("?" * len(SKIPPED_META))
        return int(store.db.execute(f"SELECT COUNT(*) FROM meta WHERE key NOT IN ({marks})", SKIPPED_META).fetchone()[0])
    return int(store.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def emptiness(store) -> str | None:
    """Why this state is not empty (its first table with rows), or None."""
    for table in TABLES:
        if _count(store, table):
            return f"its table {table} has rows"
    return None


def copy_state(source, target) -> None:
    """Every row of `source` into the empty `target`, ids kept, in one transaction on the target."""
    with target.transaction() as db:
        for table in TABLES:
            have = set(_columns(target, table))
            columns = [c for c in _columns(source, table) if c in have]
            names = ", ".join(columns)
            query = f"SELECT {names} FROM {table}"
            if table == "meta":
                query += f" WHERE key NOT IN ({','.join('?' * len(SKIPPED_META))})"
            rows = source.db.execute(query, SKIPPED_META if table == "meta" else ())
            insert = f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})"
            if table == "meta":
                insert += " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            batch = []
            for row in rows:
                batch.append(tuple(row))
                if len(batch) >= BATCH:
                    db.executemany(insert, batch)
                    batch = []
            if batch:
                db.executemany(insert, batch)
        if target.backend == "postgresql":  # the next id after the copied ones
            for table in IDENTITY:
                db.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                           f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)")


def _story_digest(store) -> str:
    digest = hashlib.sha256()
    for row in store.db.execute("SELECT id, raw_sha256, text, digest_id FROM stories ORDER BY id"):
        text = (row[2] or "").replace("\x00", "\ufffd")  # PostgreSQL keeps a NUL as U+FFFD
        digest.update(f"{row[0]}\0{row[1]}\0{row[3]}\0{text}\0".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def _pending(store) -> list[tuple]:
    return [tuple(r) for r in store.db.execute(
        "SELECT id, digest_id, channel, seq, payload FROM outbox WHERE status = 'pending' ORDER BY id")]


def verify_copy(source, target) -> Verified:
    result = Verified()
    for table in TABLES:
        mine, theirs = _count(source, table), _count(target, table)
        result.rows[table] = theirs
        if mine != theirs:
            result.problems.append(f"{table}: {mine} rows in the source, {theirs} in the copy")
    if _story_digest(source) != _story_digest(target):
        result.problems.append("stories: the texts or evidence hashes differ")
    pending = _pending(source)
    result.pending = len(pending)
    if pending != _pending(target):
        result.problems.append("outbox: the pending messages differ")
    return result

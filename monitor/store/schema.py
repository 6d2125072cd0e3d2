"""The tables of the state. Every statement is IF NOT EXISTS, so opening an older state adds what is new.

New columns on existing tables go in `COLUMNS` (table, column, declaration): `add_missing_columns` adds each
one an older state lacks, so any state opens with every column, whatever version wrote it.
"""

import sqlite3

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
-- politeness (robots.py) --
CREATE TABLE IF NOT EXISTS robots (             -- robots.txt per origin, kept between runs
    origin TEXT PRIMARY KEY,
    body TEXT NOT NULL,                         -- '' when the host has none (4xx)
    expires_at REAL NOT NULL                    -- Unix time
);
"""

# (table, column, declaration) added after a table's first release; one line each, oldest first.
COLUMNS: tuple[tuple[str, str, str], ...] = ()


def add_missing_columns(db: sqlite3.Connection) -> None:
    """ALTER TABLE ... ADD COLUMN for every entry of COLUMNS an older state does not have yet."""
    have: dict[str, set[str]] = {}
    for table, column, decl in COLUMNS:
        if table not in have:
            have[table] = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if column not in have[table]:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
            have[table].add(column)

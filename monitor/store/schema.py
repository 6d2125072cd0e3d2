"""The tables of the state. Every statement is IF NOT EXISTS, so opening an older state adds what is new.

New columns on existing tables go in `COLUMNS` (table, column, declaration): `add_missing_columns` adds each
one an older state lacks, so any state opens with every column, whatever version wrote it.
"""

import sqlite3

SCHEMA_VERSION = 2  # 2: re-check, labels, safety net, evidence captures, digests kept, web index (2026-12)

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
CREATE INDEX IF NOT EXISTS items_feed_seen ON items (feed, first_seen);  -- the silence alert: newest per feed
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
-- re-check and labels (store/texts.py, store/labels.py, recheck/) --
CREATE TABLE IF NOT EXISTS kept_texts (         -- the text of an article that matched nothing, for `rematch`
    item_id INTEGER PRIMARY KEY REFERENCES items (id),
    final_url TEXT NOT NULL,
    title TEXT NOT NULL,
    published TEXT,
    fetched_at TEXT NOT NULL,
    extracted INTEGER NOT NULL,                 -- 0: the feed's summary stood in for the page
    raw_sha256 TEXT NOT NULL,
    text_z BLOB NOT NULL                        -- zlib of the UTF-8 text
);
CREATE INDEX IF NOT EXISTS kept_texts_fetched ON kept_texts (fetched_at);
CREATE TABLE IF NOT EXISTS labels (             -- a reader's verdict on a story, or on a miss found elsewhere
    id INTEGER PRIMARY KEY,
    story_id INTEGER REFERENCES stories (id),   -- NULL: an article the monitor never sent (url/title/text kept)
    label TEXT NOT NULL,                        -- relevant | irrelevant
    note TEXT,
    url TEXT,
    title TEXT,
    text_z BLOB,                                -- zlib of the UTF-8 text (NULL: the story's own text)
    language TEXT,
    source TEXT NOT NULL,                       -- who labelled: cli, web, ...
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS labels_story ON labels (story_id) WHERE story_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS labels_url ON labels (url);
-- web interface and weekly report (store/web.py): stories by the date they are about --
CREATE INDEX IF NOT EXISTS stories_when ON stories (COALESCE(published, fetched_at));
-- relevance safety net (store/mentions.py) --
CREATE TABLE IF NOT EXISTS mentions (           -- unmatched articles that name GBAO: "Other mentions of GBAO"
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL UNIQUE REFERENCES items (id),
    source TEXT NOT NULL,
    title TEXT NOT NULL,
    url TEXT NOT NULL,
    published TEXT,
    fetched_at TEXT NOT NULL,
    line TEXT NOT NULL,
    digest_id INTEGER REFERENCES digests (id)   -- NULL = waiting for a digest
);
CREATE INDEX IF NOT EXISTS mentions_waiting ON mentions (digest_id);
-- evidence: WARC captures and re-checks (evidence/, store/evidence.py) --
CREATE TABLE IF NOT EXISTS captures (           -- one fetch of a page kept as WARC records
    id INTEGER PRIMARY KEY,
    story_id INTEGER NOT NULL REFERENCES stories (id),
    source_id INTEGER REFERENCES story_sources (id), -- NULL: the story's first source
    reason TEXT NOT NULL,                       -- first | source | recheck
    warc_file TEXT NOT NULL,                    -- file name under the archive directory (<state>.warc/)
    warc_offset INTEGER NOT NULL,               -- where the capture's records start, and how many bytes
    warc_length INTEGER NOT NULL,
    payload_sha256 TEXT NOT NULL,               -- hex, of the final response's body as received
    captured_at TEXT NOT NULL,                  -- UTC, when the final request was sent
    url TEXT NOT NULL,
    final_url TEXT NOT NULL,
    status INTEGER NOT NULL,
    redirects TEXT NOT NULL,                    -- JSON [[status, url], ...] before the final hop
    peer TEXT,                                  -- address:port connected to (the proxy's behind a proxy)
    monitor_version TEXT NOT NULL,
    text_sha256 TEXT,                           -- of the extracted text
    change TEXT,                                -- re-checks: edited | removed (NULL: unchanged/first)
    change_note TEXT,                           -- "edited: 2 paragraphs changed", "removed by the publisher (HTTP 404)"
    diff TEXT,                                  -- a short paragraph diff for `monitor show`
    text TEXT,                                  -- re-checks that found an edit: the new text (else in stories)
    announced_in INTEGER REFERENCES digests (id), -- the digest that reported the change
    expired_at TEXT,                            -- its WARC file was deleted by evidence_retention
    object_sha256 TEXT                          -- in object storage (warc_file = s3://bucket/key): the object's hex SHA-256
);
CREATE INDEX IF NOT EXISTS captures_story ON captures (story_id);
CREATE INDEX IF NOT EXISTS captures_file ON captures (warc_file);
CREATE INDEX IF NOT EXISTS captures_changes ON captures (announced_in) WHERE change IS NOT NULL;
CREATE TABLE IF NOT EXISTS views (              -- a capture's full-page screenshot, rendered after the poll
    capture_id INTEGER PRIMARY KEY REFERENCES captures (id),
    state TEXT NOT NULL DEFAULT 'pending',      -- pending | rendering (claimed) | done | failed (given up)
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    warc_file TEXT,                             -- done: its own records (resource + metadata), where
    warc_offset INTEGER,
    warc_length INTEGER,
    sha256 TEXT,                                -- hex, of the PNG
    taken_at TEXT,
    host_id TEXT,                               -- the host that queued it (NULL: before hosts; any host with the file)
    claimed_by TEXT,                            -- rendering: the holder (host/pid) that claimed it
    claimed_at REAL                             -- rendering: since when, Unix time on the database's clock
);
CREATE INDEX IF NOT EXISTS views_pending ON views (state) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS views_rendering ON views (state) WHERE state = 'rendering';  -- claims (issue 25)
CREATE TABLE IF NOT EXISTS rechecks (           -- which scheduled re-fetch of a story was done
    story_id INTEGER NOT NULL REFERENCES stories (id),
    step INTEGER NOT NULL,                      -- index into settings.recheck_after
    done_at TEXT NOT NULL,
    outcome TEXT NOT NULL,                      -- unchanged | edited | removed | failed: reason
    PRIMARY KEY (story_id, step)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS custody (            -- the chain of custody: one line per captured, re-checked, exported
    n INTEGER PRIMARY KEY,                      -- the line number, from 1
    line TEXT NOT NULL,                         -- canonical JSON: n, at, event, prev (the previous line's hash), …
    hash TEXT NOT NULL                          -- "sha256:" of the line's UTF-8 bytes
);
-- politeness (robots.py) --
CREATE TABLE IF NOT EXISTS robots (             -- robots.txt per origin, kept between runs
    origin TEXT PRIMARY KEY,
    body TEXT NOT NULL,                         -- '' when the host has none (4xx)
    expires_at REAL NOT NULL                    -- Unix time
);
CREATE TABLE IF NOT EXISTS incidents (           -- one event however many outlets and languages reported it
    id INTEGER PRIMARY KEY,
    act TEXT NOT NULL,
    anchor TEXT NOT NULL,                       -- ISO day candidates are looked up by: the act's date, else the
                                                -- first report's publication day
    district TEXT NOT NULL DEFAULT '',          -- the record's district ('' unknown): narrows the candidates
    precision TEXT NOT NULL DEFAULT '',         -- day | week | month | '' (undated: anchored on publication)
    record TEXT NOT NULL,                       -- JSON: the merged draft record, each field with its sentence
    status TEXT NOT NULL DEFAULT 'draft',       -- draft | confirmed
    created_at TEXT NOT NULL,
    merged_into INTEGER                         -- set when a researcher merged it into another incident
);
CREATE INDEX IF NOT EXISTS incidents_act_anchor ON incidents (act, anchor);
CREATE INDEX IF NOT EXISTS incidents_act_district ON incidents (act, district, anchor);
CREATE INDEX IF NOT EXISTS incidents_anchor ON incidents (anchor);      -- the web's list, newest first
CREATE TABLE IF NOT EXISTS incident_reports (    -- which story reports which incident, with its own record
    story_id INTEGER PRIMARY KEY REFERENCES stories(id),
    incident_id INTEGER NOT NULL REFERENCES incidents(id),
    language TEXT NOT NULL DEFAULT '',
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS incident_reports_incident ON incident_reports (incident_id);
CREATE TABLE IF NOT EXISTS incident_persons (    -- a person's incidents are their case
    person_key TEXT NOT NULL,
    incident_id INTEGER NOT NULL REFERENCES incidents(id),
    name TEXT NOT NULL,                         -- as the first report wrote it
    PRIMARY KEY (person_key, incident_id)
);
CREATE INDEX IF NOT EXISTS incident_persons_incident ON incident_persons (incident_id);
-- hosts sharing the state, and their leases (leases.py; issue 25) --
CREATE TABLE IF NOT EXISTS hosts (               -- one row per MONITOR_HOST_ID that ever ran on this state
    host_id TEXT PRIMARY KEY,
    started_at REAL NOT NULL,                   -- Unix time on the database's clock
    last_seen REAL NOT NULL,                    -- its last heartbeat, same clock
    version TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS host_machines (       -- which machines heartbeat under each host id (leases.machine_id)
    host_id TEXT NOT NULL,
    machine TEXT NOT NULL,                      -- a hash of machine-id, boot id and pid namespace
    first_beat BIGINT NOT NULL,                 -- the host id's heartbeats counted: this machine's first
    last_beat BIGINT NOT NULL,                  -- and its latest (overlapping spans: two machines at once)
    last_seen REAL NOT NULL,                    -- Unix time on the database's clock
    PRIMARY KEY (host_id, machine)
);
CREATE TABLE IF NOT EXISTS leases (              -- feed:, origin:, coordinator, channel: — who may act, until when
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,                       -- a host id; '' never claimed
    token BIGINT NOT NULL,                      -- fencing token: +1 on every new claim
    expires_at REAL NOT NULL                    -- Unix time on the database's clock
);
CREATE TABLE IF NOT EXISTS origin_pauses (       -- back-off and Retry-After of an origin, for every host
    origin TEXT PRIMARY KEY,
    until_at REAL NOT NULL,                     -- Unix time on the database's clock
    reason TEXT NOT NULL,
    host TEXT NOT NULL                          -- who met it: host/pid@machine (its own Fetcher keeps it already)
);
CREATE TABLE IF NOT EXISTS incident_reviews (    -- a researcher's confirmations, corrections, merges and splits
    id INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL REFERENCES incidents(id),
    action TEXT NOT NULL,                       -- confirm | correct | merge | merged_into | split | split_from
    field TEXT NOT NULL DEFAULT '',             -- the field confirmed or corrected ('' the whole record)
    previous TEXT,                              -- JSON: what was there before (the field, or the whole record)
    value TEXT,                                 -- JSON: what is there now (the field), or the other incident's id
    note TEXT,
    who TEXT NOT NULL,                          -- the reviewer: web, cli, or --who
    at TEXT NOT NULL                            -- monitor.clock time, ISO 8601
);
CREATE INDEX IF NOT EXISTS incident_reviews_incident ON incident_reviews (incident_id, id);
"""

# (table, column, declaration) added after a table's first release; one line each, oldest first.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("stories", "rechecked", "INTEGER NOT NULL DEFAULT 0"),  # 1: found by `monitor rematch` after a rule change
    ("stories", "urgent_topic", "TEXT"),  # relevance (issue 17): the urgent topic and its current sentence
    ("stories", "urgent_sentence", "TEXT"),
    ("stories", "urgent_rank", "INTEGER NOT NULL DEFAULT 50"),
    ("stories", "concepts", "TEXT NOT NULL DEFAULT '[]'"),  # digest: what matched, as alias names (issue 12)
    ("captures", "object_sha256", "TEXT"),  # evidence in object storage (issue 25): the object's SHA-256
    ("incidents", "reviewed", "TEXT NOT NULL DEFAULT '{}'"),  # issue 22: {field: confirmed|corrected}, '*' the whole
    ("views", "host_id", "TEXT"),  # issue 25: screenshots across hosts: who queued it, who renders it, since when
    ("views", "claimed_by", "TEXT"),
    ("views", "claimed_at", "REAL"),
)


def add_missing_columns(db: sqlite3.Connection) -> None:
    """ALTER TABLE ... ADD COLUMN for every entry of COLUMNS an older state does not have yet."""
    if not isinstance(db, sqlite3.Connection):  # PostgreSQL (store/pg.py) says IF NOT EXISTS itself
        from monitor.store.pg import column_decl

        present = {(r[0], r[1]) for r in db.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()")}
        for table, column, decl in COLUMNS:
            if (table, column) not in present:  # ALTER takes an exclusive lock: only when really needed
                db.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {column_decl(decl)}")
        return
    have: dict[str, set[str]] = {}
    for table, column, decl in COLUMNS:
        if table not in have:
            have[table] = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if column not in have[table]:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
            have[table].add(column)


def stored_version(db: sqlite3.Connection) -> int:
    """The schema version a state was written with (PRAGMA user_version or meta.schema_version), read only."""
    if not isinstance(db, sqlite3.Connection):  # PostgreSQL: meta.schema_version only
        found, has_meta = 0, db.execute("SELECT to_regclass('meta') IS NOT NULL").fetchone()[0]
    else:
        found = int(db.execute("PRAGMA user_version").fetchone()[0])
        has_meta = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
    if has_meta:
        row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is not None and str(row[0]).strip().isdigit():
            found = max(found, int(row[0]))
    return found


def record_version(db: sqlite3.Connection) -> None:
    """After the migrations: the state is now at SCHEMA_VERSION, so an older monitor will refuse it."""
    if isinstance(db, sqlite3.Connection) and int(db.execute("PRAGMA user_version").fetchone()[0]) < SCHEMA_VERSION:
        db.execute(f"PRAGMA user_version = {int(SCHEMA_VERSION)}")
    db.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET "
               "value = excluded.value WHERE CAST(meta.value AS INTEGER) < ?", (str(SCHEMA_VERSION), SCHEMA_VERSION))

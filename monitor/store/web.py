"""SQL for the web interface and the weekly report: the full-text index, story lists, trend counts.

The search index is a contentless FTS5 table over *folded* text (the matcher's own `fold`), so a query
folded the same way finds «Хоруғ» when «Хоруг» is typed. SQLite cannot fold like Python, so the index is
kept up to date by the web process itself ("update on read"): it reads the stories and sources past a
watermark, folds them outside any transaction, then writes one short batch. The poller's transactions are
not touched and not made longer. The index tables are created lazily by the web process, not in `_SCHEMA`,
so a SQLite without FTS5 still runs the monitor (only search is then unavailable).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from monitor.store.scratch import create as create_scratch
from monitor.store.common import _ts
from monitor.store.pgsearch import fts5_to_tsquery


def _topics(value: str) -> list[str]:
    try:
        topics = json.loads(value or "[]")
    except ValueError:
        return []
    return [t for t in topics if isinstance(t, str)]


SEARCH_SCHEMA = """
CREATE TABLE IF NOT EXISTS story_facets (       -- slim copies of what the filters sort and select on
    story_id INTEGER PRIMARY KEY,
    day TEXT NOT NULL,                          -- COALESCE(published, fetched_at)
    language TEXT NOT NULL,                     -- en | ru | tg | fa | und
    source TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS story_facets_day ON story_facets (day);
CREATE INDEX IF NOT EXISTS story_facets_language ON story_facets (language, day);
CREATE INDEX IF NOT EXISTS story_facets_source ON story_facets (source, day);
CREATE TABLE IF NOT EXISTS story_topics (
    topic TEXT NOT NULL,
    day TEXT NOT NULL,
    story_id INTEGER NOT NULL,
    PRIMARY KEY (topic, day, story_id)
) WITHOUT ROWID;
"""
FTS_SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS search_index USING fts5(
    title, body, content = '', tokenize = 'unicode61 remove_diacritics 0'
);  -- rowid > 0: stories.id; rowid < 0: -story_sources.id
"""

# PostgreSQL: the same folded text in a tsvector ('simple': no stemming, the matcher folded it already)
PG_SEARCH_SCHEMA = """
CREATE TABLE IF NOT EXISTS search_index (
    rowid BIGINT PRIMARY KEY,                   -- > 0: stories.id; < 0: -story_sources.id
    doc TSVECTOR NOT NULL
);
CREATE INDEX IF NOT EXISTS search_index_doc ON search_index USING GIN (doc);
"""

# The date a story is about: its publication date, or when it was fetched when the page gave none.
WHEN = "COALESCE(s.published, s.fetched_at)"


def _matching(pg: bool) -> str:
    """The stories (by id) with a document matching the search: their own, or a further source's. Never NULL
    (a source whose row is gone counts as story 0), so `NOT IN` leaves out only what it should."""
    test = "doc @@ to_tsquery('simple', ?)" if pg else "search_index MATCH ?"
    return ("SELECT CASE WHEN rowid > 0 THEN rowid ELSE COALESCE((SELECT story_id FROM story_sources "
            f"WHERE id = -search_index.rowid), 0) END FROM search_index WHERE {test}")


@dataclass(frozen=True)
class StoryFilter:
    """What the story list shows; every field optional. `match` is an FTS5 expression over folded text, the
    stories it finds are kept; `exclude` is one too, the stories it finds are left out (on its own: every
    story but those, which FTS5's NOT cannot say without something to subtract from)."""

    match: str | None = None
    exclude: str | None = None
    topic: str | None = None
    language: str | None = None
    source: str | None = None
    since: datetime | None = None
    until: datetime | None = None  # exclusive
    label: str | None = None  # relevant | irrelevant | none (not triaged yet); the labels table of `monitor label`

    @property
    def indexed(self) -> bool:
        """Filters other than dates are answered from the index tables: slim rows, sorted by their own index,
        so a filter never reads the stories' texts. (The newest stories without any filter come straight
        from `stories`, so a fresh state lists everything before its index is built.)"""
        return bool(self.match or self.exclude or self.topic or self.language or self.source or self.label)

    def where(self, pg: bool = False) -> tuple[str, list]:
        """The WHERE clause over `story_facets f` (when `indexed`) or `stories s`; `pg`: PostgreSQL's search."""
        if not self.indexed:
            clauses, args = [], []
            if self.since:
                clauses.append(f"{WHEN} >= ?")
                args.append(_ts(self.since))
            if self.until:
                clauses.append(f"{WHEN} < ?")
                args.append(_ts(self.until))
            return (" WHERE " + " AND ".join(clauses)) if clauses else "", args
        return self.facet_where(pg)

    def facet_where(self, pg: bool = False) -> tuple[str, list]:
        """The WHERE clause over `story_facets f`, whatever the filter ("" when nothing filters)."""
        clauses, args = [], []
        for expr, keep in ((self.match, "IN"), (self.exclude, "NOT IN")):
            if expr:
                clauses.append(f"f.story_id {keep} ({_matching(pg)})")
                args.append(fts5_to_tsquery(expr) if pg else expr)
        if self.topic:
            clauses.append("EXISTS (SELECT 1 FROM story_topics t WHERE t.topic = ? AND t.day = f.day "
                           "AND t.story_id = f.story_id)")  # one primary-key probe per candidate
            args.append(self.topic)
        if self.language:
            clauses.append("f.language = ?")
            args.append(self.language)
        if self.source:
            clauses.append("(f.source = ? OR f.story_id IN (SELECT story_id FROM story_sources WHERE source = ?))")
            args += [self.source, self.source]
        if self.label == "none":
            clauses.append("f.story_id NOT IN (SELECT story_id FROM labels WHERE story_id IS NOT NULL)")
        elif self.label:
            clauses.append("f.story_id IN (SELECT story_id FROM labels WHERE label = ?)")
            args.append(self.label)
        if self.since:
            clauses.append("f.day >= ?")
            args.append(_ts(self.since))
        if self.until:
            clauses.append("f.day < ?")
            args.append(_ts(self.until))
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


@dataclass
class IndexBatch:
    """Documents to add to the search index, and the watermarks they move to."""

    stories: list[sqlite3.Row] = field(default_factory=list)
    sources: list[sqlite3.Row] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.stories) + len(self.sources)


class WebQueries:
    """Mixed into Store: it needs `db` and `transaction()` from there."""

    db: sqlite3.Connection
    search_meta = "meta"  # where the index's watermarks are kept (a read-only state: monitor/store/scratch.py)
    backend: str

    # --- the search index -----------------------------------------------------------------

    def search_ensure(self) -> bool:
        """Create the index tables if missing; False when this SQLite has no FTS5 (the filters still work)."""
        in_scratch = self.search_meta != "meta"  # a read-only state never indexed: monitor/store/scratch.py
        if not in_scratch:
            self.db.executescript(SEARCH_SCHEMA)
        if self.backend != "sqlite":
            self.db.executescript(PG_SEARCH_SCHEMA)
            return True
        try:
            if in_scratch:
                create_scratch(self.db, SEARCH_SCHEMA, FTS_SCHEMA)
            else:
                self.db.executescript(FTS_SCHEMA)
        except sqlite3.OperationalError as exc:
            if "fts5" in str(exc):
                return False
            raise
        return True

    def _mark(self, key: str) -> int:
        row = self.db.execute(f"SELECT value FROM {self.search_meta} WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else 0

    def search_backlog(self) -> tuple[int, int]:
        """(documents indexed, documents in the archive): stories plus further sources."""
        done_s, done_x = self._mark("search_story_id"), self._mark("search_source_id")
        row = self.db.execute(
            """SELECT (SELECT COUNT(*) FROM stories WHERE id <= ?) + (SELECT COUNT(*) FROM story_sources WHERE id <= ?),
                      (SELECT COUNT(*) FROM stories) + (SELECT COUNT(*) FROM story_sources)""", (done_s, done_x)
        ).fetchone()
        return int(row[0]), int(row[1])

    def search_unindexed(self, limit: int) -> IndexBatch:
        """The next stories and sources past the watermarks (one read; nothing is locked afterwards)."""
        done_s, done_x = self._mark("search_story_id"), self._mark("search_source_id")
        batch = IndexBatch()
        batch.stories = self.db.execute(
            """SELECT id, source, title, text, topics, COALESCE(published, fetched_at) AS day FROM stories
               WHERE id > ? ORDER BY id LIMIT ?""", (done_s, limit)
        ).fetchall()
        if len(batch.stories) < limit:
            batch.sources = self.db.execute(
                """SELECT ss.id, ss.story_id, ss.title, COALESCE(e.text, '') AS text FROM story_sources ss
                   LEFT JOIN source_evidence e ON e.source_id = ss.id WHERE ss.id > ? ORDER BY ss.id LIMIT ?""",
                (done_x, limit - len(batch.stories)),
            ).fetchall()
        return batch

    def search_add(self, batch: IndexBatch, folded: Sequence[tuple[str, str]], languages: Sequence[str],
                   *, busy_ms: int = 10_000, fts: bool = True) -> None:
        """Write one batch: folded (title, body) per document in batch order, a language per story.

        `busy_ms` bounds the wait for the poller's write lock: a page view gives up quickly (the background
        indexer takes the batch later) rather than wait for a poll to commit.
        """
        self.db.execute(f"PRAGMA busy_timeout = {int(busy_ms)}")
        try:
            before = self._mark("search_story_id")
            self._search_write(batch, folded, languages, fts)
        finally:
            self.db.execute("PRAGMA busy_timeout = 10000")
        last = batch.stories[-1]["id"] if batch.stories else before
        if self.backend != "sqlite" and (before == 0 or before // 20_000 != last // 20_000) and last:
            self.db.execute("ANALYZE search_index")  # the planner uses the GIN index once it knows the rows

    def _search_write(self, batch: IndexBatch, folded: Sequence[tuple[str, str]], languages: Sequence[str],
                      fts: bool) -> None:
        with self.transaction() as db:
            if fts:
                docs = [(r["id"], *folded[i]) for i, r in enumerate(batch.stories)]
                docs += [(-r["id"], *folded[len(batch.stories) + i]) for i, r in enumerate(batch.sources)]
                if self.backend != "sqlite":
                    from monitor.store.pgsearch import index_words

                    db.executemany("INSERT INTO search_index (rowid, doc) VALUES (?, to_tsvector('simple', ?)) "
                                   "ON CONFLICT (rowid) DO UPDATE SET doc = excluded.doc",
                                   [(i, index_words(f"{t}\n{b}")) for i, t, b in docs])
                else:
                    db.executemany("INSERT OR REPLACE INTO search_index (rowid, title, body) VALUES (?, ?, ?)", docs)
            db.executemany("INSERT INTO story_facets (story_id, day, language, source) VALUES (?, ?, ?, ?) ON CONFLICT "
                           "(story_id) DO UPDATE SET day = excluded.day, language = excluded.language, "
                           "source = excluded.source",
                           [(r["id"], r["day"], lang, r["source"]) for r, lang in zip(batch.stories, languages)])
            db.executemany("INSERT INTO story_topics (topic, day, story_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                           [(t, r["day"], r["id"]) for r in batch.stories for t in _topics(r["topics"])])
            for key, rows in (("search_story_id", batch.stories), ("search_source_id", batch.sources)):
                if rows:
                    db.execute(f"INSERT INTO {self.search_meta} (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE "
                               "SET value = excluded.value", (key, str(rows[-1]["id"])))

    def search_reset(self) -> None:
        """Forget the whole index (after a change of the folding); the next reads rebuild it."""
        with self.transaction() as db:
            if self.backend != "sqlite":
                db.execute("DELETE FROM search_index")
            elif db.execute("SELECT 1 FROM sqlite_master WHERE name = 'search_index'").fetchone():
                db.execute("INSERT INTO search_index (search_index) VALUES ('delete-all')")
            db.execute("DELETE FROM story_facets")
            db.execute("DELETE FROM story_topics")
            db.execute(f"DELETE FROM {self.search_meta} WHERE key IN ('search_story_id', 'search_source_id', 'search_version')")

    def search_version(self) -> str | None:
        row = self.db.execute(f"SELECT value FROM {self.search_meta} WHERE key = 'search_version'").fetchone()
        return row[0] if row else None

    def set_search_version(self, version: str) -> None:
        self.db.execute(f"INSERT INTO {self.search_meta} (key, value) VALUES ('search_version', ?) ON CONFLICT (key) DO UPDATE "
                        "SET value = excluded.value", (version,))

    # --- story lists ----------------------------------------------------------------------

    _COLUMNS = f"""s.id, s.source, s.title, s.url, s.final_url, s.published, s.fetched_at, s.topics, s.terms,
                   s.score, s.snippet, s.highlights, s.urgent, s.digest_id, {WHEN} AS day,
                   (SELECT COUNT(*) FROM story_sources ss WHERE ss.story_id = s.id) AS sources,
                   (SELECT language FROM story_facets l WHERE l.story_id = s.id) AS language"""

    @contextmanager
    def _index_plan(self, flt: StoryFilter) -> Iterator[None]:
        """PostgreSQL prices a sequential scan of search_index as if the tsvectors were in the table, not stored
        apart (TOAST): it picks that scan and reads every document — 6 s at 100,000 stories — where the GIN index
        finds the few in milliseconds. A search is planned with the scan ruled out (bench/README.md)."""
        if self.backend == "sqlite" or not (flt.match or flt.exclude):
            yield
            return
        self.db.execute("SET enable_seqscan = off")
        try:
            yield
        finally:
            self.db.execute("RESET enable_seqscan")

    def list_stories(self, flt: StoryFilter, *, limit: int = 50, offset: int = 0) -> list[sqlite3.Row]:
        """Newest first (by publication date, else fetch time), with the number of further sources."""
        where, args = flt.where(self.backend != "sqlite")
        if not flt.indexed:
            return self.db.execute(
                f"SELECT {self._COLUMNS} FROM stories s{where} ORDER BY {WHEN} DESC, s.id DESC LIMIT ? OFFSET ?",
                [*args, int(limit), int(offset)]).fetchall()
        with self._index_plan(flt):
            ids = [r[0] for r in self.db.execute(
                f"SELECT f.story_id FROM story_facets f{where} ORDER BY f.day DESC, f.story_id DESC LIMIT ? OFFSET ?",
                [*args, int(limit), int(offset)])]
        if not ids:
            return []
        rows = {r["id"]: r for r in self.db.execute(
            f"SELECT {self._COLUMNS} FROM stories s WHERE s.id IN ({','.join('?' * len(ids))})", ids)}
        return [rows[i] for i in ids if i in rows]

    def count_stories(self, flt: StoryFilter, cap: int = 1_000) -> int:
        """How many stories the filter finds, counted up to `cap` (a count is no reason to read everything)."""
        where, args = flt.where(self.backend != "sqlite")
        table = "story_facets f" if flt.indexed else "stories s"
        with self._index_plan(flt):
            row = self.db.execute(f"SELECT COUNT(*) FROM (SELECT 1 FROM {table}{where} LIMIT ?) AS found",
                                  [*args, cap]).fetchone()
        return int(row[0])

    def facet_counts(self, flt: StoryFilter) -> dict[str, dict[str, int]]:
        """Beside each filter's choices: how many stories each would leave, the other filters applied
        (a filter's own choice set aside, so its other choices can be compared)."""
        from dataclasses import replace

        def where(f: StoryFilter) -> tuple[str, list]:
            return f.facet_where(self.backend != "sqlite")

        out: dict[str, dict[str, int]] = {}
        with self._index_plan(flt):
            w, a = where(replace(flt, language=None))
            out["language"] = dict(self.db.execute(f"SELECT f.language, COUNT(*) FROM story_facets f{w} GROUP BY 1",
                                                   a))
            w, a = where(replace(flt, topic=None))
            out["topic"] = dict(self.db.execute(
                f"SELECT t.topic, COUNT(*) FROM story_facets f JOIN story_topics t ON t.story_id = f.story_id "
                f"AND t.day = f.day{w} GROUP BY 1", a))
            w, a = where(replace(flt, source=None))
            out["source"] = dict(self.db.execute(
                f"""SELECT source, COUNT(DISTINCT story_id) FROM (
                      SELECT f.source AS source, f.story_id FROM story_facets f{w}
                      UNION ALL SELECT ss.source, ss.story_id FROM story_sources ss
                      WHERE ss.story_id IN (SELECT f.story_id FROM story_facets f{w})) AS carried GROUP BY 1""",
                a + a))
        return out

    def story_language(self, story_id: int) -> str | None:
        row = self.db.execute("SELECT language FROM story_facets WHERE story_id = ?", (story_id,)).fetchone()
        return row[0] if row else None

    def facet_values(self) -> dict[str, list[str]]:
        """The choices of the filters: every source (first or further) and language in the index."""
        sources = [r[0] for r in self.db.execute(
            "SELECT DISTINCT source FROM story_facets UNION SELECT source FROM story_sources ORDER BY 1")]
        languages = [r[0] for r in self.db.execute("SELECT DISTINCT language FROM story_facets ORDER BY 1")]
        return {"sources": sources, "languages": languages}

    # --- trends and the weekly report -----------------------------------------------------

    def story_ids_exist(self, ids: Iterable[int]) -> set[int]:
        ids = list(ids)
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        return {r[0] for r in self.db.execute(f"SELECT id FROM stories WHERE id IN ({marks})", ids)}

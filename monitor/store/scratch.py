"""A search index beside a read-only state: `serve --read-only` on an archive copy that was never indexed.

The state file may not be written (write-protected media), so the index tables go to a private temporary
SQLite file attached to every connection of this process as `scratch`: SQL names the index tables without a
schema, and SQLite finds them there when the state has none. The watermarks live in `scratch.search_meta`
instead of the state's `meta`. The file is removed when the process ends.
"""

from __future__ import annotations

import atexit
import os
import sqlite3
import tempfile
import threading

_FILES: dict[str, str] = {}
_LOCK = threading.Lock()


def _remove(path: str) -> None:
    for name in (path, path + "-wal", path + "-shm", path + "-journal"):
        try:
            os.unlink(name)
        except OSError:
            pass


def _file_for(state: str) -> str:
    key = os.path.realpath(state)
    with _LOCK:
        if key not in _FILES:
            handle, path = tempfile.mkstemp(prefix="monitor-search-", suffix=".db")
            os.close(handle)
            atexit.register(_remove, path)
            _FILES[key] = path
        return _FILES[key]


def attach(db: sqlite3.Connection, state: str) -> str:
    """Where the search watermarks are kept for this read-only connection: the state's own `meta` when the
    state has an index already (searched as it is), else a scratch index attached now."""
    if db.execute("SELECT 1 FROM main.sqlite_master WHERE name = 'story_facets'").fetchone():
        return "meta"
    db.execute("ATTACH DATABASE ? AS scratch", (_file_for(state),))
    db.execute("CREATE TABLE IF NOT EXISTS scratch.search_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    return "scratch.search_meta"


def create(db: sqlite3.Connection, search_schema: str, fts_schema: str) -> None:
    """The index tables in the scratch file (IF NOT EXISTS: every connection of the process may ask)."""
    db.executescript(search_schema.replace("CREATE TABLE IF NOT EXISTS ", "CREATE TABLE IF NOT EXISTS scratch.")
                     .replace("CREATE INDEX IF NOT EXISTS ", "CREATE INDEX IF NOT EXISTS scratch."))
    db.executescript(fts_schema.replace("EXISTS search_index", "EXISTS scratch.search_index"))

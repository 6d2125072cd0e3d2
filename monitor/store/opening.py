"""How a state is opened and closed: a SQLite file read-only (an archive copy on write-protected media), a
PostgreSQL database (psycopg imported only then), and the clean-close stamp that spares a healthy file the
whole-file check at the next start.

`Opening` is mixed into Store: it needs `path`, `db`, `where`, `backend`, `meta_get`/`meta_set` and
`_refuse_newer()` from there.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from monitor.store.common import StateError, _explain, is_database_url, redact_url
from monitor.store.schema import _SCHEMA, SCHEMA_VERSION, add_missing_columns, record_version, stored_version

# what SQLite says when a WAL state's -shm file cannot be made: 3.40 says the second in a read-only folder
_NO_SHM = ("unable to open", "attempt to write a readonly database")


def _open_read_only(path: str) -> sqlite3.Connection:
    """mode=ro beside a running monitor; on media where SQLite cannot even make its shared-memory file (a
    write-protected folder or disk) the file cannot change under us either: `immutable` reads it without locks."""
    uri = Path(os.path.abspath(path)).as_uri()
    last: sqlite3.DatabaseError | None = None
    for query in ("mode=ro", "mode=ro&immutable=1"):
        if last is not None and (not any(said in str(last) for said in _NO_SHM)
                                 or os.access(os.path.dirname(os.path.abspath(path)), os.W_OK)):
            break  # locked, damaged, missing: never read past another program's lock
        if last is not None and _unfolded_log(path):  # `immutable` reads the file alone, not its log
            raise StateError(f"{path}: its write-ahead log ({path}-wal) holds changes that cannot be read in a "
                             "write-protected folder; copy the state with its -wal file to a writable folder and "
                             "open that copy") from None
        db = None
        try:
            db = sqlite3.connect(f"{uri}?{query}", uri=True, timeout=10, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA busy_timeout = 10000")
            found = stored_version(db)
            if found > SCHEMA_VERSION:
                db.close()
                raise StateError(f"{path}: this state was written by a newer version of the monitor (schema {found}; "
                                 f"this one knows up to {SCHEMA_VERSION}). It was left untouched: upgrade the monitor.")
            db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            return db  # mode=ro: SQLite refuses every write to the file (temporary tables stay possible)
        except sqlite3.DatabaseError as exc:
            if db is not None:
                db.close()
            last = exc
    if last is not None and "unable to open" in str(last):
        raise StateError(f"{path}: cannot read the state file ({last})") from None
    raise StateError(_explain(path, last)) from None  # type: ignore[arg-type]


def _unfolded_log(path: str) -> bool:
    """A copy taken while a monitor ran has its latest writes in `-wal` until the next checkpoint."""
    try:
        return os.path.getsize(f"{path}-wal") > 0
    except OSError:
        return False


class Opening:
    """Mixed into Store."""

    def _open_postgresql(self, url: str) -> None:
        if not is_database_url(url):
            raise StateError(f"{redact_url(url)}: not a PostgreSQL URL (expected postgresql://user@host/database)")
        self.backend, self.where = "postgresql", redact_url(url)
        try:
            from monitor.store.pg import PgConnection  # psycopg is paid for only when a URL is given
        except ImportError:
            raise StateError(f"{self.where}: PostgreSQL needs psycopg: pip install 'pamir-monitor[postgresql]'") from None
        try:
            self.db = PgConnection(url)  # type: ignore[assignment]
            self._refuse_newer()
            import hashlib

            from monitor.store.schema import COLUMNS

            mark = hashlib.sha256(f"{SCHEMA_VERSION}{_SCHEMA}{COLUMNS}".encode()).hexdigest()[:16]
            if self.db.execute("SELECT to_regclass('meta') IS NOT NULL").fetchone()[0] and \
                    self.meta_get("pg_schema") == mark:
                return  # the schema is as this version makes it: no DDL (a quiet cycle opens in one query)
            self.db.executescript(_SCHEMA)
            add_missing_columns(self.db)
            record_version(self.db)
            self.meta_set("pg_schema", mark)
        except sqlite3.DatabaseError as exc:
            raise StateError(_explain(self.where, exc)) from None

    # A clean close leaves `<state>.closed` with the file's size and modification time. A state that does not
    # match it was changed by something else (a crash mid-write, a disk fault, a copy) and is checked whole
    # before this run writes into it; one that matches skips the check, so a run's start does not grow with the
    # size of the archive.

    def _stamp_path(self) -> Path:
        return Path(self.path + ".closed")

    def _file_stamp(self) -> str | None:
        try:
            info = os.stat(self.path)
        except OSError:
            return None
        if os.path.exists(self.path + "-wal") and os.path.getsize(self.path + "-wal") > 0:
            return None  # a write-ahead log left behind: not a clean close
        return f"{info.st_size} {info.st_mtime_ns}"

    def _changed_since_close(self) -> bool:
        if not os.path.exists(self.path) or os.path.getsize(self.path) == 0:
            return False  # a new state: nothing to check
        try:
            kept = self._stamp_path().read_text(encoding="ascii").strip()
        except OSError:
            return True
        return kept != self._file_stamp()

    def _write_stamp(self) -> None:
        stamp = self._file_stamp()
        path = self._stamp_path()
        try:
            if stamp is None:
                path.unlink(missing_ok=True)
                return
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(stamp + "\n", encoding="ascii")
            os.replace(tmp, path)
        except OSError:  # a read-only folder: the next start checks the file instead
            pass

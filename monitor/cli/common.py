"""What every command shares: the state opened and locked, the config loaded, errors and logs for people."""

from __future__ import annotations

import argparse
import fcntl
import logging
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.config.problems import ConfigError
from monitor.store import Store
from monitor.store.common import FIRST_YEAR, LAST_YEAR, MAX_ID

if TYPE_CHECKING:  # config (pydantic) is imported when a command needs it: a quiet cycle never does
    from monitor.config.feeds import FeedsFile


def parse_date(text: str) -> datetime:
    try:
        when = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None
    if not FIRST_YEAR <= when.year <= LAST_YEAR:
        raise argparse.ArgumentTypeError(f"expected a date from {FIRST_YEAR}-01-01 to {LAST_YEAR}-12-31, "
                                         f"got {text!r}")
    return when


def parse_id(text: str) -> int:
    """A story id as typed: a whole number from 1 up that the state can hold."""
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_ID:
        raise argparse.ArgumentTypeError(f"expected a story id (a number from 1 up, as in digests), got {text!r}")
    return int(text)


def parse_port(text: str) -> int:
    """A TCP port as typed: 1-65535, or 0 for any free port."""
    if not (text.isascii() and text.isdigit()) or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535 (0: any free port), got {text!r}")
    return int(text)



class _InertFormatter(logging.Formatter):
    """Titles and URLs from the web are logged: an ESC, BEL, CR or NUL in one must not drive the terminal or the
    journal, so every control character but newline and tab is shown as \\xNN; an absurdly long message is cut."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if len(message) > MAX_LOG_MESSAGE:
            record = logging.makeLogRecord({**record.__dict__, "args": None,
                                            "msg": f"{message[:MAX_LOG_MESSAGE]}… ({len(message):,} characters)"})
        return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if m.group() < "\u0100" else f"\\u{ord(m.group()):04x}",
                            super().format(record))



class JournalFormatter(_InertFormatter):
    """Under journald: a `<N>` syslog priority in front (sd-daemon(3)), so `journalctl -p warning` and alerting
    on priorities work, and one entry per event: journald cuts at newlines, so a multi-line message (a list of
    config problems, a traceback) is folded onto one line instead of spilling into entries without priority."""

    PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6, logging.DEBUG: 7}

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        priority = self.PRIORITY.get(record.levelno, 3 if record.levelno > logging.ERROR else 6)
        return f"<{priority}>" + " ⏎ ".join(line for line in text.splitlines() if line.strip())



def _quiet_libraries(record: logging.LogRecord) -> bool:
    """Below -vv a library's INFO and DEBUG lines are chatter (pymorphy3 loading its dictionary after a keywords
    edit, and whichever library starts talking next): only its warnings and errors reach the log."""
    return record.levelno >= logging.WARNING or record.name == "root" or record.name.split(".")[0] == "monitor"


def setup_logging(verbose: int) -> None:
    """One line per event on stderr; journald adds its own timestamps and reads our priorities, a terminal
    gets timestamps."""
    level = logging.INFO if verbose < 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("JOURNAL_STREAM"):
        handler.setFormatter(JournalFormatter("%(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(_InertFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s",
                                               datefmt="%Y-%m-%d %H:%M:%S"))
    if verbose < 2:
        handler.addFilter(_quiet_libraries)
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for noisy in ("httpx", "httpcore", "apscheduler", "trafilatura", "htmldate", "courlan", "charset_normalizer",
                  "pymorphy3"):  # library chatter (pymorphy3 loading its dictionary) only under -vv
        logging.getLogger(noisy).setLevel(logging.WARNING if verbose < 2 else logging.DEBUG)



_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")



MAX_LOG_MESSAGE = 2000  # characters: a 1 MB title from a hostile feed must not become a 1 MB log line



@contextmanager
def instance_lock(state: str, database: str | None = None) -> Iterator[None]:
    """One monitor per state: two schedulers on one state would send everything twice.

    The lock sits beside the file the path leads to, not the path as typed: a symlink to the state (or a second
    spelling of its folder) must meet the same lock. A state with a second name (a hard link) is refused: each
    name would meet a lock, and a SQLite journal, of its own. With a PostgreSQL `database` the state is that
    database: the lock is named after it (server, port, database; never the password) in the state's folder, so
    two monitors of one host sharing that folder (the systemd units' /var/lib/pamir-monitor) never run at once,
    whatever --state file name each gives. Across hosts the database's own write lock keeps every exactly-once
    guarantee."""
    from monitor.store import is_database_url

    if database is None and is_database_url(state):  # --state postgresql://…: the Store reads it so too
        database, state = state, "monitor.db"
    real = Path(os.path.realpath(state))
    path = real.with_name(real.name + ".lock")
    what = f"the state {state}"
    if database:
        path = real.parent / f".pamir-monitor-{database_key(database)}.lock"
        from monitor.store import redact_url

        what = f"the database {redact_url(database)}"
    if not database and real.is_file() and (names := real.stat().st_nlink) > 1:
        raise RuntimeError(f"the state {state} has {names} names (hard links): SQLite keeps its journal beside "
                           "the name it was opened by, so runs through two names can corrupt it, and each meets a "
                           "lock of its own; keep one name (a symlink is fine)")
    try:
        handle = open(path, "a+")
    except OSError as exc:  # a read-only folder or disk, a missing folder: say so, no traceback
        raise RuntimeError(f"cannot create the lock file {path} beside the state ({exc.strerror or exc}); "
                           "the state needs a writable folder (use --state or $MONITOR_STATE)") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise RuntimeError(f"another monitor is already running with {what} (lock {path}); stop it "
                           "first, e.g. `systemctl stop pamir-monitor` (systemd/README.md: a backfill)") from None
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def database_key(url: str) -> str:
    """A PostgreSQL database's name for the lock: host, port and database, however the URL spells the rest (the
    user, the password, other parameters, the order of the query)."""
    import hashlib
    from urllib.parse import parse_qs, unquote, urlsplit

    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    host = (query.get("host") or unquote(parts.hostname or "") or "localhost").lower()
    try:
        port = query.get("port") or str(parts.port or 5432)
    except ValueError:
        port = "5432"
    database = query.get("dbname") or unquote(parts.path.lstrip("/")) or unquote(parts.username or "")
    return hashlib.sha256(f"{host}:{port}/{database}".encode()).hexdigest()[:16]



def load_config(args: argparse.Namespace) -> tuple[FeedsFile, object]:
    """Both files, every problem of both reported together."""
    from monitor.config.feeds import load_feeds
    from monitor.relevance.keywords import load_rules

    problems = []
    feeds = rules = None
    try:
        feeds = load_feeds(args.feeds)
    except ConfigError as exc:
        problems += exc.problems
    try:
        rules = load_rules(args.keywords)
    except ConfigError as exc:
        problems += exc.problems
    if rules is not None and Path(args.feeds).exists():
        from monitor.config.feeds import load_yaml
        from monitor.config.recipients import topic_problems

        try:
            data, line_of = load_yaml(args.feeds, collect=[])  # a duplicate key: load_feeds says so
            problems += topic_problems(str(args.feeds), data, rules.titles, line_of)
        except ConfigError:
            pass  # the YAML itself is broken: load_feeds has said so above
    if problems:
        raise ConfigError(problems)
    from monitor.evidence.provenance import note_config  # captures record the files in force

    note_config(args.feeds, args.keywords)
    return feeds, rules



def fail(text: str) -> None:
    """An error for the user on stderr; under journald one entry at priority err (`<3>`)."""
    if os.environ.get("JOURNAL_STREAM"):
        text = "<3>" + " ⏎ ".join(line for line in text.splitlines() if line.strip())
    print(text, file=sys.stderr)



def exit_now(code: int) -> None:
    """End a finished `run --once` at once: flush what was written, then leave without the interpreter's teardown.

    By then the state is closed (every transaction committed) and the extraction workers are ended; what is
    left is freeing a few hundred modules one by one, ~0.2 s of a cycle that otherwise costs a round trip.
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)



def build_notifiers(feeds=None, rules=None, args: argparse.Namespace | None = None):
    """The channels of the environment, routed by feeds.yaml's `recipients:`. Commands that only send what is
    queued (flush, test) pass `args`: feeds.yaml is then read for its recipients, if it can be read."""
    from monitor.delivery.channels import notifiers_from_env

    if feeds is None and args is not None and Path(args.feeds).exists():
        from monitor.config.feeds import load_feeds

        try:
            feeds = load_feeds(args.feeds)
        except ConfigError:
            feeds = None  # the command itself does not need the feeds; check-config names the mistakes
    return notifiers_from_env(os.environ, feeds=feeds, rules=rules)



@contextmanager
def open_state(args: argparse.Namespace, *, locked: bool = False, read_only: bool = False) -> Iterator[Store]:
    """The state file, closed afterwards; `locked` for commands that poll or deliver (one monitor at a time),
    `read_only` for commands that only read it (they work on an archive copy on write-protected media)."""
    with instance_lock(args.state, database_url(args)) if locked else nullcontext():
        store = Store(args.state, database_url=database_url(args), read_only=read_only)
        try:
            yield store
        finally:
            store.close()



EXIT_OK, EXIT_RUNTIME, EXIT_CONFIG, EXIT_DEGRADED = 0, 1, 2, 3  # 3: done, but every source failed or a
# message could not be delivered (it stays queued): what a systemd OnFailure= or cron must notice



def is_typed_url(target: str) -> bool:
    """True for an http(s) URL; raise a one-line error for another scheme (ftp://, a typo like htps://)."""
    if target.lower().startswith(("http://", "https://")):
        return True
    if "://" in target:
        raise RuntimeError(f"{target}: only http:// and https:// addresses can be fetched")
    return False



def database_url(args: argparse.Namespace) -> str | None:
    """--database-url or $MONITOR_DATABASE_URL: the state is in that PostgreSQL database, not in --state."""
    return getattr(args, "database_url", None) or os.environ.get("MONITOR_DATABASE_URL") or None


def state_exists(args: argparse.Namespace) -> bool:
    """Whether there is a state to read: the file, or (with a database URL) the database, which is not probed
    here: opening it says clearly why it cannot be used."""
    return bool(database_url(args)) or Path(args.state).exists()


def state_label(args: argparse.Namespace, absolute: bool = True) -> str:
    """The state for logs and messages: the file's path, or the database URL without its password."""
    from monitor.store import redact_url

    url = database_url(args)
    return redact_url(url) if url else os.path.abspath(args.state) if absolute else args.state


def require_state(args: argparse.Namespace) -> None:
    """Commands that only read the state must not create an empty one because of a typo in --state."""
    if not database_url(args) and not Path(args.state).is_file():
        raise RuntimeError(f"no state file at {args.state} (check --state or $MONITOR_STATE; "
                           "`monitor run --once` creates it)")


def add_common_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """The options every command takes, accepted before or after the command name."""
    d = (lambda v: argparse.SUPPRESS) if suppress else (lambda v: v)
    parser.add_argument("--feeds", default=d("feeds.yaml"), help="feeds file (default ./feeds.yaml)")
    parser.add_argument("--keywords", default=d("keywords.yaml"), help="keyword rules (default ./keywords.yaml)")
    parser.add_argument("--state", default=d(os.environ.get("MONITOR_STATE", "monitor.db")),
                        help="SQLite state file (default ./monitor.db, or $MONITOR_STATE); with a database URL, "
                             "the WARC folder and the lock file still go beside it")
    parser.add_argument("--database-url", default=d(None), metavar="URL",
                        help="keep the state in PostgreSQL (postgresql://user@host/db; default $MONITOR_DATABASE_URL)")
    parser.add_argument("-v", "--verbose", action="count", default=d(0), help="more detail: every feed and article (-vv: the libraries too)")

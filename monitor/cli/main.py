"""The `monitor` command: a thin layer that parses options and calls the library.

Exit codes: 0 success, 1 a runtime problem (state file, another instance), 2 a configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import logging
import os
import re
import sqlite3
import sys
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from monitor import __version__
from monitor.config.problems import ConfigError

if TYPE_CHECKING:  # config (pydantic) is imported when a command needs it: a quiet cycle never does
    from monitor.config.feeds import FeedsFile

log = logging.getLogger("monitor")


def _common(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """The options every command takes, accepted before or after the command name."""
    d = (lambda v: argparse.SUPPRESS) if suppress else (lambda v: v)
    parser.add_argument("--feeds", default=d("feeds.yaml"), help="feeds file (default ./feeds.yaml)")
    parser.add_argument("--keywords", default=d("keywords.yaml"), help="keyword rules (default ./keywords.yaml)")
    parser.add_argument("--state", default=d(os.environ.get("MONITOR_STATE", "monitor.db")),
                        help="SQLite state file (default ./monitor.db, or $MONITOR_STATE)")
    parser.add_argument("-v", "--verbose", action="count", default=d(0), help="more detail: every feed and article (-vv: the libraries too)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="monitor", description="Pamir news monitor: catch the stories that "
                                     "matter about GBAO and the Pamiris, deliver them as digests.")
    parser.add_argument("--version", action="version", version=f"monitor {__version__}")
    _common(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        _common(p, suppress=True)
        return p

    p = command("run", "poll the feeds and deliver digests (forever, or once with --once)")
    p.add_argument("--once", action="store_true", help="one cycle: poll every feed, send the digest, exit")
    p = command("check-config", "validate feeds.yaml and keywords.yaml; exit 2 on any mistake")
    p.add_argument("--probe", action="store_true", help="also ask every enabled source once (network): does it "
                   "answer with a feed, and how many items? exit 1 if any fails")
    p.add_argument("--env-file", type=Path, action="append",
                   help="check this systemd environment file (monitor.env, secrets.env) instead of the shell's")
    p.add_argument("--credentials", type=Path, help="and the secrets in this directory (e.g. /etc/credstore)")
    command("test-delivery", "send a short test message through every configured channel")
    command("status", "per feed health, and the delivery queue")
    p = command("explain", "show which rules fire on one article, and its score")
    p.add_argument("target", help="an article URL or a local HTML/text file")
    p = command("eval", "precision and recall of the keyword rules on a labelled folder (or the state's labels)")
    p.add_argument("folder", type=Path, nargs="?")
    p.add_argument("--labels", action="store_true", help="score the rules on the labels in the state instead")
    p.add_argument("--label", help="the label of every file in a folder without labels (e.g. 'not relevant')")
    p = command("export", "write the evidence archive of matched stories")
    p.add_argument("--since", type=_date, default=datetime(1970, 1, 1, tzinfo=timezone.utc),
                   help="YYYY-MM-DD (default: everything)")
    p.add_argument("--topic", help="only stories of this topic")
    p.add_argument("--format", choices=("jsonl", "csv", "wacz"), default="jsonl",
                   help="jsonl, csv, or wacz (web archive package with the pages as received; needs -o)")
    p.add_argument("--output", "-o", type=Path, help="file to write (default stdout)")
    p.add_argument("--sign", action="store_true", help="wacz: sign the package (key from --key or $MONITOR_SIGNING_KEY)")
    p.add_argument("--key", help="wacz --sign: the private key file (from `monitor keygen`)")
    p = command("show", "print one story with all its sources")
    p.add_argument("story_id", type=int)
    p = command("backfill", "fetch what the sources offer for a past period and send one digest")
    p.add_argument("--since", required=True, type=_date, help="YYYY-MM-DD")
    p.add_argument("--until", type=_date, help="YYYY-MM-DD (default today)")
    p.add_argument("--feed", action="append", help="only this feed (repeatable)")
    p.add_argument("--dry-run", action="store_true", help="print the digest instead of delivering it")
    p = command("discover", "list the feeds a web page links to")
    p.add_argument("url")
    _register_areas(command)
    return parser


def _register_areas(command) -> None:
    """Each area module of `monitor.cli.run` adds its own subcommands (and sets `handler=` on them)."""
    import importlib

    from monitor.cli.run import AREAS

    for area in AREAS:
        importlib.import_module(f".commands.{area}", __package__).register(command)


def _date(text: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


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
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for noisy in ("httpx", "httpcore", "apscheduler", "trafilatura", "htmldate", "courlan", "charset_normalizer"):
        logging.getLogger(noisy).setLevel(logging.WARNING if verbose < 2 else logging.DEBUG)


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


MAX_LOG_MESSAGE = 2000  # characters: a 1 MB title from a hostile feed must not become a 1 MB log line


@contextmanager
def instance_lock(state: str) -> Iterator[None]:
    """One monitor per state file: two schedulers on one state would send everything twice."""
    path = Path(state).with_name(Path(state).name + ".lock")
    try:
        handle = open(path, "a+")
    except OSError as exc:  # a read-only folder or disk, a missing folder: say so, no traceback
        raise RuntimeError(f"cannot create the lock file {path} beside the state ({exc.strerror or exc}); "
                           "the state needs a writable folder (use --state or $MONITOR_STATE)") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise RuntimeError(f"another monitor is already running with the state {state} (lock {path}); stop it "
                           "first, e.g. `systemctl stop pamir-monitor` (systemd/README.md: a backfill)") from None
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def load_config(args: argparse.Namespace) -> tuple[FeedsFile, object]:
    """Both files, every problem of both reported together."""
    from monitor.config.feeds import load_feeds
    from monitor.relevance.rules import load_rules

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
    if problems:
        raise ConfigError(problems)
    return feeds, rules


def fail(text: str) -> None:
    """An error for the user on stderr; under journald one entry at priority err (`<3>`)."""
    if os.environ.get("JOURNAL_STREAM"):
        text = "<3>" + " ⏎ ".join(line for line in text.splitlines() if line.strip())
    print(text, file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    from monitor.cli import run as commands
    from monitor.sources.fetch import FetchError
    from monitor.store import StateError

    try:
        handler = getattr(args, "handler", None) or getattr(commands, "cmd_" + args.command.replace("-", "_"))
        code = handler(args)
        if args.command == "run" and getattr(args, "once", False):
            exit_now(code)
        return code
    except ConfigError as exc:
        fail(f"configuration error:\n{exc}")
        return 2
    except (StateError, RuntimeError) as exc:
        fail(f"error: {exc}")
        return 1
    except sqlite3.DatabaseError as exc:  # after opening: a full disk, a page damaged since, a lock held too long
        from monitor.store import explain_error

        fail(f"error: {explain_error(args.state, exc)}")
        return 1
    except FetchError as exc:  # discover, explain: a URL the user typed could not be had
        fail(f"error: {exc.reason}")
        return 1
    except OSError as exc:  # a file the user named: missing, unreadable, a directory, a full disk
        where = f"{exc.filename}: " if exc.filename else ""
        fail(f"error: {where}{exc.strerror or exc}")
        return 1
    except KeyboardInterrupt:
        return 130


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


def run_async(coro) -> int:
    return asyncio.run(coro)

"""The `monitor` command: a thin layer that parses options and calls the library.

Exit codes: 0 success, 1 a runtime problem (state file, another instance), 2 a configuration error.
"""

from __future__ import annotations

import argparse
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from monitor import __version__
from monitor.cli import evidence, feeds, incidents, outbox, review, run, state, stories, web
from monitor.cli.common import add_common_options, exit_now, fail, parse_date, parse_id, setup_logging
from monitor.config.problems import ConfigError

# Modules that add subcommands of their own (each has `register(command)`), in the order --help lists them.
AREAS = (review, web, outbox, feeds, evidence, incidents, state)
# Modules whose `cmd_<name>` functions handle the core commands that build_parser() defines.
HANDLERS = (run, review, stories)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="monitor", description="Pamir news monitor: catch the stories that "
                                     "matter about GBAO and the Pamiris, deliver them as digests.")
    parser.add_argument("--version", action="version", version=f"monitor {__version__}")
    add_common_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        add_common_options(p, suppress=True)
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
    p.add_argument("--incidents", action="store_true", help="score incident grouping and the records' fields "
                   "on a labelled folder of reports instead (see README: Incidents)")
    p = command("export", "write the evidence archive of matched stories")
    p.add_argument("--since", type=parse_date, default=datetime(1970, 1, 1, tzinfo=timezone.utc),
                   help="YYYY-MM-DD (default: everything)")
    p.add_argument("--topic", help="only stories of this topic")
    p.add_argument("--format", choices=("jsonl", "csv", "wacz", "uwazi-csv"), default="jsonl",
                   help="jsonl, csv, or wacz (web archive package with the pages as received; needs -o); "
                   "with --incidents: jsonl, csv or uwazi-csv")
    p.add_argument("--incidents", action="store_true", help="export the incidents (ACLED / HURIDOCS field names), "
                   "each report with its URL, capture SHA-256 and story id")
    p.add_argument("--output", "-o", type=Path, help="file to write (default stdout)")
    p.add_argument("--excel", action="store_true",
                   help="csv: UTF-8 with a byte-order mark, so Excel shows Cyrillic and Persian as written")
    p.add_argument("--sign", action="store_true", help="wacz: sign the package (key from --key or $MONITOR_SIGNING_KEY)")
    p.add_argument("--key", help="wacz --sign: the private key file (from `monitor keygen`)")
    p = command("show", "print one story with all its sources")
    p.add_argument("story_id", type=parse_id)
    p = command("backfill", "fetch what the sources offer for a past period and send one digest")
    p.add_argument("--since", required=True, type=parse_date, help="YYYY-MM-DD")
    p.add_argument("--until", type=parse_date, help="YYYY-MM-DD (default today)")
    p.add_argument("--feed", action="append", help="only this feed (repeatable)")
    p.add_argument("--dry-run", action="store_true", help="print the digest instead of delivering it")
    p = command("discover", "list the feeds a web page links to")
    p.add_argument("url")
    _register_areas(command)
    return parser


def _register_areas(command) -> None:
    """Each area module adds its own subcommands (and sets `handler=` on them)."""
    for area in AREAS:
        area.register(command)


def _handler(command: str):
    name = "cmd_" + command.replace("-", "_")
    return next(getattr(m, name) for m in HANDLERS if hasattr(m, name))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    from monitor.sources.fetch import FetchError
    from monitor.store import StateError

    try:
        handler = getattr(args, "handler", None) or _handler(args.command)
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

        from monitor.cli.common import state_label

        fail(f"error: {explain_error(state_label(args, absolute=False), exc)}")
        return 1
    except FetchError as exc:  # discover, explain: a URL the user typed could not be had
        fail(f"error: {exc.reason}")
        return 1
    except OSError as exc:  # a file the user named: missing, unreadable, a directory, a full disk
        where = f"{exc.filename}: " if exc.filename else ""
        fail(f"error: {where}{exc.strerror or exc}")
        return 1
    except KeyboardInterrupt:  # one line: a message in flight was given its grace (delivery/outbox.py)
        fail("interrupted: what was done is kept; a message not confirmed sent stays queued for the next run")
        return 130



"""`monitor migrate-state`: move a whole state from a SQLite file into PostgreSQL, or back."""

from __future__ import annotations

import argparse
import os

from monitor.store import StateError, Store, is_database_url, redact_url


def register(command) -> None:
    p = command("migrate-state", "copy the state into an empty PostgreSQL database (or back into a file), ids "
                "kept, then check the copy")
    p.add_argument("--to", required=True, metavar="URL|FILE",
                   help="the target: postgresql://user@host/db, or (with --from URL) a new SQLite file")
    p.add_argument("--from", dest="source", metavar="URL",
                   help="copy from this PostgreSQL database instead of the --state file")
    p.set_defaults(handler=cmd_migrate_state)


def _open(target: str, beside: str) -> Store:
    return Store(beside, database_url=target) if is_database_url(target) else Store(target)


def cmd_migrate_state(args: argparse.Namespace) -> int:
    from monitor.cli.common import instance_lock
    from monitor.store.migrate import copy_state, emptiness, verify_copy

    source_name = args.source or args.state
    if not args.source and not os.path.isfile(args.state):
        raise RuntimeError(f"no state file at {args.state} to copy (use --state FILE, or --from URL)")
    if is_database_url(source_name) == is_database_url(args.to):
        raise RuntimeError("migrate-state copies between a SQLite file and PostgreSQL: give one of each "
                           "(--state FILE --to postgresql://…, or --from postgresql://… --to FILE)")
    if not is_database_url(args.to) and os.path.exists(args.to) and os.path.getsize(args.to) > 0:
        raise RuntimeError(f"{args.to} already exists: migrate-state writes only into a new file")
    label_from, label_to = redact_url(source_name), redact_url(args.to)
    with instance_lock(args.to if args.source else source_name):  # no run of this host writes the file meanwhile
        source = _open(source_name, args.state)
        try:
            target = _open(args.to, args.state)
            try:
                why = emptiness(target)
                if why:
                    raise StateError(f"{label_to}: not an empty state ({why}); nothing was copied")
                copy_state(source, target)
                result = verify_copy(source, target)
            finally:
                target.close()
        finally:
            source.close()
    for problem in result.problems:
        print(f"MISMATCH {problem}")
    total = sum(result.rows.values())
    if result.problems:
        print(f"{label_from} → {label_to}: copied, but the check found {len(result.problems)} difference(s)")
        return 1
    print(f"{label_from} → {label_to}: {total:,} rows copied and checked ({result.rows.get('stories', 0):,} stories, "
          f"{result.pending} pending message(s)); the WARC folder stays where it is (MONITOR_ARCHIVE_DIR). "
          "Point the monitor at the new state now.")
    return 0

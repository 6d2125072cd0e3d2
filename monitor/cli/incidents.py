"""`monitor incidents`: the incidents the reports were grouped into; `monitor eval --incidents DIR`."""

from __future__ import annotations

import argparse
import sys

from monitor.cli.common import open_state, parse_date, require_state


def register(command) -> None:
    p = command("incidents", "list the incidents: one entry per event, whatever the outlets and languages")
    p.add_argument("--since", type=parse_date, help="YYYY-MM-DD: incidents on or after this day (default: all)")
    p.add_argument("--format", choices=("table", "jsonl"), default="table",
                   help="table (default) or jsonl (one object per incident; the keys are a contract)")
    p.add_argument("--rebuild", action="store_true",
                   help="first file every story no incident lists yet (stored before incidents existed)")
    p.add_argument("action", nargs="?", choices=REVIEW_ACTIONS, metavar="{" + ",".join(REVIEW_ACTIONS) + "}",
                   help="a researcher's review: confirm ID [FIELD] · correct ID FIELD VALUE · merge SURVIVOR "
                        "ABSORBED · split ID STORY [STORY ...] (the web interface's incident page does the same)")
    p.add_argument("values", nargs="*", metavar="ARG", help="the action's incident ids, field, value or story ids")
    p.add_argument("--who", default="cli", help="the reviewer's name kept in the history (default: cli)")
    p.add_argument("--note", help="why, kept in the history")
    p.set_defaults(handler=cmd_incidents)


REVIEW_ACTIONS = ("confirm", "correct", "merge", "split")
_USAGE = {"confirm": "confirm ID [FIELD]", "correct": "correct ID FIELD VALUE", "merge": "merge SURVIVOR ABSORBED",
          "split": "split ID STORY [STORY ...]"}


def cmd_incidents(args: argparse.Namespace) -> int:
    from monitor.stories.incident_export import incident_records, write_jsonl, write_table

    require_state(args)
    if args.action:
        return _review(args)
    if args.rebuild:
        from monitor.cli.common import load_config
        from monitor.stories.incidents import IncidentDesk

        feeds, rules = load_config(args)
        with open_state(args) as store:
            filed = IncidentDesk(rules, store).file_unfiled({f.name: f.language or "" for f in feeds.feeds})
        print(f"filed {filed} stor{'y' if filed == 1 else 'ies'} under incidents", file=sys.stderr)
    with open_state(args) as store:
        records = incident_records(store, args.since.date().isoformat() if args.since else "")
    (write_jsonl if args.format == "jsonl" else write_table)(records, sys.stdout)
    return 0


def _review(args: argparse.Namespace) -> int:
    """`monitor incidents confirm|correct|merge|split ...`: the web page's review, for scripts."""
    from monitor.stories import incident_review as review

    v = args.values
    numbers = {"confirm": 1, "correct": 1, "merge": 2, "split": len(v)}[args.action]
    shape = {"confirm": (1, 2), "correct": (3, 3), "merge": (2, 2), "split": (2, 10_000)}[args.action]
    if not shape[0] <= len(v) <= shape[1] or not all(x.isascii() and x.isdigit() and len(x) <= 18 for x in v[:numbers]):
        raise RuntimeError(f"usage: monitor incidents {_USAGE[args.action]} (ids are numbers)")
    ids = [int(x) for x in v[:numbers]]
    try:
        with open_state(args) as store:
            if args.action == "confirm":
                status = review.confirm(store, ids[0], v[1] if len(v) > 1 else "", args.who, args.note)
                print(f"incident {ids[0]}: confirmed {v[1] if len(v) > 1 else 'the whole record'}; status {status}")
            elif args.action == "correct":
                status = review.correct(store, ids[0], v[1], v[2], args.who, args.note)
                print(f"incident {ids[0]}: {v[1]} corrected; status {status}")
            elif args.action == "merge":
                review.merge(store, ids[0], ids[1], args.who, args.note)
                print(f"incident {ids[1]} merged into incident {ids[0]}")
            else:
                new = review.split(store, ids[0], ids[1:], args.who, args.note)
                print(f"incident {new}: stories {', '.join(map(str, ids[1:]))} split off incident {ids[0]}")
    except review.ReviewError as exc:
        raise RuntimeError(str(exc)) from None
    return 0


def run_incident_eval(args: argparse.Namespace) -> int:
    """Grouping precision and recall, and per-field accuracy, on a labelled folder (its format: README)."""
    from monitor.relevance.incident import IncidentReader
    from monitor.relevance.keywords import load_rules
    from monitor.stories.incident_eval import evaluate, format_scores, load_folder

    samples = load_folder(args.folder)
    reader = IncidentReader(load_rules(args.keywords))
    print(format_scores(evaluate(samples, reader), str(args.folder)))
    return 0


def export_incidents(args: argparse.Namespace) -> int:
    """`monitor export --incidents --format jsonl|csv|uwazi-csv [--since DATE] [-o FILE]`."""
    from datetime import datetime, timezone

    from monitor.config.problems import ConfigError, Problem
    from monitor.stories.incident_export import incident_records, write_export

    if not args.incidents or args.format == "wacz" or args.topic:
        raise ConfigError([Problem("--format", None, "uwazi-csv needs --incidents; --incidents takes --format "
                                   "jsonl, csv or uwazi-csv, and no --topic")])
    since = "" if args.since <= datetime(1970, 1, 2, tzinfo=timezone.utc) else args.since.date().isoformat()
    with open_state(args) as store:
        records = incident_records(store, since)
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as out:
            write_export(records, args.format, out)
    else:
        write_export(records, args.format, sys.stdout)
    return 0

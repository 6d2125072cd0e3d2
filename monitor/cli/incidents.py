"""`monitor incidents`: the incidents the reports were grouped into; `monitor eval --incidents DIR`."""

from __future__ import annotations

import argparse
import sys

from monitor.cli.common import _date, _existing_state, _state


def register(command) -> None:
    p = command("incidents", "list the incidents: one entry per event, whatever the outlets and languages")
    p.add_argument("--since", type=_date, help="YYYY-MM-DD: incidents on or after this day (default: all)")
    p.add_argument("--format", choices=("table", "jsonl"), default="table",
                   help="table (default) or jsonl (one object per incident; the keys are a contract)")
    p.set_defaults(handler=cmd_incidents)


def cmd_incidents(args: argparse.Namespace) -> int:
    from monitor.stories.incident_export import incident_records, write_jsonl, write_table

    _existing_state(args)
    with _state(args) as store:
        records = incident_records(store, args.since.date().isoformat() if args.since else "")
    (write_jsonl if args.format == "jsonl" else write_table)(records, sys.stdout)
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
    with _state(args) as store:
        records = incident_records(store, since)
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as out:
            write_export(records, args.format, out)
    else:
        write_export(records, args.format, sys.stdout)
    return 0

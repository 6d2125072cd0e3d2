"""Commands over the archive of stories: `export` (JSON Lines, CSV; WACZ in cli/evidence.py) and `show`."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any, TextIO

from monitor.cli.common import open_state, require_state
from monitor.config.problems import ConfigError
from monitor.store import Store

log = logging.getLogger("monitor")


def cmd_export(args: argparse.Namespace) -> int:
    from monitor.stories.export import export

    if args.excel and args.format != "csv":
        print(f"error: --excel is for --format csv (not {args.format})", file=sys.stderr)
        return 2
    require_state(args)
    if getattr(args, "incidents", False) or args.format == "uwazi-csv":
        from monitor.cli.incidents import export_incidents

        return export_incidents(args)
    if args.format == "wacz":
        from monitor.cli.evidence import export_wacz_command

        if args.topic:  # every format refuses a topic that does not exist (before any file is written)
            with open_state(args) as store:
                _check_topic(args, store)
        return export_wacz_command(args)

    with open_state(args, read_only=True) as store:
        if args.topic:
            _check_topic(args, store)
        encoding = "utf-8-sig" if args.excel else "utf-8"  # Excel takes a CSV for UTF-8 only after a BOM
        if args.output:
            with open(args.output, "w", encoding=encoding, newline="") as out:
                count = export(store, args.since, args.topic, args.format, out)
        else:
            if args.excel:
                sys.stdout.write("\ufeff")
            count = export(store, args.since, args.topic, args.format, sys.stdout)
    log.info("exported %d stor%s", count, "y" if count == 1 else "ies")
    return 0



def _check_topic(args: argparse.Namespace, store: Store) -> None:
    """An unknown --topic is a mistake, not an empty export: name the topics there are."""
    known = set(store.topic_ids())
    try:
        from monitor.relevance.keywords import load_rules

        rules = load_rules(args.keywords)
        known |= {t.name for t in rules.topics}
        by_title = {t.title.casefold(): t.name for t in rules.topics if t.title}
        if args.topic.casefold() in by_title:  # a topic's title works as well as its id
            args.topic = by_title[args.topic.casefold()]
    except ConfigError:
        pass  # the archive's own topics still tell
    if args.topic.lower() not in {k.lower() for k in known}:
        from monitor.config.feeds import Problem

        raise ConfigError([Problem("--topic", None, f"unknown topic {args.topic!r}; topics: "
                                   + (", ".join(sorted(known)) or "none yet"))])



def cmd_show(args: argparse.Namespace) -> int:
    require_state(args)
    with open_state(args, read_only=True) as store:
        return show(store, args.story_id, sys.stdout)


def show(store: Store, story_id: int, out: TextIO) -> int:
    """Print one story with all its sources and its text; exit code 1 when there is no such story."""
    row = store.story(story_id)
    if row is None:
        out.write(f"no story with id {story_id} in {store.path}\n")
        return 1
    from monitor.stories.export import story_record

    record = story_record(store, row, include_raw=False)
    status = f"sent in digest {row['digest_id']}" if row["digest_id"] is not None else "waiting for the next digest"
    lines = [
        f"Story {record['story_id']}: {record['title']}",
        f"  status:      {status}",
        f"  topics:      {', '.join(record['topics']) or '-'}   score {record['score']:g}",
        f"  terms:       {', '.join(record['terms']) or '-'}",
        "",
        f"First seen: {record['source']}",
        *_evidence_lines(record),
    ]
    for n, src in enumerate(record["sources"], 1):
        flag = "update, announced" if src["announced_in"] else ("update" if src["is_update"] else "")
        lines += ["", f"Also reported by ({n}): {src['source']}" + (f"   [{flag}]" if flag else ""),
                  f"  title:       {src['title']}", f"  seen at:     {src['seen_at']}"]
        lines += _evidence_lines(src) if src["fetched_at"] else [f"  url:         {src['url']}",
                                                                 "  (no page evidence kept for this source)"]
    from monitor.evidence.capture import describe_captures  # warcio: only when a story is shown

    lines += describe_captures(store, story_id)
    lines += ["", "Text" + ("" if record["extracted"] else " (feed summary; the page text was not extracted)") + ":",
              "", record["text"].rstrip(), ""]
    out.write("\n".join(lines) + "\n")
    return 0



def _evidence_lines(rec: dict[str, Any]) -> list[str]:
    return [
        f"  url:         {rec['url']}",
        f"  final url:   {rec['final_url']}",
        f"  published:   {rec['published'] or 'unknown'}",
        f"  fetched at:  {rec['fetched_at']}",
        f"  sha-256:     {rec['raw_sha256'] or '(page not fetched)'}"
        + ("   raw HTML kept (keep_raw_html, superseded by the WARC captures)" if rec["has_raw_html"] else ""),
    ]

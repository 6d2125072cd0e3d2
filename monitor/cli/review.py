"""Commands of the re-check area: `rematch`, `label`, `labels` (and `eval --labels`, in the core eval command)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import timedelta
from pathlib import Path

from monitor.cli.common import is_typed_url, parse_date, state_exists


def register(command) -> None:
    p = command("rematch", "re-score the kept texts with the current rules; newly matched stories go into the "
                           "next digest, once")
    p.add_argument("--since", required=True, type=parse_date, help="YYYY-MM-DD (publication date, or when seen)")
    p.add_argument("--until", type=parse_date, help="YYYY-MM-DD, inclusive (default: today)")
    p.add_argument("--topic", help="only this topic of keywords.yaml")
    p.add_argument("--dry-run", action="store_true", help="print what would change and change nothing")
    p.add_argument("--refetch", action="store_true",
                   help="fetch again the pages of which only the feed's summary was kept (no keyword then)")
    p.set_defaults(handler=cmd_rematch)
    p = command("label", "mark a story relevant or irrelevant, or record a miss found elsewhere (a URL or a file)")
    p.add_argument("target", help="a story id (as in digests and `monitor show`), an article URL, or a file")
    p.add_argument("label", choices=("relevant", "irrelevant"))
    p.add_argument("--note", help="why (kept with the label, written out by `labels export`)")
    p.add_argument("--lang", help="the article's language (en, ru, tg, fa; guessed from the script otherwise)")
    p.set_defaults(handler=cmd_label)
    p = command("labels", "list the readers' labels, or write them out as a folder `monitor eval DIR` reads")
    p.add_argument("action", nargs="?", choices=("list", "export"), default="list")
    p.add_argument("folder", nargs="?", type=Path, help="for export: the folder to write")
    p.set_defaults(handler=cmd_labels)


def cmd_rematch(args: argparse.Namespace) -> int:
    from monitor.relevance.matcher import Matcher
    from monitor.relevance.keywords import load_rules
    from monitor.review.rematch import format_report, rematch
    from monitor.cli.common import open_state

    from monitor.cli.common import load_config

    feeds, rules = load_config(args) if args.refetch else (None, load_rules(args.keywords))
    if args.topic and args.topic.casefold() not in {t.name.casefold() for t in rules.topics}:
        print(f"error: no topic {args.topic!r} in {args.keywords} (topics: "
              f"{', '.join(t.name for t in rules.topics)})", file=sys.stderr)
        return 2
    until = args.until + timedelta(days=1) - timedelta(microseconds=1) if args.until else None
    if until and until < args.since:
        print("error: --until is before --since", file=sys.stderr)
        return 2
    if not state_exists(args):
        print(f"no state yet at {args.state}: run `monitor run --once` first")
        return 0
    with open_state(args, locked=True) as store:
        report = rematch(store, Matcher(rules), since=args.since, until=until, topic=args.topic,
                         dry_run=args.dry_run, refetch=(feeds, rules) if args.refetch else None)
    print(format_report(report, dry_run=args.dry_run, since=args.since, topic=args.topic))
    return 0


def cmd_label(args: argparse.Namespace) -> int:
    from monitor.sources.fetch import FetchError
    from monitor.review.labels import label_target
    from monitor.cli.common import open_state

    with open_state(args) as store:  # no instance lock: a label is one small transaction, fine beside a running monitor
        try:
            done = asyncio.run(label_target(store, args.target, args.label, note=args.note, language=args.lang))
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except (FetchError, OSError) as exc:
            print(f"error: {args.target}: {exc}", file=sys.stderr)
            return 1
    what = f"story {done.story_id}" if done.story_id is not None else f"{done.origin}: {done.title or '(no title)'}"
    print(f"labelled {args.label}: {what} ({len(done.text.split())} words kept; label {done.label_id})")
    print(_verdict(args.keywords, done.title, done.text, args.label))
    return 0


def _verdict(keywords: str, title: str, text: str, label: str) -> str:
    """What the current rules make of the labelled article: the next step of the loop."""
    from monitor.config.feeds import ConfigError
    from monitor.relevance.matcher import Matcher
    from monitor.relevance.keywords import load_rules

    try:
        result = Matcher(load_rules(keywords)).match(title, text)
    except ConfigError:
        return "(the current rules could not be loaded; run `monitor check-config`)"
    if result.matched:
        state = f"matched ({', '.join(h.topic for h in result.hits)}, score {result.score:g})"
    else:
        state = "not matched"
    hint = ""
    if label == "relevant" and not result.matched:
        hint = ": a miss — `monitor explain` shows why; after fixing keywords.yaml, `monitor eval --labels`"
    elif label == "irrelevant" and result.matched:
        hint = ": a false alarm — `monitor eval --labels` names the terms behind it"
    return f"the current rules: {state}{hint}"


def cmd_labels(args: argparse.Namespace) -> int:
    from monitor.review.labels import export_labels
    from monitor.cli.common import open_state

    if args.action == "export" and args.folder is None:
        print("error: `monitor labels export DIR` needs the folder to write", file=sys.stderr)
        return 2
    if not state_exists(args):
        print(f"no state yet at {args.state}: nothing labelled")
        return 0
    with open_state(args, read_only=True) as store:
        labels = store.labels()
    if args.action == "export":
        count = export_labels(labels, args.folder)
        print(f"{count} label(s) written to {args.folder}; score the rules on them with `monitor eval {args.folder}`")
        return 0
    if not labels:
        print("no labels yet: `monitor label STORY-ID relevant|irrelevant`")
    for lb in labels:
        what = f"story {lb.story_id}" if lb.story_id is not None else (lb.url or f"label {lb.id}")
        note = f"  ({lb.note})" if lb.note else ""
        print(f"{lb.id:5}  {lb.label:10}  {what}  {' '.join(lb.title.split())[:80]}{note}")
    return 0


def run_label_eval(args: argparse.Namespace) -> int:
    """`monitor eval --labels`: precision, recall and the per-rule report on the state's own labels."""
    from monitor.config.feeds import ConfigError
    from monitor.relevance.evaluate import evaluate, format_report, rule_report
    from monitor.relevance.matcher import Matcher
    from monitor.review.labels import label_samples
    from monitor.relevance.keywords import load_rules
    from monitor.cli.common import open_state

    try:
        matcher = Matcher(load_rules(args.keywords))
    except ConfigError as exc:
        print(str(exc), file=sys.stdout)
        return 2
    if not state_exists(args):
        print(f"no state at {args.state}: nothing labelled yet")
        return 2
    with open_state(args, read_only=True) as store:
        samples = label_samples(store.labels())
    if not samples:
        print(f"{args.state}: no labels yet: `monitor label STORY-ID relevant|irrelevant`")
        return 2
    root = Path("labels")
    print(format_report(evaluate(samples, matcher), root))
    print("\n" + rule_report(samples, matcher, root))
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from monitor.relevance.explain import explain_target

    if not is_typed_url(args.target) and not Path(args.target).is_file():
        raise RuntimeError(f"{args.target}: no such file (and not an http(s) URL)")
    from monitor.sources.fetch import FetchError

    try:
        print(asyncio.run(explain_target(args.target, args.keywords, args.feeds)))
    except FetchError as exc:
        raise RuntimeError(f"{args.target}: {exc.reason}") from None
    return 0



def cmd_eval(args: argparse.Namespace) -> int:
    if getattr(args, "incidents", False):
        from monitor.cli.incidents import run_incident_eval

        if args.folder is None:
            print("error: `monitor eval --incidents` needs a labelled folder", file=sys.stderr)
            return 2
        return run_incident_eval(args)
    from monitor.relevance.evaluate import run_eval

    if args.labels or args.folder is None:
        pass

        if not args.labels:
            print("error: `monitor eval` needs a labelled folder, or --labels for the state's labels", file=sys.stderr)
            return 2
        return run_label_eval(args)
    return run_eval(args.folder, Path(args.keywords), sys.stdout, label=args.label)

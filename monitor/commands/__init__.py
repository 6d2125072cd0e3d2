"""What each `monitor` command does: open the config and the state, call the library, print the outcome.

The core commands live here; each further area (re-check and labels, evidence, the web interface, feed lists…)
is one module of this package with a `register(command)` that adds its subcommands and their handlers, and is
named in `AREAS` below. Handlers import the heavy parts of the library lazily, so `--help` and a quiet
`run --once` do not pay for what they do not use.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
import logging
import os
import sys
from pathlib import Path

from ..cli import instance_lock, load_config
from ..config import ConfigError, load_feeds
from ..store import Store

log = logging.getLogger("monitor")

# Modules of this package that add subcommands (each has `register(command)`); one line per area.
AREAS: tuple[str, ...] = ("web",)


def _notifiers():
    from ..notify import notifiers_from_env

    return notifiers_from_env(os.environ)


@contextmanager
def _state(args: argparse.Namespace, *, locked: bool = False) -> Iterator[Store]:
    """The state file, closed afterwards; `locked` for commands that poll or deliver (one monitor at a time)."""
    with instance_lock(args.state) if locked else nullcontext():
        store = Store(args.state)
        try:
            yield store
        finally:
            store.close()


def cmd_run(args: argparse.Namespace) -> int:
    feeds, rules = load_config(args)
    notifiers = _notifiers()
    with _state(args, locked=True) as store:
        return asyncio.run(_run_once(feeds, rules, store, notifiers) if args.once
                           else _serve(args, feeds, rules, store, notifiers))


async def _run_once(feeds, rules, store: Store, notifiers) -> int:
    from ..pipeline import Monitor

    async with Monitor(feeds, rules, store, notifiers) as monitor:
        results = await monitor.poll_all()
        await monitor.send_urgent()
        await monitor.send_digest()
        await _weekly_report(monitor)
    failed = [r for r in results if not r.ok]
    stories = sum(r.matches for r in results)
    log.info("cycle done: %d feed(s) polled, %d failed, %d new stor%s; %d page(s) extracted, %d without any "
             "keyword skipped", len(results), len(failed), stories, "y" if stories == 1 else "ies",
             monitor.extractor.pages, monitor.extractor.skipped)
    return 0


async def _weekly_report(monitor) -> None:
    """`settings: weekly_report`: a run --once from a timer sends it too, once, when its time has come."""
    spec = monitor.feeds.settings.weekly_report
    if spec:
        from ..web.report import send_weekly_if_due

        try:
            await send_weekly_if_due(monitor.store, monitor.notifiers, spec,
                                     [t.name for t in monitor.matcher.rules.topics])
        except Exception:  # the digest went out already; a report's bug must not fail the cycle
            log.exception("the weekly report could not be sent; the next run tries again")


async def _serve(args, feeds, rules, store: Store, notifiers) -> int:
    from ..pipeline import Monitor
    from ..scheduler import Service

    async with Monitor(feeds, rules, store, notifiers) as monitor:
        await Service(monitor, lambda: load_config(args)).serve()
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    feeds, rules = load_config(args)  # raises ConfigError → exit 2 with every problem listed
    _notifiers()  # incomplete delivery settings are config errors too
    from ..notify import describe_channels

    enabled = sum(f.enabled for f in feeds.feeds)
    print(f"{args.feeds}: {len(feeds.feeds)} feed(s), {enabled} enabled")
    print(f"{args.keywords}: {len(rules.topics)} topic(s)")
    print("delivery: " + describe_channels(os.environ))
    print("configuration OK")
    return 0


def cmd_test_delivery(args: argparse.Namespace) -> int:
    from ..deliver import send_test

    results = asyncio.run(send_test(_notifiers()))
    for channel, ok, message in results:
        print(f"{channel}: {'OK' if ok else 'FAILED'} {message}")
    return 0 if all(ok for _, ok, _ in results) else 1


def cmd_status(args: argparse.Namespace) -> int:
    from ..health import format_status

    try:
        feeds = load_feeds(args.feeds)
    except ConfigError as exc:
        print(f"warning: {exc}", file=sys.stderr)
        feeds = None
    if not Path(args.state).exists():
        print(f"no state yet at {args.state}: run `monitor run --once` first")
        return 0
    with _state(args) as store:
        print(format_status(store, feeds))
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from ..explain import explain_target

    print(asyncio.run(explain_target(args.target, args.keywords, args.feeds)))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from ..evaluate import run_eval

    return run_eval(args.folder, Path(args.keywords), sys.stdout, label=args.label)


def cmd_export(args: argparse.Namespace) -> int:
    from ..archive import export

    with _state(args) as store:
        if args.output:
            with open(args.output, "w", encoding="utf-8", newline="") as out:
                count = export(store, args.since, args.topic, args.format, out)
        else:
            count = export(store, args.since, args.topic, args.format, sys.stdout)
    log.info("exported %d stor%s", count, "y" if count == 1 else "ies")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from ..archive import show

    with _state(args) as store:
        return show(store, args.story_id, sys.stdout)


def cmd_backfill(args: argparse.Namespace) -> int:
    from ..backfill import run_backfill

    feeds, rules = load_config(args)
    notifiers = _notifiers()
    with _state(args, locked=True) as store:
        return asyncio.run(run_backfill(feeds, rules, store, notifiers, since=args.since, until=args.until,
                                        only=args.feed, dry_run=args.dry_run))


def cmd_discover(args: argparse.Namespace) -> int:
    from ..crawl import discover_feeds

    found = asyncio.run(discover_feeds(args.url))
    if not found:
        print(f"no feeds linked from {args.url}")
        return 1
    for title, url, kind in found:
        print(f"{url}\t{kind}\t{title}")
    return 0

"""Running the monitor and checking it: `run` (once or as a service), `check-config`, `test-delivery`, `status`,
`backfill` and `discover`.

Handlers import the heavy parts of the library lazily, so `--help` and a quiet `run --once` do not pay for
what they do not use.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from monitor import __version__
from monitor.cli.common import (EXIT_DEGRADED, EXIT_OK, build_notifiers, is_typed_url, load_config, open_state,
                               state_exists, state_label)
from monitor.config.problems import ConfigError
from monitor.store import Store
from monitor.tasks import run_stoppable

log = logging.getLogger("monitor")


def cmd_run(args: argparse.Namespace) -> int:
    if args.once:
        return _cmd_run_once(args)
    feeds, rules = load_config(args)
    notifiers = build_notifiers(feeds, rules)
    from monitor.delivery.channels import channels_summary

    # The first line under journald: which state, which channels — never a secret, an address or a chat id.
    log.info("monitor %s: state %s; delivery: %s", __version__,
             state_label(args), channels_summary(notifiers))
    with open_state(args, locked=True) as store:
        return run_stoppable(_serve(args, feeds, rules, store, notifiers))


def _cmd_run_once(args: argparse.Namespace) -> int:
    """One cycle: the quiet cycle when it can be one (monitor/quiet.py), else the full pipeline."""
    from monitor import quiet

    fp = quiet.fingerprint(args.feeds, args.keywords, os.environ)
    # with no state to hold a plan, the config is checked before a state file is created for it
    config = None if fp and state_exists(args) else _config_and_channels(args)
    with open_state(args, locked=True) as store:
        return run_stoppable(_run_once(args, store, fp, config))


def _config_and_channels(args: argparse.Namespace):
    feeds, rules = load_config(args)
    return (feeds, rules), build_notifiers(feeds, rules)


async def _run_once(args: argparse.Namespace, store: Store, fp: str | None, config) -> int:
    from monitor import quiet

    prefetched = None
    plan = quiet.usable_plan(store, fp) if config is None else None
    if plan is not None:
        prefetched = await quiet.poll(plan, store)
        if prefetched is None:
            return 0  # every feed answered 304 and nothing was due
    (feeds, rules), notifiers = config or _config_and_channels(args)
    from monitor.delivery.channels import channels_summary
    from monitor.pipeline import Monitor
    from monitor.store.leases import LeaseLost

    # The first line under journald: which state, which channels — never a secret, an address or a chat id.
    log.info("monitor %s (one cycle): state %s; delivery: %s", __version__, state_label(args),
             channels_summary(notifiers))

    async with Monitor(feeds, rules, store, notifiers, prefetched=prefetched) as monitor:
        monitor.hosts.beat(started=True)
        results = await monitor.poll_all()
        await monitor.send_urgent()
        with monitor.hosts.coordinating() as coordinator:  # another host's service may hold the singleton work
            if coordinator:
                try:
                    await monitor.send_health()
                    await monitor.send_digest()
                    await _weekly_report(monitor)
                except LeaseLost as exc:  # frozen past lease_ttl: another host does it; nothing was written here
                    log.warning("host %s: %s; the digest and notices are left to that host", monitor.hosts.id, exc)
        monitor.hosts.step_down()
        if not coordinator:
            log.info("host %s: another host is the coordinator; digests and notices are sent there",
                     monitor.hosts.id)
            await monitor.deliver()
    from monitor.delivery.digest import alerts_owed_at

    owed = alerts_owed_at(store, feeds)
    store.save_quiet_plan(quiet.make_plan(feeds, fp, until=owed.timestamp() if owed else None))
    failed = [r for r in results if not r.ok]
    stories = sum(r.matches for r in results)
    log.info("cycle done: %d feed(s) polled, %d failed, %d new stor%s; %d page(s) extracted, %d without any "
             "keyword skipped", len(results), len(failed), stories, "y" if stories == 1 else "ies",
             monitor.extractor.pages, monitor.extractor.skipped)
    if results and len(failed) == len(results) and not monitor.hosts.skipped:  # skipped: polled by another host
        log.error("every source failed (%d): exit %d", len(failed), EXIT_DEGRADED)
        return EXIT_DEGRADED
    if monitor.undelivered:
        log.error("a message could not be delivered; it stays queued for the next run: exit %d", EXIT_DEGRADED)
        return EXIT_DEGRADED
    return EXIT_OK


async def _weekly_report(monitor) -> None:
    """`settings: weekly_report`: a run --once from a timer sends it too, once, when its time has come."""
    spec = monitor.feeds.settings.weekly_report
    if spec:
        from monitor.delivery.weekly import send_weekly_if_due

        try:
            await send_weekly_if_due(monitor.store, monitor.notifiers, spec,
                                     [t.name for t in monitor.matcher.rules.topics], rules=monitor.matcher.rules)
        except Exception:  # the digest went out already; a report's bug must not fail the cycle
            log.exception("the weekly report could not be sent; the next run tries again")


async def _serve(args, feeds, rules, store: Store, notifiers) -> int:
    from monitor.pipeline import Monitor
    from monitor.scheduler import Service

    async with Monitor(feeds, rules, store, notifiers) as monitor:
        await Service(monitor, lambda: load_config(args)).serve()
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    """Every mistake of both files and of the delivery environment in one pass, then warnings."""
    from monitor.config.feeds import Problem
    from monitor.delivery.channels import describe_channels, env_problems, notifiers_from_env, who_gets_what

    problems: list[Problem] = []
    warnings: list[Problem] = []
    feeds = rules = None
    try:
        feeds, rules = load_config(args)
    except ConfigError as exc:
        problems += exc.problems
    env: dict[str, str] = dict(os.environ)
    if args.env_file or args.credentials:
        from monitor.delivery.envfile import add_credentials, read_env_file

        env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_") and k != "CREDENTIALS_DIRECTORY"}
        for path in args.env_file or []:
            values, bad, warn = read_env_file(path)
            env.update(values)
            problems += bad
            warnings += warn
        if args.credentials:
            warnings += add_credentials(env, args.credentials)
    notifiers, delivery = [], []  # incomplete delivery settings are config errors too
    if feeds is None:  # the recipients' addresses as written still say which settings are needed
        delivery = env_problems(env, *_raw_addresses(args.feeds))
    else:
        try:
            notifiers = notifiers_from_env(env, feeds=feeds, rules=rules)
        except ConfigError as exc:
            delivery = exc.problems
    where = ", ".join(str(p) for p in args.env_file or []) or "environment"
    problems += [Problem(where, None, p.message) for p in delivery]
    if feeds is not None:
        warnings += _short_intervals(args.feeds, feeds)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    if problems:
        raise ConfigError(problems)
    enabled = sum(f.enabled for f in feeds.feeds)
    print(f"{args.feeds}: {len(feeds.feeds)} feed(s), {enabled} enabled")
    print(f"{args.keywords}: {len(rules.topics)} topic(s)")
    print("delivery: " + describe_channels(notifiers))
    print("who gets what:")
    for line in who_gets_what(notifiers, rules.titles):
        print(f"  {line}")
    print("configuration OK" + (f" ({len(warnings)} warning{'s' if len(warnings) != 1 else ''})" if warnings else ""))
    if getattr(args, "probe", False):
        return _probe(feeds)
    return 0


def _raw_addresses(path: str) -> tuple[list[str], list[str]]:
    """The recipients' email addresses and chats of a feeds.yaml that does not validate, as far as it reads."""
    from monitor.config.feeds import load_yaml
    from monitor.config.recipients import addresses

    try:
        return addresses(load_yaml(path, collect=[])[0])
    except ConfigError:
        return [], []


def _probe(feeds) -> int:
    from monitor.sources.probe import probe

    results = asyncio.run(probe(feeds))
    print(f"\nprobing {len(results)} enabled source(s):")
    for result in results:
        print("  " + result.line())
    failed = [r for r in results if not r.ok]
    empty = [r for r in results if r.ok and not r.items]
    print(f"{len(results) - len(failed)} of {len(results)} answered"
          + (f"; {len(empty)} with no items" if empty else "") + (f"; {len(failed)} failed" if failed else ""))
    return 1 if failed else 0


def _short_intervals(path: str, feeds) -> list:
    """Intervals under a minute are legal (tests, a local feed) but hammer a real site: say so, with the line."""
    from monitor.config.feeds import Problem, load_yaml

    _, line_of = load_yaml(path)
    out = []
    for i, f in enumerate(feeds.feeds):
        if f.interval < 60:
            out.append(Problem(path, line_of(("feeds", i, "interval")),
                               f"feed {f.name!r} is polled every {f.interval:g}s: under a minute, impolite to the site"))
    for key in ("digest_interval", "failing_after"):
        value = getattr(feeds.settings, key)
        if value < 60 and key in feeds.settings.model_fields_set:
            out.append(Problem(path, line_of(("settings", key)), f"settings.{key} is {value:g}s: under a minute"))
    return out


def cmd_test_delivery(args: argparse.Namespace) -> int:
    from monitor.delivery.outbox import send_test

    results = asyncio.run(send_test(build_notifiers(args=args)))
    for channel, ok, message in results:
        print(f"{channel}: {'OK' if ok else 'FAILED'} {message}")
    return 0 if all(ok for _, ok, _ in results) else 1


def cmd_status(args: argparse.Namespace) -> int:
    from monitor.delivery.status import format_status

    from monitor.config.feeds import load_feeds

    try:
        feeds = load_feeds(args.feeds)
    except ConfigError as exc:
        print(f"warning: {exc}", file=sys.stderr)
        feeds = None
    if not state_exists(args):
        print(f"no state yet at {args.state}: run `monitor run --once` first")
        return 0
    with open_state(args, read_only=True) as store:
        print(format_status(store, feeds))
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    from monitor.backfill import run_backfill

    feeds, rules = load_config(args)
    notifiers = build_notifiers(feeds, rules)
    with open_state(args, locked=True) as store:
        return run_stoppable(run_backfill(feeds, rules, store, notifiers, since=args.since, until=args.until,
                                          only=args.feed, dry_run=args.dry_run))


def cmd_discover(args: argparse.Namespace) -> int:
    from monitor.sources.sites import discover_feeds

    if not is_typed_url(args.url):
        raise RuntimeError(f"{args.url}: not a URL; give a page's address, e.g. https://example.org/")
    from monitor.sources.fetch import FetchError

    try:
        found = asyncio.run(discover_feeds(args.url))
    except FetchError as exc:
        raise RuntimeError(f"{args.url}: {exc.reason}") from None
    if not found:
        print(f"no feeds linked from {args.url}")
        return 1
    for title, url, kind in found:
        print(f"{url}\t{kind}\t{title}")
    return 0

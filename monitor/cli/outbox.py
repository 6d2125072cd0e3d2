"""`monitor flush`: retry every undelivered message now, whatever its back-off says.

For the operator who just fixed the mail server or re-added the bot to the chat and does not want to wait
for the next hourly retry. Exit 0 when the queue is empty afterwards, 3 when something is still queued.
"""

from __future__ import annotations

import argparse

from monitor.tasks import run_stoppable


def register(command) -> None:
    p = command("flush", "retry every undelivered message now (ignoring its back-off); exit 3 if any is left")
    p.set_defaults(handler=cmd_flush)


def cmd_flush(args: argparse.Namespace) -> int:

    from monitor.delivery.outbox import deliver_due
    from monitor.delivery.notifier import channel_label
    from monitor.cli.common import EXIT_DEGRADED, build_notifiers, open_state, state_exists

    notifiers = build_notifiers(args=args)
    if not state_exists(args):
        print(f"no state at {args.state}: nothing to flush")
        return 0
    with open_state(args, locked=True) as store:
        report = run_stoppable(deliver_due(store, notifiers, force=True))
        pending = sum(row["pending"] for row in store.outbox_channels())
    for channel, digest_id, reason, _ in report.retrying:
        print(f"{channel_label(channel)}: digest {digest_id} still not delivered: {reason}")
    for channel, digest_id, reason in report.failed:
        print(f"{channel_label(channel)}: digest {digest_id} refused for good: {reason}")
    for channel, count in report.unconfigured.items():
        print(f"{channel_label(channel)}: {count} message(s) pending, but the channel is not configured now")
    print(f"flush: {len(report.sent)} message(s) sent, {pending} still queued")
    return EXIT_DEGRADED if pending or report.failed else 0

"""`monitor flush`: retry every undelivered message now, whatever its back-off says.

For the operator who just fixed the mail server or re-added the bot to the chat and does not want to wait
for the next hourly retry; `--failed` also puts back what a configured channel refused for good (the bot out
of the chat, a mailbox the server did not know), which no retry would send otherwise. Exit 0 when the queue
is empty afterwards, 3 when something is still queued.
"""

from __future__ import annotations

import argparse

from monitor.tasks import run_stoppable


def register(command) -> None:
    p = command("flush", "retry every undelivered message now (ignoring its back-off); exit 3 if any is left")
    p.add_argument("--failed", action="store_true",
                   help="also retry the messages a configured channel refused for good, once you have fixed "
                        "what refused them (the bot's place in the chat, a mailbox the server did not know)")
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
        if args.failed:
            configured = [n.channel for n in notifiers]
            print(f"flush: {store.requeue_failed(configured)} message(s) refused for good are queued again")
            for row in store.outbox_channels():
                if row["failed"] and row["channel"] not in configured:
                    print(f"{channel_label(row['channel'])}: {row['failed']} message(s) refused for good stay as "
                          "they are: this channel is not configured now")
        report = run_stoppable(deliver_due(store, notifiers, force=True))
        queue = store.outbox_channels()
        pending, refused = sum(row["pending"] for row in queue), sum(row["failed"] for row in queue)
    for channel, digest_id, reason, _ in report.retrying:
        print(f"{channel_label(channel)}: digest {digest_id} still not delivered: {reason}")
    for channel, digest_id, reason in report.failed:
        print(f"{channel_label(channel)}: digest {digest_id} refused for good: {reason}")
    for channel, count in report.unconfigured.items():
        print(f"{channel_label(channel)}: {count} message(s) pending, but the channel is not configured now")
    print(f"flush: {len(report.sent)} message(s) sent, {pending} still queued")
    if refused and not args.failed:
        print(f"flush: {refused} message(s) refused for good are left as they are; once their cause is fixed, "
              "`monitor flush --failed` sends them")
    return EXIT_DEGRADED if pending or report.failed else 0

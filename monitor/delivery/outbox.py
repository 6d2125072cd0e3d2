"""The outbox loop: queue a digest for every channel, send what is due, mark each message after acceptance.

Exactly once, across crashes: `queue_digest` takes the stories and stores every channel's rendered
messages in one transaction, so a story is never in two digests. `deliver_due` marks a message sent
right after the channel accepted it. The window: a crash (or a lost reply) between the channel's
acceptance (SMTP 250, Telegram 200) and our mark resends that one message on the next run — at most
one message per channel, and an email resend carries the same Message-ID, rendered at queue time.

Channels are independent: each is sent by its own task, in order; a failure stops that channel's
remaining messages for this round (so parts stay in order) and never touches the others.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from monitor import clock
from monitor.tasks import grace
from monitor.models import Digest
from monitor.delivery.notifier import (Notifier, PartlyDelivered, PermanentError, TransientError, channel_label,
                                      one_line)
from monitor.store import OutboxMessage, Store
from monitor.store.leases import LEASE_TTL, LeaseLost, fenced, holder_id, keep_alive

log = logging.getLogger("monitor.deliver")

BACKOFF = (60, 300, 900, 1800, 3600)  # seconds after the 1st, 2nd ... failed attempt; then the last, forever
MAX_INLINE_WAIT = 30.0  # a Telegram retry_after up to this long is waited out now, not rescheduled
INLINE_TRIES = 3  # sends of one message within one round (quick retries included)
QUICK_RETRY_DELAY = 2.0  # between quick retries of an error without retry_after
SEND_GRACE = 10.0  # seconds a send in flight gets to finish when the run is interrupted (a channel may ask more)
_FAR_FUTURE = datetime(9999, 1, 1, tzinfo=timezone.utc)

Sleep = Callable[[float], Awaitable[None]]


def backoff(attempts: int) -> float:
    """Delay before the next try after `attempts` failed attempts (1 → 1 min ... capped at 1 h)."""
    return float(BACKOFF[min(max(attempts, 1), len(BACKOFF)) - 1])


@dataclass
class DeliveryReport:
    """What one round did, for log lines and `monitor run` output."""

    sent: list[tuple[str, int, int]] = field(default_factory=list)  # (channel, digest id, part)
    retrying: list[tuple[str, int, str, datetime]] = field(default_factory=list)  # (channel, digest, reason, next)
    failed: list[tuple[str, int, str]] = field(default_factory=list)  # (channel, digest, reason)
    held: dict[str, int] = field(default_factory=dict)  # channel -> messages left behind a failure this round
    unconfigured: dict[str, int] = field(default_factory=dict)  # channel -> pending messages, channel not set up

    @property
    def ok(self) -> bool:
        return not (self.retrying or self.failed)

    def summary(self) -> str:
        parts = [f"{len(self.sent)} sent"]
        if self.retrying:
            parts.append(f"{len(self.retrying)} to retry ({', '.join(sorted({r[0] for r in self.retrying}))})")
        if self.failed:
            parts.append(f"{len(self.failed)} failed ({', '.join(sorted({f[0] for f in self.failed}))})")
        if self.unconfigured:
            parts.append("pending for unconfigured channels: " + ", ".join(f"{c} ({n})" for c, n in self.unconfigured.items()))
        return "; ".join(parts)


def queue_digest(store: Store, digest: Digest, notifiers: Sequence[Notifier]) -> int | None:
    """Render the digest for every channel and queue it with its stories in one transaction.

    Returns the digest id, or None when another digest took the stories first. A channel whose
    renderer fails is logged and skipped so the other channels still get the digest.
    """
    messages: dict[str, list[str]] = {}
    for notifier in notifiers:
        if digest.alerts_only() and getattr(notifier, "takes_alerts", lambda: True)():
            messages[notifier.channel] = []  # it had each of these alerts: a digest of them alone repeats them
            continue
        try:
            messages[notifier.channel] = notifier.render(digest)
        except Exception:  # a renderer bug must not silence every channel
            log.exception("%s: could not render the %s; this channel will not get it", channel_label(notifier.channel),
                          digest.kind)
    if notifiers and not messages:
        raise RuntimeError("no channel could render the digest; nothing was queued, the stories stay waiting")
    story_ids = [s.story_id for s in digest.stories] + list(digest.folded)  # folded: reports of a listed incident
    digest_id = store.queue_digest(digest.kind, story_ids, messages, digest.updates, digest.mention_ids,
                                   digest.changes)
    if digest_id is None:
        log.warning("%s not queued: its stories were taken by another digest", digest.kind)
    else:
        log.info("queued %s %d: %d stor%s, %s", digest.kind, digest_id, len(story_ids), "y" if len(story_ids) == 1 else "ies",
                 ", ".join(f"{channel_label(c)} ({len(p)} part{'s' if len(p) != 1 else ''})" for c, p in messages.items()))
    return digest_id


async def deliver_due(
    store: Store,
    notifiers: Sequence[Notifier],
    *,
    now: datetime | None = None,
    sleep: Sleep = asyncio.sleep,
    quick_retry_delay: float = QUICK_RETRY_DELAY,
    force: bool = False,
    lease_ttl: float = LEASE_TTL,
) -> DeliveryReport:
    """Send every due outbox message of the configured channels, each channel in order, channels in parallel.

    `force` (`monitor flush`) sends every pending message now, whatever its back-off says. Each channel is
    sent under its lease (`channel:<name>`, store/leases.py): a channel another host is delivering is left to it."""
    now = now or clock.now()
    report = DeliveryReport()
    due_ids = {m.id for m in store.due_messages(_FAR_FUTURE if force else now)}
    pending: dict[str, list[OutboxMessage]] = {}
    for message in store.due_messages(_FAR_FUTURE):  # every pending message, in order
        pending.setdefault(message.channel, []).append(message)
    by_channel = {n.channel: n for n in notifiers}
    tasks = []
    for channel, messages in pending.items():
        # A channel waits behind its first pending message: a later one must not overtake it.
        due: list[OutboxMessage] = []
        for m in messages:
            if m.id not in due_ids:
                break
            due.append(m)
        if channel not in by_channel:
            report.unconfigured[channel] = len(messages)
            log.warning("%s: %d message(s) pending but the channel is not configured now", channel_label(channel),
                        len(messages))
            continue
        if due:
            tasks.append(_leased(store, by_channel[channel], due, now, report, sleep, quick_retry_delay, lease_ttl))
    # Every channel finishes its own grace when the run stops: the first to end must not cancel the others,
    # whose sends the servers may be accepting (a 250 recorded as nothing would go out again next run).
    for outcome in await asyncio.gather(*tasks, return_exceptions=True):
        if isinstance(outcome, BaseException):
            raise outcome
    return report


async def _leased(store: Store, notifier: Notifier, messages: list[OutboxMessage], now: datetime,
                  report: DeliveryReport, sleep: Sleep, quick_retry_delay: float, ttl: float) -> None:
    """One channel's round under its delivery lease. The messages are read again once the lease is had (another
    host may have sent some meanwhile); a mark refused by the fence (another host holds the channel now) rolls
    back and ends this round: that host sends what is left, at most the one message in flight again."""
    mine = (store.where, notifier.channel)
    if mine in _DELIVERING:  # a round of this process has it (the digest job and the retry job)
        return
    name = f"channel:{notifier.channel}"
    _DELIVERING.add(mine)
    try:
        lease = store.claim([name], holder_id(), ttl).get(name)
        if lease is not None:
            await _round(store, notifier, messages, now, report, sleep, quick_retry_delay, ttl, lease)
        else:
            log.info("%s: another host is delivering this channel now; left to it", channel_label(notifier.channel))
    finally:
        _DELIVERING.discard(mine)


async def _round(store: Store, notifier: Notifier, messages: list[OutboxMessage], now: datetime,
                 report: DeliveryReport, sleep: Sleep, quick_retry_delay: float, ttl: float, lease) -> None:
    keep = asyncio.ensure_future(keep_alive(store, (lease,), ttl))  # a slow server is not a dead host
    try:
        fresh = {m.id: m for m in store.due_messages(_FAR_FUTURE) if m.channel == notifier.channel}
        messages = [fresh[m.id] for m in messages if m.id in fresh]
        with fenced(lease, replace=True):
            await _deliver_channel(store, notifier, messages, now, report, sleep, quick_retry_delay)
    except LeaseLost as exc:
        log.warning("%s: %s; the mark was rolled back, that host sends the rest", channel_label(notifier.channel), exc)
    finally:
        keep.cancel()
        try:
            store.hold(lease, 0.0)
        except Exception as exc:  # noqa: BLE001 — it expires by itself within lease_ttl
            log.warning("%s: delivery lease not handed back: %s", channel_label(notifier.channel), exc)


_DELIVERING: set[tuple[str, str]] = set()  # (state, channel) a round of this process is delivering now


async def _deliver_channel(
    store: Store, notifier: Notifier, messages: list[OutboxMessage], now: datetime, report: DeliveryReport,
    sleep: Sleep, quick_retry_delay: float,
) -> None:
    for index, message in enumerate(messages):
        where = f"{channel_label(notifier.channel)}: digest {message.digest_id} part {message.seq + 1}"
        send = asyncio.ensure_future(_send_with_retries(notifier, message.payload, where, sleep, quick_retry_delay))
        stopping = await _finish(send, where, grace_of(notifier), getattr(notifier, "hurry", None))
        go_on = _settle(store, message, send, now, report, where, behind=len(messages) - index - 1)
        if stopping:
            raise asyncio.CancelledError
        if not go_on:
            return


async def _finish(send: asyncio.Future, where: str, seconds: float,
                  hurry: Callable[[float], None] | None = None) -> bool:
    """Wait for one send; True when the run is being stopped (Ctrl-C, SIGTERM). A send in flight then gets
    `seconds` to finish, however often the run is interrupted again: what the channel accepted, wholly or for
    some recipients, is recorded as such by the caller and never sent to them again. `hurry(deadline)` tells
    a channel that cannot be cancelled (a thread) to end by then (EmailNotifier.hurry)."""
    try:
        await asyncio.shield(send)
        return False
    except asyncio.CancelledError:
        if send.cancelled():
            raise
    except Exception:  # noqa: BLE001 — the send's outcome, read from `send` by _settle
        return False
    deadline = time.monotonic() + seconds
    if hurry is not None:
        hurry(deadline)
    with grace(deadline):
        while not send.done() and time.monotonic() < deadline:
            try:
                await asyncio.wait({send}, timeout=deadline - time.monotonic())
            except asyncio.CancelledError:
                continue  # interrupted again: giving up the request now could make it a duplicate
    if not send.done():
        send.cancel()
        send.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved: nothing printed at exit
        log.info("%s not finished: it stays queued", where)
    return True


def grace_of(notifier) -> float:
    """How long a send in flight on this channel may take to finish when the run stops: an email goes out from a
    thread that no cancel stops, so it gets its SMTP timeout (EmailNotifier.grace), past which smtplib gives up."""
    return max(SEND_GRACE, getattr(notifier, "grace", 0.0))


def _settle(store: Store, message: OutboxMessage, send: asyncio.Future, now: datetime, report: DeliveryReport,
            where: str, *, behind: int) -> bool:
    """Record one send's outcome; False when the channel's `behind` later messages must wait for this one."""
    channel = message.channel
    if not send.done() or send.cancelled():
        return False  # given up in the grace: it stays pending, as it was
    exc = send.exception()
    if exc is None:
        _sent(store, message, report)
        log.info("%s sent in %.1f s", where, send.result())
        return True
    if isinstance(exc, PermanentError):
        store.mark_failed(message.id, exc.reason)
        report.failed.append((channel, message.digest_id, exc.reason))
        log.error("%s refused for good, not retried: %s", where, exc.reason)
        return True  # this message is lost to this channel; later ones can still go
    if isinstance(exc, PartlyDelivered):
        _partly(store, message, exc, now, report, where)
        if exc.rest is not None and exc.hold:
            _held(report, channel, behind)
            return False
        return True  # the ones who took it take the next message too: only the rest waits
    if isinstance(exc, TransientError):
        delay = max(backoff(message.attempts + 1), exc.retry_after or 0)
        next_at = _retry(store, message, report, exc.reason, now + timedelta(seconds=delay))
        _held(report, channel, behind)
        log.warning("%s not delivered, retry at %s: %s%s", where, next_at.isoformat(timespec="seconds"),
                    exc.reason, f" ({behind} later message(s) wait behind it)" if behind else "")
        return False
    # a bug in a channel: keep the message, stop this channel only
    reason = one_line(f"unexpected {type(exc).__name__}: {exc}", 300)
    _retry(store, message, report, reason, now + timedelta(seconds=backoff(message.attempts + 1)))
    log.error("%s: %s", where, reason, exc_info=exc)
    return False


def _held(report: DeliveryReport, channel: str, behind: int) -> None:
    if behind:
        report.held[channel] = behind


def _sent(store: Store, message: OutboxMessage, report: DeliveryReport) -> None:
    store.mark_sent(message.id)
    report.sent.append((message.channel, message.digest_id, message.seq))


def _retry(store: Store, message: OutboxMessage, report: DeliveryReport, reason: str, next_at: datetime,
           payload: str | None = None) -> datetime:
    """Pending again until `next_at` (with `payload`: owed only that, the rest delivered)."""
    store.mark_retry(message.id, reason, next_at, payload=payload)
    report.retrying.append((message.channel, message.digest_id, reason, next_at))
    return next_at


def _partly(store: Store, message: OutboxMessage, exc: PartlyDelivered, now: datetime, report: DeliveryReport,
            where: str) -> None:
    """Some recipients took it: a permanent refusal is reported (once: it is not retried); the message stays
    pending for the deferred recipients alone, or is sent when nobody else is owed it."""
    if exc.refused:
        report.failed.append((message.channel, message.digest_id, exc.refused))
        log.error("%s: %s; not retried for them", where, exc.refused)
    if exc.rest is None:
        _sent(store, message, report)
        return
    next_at = _retry(store, message, report, exc.reason, now + timedelta(seconds=backoff(message.attempts + 1)),
                     exc.rest)
    log.warning("%s: %s; retry for them at %s", where, exc.reason, next_at.isoformat(timespec="seconds"))


async def _send_with_retries(notifier: Notifier, payload: str, where: str, sleep: Sleep, quick_delay: float) -> float:
    """Send, waiting out a short retry_after or retrying once quickly; returns the seconds it took."""
    started = time.monotonic()
    for attempt in range(1, INLINE_TRIES + 1):
        try:
            await notifier.send(payload)
            return time.monotonic() - started
        except TransientError as exc:
            if attempt == INLINE_TRIES:
                raise
            if exc.retry_after is not None:
                if exc.retry_after > MAX_INLINE_WAIT:
                    raise
                wait = exc.retry_after + 0.5
            elif attempt == 1 and exc.quick_retry:
                wait = quick_delay
            else:
                raise
            log.info("%s: %s; trying again in %.1f s", where, exc.reason, wait)
            await sleep(wait)
    raise AssertionError("unreachable")


async def send_test(notifiers: Sequence[Notifier], *, now: datetime | None = None) -> list[tuple[str, bool, str]]:
    """Send a short test message through every channel now, outside the outbox: (channel, ok, what happened)."""
    digest = Digest(kind="test", created_at=now or clock.now(), title="test message")

    async def one(notifier: Notifier) -> tuple[str, bool, str]:
        started = time.monotonic()
        try:
            parts = notifier.render(digest)
            for part in parts:
                await notifier.send(part)
        except (TransientError, PermanentError, PartlyDelivered) as exc:
            kind = "temporary" if isinstance(exc, TransientError) else "permanent"
            log.warning("test message via %s failed (%s): %s", channel_label(notifier.channel), kind, exc.reason)
            return notifier.channel, False, f"{kind} error: {exc.reason}"
        except Exception as exc:
            log.exception("test message via %s failed", channel_label(notifier.channel))
            return notifier.channel, False, one_line(f"unexpected error: {type(exc).__name__}: {exc}", 300)
        detail = f"accepted in {time.monotonic() - started:.1f} s"
        log.info("test message via %s %s", channel_label(notifier.channel), detail)
        return notifier.channel, True, detail

    return list(await asyncio.gather(*(one(n) for n in notifiers)))

"""Recipient by recipient, against a real SMTP server (aiosmtpd): a greylisted recipient gets the story later,
alone; a recipient refused for good is reported once; a message the server accepted is never sent again."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import timedelta

from monitor import clock
from monitor.delivery.channels import notifiers_from_env
from monitor.delivery.outbox import deliver_due, queue_digest
from monitor.store import Store
from tests.delivery.test_outbox import Sleeps, add_stories, make_digest
from tests.support.smtp_sink import SmtpSink

TEAM = "a@example.org, grey@example.org, gone@example.org"
LATER = timedelta(hours=2)


def _received(sink: SmtpSink) -> Counter:
    """How many copies each recipient got."""
    return Counter(rcpt for _, rcpts, _ in sink.envelopes for rcpt in rcpts)


def _round(store: Store, notifiers: list, step: int):
    return asyncio.run(deliver_due(store, notifiers, now=clock.now() + LATER * step, sleep=Sleeps()))


def test_a_greylisted_recipient_gets_it_later_alone_and_a_refused_one_is_reported_once(tmp_path, caplog):
    store = Store(tmp_path / "state.db")
    with SmtpSink() as sink:
        sink.refuse_recipient("grey@example.org", "450 4.2.0 greylisted, try again later")
        sink.refuse_recipient("gone@example.org", "550 5.1.1 <gone@example.org>: no such user")
        notifiers = notifiers_from_env(sink.env(to=TEAM))
        add_stories(store, 1, 1)
        queue_digest(store, make_digest(store), notifiers)
        with caplog.at_level(logging.WARNING):
            first = _round(store, notifiers, 0)
            assert _received(sink) == {"a@example.org": 1}
            assert first.retrying and not first.sent, "the greylisted recipient is still owed the message"
            del sink.refused_recipients["grey@example.org"]  # the greylisting period is over
            rounds = [_round(store, notifiers, step) for step in (1, 2, 3)]
    assert _received(sink) == {"a@example.org": 1, "grey@example.org": 1}, sink.envelopes
    assert rounds[0].sent and not any(r.sent or r.retrying or r.failed for r in rounds[1:])
    assert store.db.execute("SELECT status FROM outbox").fetchall()[0][0] == "sent"
    refusals = [r.getMessage() for r in caplog.records if "550" in r.getMessage()]
    assert len(refusals) == 1 and "recipient 3" in refusals[0], caplog.text
    assert [f for r in [first, *rounds] for f in r.failed] != [], "the permanent refusal is in the run's report"
    assert "@example.org" not in caplog.text, "logs name no address"


def test_every_recipient_deferred_or_refused_retries_only_the_deferred_one(tmp_path):
    store = Store(tmp_path / "state.db")
    with SmtpSink() as sink:
        sink.refuse_recipient("grey@example.org", "451 4.7.1 greylisted")
        sink.refuse_recipient("gone@example.org", "550 5.1.1 no such user")
        notifiers = notifiers_from_env(sink.env(to="grey@example.org, gone@example.org"))
        add_stories(store, 1, 1)
        queue_digest(store, make_digest(store), notifiers)
        first = _round(store, notifiers, 0)
        sink.refused_recipients.clear()  # both would take it now: only the deferred one is owed it
        later = [_round(store, notifiers, step) for step in (1, 2)]
    assert len(first.failed) == 1 and first.retrying and sink.data_commands == 1
    assert _received(sink) == {"grey@example.org": 1}, sink.envelopes
    assert later[0].sent and not later[1].sent


def test_accepted_then_421_to_quit_is_sent_and_not_sent_again(tmp_path):
    store = Store(tmp_path / "state.db")
    with SmtpSink() as sink:
        sink.quit_reply = "421 4.3.2 service shutting down"
        notifiers = notifiers_from_env(sink.env(to="a@example.org, b@example.org"))
        add_stories(store, 1, 1)
        queue_digest(store, make_digest(store), notifiers)
        rounds = [_round(store, notifiers, step) for step in (0, 1)]
    assert _received(sink) == {"a@example.org": 1, "b@example.org": 1}
    assert rounds[0].sent and not rounds[0].retrying and not rounds[1].sent


def test_a_message_owed_only_to_an_address_since_removed_or_fixed_is_not_marked_sent(tmp_path):
    """`grey@` was deferred, then refused for good; the operator corrects it to `grey2@`. The message is owed to
    the old address alone (the others had it), so it goes to nobody: it stays failed, saying why, and is never
    counted as sent."""
    store = Store(tmp_path / "state.db")
    with SmtpSink() as sink:
        sink.refuse_recipient("grey@example.org", "450 4.2.0 greylisted, try again later")
        notifiers = notifiers_from_env(sink.env(to="a@example.org, grey@example.org"))
        add_stories(store, 1, 1)
        queue_digest(store, make_digest(store), notifiers)
        _round(store, notifiers, 0)
        sink.refuse_recipient("grey@example.org", "550 5.1.1 no such user")
        refused = _round(store, notifiers, 1)
        assert refused.failed and not refused.sent
        fixed = notifiers_from_env(sink.env(to="a@example.org, grey2@example.org"))
        assert store.requeue_failed([n.channel for n in fixed]) == 1  # `monitor flush --failed`
        again = _round(store, fixed, 2)
    assert _received(sink) == {"a@example.org": 1}, "nobody gets it twice, nobody new gets a part of it"
    assert not again.sent and "nobody it is still owed to is in MONITOR_EMAIL_TO" in again.failed[0][2]
    assert [tuple(r) for r in store.db.execute("SELECT status FROM outbox")] == [("failed",)]

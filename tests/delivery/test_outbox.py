"""The outbox across runs: every channel gets every digest once, a channel that is down delays only itself."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

import pytest

from monitor import clock
from monitor.delivery.notifier import PartlyDelivered
from monitor.delivery.outbox import BACKOFF, backoff, deliver_due, queue_digest, send_test
from monitor.models import Article, Digest, FeedEntry, MatchResult, TopicHit
from monitor.delivery.channels import notifiers_from_env
from monitor.store import Store
from tests.support.fake_telegram import TOKEN, FakeTelegram
from tests.support.smtp_sink import SmtpSink, free_port

CHAT = "-1001234567890"


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def add_stories(store: Store, first: int, count: int, urgent: bool = False) -> list[int]:
    ids = []
    for i in range(first, first + count):
        url = f"https://ozodi.example/a/{i}"
        item = store.record_item(feed="Ozodi", guid=None, url=url, url_key=f"ozodi.example/a/{i}", status="matched")
        text = f"Security services detained activist {i} in Khorog, GBAO."
        article = Article(FeedEntry("Ozodi", url, title=f"Story {i}"), url, f"Story {i}: detention in Khorog", text,
                          None, clock.now(), "")
        hit = TopicHit("detentions", 0.9, ("detained",), urgent)
        ids.append(store.add_story(item, article, MatchResult((hit,), (), text, ((18, 26),))))
    return ids


def make_digest(store: Store, kind: str = "digest") -> Digest:
    return Digest(kind, clock.now(), tuple(store.waiting_stories()))  # type: ignore[arg-type]


def channels(sink: SmtpSink, tg: FakeTelegram, **env: str) -> list:
    notifiers = notifiers_from_env({**sink.env(), **tg.env(CHAT), **env})
    for n in notifiers:
        if hasattr(n, "min_interval"):
            n.min_interval = 0.0  # pacing is tested in test_telegram.py with a fake clock
    return notifiers


def email_stories(sink: SmtpSink) -> list[str]:
    return [line.split(". ", 1)[1] for m in sink.messages
            for line in m.get_body(("plain",)).get_content().splitlines() if line[:1].isdigit() and ". Story" in line]


def run(coro):
    return asyncio.run(coro)


def test_both_channels_get_each_digest_once_and_a_second_round_sends_nothing(tmp_path):
    store = Store(tmp_path / "state.db")
    add_stories(store, 1, 3)
    with SmtpSink() as sink, FakeTelegram() as tg:
        notifiers = channels(sink, tg)
        digest_id = queue_digest(store, make_digest(store), notifiers)
        report = run(deliver_due(store, notifiers))
        again = run(deliver_due(store, notifiers))
        assert sink.wait_for(1)
    assert digest_id and sorted(c for c, _, _ in report.sent) == ["email", f"telegram:{CHAT}"]
    assert report.ok and not again.sent and again.ok
    assert sink.count == 1 and len(tg.messages) == 1
    assert len(email_stories(sink)) == 3 and tg.messages[0]["text"].count("• ") == 3
    assert store.waiting_stories() == []
    assert {(r["channel"], r["status"]) for r in store.outbox_summary()} == {("email", "sent"), (f"telegram:{CHAT}", "sent")}


def test_smtp_down_delays_email_only_then_email_catches_up_in_order_and_nothing_arrives_twice(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="monitor.deliver")
    store = Store(tmp_path / "state.db")
    port = free_port()
    sink = SmtpSink(port=port)  # not started: the mail server is down
    sleeps = Sleeps()
    with FakeTelegram() as tg:
        notifiers = channels(sink, tg)
        add_stories(store, 1, 2)
        queue_digest(store, make_digest(store), notifiers)
        t0 = clock.now()  # after the queueing: one queued in a later second (a loaded machine) is not due before
        first = run(deliver_due(store, notifiers, now=t0, sleep=sleeps))
        assert [c for c, _, _ in first.sent] == [f"telegram:{CHAT}"]
        ((channel, _, reason, next_at),) = first.retrying
        assert channel == "email" and "unreachable" in reason and next_at == t0 + timedelta(seconds=BACKOFF[0])
        assert sleeps.calls == [2.0]  # one quick retry, then rescheduled

        add_stories(store, 3, 2)  # a second digest while email is still down
        queue_digest(store, make_digest(store), notifiers)
        second = run(deliver_due(store, notifiers, now=t0 + timedelta(seconds=30), sleep=sleeps))
        assert [c for c, _, _ in second.sent] == [f"telegram:{CHAT}"]  # email's 2nd digest waits behind its 1st
        assert not second.retrying

        with sink:  # the mail server is back
            third = run(deliver_due(store, notifiers, now=t0 + timedelta(seconds=61), sleep=sleeps))
            fourth = run(deliver_due(store, notifiers, now=t0 + timedelta(hours=2), sleep=sleeps))
            assert sink.wait_for(2)
    assert [(c, d) for c, d, _ in third.sent] == [("email", 1), ("email", 2)] and not fourth.sent
    assert email_stories(sink) == [f"Story {i}: detention in Khorog" for i in (1, 2, 3, 4)]
    assert [m["text"].count("• ") for m in tg.messages] == [2, 2]
    assert sink.count == 2 and len(tg.messages) == 2
    assert "email: digest 1 part 1 not delivered, retry at" in caplog.text


def test_a_short_telegram_rate_limit_is_waited_out_a_long_one_is_rescheduled(tmp_path):
    store = Store(tmp_path / "state.db")
    sleeps = Sleeps()
    with SmtpSink() as sink, FakeTelegram() as tg:
        notifiers = channels(sink, tg)
        add_stories(store, 1, 1)
        queue_digest(store, make_digest(store), notifiers)
        tg.fail(429, retry_after=3)
        now = clock.now()
        report = run(deliver_due(store, notifiers, now=now, sleep=sleeps))
        assert sleeps.calls == [3.5] and len(tg.messages) == 1 and report.ok

        add_stories(store, 2, 1)
        queue_digest(store, make_digest(store), notifiers)
        tg.fail(429, retry_after=600)
        now = clock.now()  # after the queueing: a digest queued in a later second is not due at an earlier `now`
        report = run(deliver_due(store, notifiers, now=now, sleep=sleeps))
    ((channel, _, _, next_at),) = report.retrying
    assert channel == f"telegram:{CHAT}" and next_at == now + timedelta(seconds=600)
    assert len(tg.messages) == 1 and sink.count == 2  # email was not held up by Telegram's limit


def test_server_errors_are_retried_and_a_bad_chat_is_reported_without_blocking_the_other_chat(tmp_path):
    store = Store(tmp_path / "state.db")
    sleeps = Sleeps()
    with FakeTelegram(chats=(CHAT,)) as tg:
        notifiers = notifiers_from_env(tg.env(f"{CHAT},-100404"))
        for n in notifiers:
            n.min_interval = 0.0
        add_stories(store, 1, 1)
        queue_digest(store, make_digest(store), notifiers)
        tg.fail(500)
        report = run(deliver_due(store, notifiers, sleep=sleeps))
        later = run(deliver_due(store, notifiers, now=clock.now() + timedelta(days=1), sleep=sleeps))
    assert [c for c, _, _ in report.sent] == [f"telegram:{CHAT}"]
    ((channel, _, reason),) = report.failed
    assert channel == "telegram:-100404" and "chat not found" in reason and TOKEN not in reason
    assert not later.sent and not later.failed  # a failed message is kept for status, not resent
    assert len(tg.messages) == 1


def test_messages_for_a_channel_no_longer_configured_stay_pending_and_are_reported(tmp_path):
    store = Store(tmp_path / "state.db")
    with FakeTelegram() as tg, SmtpSink() as sink:
        add_stories(store, 1, 1)
        queue_digest(store, make_digest(store), channels(sink, tg))
        report = run(deliver_due(store, notifiers_from_env(sink.env())))
    assert report.unconfigured == {f"telegram:{CHAT}": 1} and "telegram:-1001234567890 (1)" in report.summary()
    assert sink.count == 1


def test_a_lost_acceptance_resends_at_most_that_one_message_with_the_same_message_id(tmp_path):
    store = Store(tmp_path / "state.db")
    with SmtpSink() as sink:
        notifiers = notifiers_from_env({**sink.env(), "MONITOR_SMTP_TIMEOUT": "0.3"})
        add_stories(store, 1, 1)
        queue_digest(store, make_digest(store), notifiers)
        sink.stall(after_receipt=True)  # the server takes the message but its 250 never comes
        sleeps = Sleeps()
        report = run(deliver_due(store, notifiers, sleep=sleeps))
        assert report.retrying and "did not answer within 0.3 s" in report.retrying[0][2]
        assert sleeps.calls == [] and sink.count == 1  # a timeout is not retried at once: it would just wait again
        sink.release()
        run(deliver_due(store, notifiers, now=clock.now() + timedelta(minutes=5)))
        run(deliver_due(store, notifiers, now=clock.now() + timedelta(hours=5)))
        ids = {m["Message-ID"] for m in sink.messages}
    assert len(ids) == 1 and sink.count <= 3  # one logical message; its resends are recognisable duplicates


def test_backoff_grows_and_is_capped():
    assert [backoff(n) for n in range(1, 8)] == [60, 300, 900, 1800, 3600, 3600, 3600]


def test_send_test_says_what_happened_on_every_channel():
    with SmtpSink() as sink, FakeTelegram() as tg:
        notifiers = channels(sink, tg)
        results = run(send_test(notifiers))
        assert sink.wait_for(1)
    assert [(c, ok) for c, ok, _ in results] == [("email", True), (f"telegram:{CHAT}", True)]
    assert sink.messages[0]["Subject"] == "Pamir monitor test: test message"
    down = notifiers_from_env({**SmtpSink(port=free_port()).env()})
    ((channel, ok, detail),) = run(send_test(down))
    assert channel == "email" and not ok and detail.startswith("temporary error: SMTP server") and "unreachable" in detail


def test_a_renderer_bug_in_one_channel_does_not_keep_the_digest_from_the_others(tmp_path):
    store = Store(tmp_path / "state.db")
    with SmtpSink() as sink, FakeTelegram() as tg:
        notifiers = channels(sink, tg)
        notifiers[1].render = lambda digest: 1 / 0  # type: ignore[method-assign]
        add_stories(store, 1, 1)
        assert queue_digest(store, make_digest(store), notifiers) is not None
        run(deliver_due(store, notifiers))
        assert sink.wait_for(1) and not tg.messages


def test_a_telegram_part_that_fails_holds_back_the_later_parts_so_the_chat_reads_in_order(tmp_path):
    store = Store(tmp_path / "state.db")
    with FakeTelegram() as tg:
        notifiers = notifiers_from_env(tg.env(CHAT))
        notifiers[0].min_interval = 0.0
        notifiers[0].limit = 330  # a small limit: three stories make three parts
        add_stories(store, 1, 3)
        queue_digest(store, make_digest(store), notifiers)
        sleeps = Sleeps()

        async def part_one_then_outage() -> object:
            original = notifiers[0].send
            calls = 0

            async def send(message: str) -> None:
                nonlocal calls
                calls += 1
                if calls == 2:
                    tg.fail(503, times=2)  # the API goes down after the first part
                await original(message)

            notifiers[0].send = send  # type: ignore[method-assign]
            return await deliver_due(store, notifiers, sleep=sleeps)

        first = run(part_one_then_outage())
        assert [p for _, _, p in first.sent] == [0] and first.held == {f"telegram:{CHAT}": 1}
        second = run(deliver_due(store, notifiers, now=clock.now() + timedelta(minutes=2)))
    assert [p for _, _, p in second.sent] == [1, 2]
    assert [m["visible"].rstrip()[-5:] for m in tg.messages] == ["[1/3]", "[2/3]", "[3/3]"]


class _SlowPartly:
    """A channel whose send takes a while and ends with some recipients served (a greylisted one deferred)."""

    channel = "email"

    def render(self, digest):
        return ["whole"]

    async def send(self, message: str) -> None:
        await asyncio.sleep(0.3)
        raise PartlyDelivered("1 of 2 recipient(s) took it", rest="owed to the deferred recipient only")


def test_a_send_that_ends_partly_delivered_in_the_grace_keeps_only_the_rest_even_when_interrupted_twice(tmp_path):
    store = Store(tmp_path / "state.db")
    store.queue_digest("urgent", [], {"email": ["whole"]})

    async def interrupted_twice() -> None:
        task = asyncio.ensure_future(deliver_due(store, [_SlowPartly()]))
        await asyncio.sleep(0.05)
        task.cancel()  # Ctrl-C
        await asyncio.sleep(0.05)
        task.cancel()  # Ctrl-C again, or a service's stop cancelling what is left
        try:
            await task
        except asyncio.CancelledError:
            return
        raise AssertionError("the interruption was swallowed")

    run(interrupted_twice())
    rows = store.db.execute("SELECT status, payload, attempts FROM outbox").fetchall()
    store.close()
    assert [tuple(r) for r in rows] == [("pending", "owed to the deferred recipient only", 1)]


class _SlowThreadSend:
    """An email-like channel: the send runs in a thread that no cancel stops, and asks for a grace that long."""

    channel = "email"
    grace = 1.5

    def render(self, digest):
        return ["whole"]

    async def send(self, message: str) -> None:
        await asyncio.to_thread(time.sleep, 0.6)  # the server's 250 comes late, after the run's own grace


def test_a_send_in_a_thread_that_outlasts_the_runs_grace_is_waited_for_and_recorded_not_sent_again(tmp_path,
                                                                                                    monkeypatch):
    import monitor.delivery.outbox as outbox_module

    monkeypatch.setattr(outbox_module, "SEND_GRACE", 0.2)  # shorter than the send: only the channel's own grace helps
    store = Store(tmp_path / "state.db")
    store.queue_digest("urgent", [], {"email": ["whole"]})

    async def interrupted() -> None:
        task = asyncio.ensure_future(deliver_due(store, [_SlowThreadSend()]))
        await asyncio.sleep(0.05)
        task.cancel()  # Ctrl-C while the thread talks to the server
        with pytest.raises(asyncio.CancelledError):
            await task

    run(interrupted())
    rows = store.db.execute("SELECT status FROM outbox").fetchall()
    store.close()
    assert [r[0] for r in rows] == ["sent"], "the server took it: the next run must not send it again"

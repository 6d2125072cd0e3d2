"""Half a delivery: one half of a channel fails while the other half works, against a real SMTP server
(aiosmtpd) and the local Bot API server. After each fault the next rounds deliver what was owed exactly once
and send nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from datetime import timedelta

from monitor import clock
from monitor.delivery.outbox import deliver_due, queue_digest
from monitor.delivery.channels import notifiers_from_env
from monitor.store import Store
from tests.conftest import PROJECT, run_cli
from tests.support.fake_telegram import TOKEN, FakeTelegram
from tests.support.faultserver import feeds_yaml
from tests.support.localsite import LocalSite, Page, article_html, rss
from tests.support.smtp_sink import SmtpSink
from tests.delivery.test_outbox import Sleeps, add_stories, email_stories, make_digest

GOOD, BAD = "-1001111111111", "-1002222222222"
LATER = timedelta(hours=2)  # past any backoff the first failure set


def _rounds(store: Store, notifiers: list, count: int = 3, sleep=None) -> list:
    """The first round now, then `count - 1` rounds each two hours later (as later runs would)."""
    now = clock.now()
    return [asyncio.run(deliver_due(store, notifiers, now=now + LATER * i, sleep=sleep or Sleeps()))
            for i in range(count)]


def _outbox(store: Store) -> list[tuple[str, str, int]]:
    return [(r["channel"], r["status"], r["attempts"]) for r in
            store.db.execute("SELECT channel, status, attempts FROM outbox ORDER BY id")]


def _telegram(tg: FakeTelegram, chats: str) -> list:
    notifiers = notifiers_from_env(tg.env(chats))
    for n in notifiers:
        n.min_interval = 0.0
    return notifiers


# --- email ---------------------------------------------------------------------------------------


def test_a_refused_recipient_is_reported_once_and_the_other_gets_the_mail(tmp_path, caplog):
    store = Store(tmp_path / "state.db")
    with SmtpSink() as sink:
        sink.refuse_recipient("gone@example.org", "550 5.1.1 <gone@example.org>: mailbox unavailable")
        notifiers = notifiers_from_env(sink.env(to="monitor@example.org, gone@example.org"))
        add_stories(store, 1, 2)
        queue_digest(store, make_digest(store), notifiers)
        with caplog.at_level(logging.WARNING):
            first, *later = _rounds(store, notifiers)
    assert [rcpts for _, rcpts, _ in sink.envelopes] == [["monitor@example.org"]]
    assert email_stories(sink) == ["Story 1: detention in Khorog", "Story 2: detention in Khorog"]
    assert first.sent and not first.retrying and all(not r.sent and not r.retrying for r in later)
    assert _outbox(store) == [("email", "sent", 1)], "the refused recipient is not retried forever"
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 1 and "1 of 2 recipient" in refusals[0], caplog.text
    assert "gone@example.org" not in caplog.text, "logs reach journald: they name no address (issue 12)"


def test_every_recipient_refused_for_good_fails_the_message_without_retrying_it(tmp_path):
    store = Store(tmp_path / "state.db")
    with SmtpSink() as sink:
        sink.refuse_recipient("gone@example.org")
        notifiers = notifiers_from_env(sink.env(to="gone@example.org"))
        add_stories(store, 1, 1)
        queue_digest(store, make_digest(store), notifiers)
        first, *later = _rounds(store, notifiers)
    assert sink.count == 0 and sink.data_commands == 0
    ((_, _, reason),) = first.failed
    assert "recipient 1" in reason and "550" in reason and "gone@example.org" not in reason  # no address in the state's error
    assert _outbox(store) == [("email", "failed", 1)] and all(not r.failed and not r.sent for r in later)


def test_a_wrong_smtp_password_is_a_clear_error_nothing_is_marked_sent_and_it_goes_out_once_fixed(tmp_path):
    with LocalSite() as site, SmtpSink(auth={"monitor": "right horse battery"}) as sink:
        site.add("/s/1", article_html("Pamiri lawyer detained in Khorog", [
            "Security forces detained a Pamiri lawyer in Khorog, GBAO, on Friday, a day after he filed a complaint "
            "on behalf of a detained client, his brother said.",
            "The lawyer represents families of men detained after the 2022 protests in Gorno-Badakhshan."]))
        site.add("/feed.xml", Page(rss("F", [{"title": "Pamiri lawyer detained in Khorog", "path": "/s/1"}],
                                       base=site.base).encode(), content_type="application/rss+xml"))
        feeds = feeds_yaml(tmp_path / "feeds.yaml", [("Feed", site.url("/feed.xml"))],
                       settings="  timeout: 15\n")
        state = tmp_path / "state.db"
        args = ("run", "--once", "--feeds", str(feeds), "--keywords", str(PROJECT / "keywords.yaml"),
                "--state", str(state))
        env = {**sink.env(), "MONITOR_SMTP_USER": "monitor", "MONITOR_SMTP_PASSWORD": "wrong-password-x9"}
        wrong = run_cli(*args, env=env)
        assert wrong.returncode == 3, wrong.stderr  # it stays queued: exit 3 for OnFailure=
        assert "Traceback" not in wrong.stderr
        assert "refused the login (535)" in wrong.stderr and "MONITOR_SMTP_USER" in wrong.stderr, wrong.stderr
        assert "wrong-password-x9" not in wrong.stderr + wrong.stdout
        assert sink.count == 0
        db = sqlite3.connect(state)
        assert db.execute("SELECT status FROM outbox").fetchall() == [("pending",)]
        with db:  # as if the backoff had passed
            db.execute("UPDATE outbox SET next_attempt_at = '2000-01-01T00:00:00+00:00'")
        db.close()

        fixed = run_cli(*args, env={**env, "MONITOR_SMTP_PASSWORD": "right horse battery"})
        assert fixed.returncode == 0, fixed.stderr
    assert sink.count == 1 and sink.logins == ["monitor"], fixed.stderr
    assert "Pamiri lawyer detained in Khorog" in sink.messages[0].get_body(("plain",)).get_content()


def test_a_server_that_hangs_up_after_data_without_a_reply_is_retried_and_delivers_once(tmp_path):
    store = Store(tmp_path / "state.db")
    with SmtpSink() as sink:
        sink.drop()
        notifiers = notifiers_from_env(sink.env())
        add_stories(store, 1, 1)
        queue_digest(store, make_digest(store), notifiers)
        now = clock.now()
        dropped = asyncio.run(deliver_due(store, notifiers, now=now, sleep=Sleeps()))
        assert sink.data_commands >= 1 and sink.count == 0
        ((_, _, reason, _),) = dropped.retrying
        assert "SMTP server" in reason, reason
        assert _outbox(store)[0][1] == "pending"
        sink.accept()
        later = [asyncio.run(deliver_due(store, notifiers, now=now + LATER * i, sleep=Sleeps())) for i in (1, 2)]
    assert sink.count == 1 and later[0].sent and not later[1].sent
    assert _outbox(store)[0][1] == "sent"


# --- Telegram --------------------------------------------------------------------------------------


def test_chat_not_found_for_one_chat_the_other_gets_every_part_of_every_digest(tmp_path):
    store = Store(tmp_path / "state.db")
    with FakeTelegram(chats=(GOOD,)) as tg:
        notifiers = _telegram(tg, f"{BAD},{GOOD}")
        for n in notifiers:
            n.limit = 700  # several parts per digest
        for first in (1, 20):
            add_stories(store, first, 6)
            queue_digest(store, make_digest(store), notifiers)
        rounds = _rounds(store, notifiers)
    parts = store.db.execute(f"SELECT COUNT(*) FROM outbox WHERE channel = 'telegram:{GOOD}'").fetchone()[0]
    assert parts > 2 and len(tg.messages) == parts and {m["chat_id"] for m in tg.messages} == {GOOD}
    texts = "".join(m["visible"] for m in tg.messages)
    for i in [*range(1, 7), *range(20, 26)]:
        assert texts.count(f"Story {i}: detention in Khorog") == 1, i
    failed = [f for r in rounds for f in r.failed]
    assert failed and {c for c, _, _ in failed} == {f"telegram:{BAD}"} and "chat not found" in failed[0][2]
    assert all(not r.sent and not r.failed for r in rounds[1:]), "nothing is sent or failed twice"


def test_a_repeated_429_is_waited_out_then_rescheduled_and_the_message_arrives_once(tmp_path):
    store = Store(tmp_path / "state.db")
    sleeps = Sleeps()
    with FakeTelegram() as tg:
        notifiers = _telegram(tg, GOOD)
        add_stories(store, 1, 1)
        queue_digest(store, make_digest(store), notifiers)
        tg.fail(429, times=5, retry_after=2)
        rounds = _rounds(store, notifiers, 4, sleep=sleeps)
    assert len(tg.messages) == 1
    assert [len(r.sent) for r in rounds] == [0, 1, 0, 0]
    assert sleeps.calls[:2] == [2.5, 2.5], "a short retry_after is waited out, as asked"
    ((_, _, reason, next_at),) = rounds[0].retrying
    assert "rate limit" in reason and TOKEN not in reason


def test_ok_false_and_an_html_error_page_are_retried_and_never_sent_twice(tmp_path):
    store = Store(tmp_path / "state.db")
    with FakeTelegram() as tg:
        notifiers = _telegram(tg, GOOD)
        add_stories(store, 1, 1)
        queue_digest(store, make_digest(store), notifiers)
        # each round tries twice (one quick retry), so each fault below fills one round
        tg.fail(200, times=2, description="Internal: temporarily unavailable")  # 200 with {"ok": false}
        tg.fail_html(502, times=2)
        tg.fail_html(200, times=2)  # a proxy's HTML page with a 200
        rounds = _rounds(store, notifiers, 5)
    reasons = [r.retrying[0][2] for r in rounds[:3]]
    assert "answered 200: Internal: temporarily unavailable" in reasons[0], reasons
    assert "answered 502" in reasons[1] and "answered 200" in reasons[2], reasons
    assert all("not a Bot API answer" in reason for reason in reasons[1:]), reasons
    assert all("<html" not in reason and TOKEN not in reason for reason in reasons), reasons
    assert [len(r.sent) for r in rounds] == [0, 0, 0, 1, 0]
    assert len(tg.messages) == 1

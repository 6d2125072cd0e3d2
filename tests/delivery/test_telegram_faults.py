"""Telegram answering 400 against the local Bot API: "message is too long" is split again, "can't parse
entities" is sent as plain text (split too when it is long); no part of a stored message is ever dropped."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from monitor import clock
from monitor.delivery.channels import notifiers_from_env
from monitor.delivery.outbox import deliver_due
from monitor.store import Store
from tests.delivery.test_outbox import Sleeps
from tests.support.fake_telegram import FakeTelegram, utf16_len

CHAT = "-1001234567890"
LINES = [f"<b>Story {i}</b>: activists detained in Khorog — «{'подробности ' * 8}» {'ع' * 20}" for i in range(70)]


def _deliver(tmp_path, tg: FakeTelegram, payload: str, rounds: int = 2):
    store = Store(tmp_path / "state.db")
    (notifier,) = notifiers_from_env(tg.env(CHAT))
    notifier.min_interval = 0.0
    store.queue_digest("urgent", [], {notifier.channel: [payload]})
    reports = [asyncio.run(deliver_due(store, [notifier], now=clock.now() + timedelta(hours=2) * i, sleep=Sleeps()))
               for i in range(rounds)]
    status = [r[0] for r in store.db.execute("SELECT status FROM outbox")]
    store.close()
    return reports, status


def _arrived(tg: FakeTelegram) -> list[str]:
    return [line for m in tg.messages for line in m["visible"].split("\n") if line.strip()]


def test_a_message_telegram_finds_too_long_is_split_again_and_every_line_arrives_once_in_order(tmp_path):
    payload = "\n".join(LINES)
    assert utf16_len(payload) > 2 * 4096
    with FakeTelegram() as tg:
        reports, status = _deliver(tmp_path, tg, payload)
    expected = [line.replace("<b>", "").replace("</b>", "") for line in LINES]
    assert _arrived(tg) == expected
    assert all(m.get("parse_mode") == "HTML" for m in tg.messages), "the markup was kept"
    assert reports[0].sent and not reports[0].failed and not reports[1].sent and status == ["sent"]


def test_markup_telegram_cannot_parse_is_sent_as_plain_text_split_to_fit_and_nothing_is_dropped(tmp_path):
    payload = "<blink>" + "\n".join(LINES)  # a tag Telegram does not know, in a message over the limit
    with FakeTelegram() as tg:
        reports, status = _deliver(tmp_path, tg, payload)
    expected = [line.replace("<b>", "").replace("</b>", "") for line in LINES]
    assert _arrived(tg) == expected
    assert all(utf16_len(m["text"]) <= 4096 for m in tg.messages)
    assert reports[0].sent and not reports[0].failed and status == ["sent"]


def test_a_failure_after_the_first_piece_retries_only_the_rest(tmp_path):
    payload = "\n".join(LINES)
    with FakeTelegram() as tg:
        tg.fail_after_accepted(1, 500)
        reports, status = _deliver(tmp_path, tg, payload, rounds=3)
    expected = [line.replace("<b>", "").replace("</b>", "") for line in LINES]
    assert _arrived(tg) == expected, "each line once: the accepted piece is not sent again"
    assert reports[0].retrying and reports[1].sent and not reports[2].sent and status == ["sent"]


def test_any_other_400_after_a_piece_was_accepted_keeps_the_rest_owed_and_sends_it_later(tmp_path):
    payload = "\n".join(LINES)
    with FakeTelegram() as tg:
        tg.fail_after_accepted(1, 400, "Bad Request: not enough rights to send text messages to the chat")
        reports, status = _deliver(tmp_path, tg, payload, rounds=3)
    expected = [line.replace("<b>", "").replace("</b>", "") for line in LINES]
    assert _arrived(tg) == expected, "each line once: nothing dropped, the accepted piece not sent again"
    assert reports[0].retrying and not reports[0].sent and reports[1].sent and status == ["sent"]


def test_a_rest_refused_again_on_its_own_fails_for_good_and_is_not_counted_as_sent(tmp_path):
    payload = "\n".join(LINES)
    refusal = "Bad Request: not enough rights to send text messages to the chat"
    store = Store(tmp_path / "state.db")
    with FakeTelegram() as tg:
        (notifier,) = notifiers_from_env(tg.env(CHAT))
        notifier.min_interval = 0.0
        store.queue_digest("urgent", [], {notifier.channel: [payload]})
        tg.fail_after_accepted(1, 400, refusal)
        first = asyncio.run(deliver_due(store, [notifier], now=clock.now(), sleep=Sleeps()))
        tg.fail(400, description=refusal)
        second = asyncio.run(deliver_due(store, [notifier], now=clock.now() + timedelta(hours=2), sleep=Sleeps()))
    (status, owed, error), = store.db.execute("SELECT status, payload, last_error FROM outbox").fetchall()
    store.close()
    assert first.retrying and not first.sent and second.failed and not second.sent
    assert status == "failed" and "not enough rights" in error
    assert LINES[-1] in owed and LINES[0] not in owed, "the row keeps what was never delivered, for monitor status"

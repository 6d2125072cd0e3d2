"""Telegram digests against a local fake of the Bot API: chunks, markup, pacing, failures, the token kept secret."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone

import pytest

from monitor.config.feeds import ConfigError
from monitor.models import Digest, DigestStory
from monitor.delivery.channels import notifiers_from_env
from monitor.delivery.notifier import PermanentError, Secret, TransientError
from monitor.delivery.telegram import TelegramNotifier
from tests.support.fake_telegram import TOKEN, FakeTelegram, utf16_len, visible_text

NOW = datetime(2026, 5, 1, 9, 30, tzinfo=timezone.utc)


def story(i: int, title: str | None = None, snippet_words: int = 20, topic: str = "detentions") -> DigestStory:
    snippet = f"Story {i}: " + " ".join(["Хорог активист задержан detained"] * (snippet_words // 4 or 1))
    start = snippet.index("detained")
    return DigestStory(i, title or f"Activist {i} detained in Khorog", f"https://news.example.org/{i}", "Ozodi", NOW,
                       (topic,), ("detained",), snippet, ((start, start + 8),), 1.0 - i / 1000)


class FakeClock:
    """Time that only moves when the notifier sleeps: pacing is checked without real waiting."""

    def __init__(self) -> None:
        self.now, self.sleeps = 1000.0, []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def notifier_for(tg: FakeTelegram, chat: str = "-1001234567890", clock: FakeClock | None = None) -> TelegramNotifier:
    clock = clock or FakeClock()
    return TelegramNotifier(notifiers_from_env(tg.env(chat))[0].token, chat, tg.url, sleep=clock.sleep, clock=clock)


def deliver(notifier: TelegramNotifier, digest: Digest) -> list[str]:
    chunks = notifier.render(digest)

    async def run() -> None:
        for chunk in chunks:
            await notifier.send(chunk)

    asyncio.run(run())
    return chunks


def test_a_short_digest_is_one_html_message_with_links_and_highlighted_terms():
    with FakeTelegram() as tg:
        deliver(notifier_for(tg), Digest("digest", NOW, (story(1), story(2, topic="internet"))))
    (msg,) = tg.messages
    assert msg["chat_id"] == "-1001234567890" and msg["parse_mode"] == "HTML"
    assert msg["text"].startswith("<b>Pamir monitor Digest</b> — 2 stories on detentions, internet")
    assert '• <a href="https://news.example.org/1">Activist 1 detained in Khorog</a>' in msg["text"]
    assert "<b>detained</b>" in msg["text"] and "<b>internet</b>" in msg["text"]
    assert "<p>" not in msg["text"] and "<br" not in msg["text"] and "<li" not in msg["text"]


def test_web_text_is_escaped_so_it_cannot_add_markup():
    evil = DigestStory(1, "<script>x</script> & <a href='javascript:1'>click</a>\nnew line", "javascript:alert(1)",
                       "Feed <b>", NOW, ("detentions",), (), "a < b & c > d", ())
    with FakeTelegram() as tg:
        deliver(notifier_for(tg), Digest("urgent", NOW, (evil,)))
    (msg,) = tg.messages  # the fake refuses unknown tags, so acceptance already proves the escaping
    assert "&lt;script&gt;x&lt;/script&gt; &amp; &lt;a href='javascript:1'&gt;click&lt;/a&gt; new line" in msg["text"]
    assert "href=\"javascript" not in msg["text"] and "a &lt; b &amp; c &gt; d" in msg["text"]
    assert msg["text"].startswith("🚨 <b>URGENT</b> — 1 story on detentions")


def test_a_long_digest_is_split_between_stories_within_the_limit_at_one_message_per_second():
    stories = tuple(story(i, snippet_words=120, topic="detentions" if i < 40 else "internet") for i in range(1, 81))
    clock = FakeClock()
    with FakeTelegram() as tg:
        chunks = deliver(notifier_for(tg, clock=clock), Digest("digest", NOW, stories))
    assert len(chunks) >= 4 and len(tg.messages) == len(chunks)
    seen = []
    for n, msg in enumerate(tg.messages, 1):
        assert utf16_len(msg["text"]) <= 4096  # raw markup within the limit, so the visible text surely is
        text, error = visible_text(msg["text"])
        assert not error and text.rstrip().endswith(f"[{n}/{len(chunks)}]")
        seen += [int(line.split("Activist ")[1].split()[0]) for line in text.splitlines() if line.startswith("• ")]
    assert seen == list(range(1, 81))  # every story exactly once, in order, none cut in half
    assert tg.messages[1]["text"].startswith("<i>(continued) 80 stories on detentions, internet</i>\n\n<b>detentions</b>")
    assert clock.sleeps and all(s == pytest.approx(1.0) for s in clock.sleeps)  # paced: ~1 message per second
    assert len(clock.sleeps) == len(chunks) - 1


def test_an_oversized_story_is_shortened_rather_than_cut_inside_a_tag():
    huge = DigestStory(1, "T" * 5000, "https://e.example/" + "x" * 3000, "Src", NOW, ("detentions",), ("t",),
                       "t" * 9000, ((0, 9000),))
    with FakeTelegram() as tg:
        deliver(notifier_for(tg), Digest("urgent", NOW, (story(2), huge)))
    assert all(utf16_len(m["text"]) <= 4096 for m in tg.messages) and len(tg.messages) >= 1
    assert any("TTTT" in m["text"] for m in tg.messages)


def test_rate_limit_server_errors_and_refusals_raise_the_right_error():
    with FakeTelegram() as tg:
        notifier = notifier_for(tg)
        tg.fail(429, retry_after=7)
        with pytest.raises(TransientError) as err:
            asyncio.run(notifier.send("hello"))
        assert err.value.retry_after == 7
        tg.fail(502)
        with pytest.raises(TransientError, match="answered 502"):
            asyncio.run(notifier.send("hello"))
    with FakeTelegram(chats=("-100999",)) as tg:
        with pytest.raises(PermanentError) as err:
            asyncio.run(notifier_for(tg, chat="-100123").send("hello"))
        assert "telegram:…123" in err.value.reason and "-100123" not in err.value.reason and "chat not found" in err.value.reason
        tg.fail(400, description="Bad Request: group chat was upgraded to a supergroup chat",
                parameters={"migrate_to_chat_id": -1009876})
        with pytest.raises(PermanentError, match="set MONITOR_TELEGRAM_CHAT_ID to -1009876"):
            asyncio.run(notifier_for(tg, chat="-100999").send("hello"))


def test_refused_markup_falls_back_to_plain_text_so_the_alert_still_arrives():
    with FakeTelegram() as tg:
        tg.fail(400, description="Bad Request: can't parse entities: unsupported start tag")
        asyncio.run(notifier_for(tg).send("🚨 <b>URGENT</b> — a &lt;b&gt; story"))
    (msg,) = tg.messages
    assert msg["text"] == "🚨 URGENT — a <b> story" and "parse_mode" not in msg


def test_the_token_never_appears_in_errors_or_logs(caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # a CLI run in this worker may have quieted library loggers
    with FakeTelegram(token="111:" + "B" * 30) as tg:  # the fake knows another token: ours is refused
        notifier = TelegramNotifier(Secret(TOKEN), "-1001", tg.url, min_interval=0)
        with pytest.raises(TransientError) as refused:
            asyncio.run(notifier.send("hello"))
        logging.getLogger("httpx").info("HTTP Request: POST %s/bot%s/sendMessage", tg.url, TOKEN)
    assert "rejected the bot token" in refused.value.reason
    with pytest.raises(TransientError) as down:
        asyncio.run(notifier.send("hello"))  # the fake has stopped: connection refused
    for text in (refused.value.reason, down.value.reason, repr(notifier), notifier.describe(), caplog.text):
        assert TOKEN not in text and TOKEN.split(":")[1] not in text
    assert "/bot********/sendMessage" in caplog.text


def test_several_chats_are_separate_channels_and_bad_settings_are_refused(tmp_path):
    (tmp_path / "token").write_text(TOKEN + "\n")
    chans = notifiers_from_env({"MONITOR_TELEGRAM_TOKEN_FILE": str(tmp_path / "token"),
                                "MONITOR_TELEGRAM_CHAT_ID": "-1001, @pamir_alerts"})
    assert [n.channel for n in chans] == ["telegram:-1001", "telegram:@pamir_alerts"]
    assert chans[0].api_base == "https://api.telegram.org" and chans[0].token.reveal() == TOKEN
    for env, complaint in [
        ({"MONITOR_TELEGRAM_TOKEN": TOKEN}, "MONITOR_TELEGRAM_CHAT_ID is not"),
        ({"MONITOR_TELEGRAM_CHAT_ID": "-1001"}, "no token"),
        ({"MONITOR_TELEGRAM_TOKEN": TOKEN, "MONITOR_TELEGRAM_CHAT_ID": "my group"}, "is not a chat id"),
        ({"MONITOR_TELEGRAM_TOKEN": TOKEN, "MONITOR_TELEGRAM_CHAT_ID": "1",
          "MONITOR_TELEGRAM_API": "http://proxy.example.org"}, "the token would travel unencrypted"),
    ]:
        with pytest.raises(ConfigError) as err:
            notifiers_from_env(env)
        assert complaint in str(err.value) and TOKEN not in str(err.value)


def test_channel_descriptions_name_every_channel_without_secrets(tmp_path):
    from monitor.delivery.channels import describe_channels

    env = {"MONITOR_TELEGRAM_TOKEN": TOKEN, "MONITOR_TELEGRAM_CHAT_ID": "-1001,-1002", "MONITOR_SMTP_HOST": "mail.example.org",
           "MONITOR_EMAIL_TO": "a@example.org", "MONITOR_EMAIL_FROM": "m@example.org", "MONITOR_SMTP_USER": "m",
           "MONITOR_SMTP_PASSWORD": "pw-Secret-9"}
    text = describe_channels(env)
    assert text == ("email via mail.example.org:587 (starttls, login m) from m@example.org to a@example.org; "
                    "Telegram chat -1001 via https://api.telegram.org (token set); "
                    "Telegram chat -1002 via https://api.telegram.org (token set)")
    assert describe_channels({}) == "stdout (no channel configured)"
    assert describe_channels(notifiers_from_env(env)) == text


def test_a_backfill_lists_titles_only_so_hundreds_of_old_stories_fit_in_few_messages():
    stories = tuple(story(i, snippet_words=120) for i in range(1, 301))
    with FakeTelegram() as tg:
        n = notifier_for(tg)
        chunks = n.render(Digest("backfill", NOW, stories))
        full = n.render(Digest("digest", NOW, stories))
    assert len(chunks) * 4 < len(full)
    assert "<b>detained</b>" not in "".join(chunks) and chunks[0].startswith("<b>Pamir monitor Backfill</b> — 300 stories")

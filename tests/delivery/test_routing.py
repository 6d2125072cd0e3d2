"""Per-recipient routing (`recipients:` in feeds.yaml), against a real SMTP server and the local Bot API.

The team list (MONITOR_EMAIL_TO) gets everything; a diaspora journalist's Telegram chat gets the Russian
stories; an NGO lead gets killings and deaths in custody as urgent alerts only. The SMTP login and the bot
token stay in the environment. Outcomes are counted per recipient: who got which message.
"""

from __future__ import annotations

import asyncio
import textwrap

import pytest

from monitor import clock
from monitor.config.feeds import load_feeds
from monitor.delivery import outbox
from monitor.delivery.channels import notifiers_from_env
from monitor.delivery.digest import build_digest, urgent_digests
from monitor.models import Article, FeedEntry, MatchResult, TopicHit
from monitor.relevance.keywords import load_rules
from tests.conftest import PROJECT, run_cli
from tests.support.fake_telegram import FakeTelegram
from tests.support.smtp_sink import SmtpSink

RULES = load_rules(PROJECT / "keywords.yaml")
NOW = clock.now()
JOURNALIST, NGO = "-1009876543210", "lead@ngo.example"
RU_TITLE = "В Хороге задержаны трое активистов"
KILLING = "Young Pamiri man shot dead by police in Khorog"
FEEDS = textwrap.dedent(f"""\
    feeds:
      - name: Ozodi RU
        url: https://rus.ozodi.org/rss
        language: ru
      - name: Asia News
        url: https://asia.example/rss
        language: en
    recipients:
      - name: diaspora journalist
        telegram: "{JOURNALIST}"
        languages: [ru]
        urgency: digest
      - name: NGO lead
        email: {NGO}
        topics: [gbao_violence, Mass detentions in GBAO]
        urgency: urgent
    """)


def _story(store, n: int, feed: str, title: str, hits, urgent_topic: str = "") -> None:
    url = f"https://news.example/{n}"
    item = store.record_item(feed=feed, guid=None, url=url, url_key=url[8:], status="matched")
    article = Article(FeedEntry(feed, url, title=title, published=NOW), url, title, title, NOW, NOW, "")
    store.add_story(item, article, MatchResult(hits=hits, snippet=title, urgent_topic=urgent_topic),
                    urgent=bool(urgent_topic))


@pytest.fixture
def feeds_file(tmp_path):
    path = tmp_path / "feeds.yaml"
    path.write_text(FEEDS, encoding="utf-8")
    return path


def test_each_recipient_gets_only_what_their_routing_says(store, feeds_file):
    feeds = load_feeds(feeds_file)
    _story(store, 1, "Ozodi RU", RU_TITLE, (TopicHit("gbao_rights", 9.0, ("задержаны",)),))
    _story(store, 2, "Asia News", KILLING, (TopicHit("gbao_violence", 8.0, ("shot dead",), urgent=True),),
           urgent_topic="gbao_violence")
    _story(store, 3, "Asia News", "Trial of Khorog activists opens", (TopicHit("gbao_rights", 5.0, ("trial",)),))
    with SmtpSink() as sink, FakeTelegram() as tg:
        env = {**sink.env(to="team@example.org"), **tg.env(chats="-1001111111111")}
        notifiers = notifiers_from_env(env, feeds=feeds, rules=RULES)
        for alert in urgent_digests(store, topic_titles=RULES.titles):
            outbox.queue_digest(store, alert, notifiers)
        outbox.queue_digest(store, build_digest(store, feeds.settings, feed_names={"Ozodi RU", "Asia News"},
                                                topic_titles=RULES.titles), notifiers)
        report = asyncio.run(outbox.deliver_due(store, notifiers))
        assert report.ok, report.summary()
        mails: dict[str, list[str]] = {}
        for (_, rcpts, _), msg in zip(sink.envelopes, sink.messages):
            for rcpt in rcpts:
                mails.setdefault(rcpt, []).append(msg["Subject"])
        chats: dict[str, list[str]] = {}
        for m in tg.messages:
            chats.setdefault(str(m["chat_id"]), []).append(m["visible"])
    assert len(mails["team@example.org"]) == 2, "the team list gets the alert and the digest"
    assert mails[NGO] == [s for s in mails[NGO] if s.startswith("URGENT")] and len(mails[NGO]) == 1
    assert KILLING in mails[NGO][0]
    assert len(chats["-1001111111111"]) == 2, "the team chat gets everything"
    [digest] = chats[JOURNALIST]
    assert RU_TITLE in digest and "Trial of Khorog" not in digest and KILLING not in digest
    assert all(JOURNALIST not in line and NGO not in line for line in report.summary().splitlines())


def test_check_config_shows_who_gets_what_without_secrets(feeds_file, clean_env):
    with FakeTelegram() as tg, SmtpSink() as sink:
        env = {**sink.env(to="team@example.org"), **tg.env(chats="-1001111111111")}
        result = run_cli("check-config", "--feeds", str(feeds_file), env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "diaspora journalist" in out and "every topic; ru; digests only, no alerts" in out
    assert "NGO lead" in out and ("Killings and deaths in custody in GBAO, Mass detentions in GBAO; every language; "
                                  "urgent alerts only") in out
    assert "team@example.org" in out and "everything" in out
    assert tg.token not in out and tg.token not in result.stderr


def test_routing_mistakes_are_config_errors_at_their_line(tmp_path, clean_env):
    bad = tmp_path / "feeds.yaml"
    bad.write_text(FEEDS.replace("[gbao_violence, Mass detentions in GBAO]", "[gbao_violence, murders]")
                   .replace("telegram: \"-1009876543210\"", "telegram: \"-1009876543210\"\n    email: x@y.org"),
                   encoding="utf-8")
    result = run_cli("check-config", "--feeds", str(bad))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert any("exactly one of email: or telegram:" in line and f"{bad}:" in line for line in lines), lines
    assert any("murders" in line and f"{bad}:" in line for line in lines), lines


def test_a_reader_who_takes_no_alerts_finds_the_killing_in_full_in_the_next_digest_once(store, tmp_path):
    feeds_file = tmp_path / "feeds.yaml"
    feeds_file.write_text(textwrap.dedent("""\
        feeds:
          - name: Asia News
            url: https://asia.example/rss
            language: en
        recipients:
          - name: weekly editor
            email: editor@ngo.example
            urgency: digest
        """), encoding="utf-8")
    feeds = load_feeds(feeds_file)
    _story(store, 1, "Asia News", KILLING, (TopicHit("gbao_violence", 8.0, ("shot dead",), urgent=True),),
           urgent_topic="gbao_violence")
    with SmtpSink() as sink:
        notifiers = notifiers_from_env(sink.env(to="team@example.org"), feeds=feeds, rules=RULES)

        def digest_now() -> None:
            digest = build_digest(store, feeds.settings, feed_names={"Asia News"}, topic_titles=RULES.titles,
                                  alerts_alone=True)
            if digest is not None:
                outbox.queue_digest(store, digest, notifiers)

        for alert in urgent_digests(store, topic_titles=RULES.titles):
            outbox.queue_digest(store, alert, notifiers)
        digest_now()  # the alert is the only news since the last digest
        digest_now()  # and it is not news again
        assert asyncio.run(outbox.deliver_due(store, notifiers)).ok
        got: dict[str, list] = {}
        for (_, rcpts, _), msg in zip(sink.envelopes, sink.messages):
            for rcpt in rcpts:
                got.setdefault(rcpt, []).append(msg)
    assert [m["Subject"].startswith("URGENT") for m in got["team@example.org"]] == [True], \
        "the team had the alert, and no digest that only repeats it"
    [digest] = got["editor@ngo.example"]
    assert not digest["Subject"].startswith("URGENT")
    text = digest.get_body(("plain",)).get_content()
    assert f"1. {KILLING}" in text and "not repeated below" not in text


def test_a_persian_reader_gets_the_incident_whose_lead_report_is_russian():
    from monitor.config.recipients import Recipient
    from monitor.delivery.routing import select
    from monitor.models import Digest, DigestStory

    entry = DigestStory(1, RU_TITLE, "https://rus.ozodi.org/a/1", "Ozodi RU", NOW, ("gbao_rights",), (), RU_TITLE,
                        also_reported_by=(("BBC Persian", "https://bbc.example/persian/1"),),
                        also_titles=("بازداشت سه فعال پامیری در خاروغ",))
    digest = Digest("digest", NOW, (entry,))
    languages = {"Ozodi RU": "ru", "BBC Persian": "fa"}
    persian = Recipient(name="Persian desk", email="fa@ngo.example", languages=("fa",))
    tajik = Recipient(name="Tajik desk", email="tg@ngo.example", languages=("tg",))
    assert select(digest, persian, (), languages).stories == (entry,)
    assert select(digest, tajik, (), languages) is None


@pytest.mark.parametrize("spelling", ["pt-BR", "pt_BR", "PT"])
def test_a_portuguese_reader_gets_a_feed_whose_language_is_written_any_valid_way(spelling):
    from monitor.config.recipients import Recipient
    from monitor.delivery.routing import select
    from monitor.models import Digest, DigestStory

    story = DigestStory(1, "Notícia de Khorog", "https://pt.example/1", "Jornal", NOW, ("gbao_rights",), (), "")
    reader = Recipient(name="Lisbon desk", email="pt@ngo.example", languages=("pt",))
    assert select(Digest("digest", NOW, (story,)), reader, (), {"Jornal": spelling}).stories == (story,)


def test_an_address_routed_to_a_reader_is_not_also_sent_everything_whatever_its_case(tmp_path):
    """`@PamirDesk` in MONITOR_TELEGRAM_CHAT_ID and `@pamirdesk` under `recipients:` are one Telegram channel, as
    `Lead@NGO.example` and `lead@ngo.example` are one mailbox: each gets its reader's part, once."""
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(FEEDS.replace(f'telegram: "{JOURNALIST}"', 'telegram: "@pamirdesk"'), encoding="utf-8")
    with SmtpSink() as sink, FakeTelegram() as tg:
        env = {**sink.env(to="Lead@NGO.example, team@example.org"), **tg.env(chats="@PamirDesk")}
        notifiers = notifiers_from_env(env, feeds=load_feeds(feeds), rules=RULES)
    channels = sorted(n.channel for n in notifiers)
    assert channels == ["email", "email:NGO lead", "telegram:@pamirdesk"], "named as the reader's entry names it"
    shared = next(n for n in notifiers if n.channel == "email")
    assert shared.config.recipients == ["team@example.org"], "the NGO lead gets only their part"
    assert [type(n).__name__ for n in notifiers if n.channel.startswith("telegram")] == ["RoutedNotifier"]

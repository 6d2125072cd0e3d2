"""The weekly report: printed by `monitor report --week`, mailed with an inline PNG chart and sent to Telegram
on schedule (`settings: weekly_report`), exactly once a week."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from monitor.delivery.channels import notifiers_from_env
from monitor.store import Store
from monitor.delivery.weekly import send_weekly_if_due
from monitor.config.schedule import Weekly, last_slot, parse_weekly
from tests.conftest import PROJECT, run_cli
from tests.support.fake_telegram import FakeTelegram
from tests.support.localsite import Page, rss
from tests.support.smtp_sink import SmtpSink
from tests.support.clock import MOMENTS
from tests.support.webarchive import NOW, STORIES, build_archive


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    path = tmp_path_factory.mktemp("report") / "monitor.db"
    return path, build_archive(path)


@pytest.mark.parametrize("moment", MOMENTS.values(), ids=MOMENTS, indirect=True)
def test_monitor_report_week_prints_counts_per_topic_and_source_top_stories_and_new_sources(moment, tmp_path):
    state = tmp_path / "monitor.db"
    build_archive(state, now=moment)
    result = run_cli("report", "--week", "--state", str(state), "--chart", str(tmp_path / "trend.png"))
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "3 stories this week" in out  # 1, 2 and 3 days ago; not 9, 40 or 120 days ago
    topics = out.split("Stories per topic:")[1].split("\n\n")[0]
    assert "Detentions, trials and protests in GBAO" in topics and "gbao_rights" not in topics, "titles, not ids"
    sources = out.split("Stories per source")[1].split("\n\n")[0]
    assert "Ozodi RU" in sources and "Eurasianet" not in sources  # 9 days ago: last week
    top = out.split("Top stories:")[1].split("\n\n")[0]
    assert top.index("В Хороге задержаны") < top.index("Дар Хоруғ")  # by score
    assert "Ozodi TJ" in out.split("New sources this week:")[1]
    # Stories per calendar week, Monday first, the week of the report last: which of the stories 1, 2, 3 and 9
    # days old fall into this week and the last depends on the day (on a Monday at 00:30 this week has none).
    def monday(when: datetime) -> date:
        return when.date() - timedelta(days=when.weekday())

    weeks = Counter(monday(moment - timedelta(days=age)) for *_, age in STORIES)
    this_week = monday(moment)
    last_week = this_week - timedelta(weeks=1)
    line = out.rstrip().rsplit("\n", 1)[-1]
    counts, _, partial = line.partition(" (this week so far, to ")
    assert counts.endswith(f" {weeks[last_week]} {weeks[this_week]}"), line
    assert partial == f"{moment - timedelta(seconds=1):%Y-%m-%d})", "the running week is marked as a count so far"
    assert (tmp_path / "trend.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_since_a_date_covers_the_seven_days_from_it(archive):
    state, ids = archive
    day = (NOW - timedelta(days=121)).strftime("%Y-%m-%d")
    out = run_cli("report", "--since", day, "--state", str(state)).stdout
    assert "1 story this week" in out and "Rushan: life sentences" in out


def test_the_weekly_report_is_mailed_with_an_inline_png_chart_and_sent_to_telegram_once(archive, clean_env):
    state, _ = archive
    spec = Weekly(NOW.weekday(), 0, 0)  # today 00:00 UTC: its time has come
    with SmtpSink() as sink, FakeTelegram() as tg:
        notifiers = notifiers_from_env({**sink.env(), **tg.env()})
        store = Store(state)
        try:
            first = asyncio.run(send_weekly_if_due(store, notifiers, spec))
            again = asyncio.run(send_weekly_if_due(store, notifiers, spec))
            status = {r["channel"]: r["status"] for r in store.outbox_summary()}
        finally:
            store.close()
        assert sink.wait_for(1)
        mail = sink.messages[0]
        assert first is not None and again is None and sink.count == 1 and len(tg.messages) == 1
    assert status == {"email": "sent", "telegram:-1001234567890": "sent"}
    assert mail["Subject"].startswith("Pamir monitor weekly report") and mail["X-Monitor-Kind"] == "weekly"
    assert mail.get_content_type() == "multipart/alternative"
    related = [p for p in mail.walk() if p.get_content_type() == "multipart/related"]
    image = next(p for p in mail.walk() if p.get_content_type() == "image/png")
    html = mail.get_body(("html",)).get_content()
    assert related and image.get_content()[:4] == b"\x89PNG"
    assert f'src="cid:{image["Content-ID"].strip("<>")}"' in html
    assert "<svg" not in html and "В Хороге задержаны трое активистов" in html
    assert "weekly report" in tg.messages[0]["text"] and "Дар Хоруғ" in tg.messages[0]["text"]


def test_a_report_missed_by_more_than_a_day_is_not_sent_late(tmp_path, clean_env):
    store = Store(tmp_path / "monitor.db")
    try:
        yesterday = Weekly((NOW.weekday() - 2) % 7, 0, 0)
        sent = asyncio.run(send_weekly_if_due(store, notifiers_from_env({}), yesterday))
        assert sent is None and store.last_digest_of_kind("weekly") is None
    finally:
        store.close()


def test_run_once_from_a_timer_sends_the_weekly_report_when_its_time_has_come(site, tmp_path):
    local = tmp_path / "monitor.db"
    build_archive(local)
    site.add("/feed.xml", Page(rss("Quiet", [], base=site.base).encode(), content_type="application/rss+xml"))
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[NOW.weekday()]
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(f"feeds:\n  - name: Quiet\n    url: {site.url('/feed.xml')}\nsettings:\n"
                     f"  weekly_report: \"{day} 00:00\"\n", encoding="utf-8")
    digest_file = tmp_path / "digests.txt"
    args = ("run", "--once", "--feeds", str(feeds), "--keywords", str(PROJECT / "keywords.yaml"), "--state", str(local))
    first = run_cli(*args, env={"MONITOR_DIGEST_FILE": str(digest_file)})
    assert first.returncode == 0, first.stderr
    text = digest_file.read_text(encoding="utf-8")
    assert text.count("Weekly report — Pamir news monitor") == 1  # beside this run's digest
    store = Store(local)
    try:  # the next run of the timer finds it queued and sends nothing more (see the email test)
        assert store.last_digest_of_kind("weekly") is not None
    finally:
        store.close()


def test_weekly_report_settings_are_checked_with_file_and_line(tmp_path):
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - name: A\n    url: https://a.example/rss\nsettings:\n  weekly_report: someday\n",
                     encoding="utf-8")
    result = run_cli("check-config", "--feeds", str(feeds), "--keywords", str(PROJECT / "keywords.yaml"))
    assert result.returncode == 2
    assert f"{feeds}:5" in result.stderr and 'like "mon 08:00"' in result.stderr


def test_the_schedule_finds_the_last_time_it_came_round_in_utc_or_a_named_zone():
    monday_8 = parse_weekly("mon 08:00")
    wednesday = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)
    assert last_slot(monday_8, wednesday) == datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc)
    assert last_slot(monday_8, datetime(2026, 11, 30, 7, 59, tzinfo=timezone.utc)).day == 23
    dushanbe = parse_weekly("Monday 08:00 Asia/Dushanbe")  # UTC+5
    assert last_slot(dushanbe, wednesday) == datetime(2026, 11, 30, 3, 0, tzinfo=timezone.utc)
    for bad in ("monday", "mon 25:00", "xyz 08:00", "mon 08:00 Mars/Olympus"):
        with pytest.raises(ValueError):
            parse_weekly(bad)


def test_the_service_schedules_the_weekly_report_at_its_time_and_drops_it_when_turned_off(tmp_path):
    from types import SimpleNamespace

    from monitor.config.feeds import FeedsFile
    from monitor.relevance.keywords import load_rules
    from monitor.scheduler import Service

    def feeds(weekly):
        return FeedsFile.model_validate({"feeds": [{"name": "A", "url": "https://a.example/rss"}],
                                         "settings": {"weekly_report": weekly}})

    store = Store(tmp_path / "monitor.db")
    try:
        monitor = SimpleNamespace(store=store, feeds=feeds("mon 08:00 Asia/Dushanbe"), notifiers=[], send_digest=None,
                                  matcher=SimpleNamespace(rules=load_rules(PROJECT / "keywords.yaml")))
        service = Service(monitor, lambda: None)
        service.schedule(monitor.feeds)
        trigger = service.scheduler.get_job("weekly").trigger
        assert str(trigger.timezone) == "Asia/Dushanbe"
        assert {f.name: str(f) for f in trigger.fields}["day_of_week"] == "0"
        assert {f.name: str(f) for f in trigger.fields}["hour"] == "8"
        assert service.scheduler.get_job("weekly-catch-up") is not None  # a report missed while it was down
        service.schedule(feeds(None))
        assert service.scheduler.get_job("weekly") is None
    finally:
        store.close()

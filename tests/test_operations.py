"""Signals a sysadmin gets: exit codes, failing feeds announced, the digest schedule across timer runs,
`status` that tells the truth, `flush`, journald priorities and the service's first line.

Everything runs through the CLI a user types, against a local site and the local Bot API server.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import datetime, timezone

from monitor.config.feeds import Settings
from monitor.delivery.digest import next_digest_at, quiet_until
from tests.conftest import PROJECT, run_cli
from tests.support.fake_telegram import FakeTelegram
from tests.support.localsite import Page, article_html
from tests.sources.test_politeness import KHOROG, news_feed

STORY = ("Activists detained in Khorog", "/news/khorog")
TRIAL = ["A regional court in Khorog sentenced four Pamiri men to long prison terms on Wednesday after a trial "
         "that lasted two days and was closed to their families.",
         "The men had been detained during the protests in Gorno-Badakhshan in May 2022, a lawyer said; the "
         "prosecution accused them of organising mass riots, which their relatives deny."]


def feeds(tmp_path, site, settings: str = "", path: str = "/feed.xml", name: str = "Test News"):
    f = tmp_path / "feeds.yaml"
    f.write_text(f"feeds:\n  - name: {name}\n    url: {site.url(path)}\nsettings:\n  timeout: 3\n{settings}",
                 encoding="utf-8")
    return f


def run(tmp_path, feeds_path, *extra: str, env=None):
    return run_cli("run", "--once", "--feeds", str(feeds_path), "--keywords", str(PROJECT / "keywords.yaml"),
                   "--state", str(tmp_path / "state.db"), *extra, env=env)


def cli(tmp_path, feeds_path, *args: str, env=None):
    return run_cli(*args, "--feeds", str(feeds_path), "--keywords", str(PROJECT / "keywords.yaml"),
                   "--state", str(tmp_path / "state.db"), env=env)


def test_exit_code_3_when_every_source_failed_and_2_for_a_config_mistake(tmp_path, site):
    site.add("/feed.xml", Page(b"down", status=503, content_type="text/plain"))
    result = run(tmp_path, feeds(tmp_path, site))
    assert result.returncode == 3, result.stderr
    assert "every source failed (1): exit 3" in result.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("feeds:\n  - name: X\n    url: ftp://nowhere\n", encoding="utf-8")
    assert run(tmp_path, bad).returncode == 2


def test_a_message_that_could_not_be_delivered_gives_exit_3_stays_queued_and_flush_sends_it(tmp_path, site):
    site.add("/news/khorog", article_html(*STORY[:1], KHOROG))
    site.add("/feed.xml", news_feed(site, [STORY]))
    f = feeds(tmp_path, site)
    with FakeTelegram() as tg:
        tg.fail(429, retry_after=600)  # a long rate limit: rescheduled at once, no waiting in the test
        first = run(tmp_path, f, env=tg.env())
        assert first.returncode == 3, first.stderr
        assert "stays queued for the next run: exit 3" in first.stderr
        status = cli(tmp_path, f, "status", env=tg.env()).stdout
        assert re.search(r"telegram:…890: 1 pending; next attempt at \d{4}-\d\d-\d\dT", status), status
        assert "`monitor flush`" in status
        flushed = cli(tmp_path, f, "flush", env=tg.env())
        assert flushed.returncode == 0, flushed.stdout + flushed.stderr
        assert "flush: 1 message(s) sent, 0 still queued" in flushed.stdout
        assert len(tg.messages) == 1 and "Activists detained in Khorog" in tg.messages[0]["text"]
    db = sqlite3.connect(tmp_path / "state.db")
    # a message whose time has passed is due "at the next run", never shown as a time already gone
    db.execute("UPDATE outbox SET status = 'pending', next_attempt_at = '2020-01-01T00:00:00+00:00'")
    db.commit()
    assert "1 pending; next attempt at the next run (due now)" in cli(tmp_path, f, "status").stdout


def test_a_digest_refused_for_good_is_sent_once_by_flush_failed_after_the_bot_is_back_in_the_chat(tmp_path, site):
    site.add("/news/khorog", article_html(*STORY[:1], KHOROG))
    site.add("/feed.xml", news_feed(site, [STORY]))
    f = feeds(tmp_path, site)
    with FakeTelegram(chats=("-100777",)) as tg:  # the bot is not in the configured chat: 400 chat not found
        first = run(tmp_path, f, env=tg.env())
        assert first.returncode == 3 and "refused for good" in first.stderr, first.stderr
        status = cli(tmp_path, f, "status", env=tg.env()).stdout
        assert "telegram:…890: 1 failed; last error:" in status and "chat not found" in status, status
        assert "`monitor flush --failed`" in status
        plain = cli(tmp_path, f, "flush", env=tg.env())
        assert "flush: 0 message(s) sent" in plain.stdout and tg.messages == [], "a plain flush leaves it be"
        assert "1 message(s) refused for good are left as they are" in plain.stdout and "--failed" in plain.stdout

        tg.chats = ("-1001234567890",)  # the operator adds the bot back to the chat
        flushed = cli(tmp_path, f, "flush", "--failed", env=tg.env())
        assert flushed.returncode == 0, flushed.stdout + flushed.stderr
        assert "flush: 1 message(s) refused for good are queued again" in flushed.stdout
        assert "flush: 1 message(s) sent, 0 still queued" in flushed.stdout
        again = cli(tmp_path, f, "flush", "--failed", env=tg.env())
        assert "flush: 0 message(s) refused for good are queued again" in again.stdout
        assert run(tmp_path, f, env=tg.env()).returncode == 0
    assert len(tg.messages) == 1 and "Activists detained in Khorog" in tg.messages[0]["text"], "once"
    assert "1 sent" in cli(tmp_path, f, "status").stdout


def test_flush_failed_leaves_a_chat_no_longer_configured_alone_and_the_next_runs_are_not_stuck(tmp_path, site):
    site.add("/news/khorog", article_html(*STORY[:1], KHOROG))
    site.add("/feed.xml", news_feed(site, [STORY]))
    f = feeds(tmp_path, site)
    with FakeTelegram(chats=("-100777",)) as tg:
        assert run(tmp_path, f, env=tg.env()).returncode == 3  # a mistyped chat id: refused for good
        fixed = tg.env("-100777")  # the operator corrects the chat id
        flushed = cli(tmp_path, f, "flush", "--failed", env=fixed)
        assert "flush: 0 message(s) refused for good are queued again" in flushed.stdout, flushed.stdout
        assert ("telegram:…890: 1 message(s) refused for good stay as they are: this channel is not configured "
                "now") in flushed.stdout
        assert flushed.returncode == 0 and run(tmp_path, f, env=fixed).returncode == 0, "nothing waits forever"
    assert tg.messages == []


def test_the_digest_interval_holds_across_timer_runs_and_status_shows_what_waits(tmp_path, site):
    site.add("/news/khorog", article_html(STORY[0], KHOROG))
    site.add("/feed.xml", news_feed(site, [STORY]))
    f = feeds(tmp_path, site, "  digest_interval: 1h\n")
    first = run(tmp_path, f)
    assert first.returncode == 0 and "Activists detained in Khorog" in first.stdout
    site.add("/news/rushan", article_html("Pamiri activists sentenced in Khorog", TRIAL))
    site.add("/feed.xml", news_feed(site, [STORY, ("Pamiri activists sentenced in Khorog", "/news/rushan")]))
    second = run(tmp_path, f)  # fifteen minutes later, say: the timer's next run
    assert second.returncode == 0, second.stderr
    assert second.stdout == "", "one digest per digest_interval, not one per run"
    assert re.search(r"1 story wait for the next digest at \d{4}-", second.stderr), second.stderr
    status = cli(tmp_path, f, "status").stdout
    assert re.search(r"waiting for the next digest: 1 story; next digest at \d{4}-.* \(in 5\dm\)", status), status


def test_fixed_digest_times_in_a_timezone_and_quiet_hours():
    s = Settings(digest_at=["08:00", 1080], timezone="Asia/Dushanbe", quiet_hours="22:00-07:00")  # UTC+5
    assert s.digest_at == ["08:00", "18:00"], "an unquoted 18:00 (YAML's base-60 1080) is read as the time"
    utc = timezone.utc
    last = datetime(2026, 5, 1, 3, 0, tzinfo=utc)  # 08:00 in Dushanbe
    assert next_digest_at(last, s, last) == datetime(2026, 5, 1, 13, 0, tzinfo=utc)  # 18:00 local
    evening = datetime(2026, 5, 1, 13, 0, tzinfo=utc)
    assert next_digest_at(evening, s, evening) == datetime(2026, 5, 2, 3, 0, tzinfo=utc)  # 08:00 next day
    night = datetime(2026, 5, 1, 18, 30, tzinfo=utc)  # 23:30 local: quiet
    assert quiet_until(night, s) == datetime(2026, 5, 2, 2, 0, tzinfo=utc)  # 07:00 local
    hourly = Settings(digest_interval="1h", quiet_hours="22:00-07:00")
    late = datetime(2026, 5, 1, 23, 30, tzinfo=utc)
    assert next_digest_at(None, hourly, late) == datetime(2026, 5, 2, 7, 0, tzinfo=utc), "nothing in quiet hours"
    assert next_digest_at(late.replace(hour=21), hourly, late) == datetime(2026, 5, 2, 7, 0, tzinfo=utc)


def test_a_feed_failing_for_long_is_announced_once_and_its_recovery_once(tmp_path, site):
    site.add("/feed.xml", Page(b"gone", status=500, content_type="text/plain"))
    site.add("/ok.xml", news_feed(site, []))
    f = tmp_path / "feeds.yaml"
    f.write_text(f"feeds:\n  - name: Broken\n    url: {site.url('/feed.xml')}\n  - name: Fine\n"
                 f"    url: {site.url('/ok.xml')}\nsettings:\n  timeout: 3\n  failing_after: 1h\n", encoding="utf-8")
    assert run(tmp_path, f).stdout == "", "failing for less than failing_after: nothing yet"
    db = sqlite3.connect(tmp_path / "state.db")  # a day later, as far as the state can tell
    db.execute("UPDATE feeds SET error_since = '2026-01-01T00:00:00+00:00' WHERE name = 'Broken'").connection.commit()
    second = run(tmp_path, f)
    assert "Feed health — Pamir news monitor — 1 feed failing: Broken" in second.stdout, second.stdout
    assert "- Broken: since " in second.stdout and "HTTP 500" in second.stdout
    assert run(tmp_path, f).stdout == "", "once per failure episode"
    site.add("/feed.xml", news_feed(site, []))
    recovered = run(tmp_path, f)
    assert "1 feed working again: Broken" in recovered.stdout and "Feeds working again:\n- Broken" in recovered.stdout
    assert run(tmp_path, f).stdout == ""


def test_under_journald_every_line_has_a_priority_and_the_first_names_state_and_channels(tmp_path, site):
    site.add("/feed.xml", Page(b"down", status=503, content_type="text/plain"))
    with FakeTelegram() as tg:
        result = run(tmp_path, feeds(tmp_path, site), env={**tg.env("-1001234567890"), "JOURNAL_STREAM": "8:12345"})
    lines = result.stderr.splitlines()
    assert lines and all(re.match(r"^<[0-7]>", line) for line in lines), result.stderr
    assert lines[0].startswith("<6>INFO monitor: monitor ") and f"state {tmp_path / 'state.db'}" in lines[0]
    assert "delivery: telegram (1 chat)" in lines[0] and "1234567890" not in result.stderr
    assert tg.token not in result.stderr
    assert any(line.startswith("<4>WARNING monitor: feed 'Test News' failed: HTTP 503") for line in lines)
    assert any(line.startswith("<3>ERROR") and "every source failed" in line for line in lines)
    bad = tmp_path / "bad.yaml"
    bad.write_text("feeds:\n  - name: X\n    url: ftp://a\n  - name: Y\n    url: ftp://b\n", encoding="utf-8")
    config = run(tmp_path, bad, env={"JOURNAL_STREAM": "8:12345"})
    (entry,) = config.stderr.splitlines()
    assert entry.startswith("<3>configuration error: ⏎ ") and "feeds.0.url" in entry and "feeds.1.url" in entry


def test_the_example_environment_names_every_variable_and_passes_the_services_own_check(tmp_path):
    from monitor.delivery.envfile import KNOWN, read_env_file

    example = PROJECT / "systemd" / "monitor.env.example"
    text = example.read_text(encoding="utf-8")
    assert all(var in text for var in KNOWN - {"MONITOR_SMTP_PASSWORD", "MONITOR_SMTP_PASSWORD_FILE",
                                               "MONITOR_TELEGRAM_TOKEN", "MONITOR_TELEGRAM_TOKEN_FILE"})
    env, problems, warnings = read_env_file(example)
    assert not problems and not warnings and env["MONITOR_TELEGRAM_CHAT_ID"]
    creds = tmp_path / "credstore"
    creds.mkdir()
    for name, secret in (("smtp_password", "s3cret"), ("telegram_token", "123456:" + "B" * 30)):
        (creds / f"pamir-monitor.{name}").write_text(secret, encoding="utf-8")
        (creds / f"pamir-monitor.{name}").chmod(0o600)
    result = run_cli("check-config", "--keywords", str(PROJECT / "keywords.yaml"), "--env-file", str(example),
                     "--credentials", str(creds))
    assert result.returncode == 0, result.stderr
    assert "email via smtp.example.org:587" in result.stdout and "Telegram chat -1001234567890" in result.stdout
    readme = (PROJECT / "systemd" / "README.md").read_text(encoding="utf-8")
    for unit in ("pamir-monitor", "pamir-monitor-once"):  # a drop-in for both units, pointing at the venv
        assert "/etc/systemd/system/$unit.service.d/venv.conf" in readme and unit in readme
    assert "ExecStart=/opt/pamir-monitor/bin/monitor run%s --feeds /etc/pamir-monitor/feeds.yaml" in readme
    assert "python3 -m venv /opt/pamir-monitor" in readme and "monitor backfill --since" in readme

"""A user's mistakes at the command line get one clear line, never a traceback; `check-config` finds every
mistake in one pass (the service's own environment file too); feed lists come from and go to feed readers."""

from __future__ import annotations

import json
import sqlite3

import pytest

from tests.conftest import PROJECT, run_cli
from tests.support.localsite import article_html
from tests.sources.test_politeness import KHOROG, news_feed

KEYWORDS = str(PROJECT / "keywords.yaml")


def one_error_line(result) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("args, expected", [
    (("discover", "not-a-url"), "not-a-url: not a URL"),
    (("discover", "{site}/missing"), "{site}/missing: HTTP 404 Not Found"),
    (("discover", "http://127.0.0.1:9/"), "http://127.0.0.1:9/: connection refused"),
    (("explain", "{site}/missing"), "{site}/missing: HTTP 404 Not Found"),
    (("explain", "ftp://example.org/a"), "ftp://example.org/a: only http:// and https://"),
    (("explain", "no-such-article.html"), "no-such-article.html: no such file"),
    (("show", "5", "--state", "{tmp}/typo.db"), "no state file at {tmp}/typo.db"),
    (("export", "--state", "{tmp}/typo.db"), "no state file at {tmp}/typo.db"),
    (("flush", "--state", "{tmp}"), "{tmp} is a folder: give the state file's path"),  # not "disk I/O error"
])
def test_a_bad_url_a_404_a_refused_connection_or_a_missing_file_is_one_line(tmp_path, site, args, expected,
                                                                             capsys, monkeypatch):
    from monitor.cli.main import main

    monkeypatch.chdir(tmp_path)  # in-process: the same main() the `monitor` command runs, without a new interpreter
    fill = {"site": site.base, "tmp": str(tmp_path)}
    code = main([*(a.format(**fill) for a in args), "--keywords", KEYWORDS])
    assert code == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: " + expected.format(**fill))
    assert not (tmp_path / "typo.db").exists(), "a mistyped --state creates no empty database"


def test_export_takes_everything_by_default_and_refuses_an_unknown_topic(tmp_path, site):
    site.add("/news/khorog", article_html("Activists detained in Khorog", KHOROG))
    site.add("/feed.xml", news_feed(site, [("Activists detained in Khorog", "/news/khorog")]))
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(f"feeds:\n  - name: Test News\n    url: {site.url('/feed.xml')}\n", encoding="utf-8")
    state = str(tmp_path / "state.db")
    assert run_cli("run", "--once", "--feeds", str(feeds), "--keywords", KEYWORDS, "--state", state).returncode == 0
    sqlite3.connect(state).execute("UPDATE stories SET fetched_at = '2019-03-01T00:00:00+00:00'").connection.commit()
    everything = run_cli("export", "--state", state, "--keywords", KEYWORDS)
    assert everything.returncode == 0 and json.loads(everything.stdout)["title"] == "Activists detained in Khorog"
    by_title = run_cli("export", "--state", state, "--keywords", KEYWORDS, "--topic", "Detentions, trials and "
                       "protests in GBAO")
    assert by_title.returncode == 0 and by_title.stdout.count("\n") == 1, "a topic's title works like its id"
    typo = run_cli("export", "--state", state, "--keywords", KEYWORDS, "--topic", "gbao_right")
    assert typo.returncode == 2 and typo.stdout == ""
    assert "unknown topic 'gbao_right'; topics: " in typo.stderr
    for fmt in ("csv", "wacz"):  # every format refuses it, and writes no file
        out = tmp_path / f"typo.{fmt}"
        typo = run_cli("export", "--state", state, "--keywords", KEYWORDS, "--format", fmt, "--topic",
                       "NAME-THAT-DOES-NOT-EXIST", "-o", str(out))
        assert typo.returncode == 2, (fmt, typo.stderr)
        assert "Traceback" not in typo.stderr
        assert "unknown topic 'NAME-THAT-DOES-NOT-EXIST'; topics: gbao_" in typo.stderr
        assert not out.exists(), f"no empty {fmt} file"


def test_check_config_lists_every_mistake_of_both_files_in_one_pass(tmp_path):
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n\t- name: A\n    url: ftp://example.org/feed\n    language: tj\n", encoding="utf-8")
    keywords = tmp_path / "keywords.yaml"
    keywords.write_text("aliases:\n  bad: 5\ntopics:\n  one:\n    min_score: -1\n    any: [x]\n"
                        "  two:\n    any: [\"@nope\", \"re: (unclosed\"]\n", encoding="utf-8")
    result = run_cli("check-config", "--feeds", str(feeds), "--keywords", str(keywords))
    assert result.returncode == 2
    for expected in (f"{feeds}:2: a tab character", f"{feeds}:3: feeds.0.url: bad URL",
                     f"{feeds}:4: feeds.0.language: language 'tj' is not a language code",
                     f"{keywords}:2: aliases.bad", f"{keywords}:5: topics.one.min_score",
                     f"{keywords}:8: topics.two.any.0: unknown alias @nope",
                     f"{keywords}:8: topics.two.any.1: bad regex"):
        assert expected in result.stderr, result.stderr


def test_check_config_warns_of_intervals_under_a_minute(tmp_path):
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - name: Fast\n    url: https://example.org/rss\n    interval: 20s\n"
                     "    language: fa\n", encoding="utf-8")
    result = run_cli("check-config", "--feeds", str(feeds), "--keywords", KEYWORDS)
    assert result.returncode == 0, result.stderr
    assert f"warning: {feeds}:4: feed 'Fast' is polled every 20s: under a minute" in result.stderr
    assert "configuration OK (1 warning)" in result.stdout


def test_check_config_reads_the_service_environment_file_and_credentials(tmp_path):
    env = tmp_path / "monitor.env"
    env.write_text("# settings\nMONITOR_EMAIL_TO=team@example.org\nMONITOR_TELEGRAM_CHATID=-1001234567890\n",
                   encoding="utf-8")
    creds = tmp_path / "credstore"
    creds.mkdir()
    (creds / "pamir-monitor.telegram_token").write_text("123456:" + "A" * 30, encoding="utf-8")
    (creds / "pamir-monitor.telegram_token").chmod(0o600)
    result = run_cli("check-config", "--keywords", KEYWORDS, "--env-file", str(env), "--credentials", str(creds),
                     env={"MONITOR_TELEGRAM_CHAT_ID": "-100999"})  # the shell's settings do not count
    assert result.returncode == 2
    assert f"warning: {env}:3: MONITOR_TELEGRAM_CHATID is not a variable this monitor knows" in result.stderr
    assert f"{env}: a Telegram token is set but MONITOR_TELEGRAM_CHAT_ID is not" in result.stderr
    assert f"{env}: MONITOR_EMAIL_TO (or another email setting) is set but MONITOR_SMTP_HOST is not" in result.stderr
    env.write_text("MONITOR_TELEGRAM_CHAT_ID=-1001234567890\n", encoding="utf-8")
    fixed = run_cli("check-config", "--keywords", KEYWORDS, "--env-file", str(env), "--credentials", str(creds))
    assert fixed.returncode == 0, fixed.stderr
    assert "delivery: Telegram chat -1001234567890" in fixed.stdout and "AAAA" not in fixed.stdout


OPML = """<?xml version="1.0" encoding="UTF-8"?>
<!-- exported by a feed reader -->
<opml version="2.0"><head><title>Team feeds</title></head><body>
  <outline text="Central Asia">
    <outline type="rss" text="Eurasianet again" xmlUrl="https://www.eurasianet.org/rss.xml?utm_source=reader"/>
    <outline type="rss" text="Синт-Памир" title="Синт-Памир — новости" xmlUrl="https://pamir-synth.example/feed/"/>
  </outline>
  <outline type="rss" text="Radio Ozodi (Russian)" xmlUrl="https://example.org/another.xml"/>
  <outline type="rss" text="Bad" xmlUrl="javascript:alert(1)"/>
</body></opml>
"""


def test_feeds_from_a_feed_reader_are_appended_with_every_comment_kept_and_exported_back(tmp_path):
    feeds = tmp_path / "feeds.yaml"
    original = (PROJECT / "feeds.yaml").read_text(encoding="utf-8")
    feeds.write_text(original, encoding="utf-8")
    opml = tmp_path / "team.opml"
    opml.write_text(OPML, encoding="utf-8")
    result = run_cli("feeds", "import", str(opml), "--feeds", str(feeds))
    assert result.returncode == 0, result.stderr
    assert "2 feed(s) to add, 1 already listed, 1 invalid" in result.stdout
    text = feeds.read_text(encoding="utf-8")
    assert all(line in text.splitlines() for line in original.splitlines()), "every line and comment is kept"
    assert '  - name: "Синт-Памир — новости"\n    url: "https://pamir-synth.example/feed/"  # Central Asia\n' in text
    assert '  - name: "Radio Ozodi (Russian) (2)"' in text, "a name already taken is made unique"
    assert text.index("Синт-Памир") < text.index("\nsettings:"), "new feeds join the feeds: list"
    assert run_cli("check-config", "--feeds", str(feeds), "--keywords", KEYWORDS).returncode == 0
    again = run_cli("feeds", "import", str(opml), "--feeds", str(feeds))
    assert "0 feed(s) to add, 3 already listed" in again.stdout and feeds.read_text(encoding="utf-8") == text
    exported = run_cli("feeds", "export", "--feeds", str(feeds))
    assert exported.returncode == 0
    assert '<outline type="rss" text="Синт-Памир — новости" title="Синт-Памир — новости" xmlUrl="https://pamir-synth.example/feed/" />' \
        in exported.stdout


def test_a_hostile_or_broken_opml_file_changes_nothing(tmp_path):
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - name: A\n    url: https://example.org/rss\n", encoding="utf-8")
    bomb = tmp_path / "bomb.opml"
    bomb.write_text('<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
                    '<opml><body><outline text="&b;" xmlUrl="https://x.example/"/></body></opml>', encoding="utf-8")
    for path, message in ((bomb, "refused unsafe XML"), (tmp_path / "none.opml", "file not found")):
        result = run_cli("feeds", "import", str(path), "--feeds", str(feeds))
        assert result.returncode == 2 and message in one_error_line(result)
    assert feeds.read_text(encoding="utf-8") == "feeds:\n  - name: A\n    url: https://example.org/rss\n"


@pytest.mark.parametrize("options", [(), ("--read-only",)])
def test_serving_a_damaged_state_is_one_line_before_anything_listens(tmp_path, options):
    state = tmp_path / "copied-from-a-usb-stick.db"
    state.write_bytes(b"not a database at all\n" * 50)
    result = run_cli("serve", "--port", "0", "--state", str(state), *options, timeout=30)
    assert result.returncode == 1
    assert "not a usable SQLite database" in one_error_line(result) and "serving the archive" not in result.stderr

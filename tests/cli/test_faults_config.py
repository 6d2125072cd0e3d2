"""Config faults and secrets: every mistake is reported as file:line by every command; no secret is ever shown."""

from __future__ import annotations

import re

import pytest

from tests.conftest import PROJECT, run_cli
from tests.support.faultserver import closed_port, feeds_yaml
from tests.support.localsite import LocalSite, Page, article_html, rss

GOOD_URL = "https://example.org/feed.xml"

CASES = {
    "typo": ("feeds:\n  - name: A\n    url: {url}\n    intervall: 15m\n", 4, "feeds.0.intervall: unknown key"),
    "tab": ("feeds:\n  - name: A\n\t  url: {url}\n", 3, "tab"),
    "duplicate": ("feeds:\n  - name: A\n    url: {url}\n    name: B\n", 4, "duplicate key 'name'"),
    "unknown_top": ("feeds:\n  - name: A\n    url: {url}\nsetings:\n  timeout: 5\n", 4, "setings: unknown key"),
    "unknown_setting": ("feeds:\n  - name: A\n    url: {url}\nsettings:\n  timout: 5\n", 5,
                        "settings.timout: unknown key"),
    "bad_url": ("feeds:\n  - name: A\n    url: htp//example.org/rss\n", 3, "bad URL"),
    "file_url": ("feeds:\n  - name: A\n    url: file:///etc/passwd\n", 3, "bad URL"),
    "bad_interval": ("feeds:\n  - name: A\n    url: {url}\n    interval: soon\n", 4, "bad interval"),
    "same_name": ("feeds:\n  - name: A\n    url: {url}\n  - name: A\n    url: {url}\n", 4, "two feeds are named 'A'"),
    "unclosed": ("feeds:\n  - name: \"A\n    url: {url}\n", None, "YAML syntax error"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_check_config_names_file_and_line(tmp_path, case):
    text, line, message = CASES[case]
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(text.format(url=GOOD_URL), encoding="utf-8")
    result = run_cli("check-config", "--feeds", str(feeds), "--keywords", str(PROJECT / "keywords.yaml"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    where = f"{feeds}:{line}: " if line else f"{feeds}:"
    hits = [row for row in result.stderr.splitlines() if row.startswith(where)]
    assert hits and message in hits[0], result.stderr


def test_a_tab_in_keywords_yaml_is_reported_with_its_line(tmp_path):
    keywords = tmp_path / "keywords.yaml"
    lines = (PROJECT / "keywords.yaml").read_text(encoding="utf-8").splitlines()
    target = next(i for i, row in enumerate(lines) if row.startswith("  lead_words:"))
    lines[target] = "\t" + lines[target].lstrip()
    keywords.write_text("\n".join(lines) + "\n", encoding="utf-8")
    feeds = feeds_yaml(tmp_path / "feeds.yaml", [("A", GOOD_URL)])
    result = run_cli("check-config", "--feeds", str(feeds), "--keywords", str(keywords))
    assert result.returncode == 2
    assert re.search(rf"^{re.escape(str(keywords))}:{target + 1}: .*tab", result.stderr, re.MULTILINE), result.stderr


def test_both_files_broken_lists_both(tmp_path):
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(CASES["typo"][0].format(url=GOOD_URL), encoding="utf-8")
    keywords = tmp_path / "keywords.yaml"
    keywords.write_text("topics:\n  t:\n    any: [a]\n    any: [b]\n", encoding="utf-8")
    result = run_cli("check-config", "--feeds", str(feeds), "--keywords", str(keywords))
    assert result.returncode == 2
    assert f"{feeds}:4:" in result.stderr and f"{keywords}:4:" in result.stderr, result.stderr


@pytest.mark.parametrize("command", [
    ("run", "--once"), ("run",), ("backfill", "--since", "2024-01-01"), ("check-config",), ("explain", "{article}"),
])
def test_every_command_reports_a_broken_config_as_file_line(tmp_path, command):
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(CASES["typo"][0].format(url=GOOD_URL), encoding="utf-8")
    article = tmp_path / "article.txt"
    article.write_text("Khorog", encoding="utf-8")
    keywords = tmp_path / "keywords.yaml"
    keywords.write_text("topics:\n  t:\n    any: [a]\n    any: [b]\n", encoding="utf-8")
    args = [a.format(article=article) for a in command]
    result = run_cli(*args, "--feeds", str(feeds), "--keywords", str(keywords), "--state", str(tmp_path / "s.db"),
                     timeout=30)
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    if command[0] != "explain":  # explain reads only the keywords
        assert f"{feeds}:4: feeds.0.intervall: unknown key" in result.stderr, result.stderr
    assert f"{keywords}:4: duplicate key 'any'" in result.stderr, result.stderr
    assert not (tmp_path / "s.db").exists(), "nothing was started"


def test_status_warns_about_a_broken_config_and_still_shows_the_state(tmp_path):
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(CASES["tab"][0].format(url=GOOD_URL), encoding="utf-8")
    result = run_cli("status", "--feeds", str(feeds), "--state", str(tmp_path / "s.db"))
    assert result.returncode == 0
    assert f"{feeds}:3:" in result.stderr


# --- secrets --------------------------------------------------------------------------------------

SMTP_PASSWORD = "s3cr3t-value"  # a fake: the tests below prove it never appears in any output
TOKEN_SECRET = "123456:ABC-secret"


def _secret_env(dead: int, token: str) -> dict[str, str]:
    return {
        "MONITOR_SMTP_HOST": "127.0.0.1", "MONITOR_SMTP_PORT": str(dead), "MONITOR_SMTP_SECURITY": "none",
        "MONITOR_SMTP_USER": "monitor", "MONITOR_SMTP_PASSWORD": SMTP_PASSWORD, "MONITOR_SMTP_TIMEOUT": "2",
        "MONITOR_EMAIL_TO": "desk@example.org", "MONITOR_EMAIL_FROM": "monitor@example.org",
        "MONITOR_TELEGRAM_TOKEN": token, "MONITOR_TELEGRAM_CHAT_ID": "-100123456",
        "MONITOR_TELEGRAM_API": f"http://127.0.0.1:{dead}",
    }


@pytest.mark.parametrize("token", [TOKEN_SECRET, TOKEN_SECRET + "-abcdefghijklmnopqrstu"],
                         ids=["token-as-given", "token-that-looks-valid"])
def test_secrets_never_appear_in_any_output(tmp_path, token):
    """The token as the issue gives it is too short for a bot token (a config error); the longer one is accepted
    and used against a dead port. Either way neither secret may show in stdout or stderr of any command."""
    dead = closed_port()
    env = _secret_env(dead, token)
    with LocalSite() as site:
        site.add("/a", article_html("Pamiri activists detained in Khorog", [
            "Security forces detained three Pamiri activists in Khorog, GBAO, on Monday, relatives said.",
            "They have not been allowed to see lawyers."] * 2))
        site.add("/feed.xml", Page(rss("F", [{"title": "Pamiri activists detained in Khorog", "path": "/a"}],
                                       base=site.base).encode(), content_type="application/rss+xml"))
        feeds = feeds_yaml(tmp_path / "feeds.yaml", [("F", site.url("/feed.xml"))])
        common = ("--feeds", str(feeds), "--keywords", str(PROJECT / "keywords.yaml"), "--state", str(tmp_path / "s.db"))
        outputs = []
        for command in (("run", "--once", "-vv"), ("check-config", "-vv"), ("test-delivery", "-vv"), ("status", "-vv"),
                        ("run", "--once", "-vv")):
            result = run_cli(*command, *common, env=env, timeout=60)
            outputs.append((command, result))
    for command, result in outputs:
        text = result.stdout + result.stderr
        assert SMTP_PASSWORD not in text, (command, text)
        assert "ABC-secret" not in text, (command, text)
        assert "Traceback" not in text, (command, text)
    if token != TOKEN_SECRET:  # the valid-looking token: delivery was really attempted and failed
        run_log = outputs[0][1].stderr
        assert "telegram" in run_log.lower() and ("refused" in run_log.lower() or "failed" in run_log.lower()), run_log
        assert outputs[2][1].returncode == 1 and "FAILED" in outputs[2][1].stdout

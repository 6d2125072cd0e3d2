"""`monitor check-config` lists every mistake of both files in one pass, each at its own line: a duplicate feed
name beside a bad URL, an unknown @alias beside a bad setting, and an unclosed quote where it opens."""

from __future__ import annotations

from tests.conftest import PROJECT, run_cli

FEEDS = """\
feeds:
  - name: Ozodi
    url: https://rus.ozodi.org/rss
  - name: Ozodi
    url: https://www.ozodi.org/rss
  - name: Pamir Daily
    url: ftp://pamir.example/rss
settings:
  digest_interval: soon
"""


def _keywords(tmp_path):
    text = (PROJECT / "keywords.yaml").read_text(encoding="utf-8")
    lines = text.splitlines()
    start = lines.index("  gbao_violence:")
    alias = next(i for i in range(start, len(lines)) if '"@places"' in lines[i])
    lines[alias] = lines[alias].replace('"@places"', '"@placez"')
    setting = next(i for i, line in enumerate(lines) if line.startswith("  snippet_chars:"))
    lines[setting] = "  snippet_chars: lots"
    path = tmp_path / "keywords.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, alias + 1, setting + 1


def test_every_mistake_of_both_files_at_its_own_line_in_one_pass(tmp_path, clean_env):
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(FEEDS, encoding="utf-8")
    keywords, alias_line, setting_line = _keywords(tmp_path)
    result = run_cli("check-config", "--feeds", str(feeds), "--keywords", str(keywords))
    assert result.returncode == 2
    err = result.stderr
    assert f"{feeds}:4: " in err and "two feeds are named 'Ozodi'" in err, err
    assert f"{feeds}:7: " in err and "ftp://pamir.example/rss" in err
    assert f"{feeds}:9: " in err and "digest_interval" in err
    assert f"{keywords}:{alias_line}: " in err and "unknown alias @placez" in err, err
    assert f"{keywords}:{setting_line}: " in err and "snippet_chars" in err, err
    assert "Traceback" not in err


def test_an_unclosed_quote_is_reported_where_it_opens(tmp_path, clean_env):
    body = ["feeds:", '  - name: "Ozodi', "    url: https://rus.ozodi.org/rss"]
    for n in range(3):
        body += [f"  - name: Feed {n}", f"    url: https://f{n}.example/rss"]
    body += ['  - name: "Asia Plus"', "    url: https://asiaplus.example/rss", "settings:", "  digest_interval: 1h"]
    for quote in ('"', "'"):
        feeds = tmp_path / "feeds.yaml"
        feeds.write_text("\n".join(body).replace('"Ozodi', quote + "Ozodi") + "\n", encoding="utf-8")
        result = run_cli("check-config", "--feeds", str(feeds), "--keywords", str(PROJECT / "keywords.yaml"))
        assert result.returncode == 2
        assert f"{feeds}:2: " in result.stderr and "quote" in result.stderr, result.stderr


RULES = """\
aliases:
  places: [Khorog, Хорог]
  rights: [detain, задержать]
topics:
  detentions:
    title: Detentions
    near:
      - within: 30
        one_of: ["@rights", "@nosuch"]
        and_one_of: ["@places"]
  trials:
    title: Trials
    min_score: x
    any: ["@missing", "re: (unclosed"]
  detentions:
    title: Detentions again
    any: [arrest]
  empty:
    any: []
"""


def test_a_duplicate_topic_hides_none_of_the_other_keywords_mistakes(tmp_path, clean_env):
    """An editor pastes a topic twice and makes four other slips: one run names all of them, each at its line
    (the duplicate key, the unknown alias, the bad number, the same topic's unknown alias and bad regex, the
    empty list)."""
    keywords = tmp_path / "keywords.yaml"
    keywords.write_text(RULES, encoding="utf-8")
    result = run_cli("check-config", "--feeds", str(PROJECT / "feeds.yaml"), "--keywords", str(keywords))
    assert result.returncode == 2
    err = result.stderr
    assert f"{keywords}:15: duplicate key 'detentions' (first at line 5)" in err, err
    assert f"{keywords}:9: " in err and "unknown alias @nosuch" in err, err
    assert f"{keywords}:13: " in err and "trials.min_score" in err, err
    assert f"{keywords}:14: " in err and "unknown alias @missing" in err, err
    assert f"{keywords}:14: " in err and "bad regex '(unclosed'" in err, err
    assert f"{keywords}:19: " in err and "empty.any" in err, err
    assert "Traceback" not in err


def test_a_bad_setting_of_a_topic_hides_none_of_its_terms_mistakes(tmp_path, clean_env):
    keywords = tmp_path / "keywords.yaml"
    keywords.write_text(RULES.replace("  detentions:\n    title: Detentions again", "  arrests:\n    title: Arrests"),
                        encoding="utf-8")
    result = run_cli("check-config", "--feeds", str(PROJECT / "feeds.yaml"), "--keywords", str(keywords))
    err = result.stderr
    assert f"{keywords}:13: " in err and "trials.min_score" in err, err
    assert f"{keywords}:14: " in err and "unknown alias @missing" in err, err
    assert f"{keywords}:14: " in err and "bad regex" in err, err
    assert "duplicate key" not in err


def test_a_duplicate_key_in_feeds_yaml_hides_none_of_its_other_mistakes(tmp_path, clean_env):
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(FEEDS.replace("settings:\n", "settings:\n  digest_interval: 1h\n"), encoding="utf-8")
    result = run_cli("check-config", "--feeds", str(feeds), "--keywords", str(PROJECT / "keywords.yaml"))
    err = result.stderr
    assert f"{feeds}:10: duplicate key 'digest_interval' (first at line 9)" in err, err
    assert f"{feeds}:4: " in err and "two feeds are named 'Ozodi'" in err, err
    assert f"{feeds}:7: " in err and "ftp://pamir.example/rss" in err, err


def test_a_broken_recipient_does_not_read_as_a_missing_team_address(tmp_path, clean_env):
    """The team list is routed by recipients only (no MONITOR_EMAIL_TO): a slip in one recipient is that slip,
    not also a delivery setting to fix."""
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - name: Ozodi\n    url: https://rus.ozodi.org/rss\nrecipients:\n"
                     "  - name: desk\n    email: desk@ngo.example\n  - name: lead\n    urgency: sometimes\n",
                     encoding="utf-8")
    env = {"MONITOR_SMTP_HOST": "127.0.0.1", "MONITOR_EMAIL_FROM": "monitor@ngo.example"}
    result = run_cli("check-config", "--feeds", str(feeds), "--keywords", str(PROJECT / "keywords.yaml"), env=env)
    assert result.returncode == 2
    assert f"{feeds}:7: recipient 'lead': give exactly one of email: or telegram:" in result.stderr, result.stderr
    assert "MONITOR_EMAIL_TO" not in result.stderr, result.stderr
    result = run_cli("check-config", "--feeds", str(feeds), "--keywords", str(PROJECT / "keywords.yaml"))
    assert "has email: but MONITOR_SMTP_HOST is not set" in result.stderr, result.stderr

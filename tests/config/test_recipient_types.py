"""A value of the wrong kind in feeds.yaml's `recipients:` (`languages: true`, `topics: 3`, a mapping, a list in
a list), or a key that is not a name (`[x]: 1`) in feeds.yaml or keywords.yaml: each is one line at its own
line, never a traceback, and the file's other mistakes are still named in the same pass."""

from __future__ import annotations

import pytest

from monitor.config.feeds import ConfigError, load_feeds
from tests.conftest import PROJECT, run_cli

HEAD = """\
feeds:
  - name: Ozodi RU
    url: https://rus.ozodi.org/rss
    language: ru
recipients:
  - name: desk
    email: desk@ngo.example
"""

LANGUAGES = "takes a list of language codes, such as [ru, tg], or one code"
TOPICS = "takes a list of topics (ids or titles of keywords.yaml), such as [gbao_rights], or one topic"


def _mistakes(tmp_path, text: str) -> list[str]:
    path = tmp_path / "feeds.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_feeds(path)
    return [f"{p.line}: {p.message}" for p in caught.value.problems]


def test_a_reader_given_languages_true_is_told_at_its_line_that_languages_takes_a_list(tmp_path, clean_env):
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(HEAD + "    languages: true\n    urgency: sometimes\n", encoding="utf-8")
    result = run_cli("check-config", "--feeds", str(feeds), "--keywords", str(PROJECT / "keywords.yaml"))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert f"{feeds}:8: recipients.0.languages: {LANGUAGES}; not true" in lines, result.stderr
    assert any(line.startswith(f"{feeds}:9: recipients.0.urgency: ") for line in lines), result.stderr


@pytest.mark.parametrize("written, seen", [
    ("languages: 5", f"8: recipients.0.languages: {LANGUAGES}; not 5"),
    ("languages: {ru: yes}", f"8: recipients.0.languages: {LANGUAGES}; not a mapping"),
    ("topics: 3", f"8: recipients.0.topics: {TOPICS}; not 3"),
    ("topics: false", f"8: recipients.0.topics: {TOPICS}; not false"),
    ("topics: {gbao_rights: 1}", f"8: recipients.0.topics: {TOPICS}; not a mapping"),
], ids=["languages: 5", "languages: a mapping", "topics: 3", "topics: false", "topics: a mapping"])
def test_a_value_that_is_neither_a_list_nor_one_text_is_one_line_saying_what_the_field_takes(tmp_path, written,
                                                                                               seen):
    assert _mistakes(tmp_path, HEAD + f"    {written}\n") == [seen]


def test_an_item_of_the_wrong_kind_is_named_at_its_own_line_and_the_good_items_are_still_checked(tmp_path):
    mistakes = _mistakes(tmp_path, HEAD + """\
    languages:
      - ru
      - [tg, fa]
      - english
    topics: [gbao_rights, {a: 1}, 7]
""")
    assert mistakes == [
        "12: recipients.0.topics.1: each topic is one id or title of keywords.yaml, such as gbao_rights; not a mapping",
        "12: recipients.0.topics.2: each topic is one id or title of keywords.yaml, such as gbao_rights; not 7",
        "10: recipients.0.languages.1: each language is one code, such as ru or pt-BR; not a list",
        ("11: recipient 'desk': no story is in language 'english'; the languages are: en, fa, ru, tg (read from a "
         "story's script, or its feed's language:)"),
    ], mistakes


@pytest.mark.parametrize("written, seen", [
    ("telegram: [\"@pamirdesk\"]", "a list"),
    ("telegram: {chat: -1001234567890}", "a mapping"),
    ("telegram: true", "true"),
], ids=["a list", "a mapping", "true"])
def test_a_telegram_chat_of_the_wrong_kind_is_one_line_and_no_second_reader_seems_to_share_it(tmp_path, written,
                                                                                               seen):
    text = HEAD.replace("    email: desk@ngo.example\n", f"    {written}\n") + f"  - name: lead\n    {written}\n"
    assert _mistakes(tmp_path, text) == [
        f"{line}: recipients.{i}.telegram: {seen} is not a Telegram chat (a number like -1001234567890, or "
        "@channelname)" for i, line in ((0, 7), (1, 9))]


def test_one_text_alone_is_still_a_list_of_one(tmp_path):
    path = tmp_path / "feeds.yaml"
    path.write_text(HEAD + "    languages: TG\n    topics: ' gbao_rights '\n", encoding="utf-8")
    reader = load_feeds(path).recipients[0]
    assert (reader.languages, reader.topics) == (("tg",), ("gbao_rights",))


def test_a_key_that_is_a_list_or_a_mapping_is_one_line_in_either_file_and_the_rest_is_still_checked(tmp_path,
                                                                                                   clean_env):
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(HEAD + "    [x]: 1\n    urgency: sometimes\n{a: 1}: 2\n", encoding="utf-8")
    lines = (PROJECT / "keywords.yaml").read_text(encoding="utf-8").splitlines()
    at = lines.index("  gbao_violence:") + 1
    lines.insert(at, "    [title, again]: Violence")
    keywords = tmp_path / "keywords.yaml"
    keywords.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_cli("check-config", "--feeds", str(feeds), "--keywords", str(keywords))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    said = result.stderr.splitlines()
    kept = "a key is one plain name (the entry is left out, so the rest is still checked)"
    assert f"{feeds}:8: key [x] is a list; {kept}" in said, result.stderr
    assert f"{feeds}:10: key {{a: 1}} is a mapping; {kept}" in said, result.stderr
    assert any(line.startswith(f"{feeds}:9: recipients.0.urgency: ") for line in said), result.stderr
    assert f"{keywords}:{at + 1}: key [title, again] is a list; {kept}" in said, result.stderr

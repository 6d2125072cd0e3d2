"""`recipients:` in feeds.yaml: a team lead writes who gets what, and every slip in the list is named at its own
line in one pass, whatever else is wrong beside it."""

from __future__ import annotations

import pytest

from monitor.config.feeds import ConfigError, load_feeds

HEAD = """\
feeds:
  - name: Ozodi RU
    url: https://rus.ozodi.org/rss
    language: ru
  - name: Pamir Daily
    url: https://pamir.example/rss
    language: pt-BR
recipients:
"""


def _mistakes(tmp_path, recipients: str) -> list[str]:
    path = tmp_path / "feeds.yaml"
    path.write_text(HEAD + recipients, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_feeds(path)
    return [f"{p.line}: {p.message}" for p in caught.value.problems]


@pytest.mark.parametrize("second, urgency_line, slip", [
    ("  - name: desk\n    email: lead@ngo.example\n", 13, "11: two recipients are named 'desk' (the first at line 9)"),
    ("  - name: lead\n", 12, "11: recipient 'lead': give exactly one of email: or telegram:"),
], ids=["a second reader of the same name", "a reader without an address"])
def test_a_slip_in_the_list_is_named_at_its_own_line_beside_a_bad_field(tmp_path, second, urgency_line, slip):
    mistakes = _mistakes(tmp_path, "  - name: desk\n    email: desk@ngo.example\n" + second
                         + "    urgency: sometimes\n")
    assert any(m.startswith(f"{urgency_line}: ") and "urgency" in m for m in mistakes), mistakes
    assert any(m.startswith(slip) for m in mistakes), mistakes


def test_two_readers_sharing_one_address_is_a_mistake_at_the_second_address(tmp_path):
    mistakes = _mistakes(tmp_path, """\
  - name: desk
    email: desk@ngo.example
  - name: lead
    email: Desk@NGO.example
  - name: journalist
    telegram: "-1009876543210"
  - name: journalist's editor
    telegram: -1009876543210
""")
    assert any(m.startswith("12: ") and "recipient 'lead' has the email address of recipient 'desk' (line 10)" in m
               for m in mistakes), mistakes
    assert any(m.startswith("16: ") and "of recipient 'journalist'" in m for m in mistakes), mistakes
    assert len(mistakes) == 2, mistakes


def test_a_language_no_story_is_in_is_refused_with_the_languages_there_are(tmp_path):
    mistakes = _mistakes(tmp_path, """\
  - name: desk
    email: desk@ngo.example
    languages: [english, tj, ru]
""")
    assert mistakes == ["11: recipient 'desk': no story is in language 'english', 'tj'; the languages are: en, fa, "
                        "pt, ru, tg (read from a story's script, or its feed's language:)"], mistakes


def test_a_language_of_a_feed_or_of_a_script_is_taken_by_its_first_part(tmp_path):
    path = tmp_path / "feeds.yaml"
    path.write_text(HEAD + "  - name: desk\n    email: desk@ngo.example\n    languages: [pt-BR, TG, fa]\n",
                    encoding="utf-8")
    assert load_feeds(path).recipients[0].languages == ("pt", "tg", "fa")


def test_readers_left_without_a_name_are_each_told_so_and_not_that_they_share_one(tmp_path):
    mistakes = _mistakes(tmp_path, """\
  - email: desk@ngo.example
  - email: lead@ngo.example
  - name:
    telegram: "@pamirdesk"
""")
    assert mistakes == ["9: recipients.0.name: Field required", "10: recipients.1.name: Field required",
                        "11: recipients.2.name: Input should be a valid string"], mistakes


def test_a_telegram_username_written_in_other_capitals_is_the_same_channel_given_twice(tmp_path):
    mistakes = _mistakes(tmp_path, """\
  - name: desk
    telegram: "@PamirDesk"
  - name: lead
    telegram: "@pamirdesk"
""")
    assert mistakes == [("12: recipient 'lead' has the telegram address of recipient 'desk' (line 10); each address "
                         "is one reader's: give it one entry")], mistakes

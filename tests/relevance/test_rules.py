"""keywords.yaml as a user writes it: the shipped default loads, and every mistake is reported with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config.feeds import ConfigError
from monitor.relevance.rules import compile_term, fold
from monitor.relevance.keywords import load_rules

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "keywords.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_rules(write(tmp_path, text))
    return [str(p) for p in err.value.problems]


def test_the_shipped_default_loads_with_urgent_and_ordinary_topics():
    rules = load_rules(ROOT / "keywords.yaml")
    names = {t.name: t for t in rules.topics}
    assert names["gbao_violence"].urgent
    assert not names["gbao_rights"].urgent
    assert all(t.terms() for t in rules.topics)


def test_a_minimal_file_with_one_topic_works(tmp_path):
    rules = load_rules(write(tmp_path, "topics:\n  khorog:\n    any: [Khorog]\n"))
    assert rules.topics[0].name == "khorog"
    assert rules.topics[0].any[0].key == "khorog"


def test_every_mistake_is_reported_at_once_with_its_line(tmp_path):
    found = problems(tmp_path, """\
topics:
  one:
    any: [Khorog]
    urgnet: true
  two:
    any: []
  three:
    near:
      - within: 0
        one_of: [detained]
        and_one_of: [Khorog]
""")
    text = "\n".join(found)
    assert "keywords.yaml:4:" in text and "unknown key" in text  # the typo 'urgnet'
    assert "keywords.yaml:6:" in text  # empty term list
    assert "keywords.yaml:9:" in text and "within" in text  # bad near distance


def test_a_bad_regex_an_unknown_alias_and_a_misplaced_star_are_each_reported(tmp_path):
    found = problems(tmp_path, """\
aliases:
  places: [Khorog, "@nowhere"]
topics:
  t:
    any:
      - "re: (unclosed"
      - "Хо*рог"
      - "@places"
""")
    text = "\n".join(found)
    assert "keywords.yaml:2:" in text and "unknown alias @nowhere" in text
    assert "keywords.yaml:6:" in text and "bad regex" in text
    assert "keywords.yaml:7:" in text and "star" in text


def test_a_regex_that_matches_empty_text_or_uses_backreferences_is_refused(tmp_path):
    text = "\n".join(problems(tmp_path, 'topics:\n  t:\n    any: ["re: a*", "re: (a)\\\\1"]\n'))
    assert "matches empty text" in text
    assert "back-references" in text or "not supported" in text


def test_an_alias_that_uses_itself_is_reported_not_looped(tmp_path):
    text = "\n".join(problems(tmp_path, 'aliases:\n  a: ["@b"]\n  b: ["@a"]\ntopics:\n  t:\n    any: ["@a"]\n'))
    assert "uses itself" in text


def test_a_topic_with_nothing_to_find_is_an_error(tmp_path):
    text = "\n".join(problems(tmp_path, "topics:\n  t:\n    not: [tyres]\n"))
    assert "at least one of any:, all: or near:" in text


def test_yaml_words_like_no_and_numbers_stay_terms(tmp_path):
    rules = load_rules(write(tmp_path, "topics:\n  t:\n    any: [no, 2022]\n"))
    assert {t.key for t in rules.topics[0].any} == {"no", "2022"}


def test_a_tab_in_the_file_is_explained(tmp_path):
    assert any("tab" in p for p in problems(tmp_path, "topics:\n\tt:\n    any: [x]\n"))


def test_folding_makes_spellings_meet():
    assert fold("ХОРУҒ") == fold("хоруг")
    assert fold("Рӯшон") == fold("Рушон")
    assert fold("Ёлка") == fold("елка")
    assert fold("Rųshon") == "rushon"
    assert fold("ＧＢＡＯ") == "gbao"  # NFKC: full-width letters


def test_term_forms():
    assert compile_term("Хорог*").kind == "prefix"
    assert compile_term("died in custody").key == "died in custody"
    assert compile_term("Горно-Бадахшан*").key == "горно бадахшан"
    assert compile_term("re: \\d+ detained").kind == "regex"
    with pytest.raises(ValueError):
        compile_term("***")

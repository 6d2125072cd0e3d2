"""Place senses: a GBAO-like name that context reads otherwise does not count for GBAO.

The rules here are a user's own small keywords file with its own `senses:`; the texts are ours.
"""

from __future__ import annotations

import pytest

from monitor.config.feeds import ConfigError
from monitor.relevance.matcher import Matcher
from monitor.relevance.keywords import parse_rules

RULES = {
    "aliases": {
        "places": ["Khorog", "Ishkashim", "Ishkoshim", "Rushan", "Ишкашим*", "Ишкошим*", "Рушан*", "Рушон*",
                   "اشکاشم", "Badakhshan"],
        "afghanistan": ["Afghan", "Afghanistan", "Taliban", "Faizabad", "Афғонистон*", "Афганистан*",
                        "Толибон", "افغانستان", "طالبان"],
        "rights": ["detain", "arrest", "боздошт", "задержать", "задержан*", "بازداشت"],
    },
    "senses": {
        "afghan_side": {
            "description": "the Afghan district or province of the same name",
            "terms": ["Ishkashim", "Ishkoshim", "Ишкашим*", "Ишкошим*", "اشکاشم", "Badakhshan"],
            "near": ["@afghanistan"], "within": 12, "unless_near": ["Tajik"],
        },
        "rushan_person": {
            "description": "a person called Rushan",
            "terms": ["Rushan", "Рушан*", "Рушон*"],
            "followed_by": "capitalised", "unless_followed_by": ["District", "Valley"],
        },
    },
    "topics": {"rights": {"near": [{"within": 20, "one_of": ["@rights"], "and_one_of": ["@places"]}]}},
}


@pytest.fixture(scope="module")
def m() -> Matcher:
    return Matcher(parse_rules(RULES))


def test_a_taliban_detention_in_afghan_ishkashim_is_rejected(m):
    title = "Taliban detain four traders in Ishkashim"
    text = ("Taliban fighters detained four traders at the bazaar of Ishkashim, in Afghanistan's Badakhshan "
            "province, on Sunday; the men had crossed the river bridge to buy flour.")
    result = m.match(title, text)
    assert not result.matched
    assert not result.mention, "the Afghan side is not a mention of GBAO either"


def test_the_same_story_on_the_tajik_side_still_counts(m):
    text = "Police detained four traders in Ishkashim on Sunday, relatives in Khorog said."
    assert m.match("Traders detained in Ishkashim", text).matched


def test_context_that_names_tajikistan_keeps_the_gbao_reading(m):
    text = "Tajik border guards detained two men in Ishkashim, opposite the Afghan bank of the river."
    assert m.match("", text).matched


def test_a_tajik_report_on_afghan_ishkoshim_is_rejected(m):
    text = "Толибон дар Ишкошими Афғонистон се нафарро боздошт карданд."
    assert not m.match("", text).matched


def test_a_persian_report_on_afghan_ishkashim_is_rejected(m):
    text = "طالبان در ولسوالی اشکاشم بدخشان افغانستان سه نفر را بازداشت کردند."
    assert not m.match("", text).matched


def test_a_story_about_a_person_called_rushan_is_rejected(m):
    title = "Sister of campaigner Rushan Sabirova detained"
    text = ("Relatives of the exiled campaigner Rushan Sabirova say her younger sister was detained in "
            "Kazan last week. Rushan Sabirova said the arrest was meant to silence her.")
    result = m.match(title, text)
    assert not result.matched


def test_a_russian_story_about_a_woman_named_rushan_is_rejected(m):
    text = "Блогер Рушан Каримова сообщила, что её брата задержали в аэропорту Казани."
    assert not m.match("", text).matched


def test_rushan_the_district_still_counts_even_before_a_capitalised_word(m):
    assert m.match("", "Security forces detained five men in Rushan District on Tuesday.").matched
    assert m.match("", "Security forces detained five men in Rushan. Relatives gathered outside.").matched


def test_explain_says_which_sense_was_chosen_and_why(m):
    text = "Taliban fighters detained four traders in Ishkashim on Sunday."
    out = m.explain("", text)
    assert "read as afghan_side" in out and "'Taliban'" in out
    out = m.explain("", "Campaigner Rushan Sabirova was detained.")
    assert "read as rushan_person" in out and "'Sabirova'" in out


def test_a_sense_without_any_context_is_a_config_error_with_its_line():
    bad = {**RULES, "senses": {"nothing": {"terms": ["Rushan"]}}}
    with pytest.raises(ConfigError) as err:
        parse_rules(bad)
    assert "senses.nothing" in str(err.value) and "near:, followed_by: or preceded_by:" in str(err.value)


def test_one_sense_per_article_when_the_first_mention_is_afghan(m):
    text = ("Taliban officials in Afghanistan's Badakhshan said on Sunday that the Ishkashim district market will "
            "reopen next month after repairs to the roads leading to the valley and the river crossing were done. "
            "Traders in Ishkashim were detained last week for selling fuel without permits, residents said.")
    assert not m.match("", text).matched
    out = m.explain("", text)
    assert "one sense per article" in out


def test_a_later_tajik_mention_keeps_the_story_even_after_an_afghan_first_mention(m):
    text = ("A man from the Afghan side of Ishkashim crossed the bridge to trade on Saturday, his cousin said "
            "after the market closed for the season and the stalls were taken down by the municipal workers. "
            "Tajik police then detained him in Ishkashim and took him to Khorog.")
    assert m.match("", text).matched


def test_a_surname_seen_once_marks_the_person_in_its_declined_forms_too(m):
    title = "В Казани задержан Рушан Гарифуллин"
    text = "Родственники Рушана Гарифуллина сообщили, что его задержали в аэропорту."
    assert not m.match(title, text).matched


def test_preceded_by_a_capitalised_given_name():
    rules = {**RULES, "senses": {"actor": {"terms": ["Roshan"], "preceded_by": "capitalised"}}}
    rules["aliases"] = {**RULES["aliases"], "places": RULES["aliases"]["places"] + ["Roshan"]}
    actor = Matcher(parse_rules(rules))
    assert not actor.match("", "Fans say Hrithik Roshan was detained briefly at the airport.").matched
    assert actor.match("", "Police detained two men in Roshan on Monday.").matched
    assert actor.match("", "Roshan police detained two men on Monday.").matched, "a capital starting a sentence"


def test_a_veto_phrase_survives_a_sense_that_reads_a_word_inside_it():
    rules = {
        "aliases": {"places": ["Khorog"]},
        "senses": {"accident": {"terms": ["incident"], "near": ["road"], "within": 3}},
        "topics": {"violence": {"near": [{"within": 10, "one_of": ["incident"], "and_one_of": ["@places"]}],
                                "not": ["road incident"]}},
    }
    m = Matcher(parse_rules(rules))
    assert m.match("", "A road incident near Khorog closed the highway.").vetoed == ("violence",)

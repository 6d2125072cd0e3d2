"""One story per class of miss, through the shipped keywords.yaml and the whole engine (our own texts).

Each class was a whole family of misses before: the state's own words, euphemisms for a death or a
detention, loose place names, verb forms outside the star endings. The rules name the class; these texts
check that a new phrasing of it is caught end to end, and that the namesakes are not.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from monitor.relevance.matcher import Matcher
from monitor.relevance.keywords import load_rules
from tests.conftest import PROJECT

WHEN = datetime(2026, 4, 2, 9, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def shipped() -> Matcher:
    return Matcher(load_rules(PROJECT / "keywords.yaml"))


@pytest.mark.parametrize("title,text", [
    ("", "Суд Душанбе приговорил троих уроженцев Хорога к двадцати годам заключения."),       # verb form
    ("", "Two Pamiri men were detained after a search of their flat in Khorugh on Tuesday."),
    ("", "Дар Хоруғ се ҷавонро боздошт карданд."),
])
def test_a_verb_form_outside_the_old_star_endings_is_caught(shipped, title, text):
    assert shipped.match(title, text, WHEN).matched


@pytest.mark.parametrize("text", [
    "Силовые структуры сообщили, что в ходе антитеррористической операции в Хороге задержаны члены "
    "организованной преступной группы.",
    "According to the authorities, a counter-terrorist operation in Khorog ended with the detention of members "
    "of an organised criminal group.",
])
def test_a_report_in_the_states_own_words_is_caught(shipped, text):
    assert shipped.match("", text, WHEN).matched


@pytest.mark.parametrize("text", [
    "A young man from Rushan was found dead two days after he was taken away by men in plain clothes.",
    "Relatives of an exiled activist were summoned for questioning in Khorog this week.",
])
def test_a_euphemism_for_a_death_or_a_detention_is_caught(shipped, text):
    assert shipped.match("", text, WHEN).matched


@pytest.mark.parametrize("text", [
    "Police in the Pamir region detained two bloggers on Monday, their families said.",
    "В ВМКБ задержаны двое блогеров, сообщили их родственники.",
])
def test_a_loosely_named_place_is_caught(shipped, text):
    assert shipped.match("", text, WHEN).matched


def test_an_afghan_ishkashim_report_is_rejected(shipped):
    text = ("Taliban gunmen detained a shopkeeper in Ishkashim district of Afghanistan's Badakhshan province, "
            "local sources in Faizabad said.")
    assert not shipped.match("Taliban detain shopkeeper in Ishkashim", text, WHEN).matched


def test_a_story_about_a_person_named_rushan_is_rejected(shipped):
    text = ("The family of the campaigner Rushan Tursunova say her brother was detained in Almaty. "
            "Rushan Tursunova has lived abroad since 2019.")
    assert not shipped.match("Brother of campaigner Rushan Tursunova detained", text, WHEN).matched


def test_a_background_killing_does_not_make_a_detention_story_urgent_with_the_shipped_rules(shipped):
    text = ("Police detained a journalist in Khorog on Wednesday after he filmed a queue at a bread shop, "
            "colleagues said. In May 2022 dozens of people were killed in Khorog and Rushan.")
    result = shipped.match("Journalist detained in Khorog", text, WHEN)
    assert result.matched and not result.urgent

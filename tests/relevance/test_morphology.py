"""A term written once finds every form of it: Russian and English from dictionaries, Tajik and Persian by rule.

Each story below is a user's: they wrote the word the way a dictionary lists it, and the article used
another form. The texts are our own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from monitor.relevance.matcher import Matcher
from monitor.relevance.rules import compile_term
from monitor.relevance.keywords import parse_rules
from tests.conftest import PROJECT


def finds(term: str, text: str) -> bool:
    m = Matcher(parse_rules({"topics": {"t": {"any": [term]}}}))
    return bool(m.occurrences(m.document("", text)))


# --- Russian: pymorphy3's dictionary ------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "Суд в Душанбе приговорил активиста к восемнадцати годам.",
    "Журналистка приговорена заочно.",
    "Приговорённых этапировали в колонию строгого режима.",
])
def test_a_russian_verb_written_as_its_infinitive_finds_the_forms_a_report_uses(text):
    assert finds("приговорить", text)


def test_a_star_stem_reaches_verb_forms_outside_the_ending_list():
    assert finds("приговор*", "Его приговорили к пожизненному заключению.")
    assert finds("задержан*", "Двое задержанных были доставлены в ИВС.")


def test_an_adjective_written_once_finds_its_cases_and_genders():
    assert finds("памирский", "Задержан памирского происхождения блогер.")
    assert finds("памирский", "Памирскую общину в Москве вызвали на беседы.")


def test_a_phrase_declines_with_its_adjective_agreeing():
    assert finds("массовое задержание", "Правозащитники сообщили о массовых задержаниях в городе.")
    assert not finds("массовое задержание", "Массовых гуляний и задержания поездов не было.")


def test_a_verb_phrase_written_with_the_infinitive_finds_the_past_tense():
    assert finds("умереть в СИЗО", "Заключённый умер в СИЗО, сообщили родственники.")


def test_a_word_written_in_an_inflected_form_stays_as_written():
    forms = compile_term("массовых").forms
    assert forms.exact == ("массовых",)


def test_an_equals_sign_means_exactly_this_word():
    assert finds("=Рушан", "Рушан вернулся домой.")
    assert not finds("=Рушан", "Певица Рушана дала концерт.")


# --- English: lemminflect ----------------------------------------------------------------------------


@pytest.mark.parametrize("term,text", [
    ("detain", "Two teachers were detained at the checkpoint."),
    ("beat", "He said he was beaten during questioning."),
    ("go missing", "Her brother went missing after a visit to the prosecutor."),
    ("take away", "Relatives say he was taken away by men in plain clothes."),
    ("seize", "Officers seized his phone."),
    ("sentence", "A court sentenced the poet to nine years."),
    ("kill", "Three people were killed overnight."),
    ("summon for questioning", "The blogger's father was summoned for questioning twice."),
])
def test_an_english_lemma_finds_regular_and_irregular_forms(term, text):
    assert finds(term, text)


def test_a_capitalised_english_word_is_a_name_and_is_not_inflected():
    assert compile_term("Khorog").forms.exact == ("khorog",)


# --- Tajik: suffix and prefix rules ------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "Се нафар дастгиршудагонро ба Душанбе бурданд.",   # participle + plural + object
    "Милиса ҷавононро дастгир кард.",
    "Дастгирҳои охир нигаронкунандаанд.",
])
def test_a_tajik_noun_takes_its_plural_object_and_participle_endings(text):
    assert finds("дастгир", text)


def test_a_tajik_verb_takes_the_continuous_prefix_and_person_endings():
    assert finds("гирифт", "Онҳо ҳар шаб ҷавононро мегирифтанд.")
    assert finds("гирифт", "Вай шиносномаашро нагирифтааст.")


def test_the_izofat_may_be_left_out_inside_a_tajik_place_name():
    assert finds("Вилояти Мухтори Кӯҳистони Бадахшон", "Дар Вилояти Мухтори Кӯҳистон Бадахшон ду нафар боздошт шуданд.")


def test_tajik_written_with_russian_look_alike_letters_still_inflects():
    assert finds("ҳабс", "Дар хабсхона се нафар нигох дошта мешаванд, хабсхояшон пурра аст.")


# --- Persian: affix rules and letter folding -----------------------------------------------------------


@pytest.mark.parametrize("text", [
    "بازداشتها ادامه دارد",                    # plural attached
    "بازداشت‌ها ادامه دارد",                   # plural after ZWNJ
    "موج بازداشتی تازه",                        # indefinite -ی
])
def test_a_persian_noun_is_found_with_its_suffixes_attached_or_after_zwnj(text):
    assert finds("بازداشت", text)


def test_a_persian_verb_stem_takes_mi_and_person_endings_with_or_without_zwnj():
    assert finds("کشت", "نیروها معترضان را میکشتند")
    assert finds("کشت", "نیروها معترضان را می‌کشتند")
    assert finds("کشت", "دو نفر کشته شدند")


def test_arabic_letters_diacritics_and_tatweel_fold_to_the_persian_word():
    assert finds("زندانی", "زنداني سياسي")          # Arabic yeh
    assert finds("شکنجه", "شكنجه شد")                 # Arabic kaf
    assert finds("زندان", "زنــدان")                   # tatweel


# --- cost: one pass, and a start-up that reads the cache ---------------------------------------------


def test_a_second_start_reads_every_form_from_the_cache_without_loading_a_dictionary(tmp_path):
    rules = tmp_path / "keywords.yaml"
    rules.write_text(json.dumps({"topics": {"t": {"any": ["приговорить", "detain", "боздошт", "بازداشت"]}}}),
                     encoding="utf-8")
    code = ("import sys; from monitor.relevance.keywords import load_rules; load_rules(sys.argv[1]); "
            "print(sorted(m for m in ('pymorphy3', 'lemminflect') if m in sys.modules))")
    env = {**os.environ, "MONITOR_CACHE_DIR": str(tmp_path / "cache")}
    run = lambda: subprocess.run([sys.executable, "-c", code, str(rules)], cwd=PROJECT, env=env,  # noqa: E731
                                 capture_output=True, text=True, check=True).stdout.strip()
    assert run() == "['lemminflect', 'pymorphy3']"
    assert list((tmp_path / "cache").glob("forms-*.json"))
    assert run() == "[]"


def test_an_infinitive_stands_for_its_past_stem_in_tajik_and_persian():
    assert finds("куштан", "Ду нафарро куштанд.")
    assert finds("کشتن", "آنها را میکشتند")
    assert finds("رسیدن", "دو نفر به شهادت رسیدند")

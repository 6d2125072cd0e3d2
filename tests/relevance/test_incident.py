"""A researcher's draft record, read from one report in any of our four languages (our own texts).

Every field is right where the text states it and empty where it does not; each field names its sentence.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from monitor.models import LIFE_SENTENCE
from monitor.relevance import incident_vocab
from monitor.relevance.incident import IncidentReader
from monitor.relevance.keywords import load_rules
from monitor.relevance.persons import person_key
from tests.conftest import PROJECT

PUBLISHED = datetime(2026, 12, 7, 9, 0, tzinfo=timezone.utc)  # a Monday: "on Saturday" is 5 December


@pytest.fixture(scope="module")
def reader() -> IncidentReader:
    return IncidentReader(load_rules(PROJECT / "keywords.yaml"))


DETENTION = {
    "en": ("Pamiri activist detained in Khorog",
           "Officers of the GKNB detained Alisher Nazarov, a Pamiri activist, in Khorog on Saturday. "
           "His relatives said he was taken to Dushanbe."),
    "ru": ("В Хороге задержан памирский активист",
           "Сотрудники ГКНБ в субботу задержали в Хороге памирского активиста Алишера Назарова."),
    "tg": ("Дар Хоруғ фаъоли помирӣ боздошт шуд",
           "Рӯзи шанбе кормандони КДАМ дар шаҳри Хоруғ Алишер Назаровро боздошт карданд."),
    "fa": ("فعال پامیری در خاروغ بازداشت شد",
           "ماموران کمیته دولتی امنیت ملی تاجیکستان روز شنبه علیشیر نظروف را در خاروغ بازداشت کردند."),
}


@pytest.mark.parametrize("lang", DETENTION)
def test_a_detention_in_khorog_reads_the_same_in_every_language(reader, lang):
    title, text = DETENTION[lang]
    record = reader.read(title, text, PUBLISHED)
    assert (record.act, record.date, record.date_precision) == ("detention", "2026-12-05", "day")
    assert (record.place, record.district, record.language) == ("Khorog", "Khorog", lang)
    assert [v.key for v in record.victims] == [person_key("Alisher Nazarov")]
    assert record.perpetrators == ("gknb",)
    assert record.killed is None and record.sentence_years is None  # nothing stated: nothing guessed
    weekday = {"en": "Saturday", "ru": "субботу", "tg": "шанбе", "fa": "شنبه"}[lang]
    assert weekday in record.sentence_for("date")
    assert record.sentence_for("victims") and record.sentence_for("act")


def test_a_killing_is_a_killing_with_its_wounded_counted(reader):
    record = reader.read("Man shot dead in Khorog",
                         "A man was shot dead by police in Khorog yesterday. Two other people were wounded, "
                         "residents said.", PUBLISHED)
    assert (record.act, record.date, record.place) == ("killing", "2026-12-06", "Khorog")
    assert record.wounded == 2 and record.killed is None
    assert record.perpetrators == ("police",)
    assert record.sentence_for("wounded") == "Two other people were wounded, residents said."


def test_the_may_2022_events_recalled_in_a_story_are_not_read_into_its_record(reader):
    record = reader.read("В Хороге задержан активист",
                         "Активиста задержали в пятницу. В мае 2022 года в Хороге были убиты 25 человек.",
                         PUBLISHED)
    assert record.act == "detention"
    assert record.killed is None and record.date == "2026-12-04"


def test_a_sentence_gives_its_years_and_a_life_sentence_is_life(reader):
    record = reader.read("Суд приговорил памирца", "Суд в Душанбе в пятницу приговорил жителя Хорога "
                         "Алишера Назарова к 18 годам лишения свободы.", PUBLISHED)
    assert (record.act, record.sentence_years, record.perpetrators) == ("sentence", 18.0, ("court",))
    life = reader.read("", "دادگاهی در دوشنبه علیشیر نظروف را به حبس ابد محکوم کرد.", PUBLISHED)
    assert life.act == "sentence" and life.sentence_years == LIFE_SENTENCE


def test_counts_in_tajik_and_persian(reader):
    tg = reader.read("", "Дирӯз дар Рӯшон 3 нафар кушта ва 5 нафар захмӣ шуданд.", PUBLISHED)
    assert (tg.act, tg.killed, tg.wounded, tg.place, tg.district) == ("killing", 3, 5, "Rushan", "Rushan")
    fa = reader.read("", "دیروز ۱۲ نفر در خاروغ بازداشت شدند.", PUBLISHED)
    assert (fa.act, fa.detained, fa.date) == ("detention", 12, "2026-12-06")


def test_a_dateline_is_no_count(reader):
    record = reader.read("Man detained in Khorog", "By a staff reporter, 2026-12-07 Police detained Umed Shoev in "
                         "Khorog on Saturday.", PUBLISHED)
    assert record.detained is None and record.date == "2026-12-05"


def test_a_solar_hijri_date_and_an_explicit_date(reader):
    fa = reader.read("", "علیشیر نظروف روز ۱۵ آذر در خاروغ بازداشت شد.", PUBLISHED)
    assert fa.date == "2026-12-06"
    ru = reader.read("", "3 декабря в Ишкашиме задержан Умед Шоев.", PUBLISHED)
    assert (ru.date, ru.place, ru.district) == ("2026-12-03", "Ishkashim", "Ishkashim")


def test_a_report_that_states_no_date_place_or_victim_leaves_them_empty(reader):
    record = reader.read("Pamiri activists detained", "Several Pamiri activists have been detained, a rights "
                         "group said.", PUBLISHED)
    assert record.act == "detention"
    assert (record.date, record.place, record.district, record.victims, record.perpetrators) == ("", "", "", (), ())
    assert record.sentence_for("date") == ""


def test_the_capital_dushanbe_is_not_a_monday(reader):
    record = reader.read("", "Дар Душанбе фаъоли помирӣ боздошт шуд.", PUBLISHED)
    assert record.date == ""


def test_one_person_one_key_across_scripts():
    keys = {person_key(n) for n in ("Alisher Nazarov", "Алишер Назаров", "Алишера Назарова", "علیشیر نظروف")}
    assert len(keys) == 1
    assert person_key("Umed Shoev") != person_key("Alisher Nazarov")


def test_every_gazetteer_name_has_a_canonical_locality():
    rules = load_rules(PROJECT / "keywords.yaml")
    missing = [t.text for a in incident_vocab.GAZETTEER for t in rules.aliases[a]
               if incident_vocab.locality_of(t.key) is None]
    assert missing == []


def test_the_readers_own_terms_reach_the_forms_cache_so_a_start_loads_no_dictionary(tmp_path, monkeypatch):
    """The reader compiles a few terms keywords.yaml lacks (a seizure of property). They used to be expanded
    again at every start, loading the Russian dictionary (~0.4 s CPU) at the first matched story."""
    from monitor.relevance.morph import cache

    rules = load_rules(PROJECT / "keywords.yaml")  # compiled with the suite's cache: only the reader's terms are new
    target = tmp_path / "forms.json"
    known = {k: v for k, v in (cache._load() or {}).items() if "изъять имущество" not in k}  # one term is new
    monkeypatch.setattr(cache, "_data", known)
    monkeypatch.setattr(cache, "_dirty", False)
    monkeypatch.setattr(cache, "path", lambda: target)
    IncidentReader(rules)
    import json

    kept = json.loads(target.read_text(encoding="utf-8"))
    assert any("изъять имущество" in k for k in kept), sorted(kept)[:5]
    assert not cache._dirty


@pytest.mark.parametrize("sentence, names", [
    # after a role word, whatever the surname's ending (Tajik -ӣ with its object suffix, Persian -ی)
    ("Police detained journalist Sherzod Safari in Khorog.", ["Sherzod Safari"]),
    ("Милиция задержала журналиста Шерзода Сафари.", ["Шерзода Сафари"]),
    ("Милитсия рӯзноманигор Шерзод Сафариро боздошт кард.", ["Шерзод Сафарӣ"]),
    ("پلیس خبرنگار شیرزاد صفری را بازداشت کرد.", ["شیرزاد صفری"]),
    # with a patronymic, in either order: the patronymic is not the name
    ("Суд приговорил Иномова Шухрата Давлатовича к 12 годам.", ["Шухрата Иномова"]),
    ("Суд Иномов Шуҳрат Давлатовичро ба 12 сол маҳкум кард.", ["Шуҳрат Иномов"]),
    ("Осуждён Шухрат Давлатович Иномов.", ["Шухрат Иномов"]),
    # a Tajik surname in -ӣ without a role word
    ("Шерзод Сафарӣ боздошт шуд.", ["Шерзод Сафарӣ"]),
    # hard negatives: adjectives and places after a role word or in -ӣ are no names
    ("فعال پامیری در خاروغ بازداشت شد.", []),
    ("Дар Хоруғ рӯзноманигор боздошт шуд.", []),
    ("Вилояти Мухтори Кӯҳистони Бадахшон ва Помири Ғарбӣ.", []),
    ("Activist groups in Khorog said Pamiri Youth was closed.", []),
    # a real report: the place after "resident" is no given name, the name after it is found by its ending
    ("поводом стала операция ГКНБ 22 мая по задержанию жителя Рушана Шарофа Гобилова.", ["Шарофа Гобилова"]),
])
def test_names_after_a_role_word_with_a_patronymic_or_in_i_are_found_and_adjectives_are_not(sentence, names):
    from monitor.relevance.persons import victims_in

    assert [v.name for v in victims_in(sentence)] == names


def test_one_person_across_scripts_even_where_the_scripts_disagree_on_kh_and_v():
    from monitor.relevance.persons import same_person

    assert same_person(person_key("Shuhrat Inomov"), person_key("Шухрата Иномова"))  # Russian х for Tajik ҳ
    assert same_person(person_key("Gulnora Davlatova"), person_key("گلنوره دولتوا"))  # Persian و as a vowel
    assert not same_person(person_key("Gulnora Davlatova"), person_key("Gulnora Nazarova"))


@pytest.mark.parametrize("title, text", [
    ("Family evicted in Khorog", "Authorities in Khorog on Saturday evicted the family and razed their home."),
    ("В Хороге выселили семью", "В субботу власти Хорога выселили семью активиста."),
    ("Дар Хоруғ хонаро хароб карданд", "Рӯзи шанбе мақомот дар Хоруғ хонаи ӯро хароб карданд."),
    ("خانه‌ای در خاروغ ویران شد", "مقامات روز شنبه خانه او را در خاروغ ویران کردند."),
])
def test_an_eviction_or_a_demolition_is_a_property_act_in_every_language(reader, title, text):
    record = reader.read(title, text, PUBLISHED)
    assert (record.act, record.place, record.date) == ("property", "Khorog", "2026-12-05")


def test_where_a_victim_lives_is_not_where_the_act_happened_when_the_text_says_where(reader):
    record = reader.read("Rushan resident sentenced to 12 years",
                         "A court in Khorog on Saturday sentenced Shuhrat Inomov to 12 years in prison.", PUBLISHED)
    assert (record.place, record.sentence_years) == ("Khorog", 12.0)
    alone = reader.read("Rushan resident detained", "A Rushan resident was detained on Saturday.", PUBLISHED)
    assert alone.place == "Rushan"  # nothing else named: where he lives is the best the text says

"""The matcher on the stories users care about, and on the traps they must not fall into."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.relevance.matcher import Matcher
from monitor.relevance.keywords import load_rules, parse_rules

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def default() -> Matcher:
    return Matcher(load_rules(ROOT / "keywords.yaml"))


def matcher(yaml_data: dict) -> Matcher:
    return Matcher(parse_rules(yaml_data))


# --- the shipped default -------------------------------------------------------------------------


def test_a_detention_in_khorog_is_caught(default):
    result = default.match("Activists detained in Khorog", "Police detained three activists in Khorog on Monday.")
    assert result.matched
    assert "khorog" in result.terms and "detained" in result.terms


def test_a_russian_article_about_khoroga_is_matched(default):
    result = default.match("", "Силовики задержали троих жителей Хорога после митинга у здания администрации.")
    assert result.matched
    assert "хорога" in result.terms


@pytest.mark.parametrize("form", ["Хороге", "Хорогом", "Хорогской", "Хоруғ", "Хоруғро", "Хоруге", "хорожане"])
def test_case_forms_of_khorog_are_caught_without_listing_each(default, form):
    assert default.match("", f"В {form} задержаны пять человек.").matched


def test_a_tajik_article_written_with_russian_look_alike_letters_is_matched(default):
    # ҳ→х, ғ→г, ӣ→и: many Tajik writers type on a Russian keyboard
    assert default.match("", "Дар шахри Хоруг дах нафар эътирозгарон дастгир шуданд.").matched


def test_a_pamir_tyre_advert_is_not(default):
    result = default.match("Pamir tyres: winter sale", "The Pamir tyre has a deep tread. Check your tyre size.")
    assert not result.matched


def test_a_school_detention_is_not(default):
    assert not default.match("After-school detention rules", "Late students get a lunchtime detention.").matched


def test_a_travel_page_with_detained_in_a_sidebar_far_from_the_place_is_not(default):
    body = "The Pamir Mountains are stunning in July. " * 20 + "Related: tourist detained in Bali over drone."
    assert not default.match("Pamir viewpoints", body).matched


def test_the_mongolian_word_khorogduulakh_does_not_count_as_khorog(default):
    result = default.analyse("", "Үйл үгийн хорогдуулах хэлбэр. Цагдаа задержали хүн.")
    assert not any(default.terms[o.term].key == "хорог" for o in result.occurrences)


def test_gbao_does_not_match_inside_another_word(default):
    analysis = default.analyse("", "The XGBAOX code and gbaoish text were detained.")
    assert not analysis.occurrences or all(default.terms[o.term].key != "gbao" for o in analysis.occurrences)


def test_afghan_badakhshan_alone_is_not_gbao(default):
    text = "Taliban detained a dozen protesters in Faizabad, capital of Afghanistan's Badakhshan province."
    assert not default.match("Taliban detain protesters in Badakhshan", text).matched


def test_a_killing_in_rushan_is_urgent(default):
    result = default.match("Two killed in Rushan", "Two residents were killed when troops fired near Vamar.")
    assert result.urgent


def test_an_avalanche_in_rushan_is_not_urgent(default):
    result = default.match("Avalanche in Rushan", "Two drivers were killed by an avalanche on the Rushan road.")
    assert not result.urgent
    assert "gbao_violence" in result.vetoed


def test_title_and_lead_count_more_than_the_end(default):
    filler = "The weather was mild and the markets were busy. " * 60
    early = default.match("Arrests in Khorog", "Police arrested two men in Khorog. " + filler)
    late = default.match("Market day", filler + "Police arrested two men in Khorog.")
    assert early.score > late.score


def test_the_snippet_shows_the_match_and_highlights_the_terms(default):
    text = "Long introduction about the weather. " * 15 + "Police detained five residents of Khorog at night." + " More." * 40
    result = default.match("", text)
    assert result.matched
    assert "Khorog" in result.snippet and len(result.snippet) <= 320
    marked = {result.snippet[s:e].casefold() for s, e in result.highlights}
    assert {"detained", "khorog"} <= marked


def test_explain_says_what_fired_what_vetoed_and_the_score(default):
    report = default.explain("Pax Pamir review", "Pax Pamir is a board game; players are detained in Khorog.")
    assert "VETOED" in report and "Pax Pamir" in report
    assert "score" in report and "verdict: not matched" in report


# --- the rule language ---------------------------------------------------------------------------


def test_all_needs_one_term_of_each_group():
    m = matcher({"topics": {"t": {"all": [["Khorog"], ["detained", "arrested"]]}}})
    assert m.match("", "Two arrested in Khorog.").matched
    assert not m.match("", "A sunny day in Khorog.").matched


def test_near_counts_words_between_terms():
    m = matcher({"topics": {"t": {"near": [{"within": 3, "one_of": ["detained"], "and_one_of": ["Khorog"]}]}}})
    assert m.match("", "He was detained in central Khorog.").matched
    assert not m.match("", "He was detained. " + "Nothing else happened then. " * 3 + "Khorog is far.").matched


def test_not_vetoes_and_not_needs_requires_several():
    m = matcher({"topics": {"t": {"any": ["Khorog"], "not": ["tour", "hostel"], "not_needs": 2}}})
    assert m.match("", "A tour to Khorog.").matched
    result = m.match("", "A tour to Khorog with a hostel.")
    assert not result.matched and result.vetoed == ("t",)


def test_min_score_drops_a_weak_single_mention():
    m = matcher({"topics": {"t": {"any": ["Khorog"], "min_score": 2}}})
    filler = "Nothing to see here. " * 20  # 80 words: past the 60-word lead
    assert not m.match("", filler + "Somewhere far, Khorog.").matched  # body: 1 point
    assert m.match("", "Khorog today. " + filler).matched  # lead: 2 points
    assert m.match("Khorog", filler).matched  # title: 3 points


def test_a_user_regex_runs_on_folded_text_and_whole_words():
    m = matcher({"topics": {"t": {"any": [r"re: \d+ (people )?(were )?detained"]}}})
    assert m.match("", "Police said 70 people, were detained.").matched
    assert not m.match("", "A070x detained.").matched


def test_a_hostile_regex_cannot_hang_the_matcher():
    import time

    m = matcher({"topics": {"t": {"any": ["re: (a+)+b"]}}})
    start = time.perf_counter()
    m.match("", "a" * 50_000 + "!")
    assert time.perf_counter() - start < 1.0


def test_aliases_and_weights():
    m = matcher({
        "aliases": {"khorog": ["Khorog", "Khorugh", "Хорог*"]},
        "topics": {"t": {"any": [{"term": "@khorog", "weight": 2}], "min_score": 2}},
    })
    result = m.match("", "Вчера в Хороге.")
    assert result.matched and result.hits[0].score == 4  # weight 2 × lead 2


def test_persian_half_space_and_arabic_letter_variants_fold():
    m = matcher({"topics": {"t": {"all": [["خاروغ"], ["بازداشت"]]}}})
    assert m.match("", "سه جوان در خاروغ بازداشت\u200cشدند").matched
    m2 = matcher({"topics": {"t": {"any": ["نیروهای"]}}})
    assert m2.match("", "نيروهاي دولتي").matched  # Arabic yeh written for Persian yeh


# --- the prefilter before extraction ------------------------------------------------------------

def _shipped_matcher():
    from monitor.relevance.matcher import Matcher
    from monitor.relevance.keywords import load_rules
    from tests.conftest import PROJECT

    return Matcher(load_rules(PROJECT / "keywords.yaml"))


def test_a_page_without_any_keyword_is_not_worth_extracting():
    page = "<html><body><h1>Markets close higher</h1><p>Shares rose in Tokyo and London.</p></body></html>"
    assert _shipped_matcher().could_match(page) is False


@pytest.mark.parametrize("page", [
    "<p>Security forces detained activists in Khorog on Tuesday.</p>",
    "<p>В Хо<b>роге</b> задержаны пятеро жителей.</p>",  # a term split by markup
    "<p>В &#1061;&#1086;&#1088;&#1086;&#1075;&#1077; задержаны пятеро.</p>",  # entity-encoded Cyrillic
    "<p>Дар шаҳри Хоруғ боздошт шуданд.</p>",  # Tajik letters
    "<aside><a href='/x'>Pamiri activists sentenced</a></aside><main>Football results</main>",  # a sidebar
    "<p>ВМКБ: ду нафар боздошт шуданд.</p>",
])
def test_a_page_that_mentions_a_term_anywhere_is_extracted(page):
    assert _shipped_matcher().could_match(page) is True


def test_the_prefilter_is_off_when_a_positive_term_is_an_expert_regex(tmp_path):
    from monitor.relevance.matcher import Matcher
    from monitor.relevance.keywords import load_rules

    rules = tmp_path / "k.yaml"
    rules.write_text('topics:\n  numbers:\n    any: ["re: \\\\d+ detained"]\n', encoding="utf-8")
    assert Matcher(load_rules(rules)).could_match("<p>nothing here</p>") is True


def test_the_prefilter_never_skips_an_article_the_rules_catch():
    from monitor.relevance.samples import load_samples
    from tests.conftest import PROJECT

    matcher = _shipped_matcher()
    samples = load_samples(PROJECT / "tests" / "relevance" / "labelled")
    caught = [s for s in samples if matcher.match(s.title, s.text).matched]
    assert len(caught) > 20
    assert [s.title for s in caught if not matcher.could_match(f"{s.title}\n{s.text}")] == []

"""Precision and recall of the shipped keywords.yaml on labelled articles: ours, and the shared corpus.

Our set (tests/relevance) is short synthetic articles in English, Russian, Tajik and Persian written for this
project: relevant stories, near misses and distractors. The shared corpus (../shared/corpus) is real material
used to measure only; those tests skip when it is absent.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from monitor.evaluate import RELEVANT, evaluate, load_samples, run_eval
from monitor.match import Matcher
from monitor.rules import load_rules

ROOT = Path(__file__).resolve().parents[1]
OURS = ROOT / "tests" / "relevance"
SHARED = ROOT.parent / "shared" / "corpus"
KEYWORDS = ROOT / "keywords.yaml"


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(load_rules(KEYWORDS))


def test_our_set_is_big_enough_and_covers_three_languages():
    samples = load_samples(OURS)
    assert len(samples) >= 60
    for lang in ("en", "ru", "tg"):
        labels = {s.label for s in samples if s.lang == lang}
        assert labels == {"relevant", "not_relevant"}, lang


@pytest.mark.parametrize("lang", ["en", "ru", "tg", "fa"])
def test_the_default_keywords_catch_our_stories_in_each_language(matcher, lang):
    rep = evaluate([s for s in load_samples(OURS) if s.lang == lang], matcher)
    tally = rep.by_lang[lang]
    assert tally.recall >= 0.95, [s.path.name for s, _ in rep.misses]
    assert tally.precision >= 0.9, [s.path.name for s, _ in rep.false_alarms]


def test_urgent_stories_are_urgent_and_others_are_not(matcher):
    for path in sorted(OURS.glob("*.txt")):
        head = path.read_text(encoding="utf-8").split("TITLE:")[0]
        samples = [s for s in load_samples(OURS) if s.path == path]
        result = matcher.match(samples[0].title, samples[0].text)
        if "# urgent: yes" in head:
            assert result.urgent, path.name
        elif samples[0].label != RELEVANT:
            assert not result.urgent, path.name


def test_monitor_eval_prints_precision_and_recall_per_language():
    out = io.StringIO()
    assert run_eval(OURS, KEYWORDS, out) == 0
    text = out.getvalue()
    assert "precision" in text and "recall" in text
    for lang in ("en", "ru", "tg", "ALL"):
        assert any(line.startswith(lang) for line in text.splitlines()), lang


def test_an_unlabelled_folder_is_refused_until_a_label_is_given(tmp_path):
    (tmp_path / "a.txt").write_text("TITLE: Khorog\n\nDetained in Khorog.\n", encoding="utf-8")
    out = io.StringIO()
    assert run_eval(tmp_path, KEYWORDS, out) == 2 and "no label" in out.getvalue()
    assert run_eval(tmp_path, KEYWORDS, io.StringIO(), label="relevant") == 0


needs_shared = pytest.mark.skipif(not (SHARED / "labelled" / "labels.tsv").exists(), reason="../shared/corpus absent")


@needs_shared
def test_shared_labelled_corpus_recall_and_precision(matcher):
    rep = evaluate(load_samples(SHARED / "labelled"), matcher)
    assert rep.overall.recall >= 0.95, [s.path.name for s, _ in rep.misses]
    assert rep.overall.precision >= 0.9, [s.path.name for s, _ in rep.false_alarms]


@pytest.mark.skipif(not (SHARED / "pages").is_dir(), reason="../shared/corpus absent")
def test_shared_pages_that_merely_mention_tajikistan_or_detention_are_not_matched(matcher):
    rep = evaluate(load_samples(SHARED / "pages", label="not relevant"), matcher)
    assert rep.overall.fp == 0, [s.path.name for s, _ in rep.false_alarms]

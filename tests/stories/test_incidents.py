"""Reports become incidents, across languages and outlets, in the state (our own labelled texts).

The labelled folder tests/stories/incidents-labelled/ holds six events: one detention in Khorog reported in
English, Russian, Tajik and Persian; another man's detention in Khorog on the same day (a hard negative); a
killing in Khorog in English and Persian; the Rushan killings of May 2022 and a 2026 detention story that
recalls them (a hard negative); the first detainee's later sentence in English and Tajik.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.models import Article, FeedEntry, MatchResult
from monitor.relevance.incident import IncidentReader
from monitor.relevance.keywords import load_rules
from monitor.relevance.persons import person_key
from monitor.stories.incident_eval import evaluate, load_folder
from monitor.stories.incidents import Grouper, from_json
from tests.conftest import PROJECT

LABELLED = Path(__file__).parent / "incidents-labelled"


@pytest.fixture(scope="module")
def reader() -> IncidentReader:
    return IncidentReader(load_rules(PROJECT / "keywords.yaml"))


@pytest.fixture(scope="module")
def samples():
    return load_folder(LABELLED)


def _file_all(store, reader, samples) -> dict[str, set[int]]:
    """Every labelled report as a story of its own, filed as the pipeline files it: label → incident ids."""
    grouper = Grouper(store)
    out: dict[str, set[int]] = {}
    for s in samples:
        entry = FeedEntry(feed=s.outlet, url=s.url, title=s.title, published=s.published)
        with store.transaction():
            item = store.record_item(feed=s.outlet, guid=None, url=s.url, url_key=s.url, status="matched")
            story = store.add_story(item, Article(entry, s.url, s.title, s.text, s.published, s.published, "ab"),
                                    MatchResult())
            record = reader.read(s.title, s.text, s.published, s.lang)
            out.setdefault(s.incident, set()).add(grouper.assign(story, record, s.published, s.published))
    return out


def test_each_event_is_one_incident_whatever_the_language_or_outlet(store, reader, samples):
    filed = _file_all(store, reader, samples)
    assert all(len(ids) == 1 for ids in filed.values()), filed
    assert len({i for ids in filed.values() for i in ids}) == len(filed)  # and no two events share one
    detention = filed["nazarov-detention"].pop()
    rows = store.incident_reports_for([detention])
    assert sorted(r["language"] for r in rows) == ["en", "fa", "ru", "tg"]
    record = from_json(next(r["record"] for r in store.incidents_since("2026-12-01") if r["id"] == detention))
    assert (record.act, record.place, record.date) == ("detention", "Khorog", "2026-12-05")


def test_a_detained_persons_later_sentence_is_a_new_incident_sharing_the_person(store, reader, samples):
    filed = _file_all(store, reader, samples)
    case = store.incidents_of_person(person_key("Алишер Назаров"))
    assert case == sorted(filed["nazarov-detention"] | filed["nazarov-sentence"])


def test_the_recall_of_may_2022_does_not_join_the_may_2022_incident(store, reader, samples):
    filed = _file_all(store, reader, samples)
    may = store.incidents_since("2022-01-01")[0]
    assert may["anchor"] == "2022-05-18" and {may["id"]} == filed["rushan-killing-2022"]
    assert len(store.incident_reports_for([may["id"]])) == 1


def test_monitor_eval_scores_grouping_and_fields_on_the_labelled_folder(reader, samples):
    scores = evaluate(samples, reader)
    assert (scores.reports, scores.incidents) == (12, 6)
    assert (scores.precision, scores.recall) == (1.0, 1.0)
    assert scores.fields["act"] == (12, 12) and scores.mistakes == []


def test_the_name_and_property_classes_score_on_their_own_labelled_folder(reader):
    """tests/stories/incidents-names: three events in 3-4 languages, written before the rules (see its README)."""
    scores = evaluate(load_folder(Path(__file__).parent / "incidents-names"), reader)
    assert (scores.reports, scores.incidents) == (11, 3)
    assert (scores.precision, scores.recall) == (1.0, 1.0)
    assert scores.fields["victims"] == (11, 11) and scores.fields["act"] == (11, 11), scores.mistakes

"""A researcher reviews the draft incidents: confirms and corrects fields, merges two incidents, splits one. Each
action is kept with who, when and what was there before, and a later report never overwrites what a researcher
confirmed or corrected. Stories stored before incidents existed are filed by one idempotent rebuild."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from monitor import clock
from monitor.models import Article, FeedEntry, MatchResult
from monitor.relevance.keywords import load_rules
from monitor.stories.incident_eval import load_folder
from monitor.stories.incident_export import incident_records, write_jsonl
from monitor.stories.incident_review import ReviewError, confirm, correct, merge, split
from monitor.stories.incidents import IncidentDesk, from_json
from tests.conftest import PROJECT

LABELLED = Path(__file__).parent / "incidents-labelled"


@pytest.fixture(scope="module")
def rules():
    return load_rules(PROJECT / "keywords.yaml")


@pytest.fixture(scope="module")
def desk_reader(rules):
    """One compiled reader for the module (the desk compiles it at the first story otherwise)."""
    from monitor.relevance.incident import IncidentReader

    return IncidentReader(rules)


def store_reports(store, samples, hostile: str = "") -> dict[str, list[int]]:
    """The labelled reports as stories, not yet filed under incidents (a state from before incidents):
    label → story ids. `hostile` is appended to the English title of the Nazarov detention (escaping tests)."""
    out: dict[str, list[int]] = {}
    for s in samples:
        entry = FeedEntry(feed=s.outlet, url=s.url, title=s.title, published=s.published)
        title = s.title + (hostile if s.path.name == "nazarov-detention.en.txt" else "")
        with store.transaction():
            item = store.record_item(feed=s.outlet, guid=None, url=s.url, url_key=s.url, status="matched")
            story = store.add_story(item, Article(entry, s.url, title, s.text, s.published, s.published, "ab"),
                                    MatchResult())
        out.setdefault(s.incident, []).append(story)
    return out


def _desk(rules, store, reader) -> IncidentDesk:
    desk = IncidentDesk(rules, store)
    desk._reader = reader
    return desk


def _record(store, incident_id: int):
    return from_json(store.incident(incident_id)["record"])


def test_a_rebuild_files_old_stories_once_and_later_reports_keep_the_researchers_corrections(store, rules,
                                                                                            desk_reader):
    samples = load_folder(LABELLED)
    late = next(s for s in samples if s.path.name == "nazarov-detention.tg.txt")
    stories = store_reports(store, [s for s in samples if s is not late])
    desk = _desk(rules, store, desk_reader)
    assert desk.file_unfiled() == 11 and desk.file_unfiled() == 0  # idempotent
    detention = store.incident_of_story(stories["nazarov-detention"][0])
    assert _record(store, detention).perpetrators == ("gknb",)

    assert correct(store, detention, "perpetrators", "police", who="Dilnoza", note="the family says police") == "draft"
    confirm(store, detention, "date", who="Dilnoza")
    correct(store, detention, "wounded", "", who="web")  # "none wounded" is a researcher's finding too

    (late_story,) = store_reports(store, [late]).values()
    assert desk.file_unfiled() == 1
    assert store.incident_of_story(late_story[0]) == detention  # it still joins its incident
    record = _record(store, detention)
    assert record.perpetrators == ("police",) and record.date == "2026-12-05" and record.wounded is None
    assert "perpetrators" not in dict(record.evidence)  # the draft's sentence no longer stands for the field

    history = store.incident_reviews(detention)
    assert [(h["action"], h["field"], h["who"]) for h in history] == [
        ("correct", "perpetrators", "Dilnoza"), ("confirm", "date", "Dilnoza"), ("correct", "wounded", "web")]
    first = history[0]
    assert json.loads(first["previous"]) == "gknb" and json.loads(first["value"]) == "police"
    assert abs(datetime.fromisoformat(first["at"]) - clock.now()) < timedelta(minutes=5)  # the suite's clock
    assert first["note"] == "the family says police"

    assert confirm(store, detention, "", who="Dilnoza") == "confirmed"  # the whole record
    out = io.StringIO()
    write_jsonl(incident_records(store, ids={detention}), out)
    line = json.loads(out.getvalue())
    assert line["status"] == "confirmed" and line["perpetrators"] == ["police"] and len(line["reports"]) == 4


def test_every_field_confirmed_makes_the_incident_confirmed(store, rules, desk_reader):
    samples = [s for s in load_folder(LABELLED) if s.incident == "shoev-detention"]
    store_reports(store, samples)
    _desk(rules, store, desk_reader).file_unfiled()
    (row,) = store.incidents_since("")
    record = from_json(row["record"])
    stated = [f for f in ("act", "date", "place", "victims", "perpetrators") if getattr(record, f)]
    for name in stated[:-1]:
        assert confirm(store, row["id"], name) == "draft"
    assert confirm(store, row["id"], stated[-1]) == "confirmed"


def test_split_then_merge_back_moves_reports_and_the_jsonl_lists_only_the_survivor(store, rules, desk_reader):
    samples = [s for s in load_folder(LABELLED) if s.incident in ("nazarov-detention", "shoev-detention")]
    stories = store_reports(store, samples)
    _desk(rules, store, desk_reader).file_unfiled()
    detention = store.incident_of_story(stories["nazarov-detention"][0])
    persian = next(s for s, smp in zip(stories["nazarov-detention"], [x for x in samples
                   if x.incident == "nazarov-detention"]) if smp.lang == "fa")

    with pytest.raises(ReviewError, match="not none and not all"):
        split(store, detention, stories["nazarov-detention"])
    with pytest.raises(ReviewError, match="no report from story"):
        split(store, detention, [stories["shoev-detention"][0]])
    new = split(store, detention, [persian], who="Dilnoza")
    assert store.incident_of_story(persian) == new and _record(store, new).act == "detention"
    assert len(store.incident_reports_for([detention])) == 3

    merge(store, detention, new, who="Farrukh")
    assert store.incident(new)["merged_into"] == detention
    assert len(store.incident_reports_for([detention])) == 4
    assert new not in store.incidents_of_person(_record(store, detention).victims[0].key)
    ids = [r["id"] for r in incident_records(store)]
    assert detention in ids and new not in ids
    with pytest.raises(ReviewError, match=f"merged into incident {detention}"):
        confirm(store, new, "act")
    with pytest.raises(ReviewError, match="into itself"):
        merge(store, detention, detention)
    assert [h["action"] for h in store.incident_reviews(detention)] == ["split", "merge"]
    assert [(h["action"], h["who"]) for h in store.incident_reviews(new)] == [("split_from", "Dilnoza"),
                                                                          ("merged_into", "Farrukh")]


@pytest.mark.parametrize("field, value, message", [
    ("date", "last Saturday", "is not a date"), ("act", "arrest", "unknown act"),
    ("killed", "two", "is not a count"), ("place", "Khorog, Kabul", "unknown GBAO district"),
    ("colour", "red", "unknown field")])
def test_a_correction_that_cannot_be_read_is_one_clear_line(field, value, message):
    from monitor.stories.incident_review import parse_value

    with pytest.raises(ReviewError, match=message):
        parse_value(field, value)


def test_corrections_are_read_in_the_forms_the_page_shows():
    from monitor.stories.incident_review import parse_value

    assert parse_value("date", "2026-12") == {"date": "2026-12-01", "date_precision": "month"}
    assert parse_value("date", "2026-11-30 week") == {"date": "2026-11-30", "date_precision": "week"}
    assert parse_value("place", "vamar") == {"place": "Vamar", "district": "Rushan"}
    assert parse_value("place", "Pastkhuf, Roshtqala") == {"place": "Pastkhuf", "district": "Roshtqala"}
    assert parse_value("sentence_years", "life")["sentence_years"] == 99.0
    victims = parse_value("victims", "Alisher Nazarov, Алишер Назаров")["victims"]
    assert victims[0].key == victims[1].key


def test_a_count_written_with_other_digits_or_too_large_is_one_clear_error():
    from monitor.stories.incident_review import ReviewError, parse_value

    for text in ("²", "٣", "99999999999999999999999"):
        with pytest.raises(ReviewError):
            parse_value("killed", text)


def test_a_confirmed_incident_is_a_draft_again_when_a_later_report_adds_a_field_nobody_checked(store, rules,
                                                                                              desk_reader):
    """Dilnoza confirmed every field of the Khorog shooting as the first outlet told it. A second outlet then
    says two others were wounded: that count is in the record now, and nobody checked it, so the incident must
    not be listed as confirmed any more (her confirmations stay)."""
    from types import SimpleNamespace

    published = datetime(2026, 12, 7, 8, 0, tzinfo=clock.now().tzinfo)

    def report(outlet: str, url: str, text: str):
        return SimpleNamespace(outlet=outlet, url=url, title="Man shot dead in Khorog", published=published,
                               text=text, path=Path(url), incident="khorog-killing")

    desk = _desk(rules, store, desk_reader)
    (first,) = store_reports(store, [report("Pamir Watch", "https://pamir-watch.example/shot",
                                            "A man was shot dead by police in Khorog yesterday, residents said.")])[
        "khorog-killing"]
    desk.file_unfiled()
    incident = store.incident_of_story(first)
    assert _record(store, incident).wounded is None
    for name in ("act", "date", "place", "perpetrators"):
        status = confirm(store, incident, name, who="Dilnoza")
    assert status == "confirmed" and store.incident(incident)["status"] == "confirmed"

    (second,) = store_reports(store, [report("Asia-Plus", "https://asia-plus.example/khorog",
                                             "A man was shot dead by police in Khorog yesterday. Two other people "
                                             "were wounded, residents said.")])["khorog-killing"]
    desk.file_unfiled()
    assert store.incident_of_story(second) == incident, "the second outlet's report joins the same incident"
    assert _record(store, incident).wounded == 2
    assert store.incident(incident)["status"] == "draft", "a count nobody reviewed is not confirmed"
    out = io.StringIO()
    write_jsonl(incident_records(store, ids={incident}), out)
    assert json.loads(out.getvalue())["status"] == "draft"
    assert confirm(store, incident, "wounded", who="Dilnoza") == "confirmed", "her other confirmations stand"

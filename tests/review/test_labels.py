"""Readers' labels: a verdict on a story a digest showed, or a miss found elsewhere, kept in the state."""

from __future__ import annotations

import pytest

from monitor.store import Store
from tests.stories.test_export import BODY, add


def test_a_reader_marks_a_story_and_changes_their_mind(store: Store) -> None:
    story = add(store, "https://ipsnews.net/a", title="Lawyers speak")
    assert store.label_for(story) is None
    first = store.add_label(story_id=story, label="irrelevant", note="tyres, not Khorog")
    assert store.label_for(story) == "irrelevant"
    again = store.add_label(story_id=story, label="relevant", source="web")
    assert again == first and store.label_for(story) == "relevant"  # replaced, not doubled
    (label,) = store.labels()
    assert (label.story_id, label.label, label.note, label.source) == (story, "relevant", None, "web")
    assert label.title == "Lawyers speak" and label.text == BODY and label.url == "https://ipsnews.net/a?from=rss"
    assert label.topics == ("gbao",)
    other = add(store, "https://ipsnews.net/b")
    assert store.labels_for([story, other]) == {story: "relevant"}  # a listing page asks once


def test_a_miss_found_elsewhere_keeps_its_own_text(store: Store) -> None:
    text = "Хорог: суд приговорил жителя Рушана к 18 годам. " * 20
    store.add_label(story_id=None, label="relevant", url="https://ozodi.example/x", title="Суд в Хороге",
                    text=text, language="ru")
    store.add_label(story_id=None, label="relevant", url="https://ozodi.example/x", note="seen on Telegram")
    (label,) = store.labels()
    assert (label.story_id, label.url, label.title, label.language, label.note) == (
        None, "https://ozodi.example/x", "Суд в Хороге", "ru", "seen on Telegram")
    assert label.text == text
    stored = store.db.execute("SELECT length(text_z) FROM labels").fetchone()[0]
    assert stored < len(text.encode()) / 5  # kept compressed


@pytest.mark.parametrize("kwargs, message", [
    ({"story_id": 999, "label": "relevant"}, "no story 999"),
    ({"story_id": None, "label": "maybe", "text": "x"}, "unknown label 'maybe'"),
    ({"story_id": None, "label": "relevant"}, "needs the article's text"),
])
def test_a_wrong_label_is_refused_and_nothing_is_kept(store: Store, kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        store.add_label(**kwargs)
    assert store.labels() == []

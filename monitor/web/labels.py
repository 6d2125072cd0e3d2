"""Triage from the web writes the same labels as `monitor label` (issue #11 owns the labels and their table).

This adapter is the one place that knows the labels API: `Store.add_label(*, story_id, label, note=None,
..., source="cli")` with the labels "relevant" and "irrelevant", and `Store.label_for(story_id)`. One label
per story: marking it again replaces the first verdict, as `monitor label` does.
"""

from __future__ import annotations

LABELS = {"relevant": "relevant", "irrelevant": "not relevant"}


class LabelsUnavailable(Exception):
    """This build of the monitor has no labels store."""


def available(store) -> bool:
    return callable(getattr(store, "add_label", None))


def add_label(store, story_id: int, label: str, note: str | None = None) -> None:
    if label not in LABELS:
        raise ValueError(f"unknown label {label!r}: use relevant or irrelevant")
    if not available(store):
        raise LabelsUnavailable("labels are not available in this build (they come with `monitor label`)")
    store.add_label(story_id=story_id, label=label, note=note or None, source="web")


def current(store, story_id: int) -> str | None:
    """The story's label (relevant / irrelevant) when it has one, shown on the story page."""
    label_for = getattr(store, "label_for", None)
    return label_for(story_id) if callable(label_for) else None


def for_page(store, story_ids: list[int]) -> dict[int, str]:
    """{story id: label shown} for a page of the list, in one query where the labels store has one."""
    many = getattr(store, "labels_for", None)
    if callable(many):
        found = many(story_ids)
    else:
        found = {i: current(store, i) for i in story_ids}
    return {i: LABELS[v] for i, v in found.items() if v in LABELS}

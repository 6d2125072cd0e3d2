"""Triage from the web writes the same labels as `monitor label` (issue #11 owns the labels and their table).

This adapter is the one place that knows the labels API: `Store.add_label(*, story_id, label, note=None,
..., source="cli")` with the labels "relevant" and "irrelevant". Where the store has no such method yet,
triage says so instead of inventing a second labels table.
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


def story_labels(store, story_id: int) -> list:
    """The labels a story has, when the labels store can list them (shown on the story page)."""
    for name in ("story_labels", "labels_for"):
        method = getattr(store, name, None)
        if callable(method):
            try:
                return list(method(story_id))
            except TypeError:
                continue
    return []

"""Bulk triage without JavaScript: tick stories in the list, choose the verdict, press the one button. The form
carries the CSRF token and is refused without it; the labels are the ones `monitor label` writes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitor.store import Store
from tests.support.webarchive import build_archive
from tests.web.test_web import browse, config, found


@pytest.fixture
def archive(tmp_path) -> tuple[Path, dict[str, int]]:
    path = tmp_path / "monitor.db"
    return path, build_archive(path)


def test_ticked_stories_are_labelled_with_one_button_and_a_csrf_token(archive):
    state, ids = archive
    picked = [ids["Ozodi RU"], ids["HRW"]]

    async def triage(c):
        home = await c.get("/", params={"source": "Ozodi RU"})
        token = re.search(r'name="csrf" value="([^"]+)"', home.text).group(1)
        form = {"story": [str(i) for i in picked], "label": "relevant", "back": "source=Ozodi+RU"}
        refused = await c.post("/label", data=form)
        done = await c.post("/label", data={**form, "csrf": token}, headers={"origin": "http://127.0.0.1:8750"})
        after = await c.get(done.headers["location"])
        return home, refused, done, after

    (home, refused, done, after), = browse(config(state), triage)
    page = home.text
    assert "<script" not in page
    assert len(re.findall(r'<input type="checkbox" name="story" value="\d+"', page)) == len(found(page))
    assert len(re.findall(r'<button type="submit" name="bulk"', page)) == 1, "one button"
    assert refused.status_code == 403
    assert done.status_code == 303 and done.headers["location"].startswith("/?source=Ozodi+RU")
    assert "Marked 2 stories “relevant”" in after.text
    store = Store(state)
    try:
        assert {lb.story_id: (lb.label, lb.source) for lb in store.labels()} == {i: ("relevant", "web") for i in picked}
    finally:
        store.close()


def test_read_only_has_no_checkboxes_and_refuses_the_post(archive):
    state, ids = archive
    home, post = browse(config(state, read_only=True), lambda c: c.get("/"),
                        lambda c: c.post("/label", data={"story": [str(ids["HRW"])], "label": "relevant"}))
    assert 'type="checkbox"' not in home.text and post.status_code in (404, 405)


def test_more_than_200_ticked_is_refused_whole_and_a_link_cannot_claim_a_marking(archive):
    state, ids = archive

    async def triage(c):
        home = await c.get("/")
        form = {"story": [str(i) for i in range(1, 251)], "label": "irrelevant", "back": "",
                "csrf": re.search(r'name="csrf" value="([^"]+)"', home.text).group(1)}
        too_many = await c.post("/label", data=form, headers={"origin": "http://127.0.0.1:8750"})
        forged = await c.get("/", params={"triaged": "9999", "verdict": "relevant"})
        guessed = await c.get("/", params={"triaged": "9999", "verdict": "relevant", "seal": "0" * 20})
        story = await c.get(f"/story/{ids['HRW']}", params={"labelled": "relevant"})
        return too_many, forged, guessed, story

    (too_many, forged, guessed, story), = browse(config(state), triage)
    assert too_many.status_code == 400
    assert "At most 200 stories can be marked at once" in too_many.text and "nothing was marked" in too_many.text
    store = Store(state)
    try:
        assert not list(store.labels()), "nothing was marked"
    finally:
        store.close()
    for page in (forged, guessed):
        assert "Marked 9999" not in page.text and 'class="done"' not in page.text
    assert 'class="done"' not in story.text  # nobody marked it: the page does not say so

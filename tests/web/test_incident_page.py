"""The incident pages a researcher confirms a record on: the draft record with each field's sentence, the
reports with their outlets and languages, forms that work without JavaScript (POST, the label forms' CSRF
token), the history, and nothing of it in a read-only view."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitor.store import Store
from monitor.stories.incident_eval import load_folder
from monitor.stories.incidents import IncidentDesk
from tests.stories.test_incident_review import LABELLED, store_reports
from tests.web.test_web import RULES, browse, config

HOSTILE = ' <script>alert("x")</script>'


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    """The labelled reports stored as stories before incidents existed, then filed by the rebuild."""
    path = tmp_path_factory.mktemp("incident-page") / "monitor.db"
    store = Store(path)
    try:
        stories = store_reports(store, load_folder(LABELLED), hostile=HOSTILE)
        assert IncidentDesk(RULES, store).file_unfiled() == 12
        incidents = {label: store.incident_of_story(ids[0]) for label, ids in stories.items()}
    finally:
        store.close()
    return path, incidents


def _csrf(page) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def test_the_incident_page_shows_each_fields_sentence_and_every_report_escaped(archive):
    state, incidents = archive
    detention = incidents["nazarov-detention"]
    listing, page, story = browse(config(state), lambda c: c.get("/incidents"),
                                  lambda c: c.get(f"/incidents/{detention}"), lambda c: c.get("/story/3"))
    assert listing.status_code == 200 and f'href="/incidents/{detention}"' in listing.text
    assert len(re.findall(r'<tr><td><a href="/incidents/\d+">', listing.text)) == 6  # six events, twelve reports
    html = page.text
    assert "reported by 4 outlets in English, Russian, Tajik, Persian" in html
    place = html.split('id="field-place"')[1].split("</tr>")[0]
    assert "Khorog" in place and re.search(r'<q dir="auto"><bdi>[^<]*Khorog', place)
    assert len(re.findall(r'<a href="/story/\d+"', html)) == 4
    assert "<script" not in html and "&lt;script&gt;" in html  # a hostile title is text, not markup
    assert '<bdi dir="auto">Озод Хабар</bdi>' in html
    assert re.search(r'Incident <a href="/incidents/\d+">\d+</a>', story.text)  # and back from a story


def test_confirm_correct_split_and_merge_are_forms_with_the_csrf_token_and_kept_in_the_history(archive):
    state, incidents = archive
    detention = incidents["nazarov-detention"]
    url = f"/incidents/{detention}"

    async def review(c):
        page = await c.get(url)
        token = _csrf(page)
        stories = re.findall(r'name="story" value="(\d+)"', page.text)
        no_token = await c.post(f"{url}/review", data={"action": "confirm", "field": "act"})
        foreign = await c.post(f"{url}/review", data={"action": "confirm", "field": "act", "csrf": token},
                               headers={"origin": "https://evil.example"})
        ok = await c.post(f"{url}/review", data={"action": "correct", "field": "perpetrators", "value": "police",
                                                 "note": "the family's account", "csrf": token})
        bad = await c.post(f"{url}/review", data={"action": "correct", "field": "date", "value": "soon",
                                                  "csrf": token})
        split = await c.post(f"{url}/review", data={"action": "split", "story": stories[-1:], "csrf": token})
        new = int(split.headers["location"].split("?")[0].rsplit("/", 1)[1])
        merged = await c.post(f"{url}/review", data={"action": "merge", "other": str(new), "csrf": token})
        whole = await c.post(f"{url}/review", data={"action": "confirm", "csrf": token})
        done = await c.get(whole.headers["location"])
        gone = await c.get(f"/incidents/{new}")
        listing = await c.get("/incidents")
        confirmed = await c.get("/incidents", params={"status": "confirmed"})
        return no_token, foreign, ok, bad, split, new, merged, done, gone, listing, confirmed

    (no_token, foreign, ok, bad, split, new, merged, done, gone, listing, confirmed), = browse(config(state), review)
    assert no_token.status_code == 403 and foreign.status_code == 403
    assert ok.status_code == split.status_code == merged.status_code == 303
    assert bad.status_code == 400 and "is not a date" in bad.text
    html = done.text
    assert '<span class="status confirmed">confirmed</span>' in html
    perps = html.split('id="field-perpetrators"')[1].split("</tr>")[0]
    assert "police" in perps and "corrected</span> by web" in perps
    history = html.split("<h2>History</h2>")[1]
    assert "web: <bdi dir=\"auto\">corrected perpetrators: “gknb” → “police”</bdi>" in history
    assert "the family&#39;s account" in history and f"split stories" in history
    assert f"merged incident {new} into this one" in history and "confirmed the whole record" in history
    assert f'merged into <a href="/incidents/{detention}">' in gone.text and "Merge it into" not in gone.text
    assert f'href="/incidents/{new}"' not in listing.text
    assert re.findall(r'<tr><td><a href="/incidents/(\d+)">', confirmed.text) == [str(detention)]  # the filter
    assert len(re.findall(r'<a href="/story/\d+"', html)) == 4


def test_read_only_shows_the_record_without_a_form_and_refuses_the_post(archive):
    state, incidents = archive
    url = f"/incidents/{incidents['khorog-killing']}"
    page, post = browse(config(state, read_only=True), lambda c: c.get(url),
                        lambda c: c.post(f"{url}/review", data={"action": "confirm"}))
    assert page.status_code == 200 and "<form" not in page.text.split("<main>")[1]
    assert post.status_code in (404, 405)

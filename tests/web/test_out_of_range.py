"""A URL or a filter no archive can hold (a date in the year 9999 or 1, an id past SQLite's largest integer) is a
mistake said on the page, or a 404, never a server error; GET and POST alike."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitor.store.common import MAX_ID
from tests.support.webarchive import build_archive
from tests.web.test_web import browse, config, found

TOO_BIG = "99999999999999999999"  # 20 digits
ONE_PAST = str(MAX_ID + 1)  # as many digits as the largest id


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    path = tmp_path_factory.mktemp("out-of-range") / "monitor.db"
    return path, build_archive(path)


def test_a_date_out_of_range_in_the_list_is_said_on_the_page(archive):
    state, ids = archive
    future, past, both, fine = browse(
        config(state),
        lambda c: c.get("/", params={"until": "9999-12-31"}),
        lambda c: c.get("/", params={"since": "0001-01-01"}),
        lambda c: c.get("/", params={"since": "0001-01-01", "until": "9999-12-31", "q": "Khorog"}),
        lambda c: c.get("/", params={"since": "1970-01-01", "until": "9000-12-31"}),
    )
    assert future.status_code == 200
    assert "9999-12-31" in future.text and "is out of range; write a date from 1970-01-01 to 9000-12-31" in future.text
    assert found(future.text) == [], "nothing listed: everything would look like the result"
    assert past.status_code == 200 and "0001-01-01" in past.text and "is out of range" in past.text
    assert both.status_code == 200 and both.text.count("is out of range") == 2
    assert fine.status_code == 200 and "out of range" not in fine.text
    assert set(found(fine.text)) == set(ids.values()), "the widest dates allowed list everything"


def test_a_date_out_of_range_in_an_export_or_the_atom_feed_is_a_clear_400(archive):
    state, _ = archive
    answers = browse(config(state), *(lambda c, path=path, params=params: c.get(path, params=params)
                                      for path in ("/feed.atom", "/export.csv", "/export.jsonl")
                                      for params in ({"until": "9999-12-31"}, {"since": "0001-01-01"})))
    for answer in answers:
        assert answer.status_code == 400, answer.request.url
        assert "is out of range; write a date from 1970-01-01 to 9000-12-31" in answer.text


def test_an_id_larger_than_the_archive_can_hold_is_not_found(archive):
    state, ids = archive
    paths = [f"/story/{TOO_BIG}", f"/story/{ONE_PAST}", f"/incidents/{TOO_BIG}", f"/story/{TOO_BIG}/raw.html.gz",
             f"/story/{TOO_BIG}/capture/1.warc.gz", f"/story/{ids['HRW']}/capture/{TOO_BIG}.warc.gz"]
    *pages, largest, leading_zeros = browse(config(state), *(lambda c, p=p: c.get(p) for p in paths),
                                            lambda c: c.get(f"/story/{MAX_ID}"),
                                            lambda c: c.get(f"/story/000{ids['HRW']}"))
    for page in pages:
        assert page.status_code == 404, page.request.url
        assert "There is nothing at this address." in page.text
    assert largest.status_code == 404 and f"There is no story {MAX_ID} in this archive." in largest.text
    assert leading_zeros.status_code == 200 and "Rushan: life sentences" in leading_zeros.text


def test_a_form_posted_to_an_id_larger_than_the_archive_can_hold_is_not_found(archive):
    state, _ = archive

    async def post(c):
        home = await c.get("/")
        token = re.search(r'name="csrf" value="([^"]+)"', home.text).group(1)
        origin = {"origin": "http://127.0.0.1:8750"}
        label = await c.post(f"/story/{TOO_BIG}/label", data={"label": "relevant", "csrf": token}, headers=origin)
        review = await c.post(f"/incidents/{ONE_PAST}/review", data={"action": "confirm", "field": "act",
                                                                    "csrf": token}, headers=origin)
        return label, review

    (label, review), = browse(config(state), post)
    assert label.status_code == 404 and review.status_code == 404
    assert "There is nothing at this address." in label.text

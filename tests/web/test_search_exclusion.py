"""A researcher who searches only for what to leave out (`-Khorog`) gets every story but those, and the same
stories in the page, its counts, the CSV and JSON Lines exports and the Atom feed, on SQLite and on PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import re
from xml.etree import ElementTree

import pytest

from tests.support.webarchive import build_archive
from tests.web.test_web import browse, config, found

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture(params=["sqlite", "postgresql"])
def archive(request, tmp_path):
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    ids = build_archive(tmp_path / "monitor.db", database_url=url)
    return config(tmp_path / "monitor.db", database_url=url), ids


def _everywhere(cfg, params: dict[str, str]) -> tuple[str, dict[str, set[int]]]:
    """The page's HTML, and the story ids of the page, the CSV, the JSON Lines and the Atom feed."""
    page, csv_, jsonl, atom = browse(cfg, *(lambda c, path=path: c.get(path, params=params) for path in
                                            ("/", "/export.csv", "/export.jsonl", "/feed.atom")))
    assert [r.status_code for r in (page, csv_, jsonl, atom)] == [200] * 4, csv_.text
    entries = ElementTree.fromstring(atom.content).findall(f"{ATOM}entry")
    return page.text, {
        "page": set(found(page.text)),
        "csv": {int(r["story_id"]) for r in csv.DictReader(io.StringIO(csv_.content.decode("utf-8-sig")))},
        "jsonl": {json.loads(line)["story_id"] for line in jsonl.text.splitlines()},
        "atom": {int(e.find(f"{ATOM}link").get("href").rsplit("/", 1)[1]) for e in entries},
    }


def test_a_search_of_exclusions_alone_lists_every_other_story_everywhere(archive):
    cfg, ids = archive
    html, lists = _everywhere(cfg, {"q": "-Khorog"})
    assert "no letters or digits" not in html
    assert all(v == {ids["HRW"]} for v in lists.values()), lists
    assert re.search(r"<h2>1 story found</h2>", html)
    # the language filter counts what the exclusion leaves: HRW is the one English story left
    assert re.search(r'<option value="en">English \(1\)</option>', html), html[:3000]
    assert re.search(r'<option value="ru">Russian \(0\)</option>', html)


def test_an_exclusion_leaves_out_a_story_whose_republication_has_the_word(archive):
    cfg, ids = archive
    everyone = set(ids.values())
    _, lists = _everywhere(cfg, {"q": "-permission"})  # only IPS's copy of the Eurasianet story says it
    assert all(v == everyone - {ids["Eurasianet"]} for v in lists.values()), lists
    _, lists = _everywhere(cfg, {"q": "Khorugh -permission"})
    assert all(ids["Eurasianet"] not in v and ids["Ozodi RU"] in v for v in lists.values()), lists


def test_an_exclusion_combines_with_the_topic_filter(archive):
    cfg, ids = archive
    _, everything = _everywhere(cfg, {"topic": "gbao_rights"})
    _, lists = _everywhere(cfg, {"q": "-Dushanbe", "topic": "gbao_rights"})
    assert ids["HRW"] in everything["page"]
    assert all(v == everything["page"] - {ids["HRW"]} for v in lists.values()), lists


def test_a_search_with_nothing_to_look_for_says_so_and_lists_nothing(archive):
    cfg, _ = archive
    page, export = browse(cfg, lambda c: c.get("/", params={"q": "- !!"}),
                          lambda c: c.get("/export.csv", params={"q": "- !!"}))
    assert "the search has no letters or digits to look for" in page.text
    assert found(page.text) == [] and "stories found" not in page.text
    assert export.status_code == 400 and "no letters or digits" in export.text

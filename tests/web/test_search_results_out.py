"""A search result leaves the web page: downloaded as CSV or JSON Lines (the same records as `monitor export`)
and subscribed to as an Atom feed, with every filter of the page kept."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from xml.etree import ElementTree

import pytest

from tests.support.webarchive import build_archive
from tests.web.test_web import browse, config

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    path = tmp_path_factory.mktemp("results-out") / "monitor.db"
    return path, build_archive(path)


def test_a_search_result_as_csv_jsonl_and_atom(archive):
    state, ids = archive
    params = {"q": "Хорог", "language": "ru"}
    home, csv_, jsonl, atom = browse(config(state), lambda c: c.get("/", params=params),
                                     lambda c: c.get("/export.csv", params=params),
                                     lambda c: c.get("/export.jsonl", params=params),
                                     lambda c: c.get("/feed.atom", params=params))
    assert 'href="/export.csv?q=%D0%A5' in home.text and 'type="application/atom+xml"' in home.text
    assert csv_.status_code == 200 and csv_.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv_.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(csv_.content.decode("utf-8-sig"))))
    assert {int(r["story_id"]) for r in rows} == {ids["Ozodi RU"]}
    records = [json.loads(line) for line in jsonl.text.splitlines()]
    assert [r["story_id"] for r in records] == [ids["Ozodi RU"]] and records[0]["raw_sha256"] is not None
    assert atom.headers["content-type"].startswith("application/atom+xml")
    feed = ElementTree.fromstring(atom.content)
    entries = feed.findall(f"{ATOM}entry")
    assert [e.find(f"{ATOM}title").text for e in entries] == ["В Хороге задержаны трое активистов"]
    link = entries[0].find(f"{ATOM}link").get("href")
    assert link.endswith(f"/story/{ids['Ozodi RU']}")


def test_web_text_in_the_atom_feed_is_escaped(archive):
    state, ids = archive
    (atom,) = browse(config(state), lambda c: c.get("/feed.atom", params={"source": "Untrusted feed"}))
    assert b"<script>" not in atom.content
    feed = ElementTree.fromstring(atom.content)  # well-formed
    assert feed.find(f"{ATOM}entry/{ATOM}title").text.startswith("<script>")


def test_the_atom_feed_links_to_web_base_url_whatever_host_the_request_names(archive, tmp_path):
    from dataclasses import replace

    from monitor.config.feeds import load_feeds

    state, ids = archive
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - name: HRW\n    url: https://hrw.example/rss\n"
                     "settings:\n  web_base_url: https://monitor.example.org/pamir/\n")
    cfg = replace(config(state, token="a-long-enough-test-token", loopback_only_hosts=False), feeds=load_feeds(feeds))
    (atom,) = browse(cfg, lambda c: c.get("/feed.atom", params={"source": "HRW"},
                                          headers={"authorization": "Bearer a-long-enough-test-token"}),
                     host="evil.example")
    assert atom.status_code == 200, atom.text
    feed = ElementTree.fromstring(atom.content)
    links = [e.get("href") for e in feed.iter(f"{ATOM}link")] + [e.text for e in feed.iter(f"{ATOM}id")]
    assert f"https://monitor.example.org/pamir/story/{ids['HRW']}" in links
    assert all(link.startswith("https://monitor.example.org/pamir/") for link in links), links
    assert b"evil.example" not in atom.content

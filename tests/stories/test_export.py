"""The evidence archive: every matched story and every outlet that ran it can be exported and shown."""

from __future__ import annotations

import base64
import csv
import gzip
import io
import json
from datetime import datetime, timedelta, timezone

import pytest

from monitor.cli.stories import show
from monitor.stories import export as archive
from monitor.models import Article, FeedEntry, MatchResult, TopicHit
from monitor.store import Store

T0 = datetime(2024, 3, 4, 12, 0, tzinfo=timezone.utc)
BODY = "Lawyers who take on cases from Gorno-Badakhshan say the space for defending Pamiris has closed. " * 5


def add(store: Store, url: str, *, topic: str = "gbao", fetched: datetime = T0, title: str = "Lawyers speak",
        raw: bytes | None = None) -> int:
    item_id = store.record_item(feed="ips", guid=None, url=url, url_key=url, status="matched")
    entry = FeedEntry(feed="ips", url=url, title=title, published=fetched - timedelta(hours=2))
    art = Article(entry=entry, final_url=url + "?from=rss", title=title, text=BODY, published=entry.published,
                  fetched_at=fetched, raw_sha256="ab" * 32)
    match = MatchResult(hits=(TopicHit(topic, 2.5, ("khorog",)),), snippet="Khorog")
    return store.add_story(item_id, art, match, gzip.compress(raw) if raw else None)


def add_copy(store: Store, story_id: int, url: str, feed: str, *, evidence: bool = True) -> None:
    item_id = store.record_item(feed=feed, guid=None, url=url, url_key=url, status="duplicate")
    entry = FeedEntry(feed=feed, url=url, title="Republished", published=T0)
    art = Article(entry=entry, final_url=url.replace("http:", "https:"), title="Republished", text=BODY + "Note.",
                  published=T0, fetched_at=T0 + timedelta(hours=1), raw_sha256="cd" * 32)
    store.add_story_source(story_id, item_id, feed, url, "Republished", article=art if evidence else None,
                           raw_html_gz=gzip.compress(b"<html>copy</html>") if evidence else None)


def test_a_jsonl_export_carries_the_evidence_of_every_source(store: Store) -> None:
    story = add(store, "https://ipsnews.net/a", raw=b"<html>original</html>")
    add_copy(store, story, "http://globalissues.org/a", "globalissues")
    add_copy(store, story, "https://civicus.org/a", "civicus", evidence=False)
    out = io.StringIO()
    assert archive.export(store, T0 - timedelta(days=1), None, "jsonl", out, include_raw=True) == 1
    (record,) = [json.loads(line) for line in out.getvalue().splitlines()]
    assert record["text"] == BODY and record["raw_sha256"] == "ab" * 32
    assert record["final_url"] == "https://ipsnews.net/a?from=rss" and record["fetched_at"].startswith("2024-03-04T12")
    assert gzip.decompress(base64.b64decode(record["raw_html_gz_base64"])) == b"<html>original</html>"
    gi, civicus = record["sources"]
    assert (gi["source"], gi["final_url"], gi["raw_sha256"], gi["has_raw_html"]) == (
        "globalissues", "https://globalissues.org/a", "cd" * 32, True)
    assert gi["text"].endswith("Note.")
    assert civicus["url"] == "https://civicus.org/a" and civicus["text"] is None  # only known from its feed


def test_export_keeps_to_the_dates_and_topic_asked_for(store: Store) -> None:
    add(store, "https://a.example/old", fetched=T0 - timedelta(days=30))
    add(store, "https://a.example/new", fetched=T0)
    add(store, "https://a.example/other", fetched=T0, topic="afghan-badakhshan")
    out = io.StringIO()
    assert archive.export(store, T0 - timedelta(days=1), "gbao", "jsonl", out) == 1
    assert json.loads(out.getvalue())["url"] == "https://a.example/new"
    assert archive.export(store, T0 - timedelta(days=60), None, "jsonl", io.StringIO()) == 3


def test_a_csv_export_has_a_row_per_source_and_no_live_formulas(store: Store) -> None:
    story = add(store, "https://ipsnews.net/a", title="=HYPERLINK(\"http://evil\")")
    add_copy(store, story, "https://globalissues.org/a", "globalissues")
    out = io.StringIO()
    assert archive.export(store, T0 - timedelta(days=1), None, "csv", out) == 1
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [(r["role"], r["source"]) for r in rows] == [("first", "ips"), ("also", "globalissues")]
    assert rows[0]["title"].startswith("'=") and rows[1]["raw_sha256"] == "cd" * 32
    assert rows[0]["topics"] == "gbao"


def test_an_unknown_format_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="jsonl, csv"):
        archive.export(store, T0, None, "xml", io.StringIO())


def test_show_prints_a_story_with_all_its_sources(store: Store) -> None:
    story = add(store, "https://ipsnews.net/a")
    add_copy(store, story, "https://globalissues.org/a", "globalissues")
    out = io.StringIO()
    assert show(store, story, out) == 0
    shown = out.getvalue()
    assert f"Story {story}: Lawyers speak" in shown and "waiting for the next digest" in shown
    assert "First seen: ips" in shown and "Also reported by (1): globalissues" in shown
    assert "sha-256:     " + "cd" * 32 in shown and BODY.strip() in shown


def test_show_says_clearly_when_there_is_no_such_story(store: Store) -> None:
    out = io.StringIO()
    assert show(store, 404, out) == 1
    assert "no story with id 404" in out.getvalue()

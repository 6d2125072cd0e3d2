"""The same state on both backends: hostile input, a newer schema, a held write lock, an unreachable server."""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime, timezone

import pytest

from monitor.models import Article, FeedEntry
from monitor.store import StateError, Store, common, explain_error

WHEN = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)


def _article(title: str, url: str) -> Article:
    entry = FeedEntry("Feed", url, title=title, published=WHEN)
    return Article(entry, url, title, "В Хороге задержан журналист.", WHEN, WHEN, "ab" * 32)


def test_a_nul_byte_and_a_huge_url_from_a_hostile_feed_do_not_stop_the_run(store):
    huge = "https://evil.example/" + "a" * 5000
    item = store.record_item(feed="Feed", guid=None, url=huge, url_key=huge[8:], status="unmatched")
    assert store.known_items([huge[8:]], []) == ({huge[8:]}, set()), "an over-long URL key is still recognised"
    assert store.record_item(feed="Feed", guid=None, url=huge, url_key=huge[8:], status="unmatched") == item
    other = store.record_item(feed="Feed", guid="g\x00", url="https://a.example/1", url_key="a.example/1",
                              status="matched")
    story = store.add_story(other, _article("NUL \x00 in a title", "https://a.example/1"), _match())
    title = store.story(story)["title"]
    assert title.startswith("NUL ") and title.endswith(" in a title")


def _match():
    from monitor.models import MatchResult

    return MatchResult(snippet="В Хороге", highlights=((2, 8),))


def test_a_state_from_a_newer_monitor_is_refused_before_any_write(store, tmp_path, request):
    store.meta_set("schema_version", "99")
    url = request.getfixturevalue("pg_url") if store.backend == "postgresql" else None
    with pytest.raises(StateError, match="written by a newer version of the monitor"):
        Store(tmp_path / "monitor.db", database_url=url)


def test_a_writer_waiting_too_long_for_the_lock_gets_the_locked_message(pg_url, tmp_path, monkeypatch):
    monkeypatch.setenv("MONITOR_PG_LOCK_TIMEOUT_MS", "300")
    holder, waiter = (Store(tmp_path / "monitor.db", database_url=pg_url) for _ in range(2))
    try:
        with holder.transaction():
            holder.meta_set("held", "1")
            with pytest.raises(sqlite3.OperationalError) as caught:
                waiter.meta_set("waiting", "1")
        assert "locked by another process" in explain_error(waiter.where, caught.value)
        waiter.meta_set("waiting", "1")  # the lock is free again: the same connection writes
        assert waiter.meta_get("held") == "1"
    finally:
        holder.close()
        waiter.close()


def test_a_frozen_transaction_is_ended_by_the_server_and_the_others_go_on(pg_url, tmp_path, monkeypatch):
    monkeypatch.setenv("MONITOR_PG_IDLE_TIMEOUT_MS", "300")
    frozen = Store(tmp_path / "monitor.db", database_url=pg_url)
    other = Store(tmp_path / "monitor.db", database_url=pg_url)
    try:
        frozen.db.execute("BEGIN IMMEDIATE")  # takes the write lock, then the process "hangs"
        done = threading.Event()
        threading.Thread(target=lambda: (other.meta_set("after", "1"), done.set()), daemon=True).start()
        assert done.wait(8), "the server ended the idle transaction and released the lock"
        with pytest.raises(sqlite3.OperationalError):
            frozen.db.execute("SELECT 1")
    finally:
        other.close()
        try:
            frozen.close()
        except Exception:
            pass


def test_two_writers_at_once_queue_a_digest_once(pg_url, tmp_path):
    first = Store(tmp_path / "monitor.db", database_url=pg_url)
    item = first.record_item(feed="Feed", guid=None, url="https://a.example/1", url_key="a.example/1",
                             status="matched")
    story = first.add_story(item, _article("Хорог", "https://a.example/1"), _match())
    stores = [first] + [Store(tmp_path / "monitor.db", database_url=pg_url) for _ in range(3)]
    results: list = []
    barrier = threading.Barrier(len(stores))

    def queue(s):
        barrier.wait()
        results.append(s.queue_digest("digest", [story], {"stdout": ["one"]}))

    threads = [threading.Thread(target=queue, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    try:
        assert sorted(results, key=lambda r: r is not None)[-1] is not None
        assert sum(r is not None for r in results) == 1, results
        assert len(first.due_messages()) == 1
    finally:
        for s in stores:
            s.close()


def test_an_unreachable_server_is_one_clear_line(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pytest.importorskip("psycopg")
    with pytest.raises(StateError) as caught:
        Store(tmp_path / "monitor.db", database_url=f"postgresql://monitor:secret@127.0.0.1:{port}/monitor")
    text = str(caught.value)
    assert "database server cannot be used" in text and "\n" not in text
    assert "secret" not in text and "monitor:***@" in text


def test_a_nul_in_a_pages_text_is_the_same_replacement_on_both_backends(store):
    """Third-party text keeps its NUL as U+FFFD on SQLite too, so both backends store and find the same thing."""
    item = store.record_item(feed="Feed", guid="guid\x00x", url="https://a.example/1", url_key="a.example/1",
                             status="matched")
    article = _article("Title \x00 with a NUL", "https://a.example/1")
    article = type(article)(article.entry, article.final_url, article.title, "Text\x00 with a NUL.",
                            article.published, article.fetched_at, article.raw_sha256)
    story = store.add_story(item, article, _match())
    row = store.story(story)
    assert (row["title"], row["text"]) == ("Title \ufffd with a NUL", "Text\ufffd with a NUL.")
    assert store.known_items([], ["guid\x00x"]) == (set(), {"guid\ufffdx"}), "a lookup finds what was stored"
    assert common.without_nul(("a\x00", b"\x00", 1)) == ["a\ufffd", b"\x00", 1], "bytes (WARC, gzip) are kept"


def test_a_url_with_a_nul_is_refused_with_the_same_line_on_both_backends(store, tmp_path, request):
    """In feeds.yaml (a YAML "\\0"): the config is refused before the state is touched; in a feed's entry: the
    entry is skipped with one line and nothing of it is stored."""
    import asyncio
    import logging

    from monitor.config.feeds import load_feeds
    from monitor.models import FeedResult
    from monitor.pipeline import Monitor
    from monitor.relevance.keywords import load_rules
    from tests.conftest import PROJECT
    from tests.review.test_rematch import in_process

    feeds = tmp_path / "feeds.yaml"
    feeds.write_text('feeds:\n  - name: Feed\n    url: "https://a.example/fe\\0ed.xml"\n', encoding="utf-8")
    url = request.getfixturevalue("pg_url") if store.backend == "postgresql" else None
    argv = ["run", "--once", "--feeds", str(feeds), "--keywords", str(PROJECT / "keywords.yaml"),
            "--state", str(tmp_path / "monitor.db"), *(["--database-url", url] if url else [])]
    refused = in_process(argv)
    assert refused.returncode == 2
    assert refused.stderr.splitlines()[1:] == [f"{feeds}:3: feeds.0.url: bad URL 'https://a.example/fe\\x00ed.xml': "
                                               "it holds a control character (a NUL, a tab, a line break), which no "
                                               "URL can hold"], refused.stderr

    feeds.write_text("feeds:\n  - name: Feed\n    url: https://a.example/feed.xml\n", encoding="utf-8")
    entry = FeedEntry("Feed", "https://a.example/a\x00b", title="В Хороге задержан журналист", published=WHEN)
    spec = load_feeds(feeds).feeds[0]

    async def process():
        async with Monitor(load_feeds(feeds), load_rules(PROJECT / "keywords.yaml"), store, []) as monitor:
            return await monitor._process_new(spec, [entry], FeedResult(feed="Feed", ok=True))

    logger = logging.getLogger("monitor")
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        assert asyncio.run(process()) == []
    finally:
        logger.removeHandler(handler)
    assert [r.getMessage() for r in records] == [
        "feed 'Feed': an entry's link holds a NUL character and was skipped: https://a.example/a\x00b"]
    assert store.db.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 0


def test_flush_failed_puts_back_only_the_messages_refused_for_good_on_both_backends(store):
    digest = store.queue_digest("digest", [], {"telegram:1": ["part 1", "part 2"], "email": ["mail"]})
    parts = {(m.channel, m.seq): m for m in store.due_messages()}
    store.mark_sent(parts["telegram:1", 0].id)
    store.mark_failed(parts["telegram:1", 1].id, "400 chat not found")
    store.mark_sent(parts["email", 0].id)
    assert store.due_messages() == []
    assert store.requeue_failed(["email"]) == 0, "only the channels named"
    assert store.requeue_failed(["email", "telegram:1"]) == 1
    (again,) = store.due_messages()
    assert (again.digest_id, again.channel, again.seq, again.payload) == (digest, "telegram:1", 1, "part 2")
    assert store.requeue_failed(["email", "telegram:1"]) == 0, "nothing else was refused"

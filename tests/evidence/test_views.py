"""Screenshots off the poll's path: a capture queues its screenshot, one browser renders the queue after.

The browser here is a stand-in with Chromium's interface (screenshot.Browser: render(hops, url) -> PNG,
close()), so the tests can hold it, break it and count its starts; the real Chromium renders through the same
queue in test_replay.py (run --once, export, ReplayWeb.page).
"""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
import threading

import pytest

from tests.conftest import PROJECT
from tests.evidence.test_objects import BUCKET, s3  # noqa: F401 (moto's S3 on loopback, a fixture)
from tests.support.faultserver import feeds_yaml
from tests.support.localsite import LocalSite, Page, article_html, rss

STORIES = [
    ("Four Pamiri men detained in Khorog",
     ["Relatives said that officers detained four Pamiri men in Khorog on Monday night and took them to the "
      "regional headquarters of the security service in Gorno-Badakhshan (GBAO).",
      "A lawyer hired by the families was not allowed to see them, and no charges had been announced."]),
    ("Activist from Rushan sentenced to eight years",
     ["A court in Dushanbe sentenced a civic activist from Rushan district of GBAO to eight years in prison "
      "after a closed trial, his brother told reporters.",
      "Human rights groups said the charges of extremism were fabricated to punish his posts about Khorog."]),
    ("Internet cut again across Gorno-Badakhshan",
     ["Residents of Khorog and Ishkashim said mobile internet was switched off again across GBAO on Friday, "
      "days after security forces arrested local elders.",
      "Shops and banks in the region could not take payments, and families abroad lost contact."]),
]
PNG = b"\x89PNG\r\n\x1a\n" + b"stand-in screenshot of "


class FakeBrowser:
    """screenshot.Browser's interface; every instance is counted, `gate` holds a render until it is set."""

    started: list["FakeBrowser"] = []
    gate: threading.Event | None = None
    fail: str = ""

    def __init__(self, binary: str, **_options):
        FakeBrowser.started.append(self)
        self.rendered: list[tuple[str, list[str]]] = []
        self.closed = False

    def render(self, hops, page_url: str, *, timeout: float = 30) -> bytes:
        if FakeBrowser.gate is not None and not FakeBrowser.gate.wait(10):
            raise TimeoutError("the test never let the render go")
        if FakeBrowser.fail:
            raise RuntimeError(FakeBrowser.fail)
        self.rendered.append((page_url, [h.url for h in hops]))
        return PNG + page_url.encode()

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def world(tmp_path, monkeypatch):
    from monitor.evidence import screenshot

    monkeypatch.setenv("MONITOR_SCREENSHOTS", "1")
    monkeypatch.setattr(screenshot, "browser", lambda: "/usr/bin/stand-in-chromium")
    monkeypatch.setattr(screenshot, "Browser", FakeBrowser)
    monkeypatch.setattr(FakeBrowser, "started", [])
    monkeypatch.setattr(FakeBrowser, "gate", None)
    monkeypatch.setattr(FakeBrowser, "fail", "")
    with LocalSite() as site:
        items = []
        for n, (title, text) in enumerate(STORIES):
            site.add(f"/news/{n}", article_html(title, text).replace(
                "</head>", '<link rel="stylesheet" href="/css/site.css"></head>'))
            items.append({"title": title, "path": f"/news/{n}"})
        site.add("/css/site.css", Page(b"h1 { color: #113; }", content_type="text/css"))
        site.add("/feed.xml", Page(rss("Outlet", items, base=site.base).encode(), content_type="application/rss+xml"))
        yield tmp_path, feeds_yaml(tmp_path / "feeds.yaml", [("Outlet", site.url("/feed.xml"))]), site


def _cycle(tmp, feeds_path, during=None) -> str:
    """One run as `run --once` does it (poll, digest, then the end of the run); `during(monitor)` is called
    after the digest, before the run ends. Returns what the digest said."""
    from monitor.config.feeds import load_feeds
    from monitor.delivery.stdout import StdoutNotifier
    from monitor.pipeline import Monitor
    from monitor.relevance.keywords import load_rules
    from monitor.store import Store

    out = io.StringIO()
    store = Store(tmp / "state.db")

    async def run() -> None:
        async with Monitor(load_feeds(feeds_path), load_rules(PROJECT / "keywords.yaml"), store,
                           [StdoutNotifier(stream=out)]) as monitor:
            await monitor.poll_all()
            await monitor.send_digest()
            if during is not None:
                during(store)

    try:
        asyncio.run(run())
    finally:
        store.close()
    return out.getvalue()


def _db(tmp) -> sqlite3.Connection:
    db = sqlite3.connect(tmp / "state.db")
    db.row_factory = sqlite3.Row
    return db


def _records(tmp, file: str, offset: int, length: int) -> list:
    from monitor.evidence.warc import members, parse_record

    data = (tmp / "state.db.warc" / file).read_bytes()[offset:offset + length]
    return [parse_record(raw) for _s, _e, raw, _err in members(data)]


def test_stories_are_stored_and_sent_while_their_screenshots_wait_for_the_browser(world):
    tmp, feeds_path, site = world
    FakeBrowser.gate = threading.Event()  # the browser is slow: nothing it renders is done before the digest
    seen = {}

    def during(store) -> None:
        seen["stories"] = store.db.execute("SELECT COUNT(*) FROM stories").fetchone()[0]
        seen["pending"] = store.db.execute(  # queued, or claimed by the renderer and held at the browser
            "SELECT COUNT(*) FROM views WHERE state IN ('pending', 'rendering')").fetchone()[0]
        FakeBrowser.gate.set()

    digest = _cycle(tmp, feeds_path, during)
    assert seen == {"stories": 3, "pending": 3}, "matched, stored and sent before any screenshot was taken"
    assert all(title in digest for title, _text in STORIES)
    assert len(FakeBrowser.started) == 1, "one browser for the whole run, not one per capture"
    assert FakeBrowser.started[0].closed and len(FakeBrowser.started[0].rendered) == 3
    for url, hop_urls in FakeBrowser.started[0].rendered:
        assert hop_urls[-1] == url and any(u.endswith("/css/site.css") for u in hop_urls), \
            "rendered from the capture's own records: the page and its stylesheet"
    db = _db(tmp)
    rows = db.execute("SELECT v.*, c.final_url, c.warc_offset AS c_offset, c.warc_length AS c_length "
                      "FROM views v JOIN captures c ON c.id = v.capture_id").fetchall()
    assert [r["state"] for r in rows] == ["done"] * 3
    for row in rows:
        capture = _records(tmp, row["warc_file"], row["c_offset"], row["c_length"])
        assert "resource" not in [r.type for r in capture], "the capture was written without waiting for it"
        shot, note = _records(tmp, row["warc_file"], row["warc_offset"], row["warc_length"])
        assert (shot.type, shot.uri) == ("resource", f"urn:view:{row['final_url']}")
        assert shot.payload == PNG + row["final_url"].encode() and not shot.problems()
        assert json.loads(note.block)["screenshot"]["sha256"] == row["sha256"]
        assert row["warc_offset"] >= row["c_offset"] + row["c_length"], "appended after its capture"
    rendered = [json.loads(r[0]) for r in db.execute("SELECT line FROM custody ORDER BY n")
                if json.loads(r[0])["event"] == "rendered"]
    assert sorted(r["capture"] for r in rendered) == sorted(r["capture_id"] for r in rows)
    assert [r.path for r in site.requested()].count("/news/0") == 1, "the browser asked the site for nothing"


def test_a_screenshot_queued_while_the_browser_closes_is_still_rendered_in_the_same_run(world, monkeypatch):
    tmp, feeds_path, _site = world
    queued_all = threading.Event()

    def close_slowly(browser) -> None:  # the browser takes its time to exit: the poll goes on queueing
        browser.closed = True
        if not queued_all.is_set():
            db = _db(tmp)
            try:
                for _ in range(200):
                    if db.execute("SELECT COUNT(*) FROM views").fetchone()[0] == len(STORIES):
                        break
                    threading.Event().wait(0.05)
            finally:
                db.close()
            queued_all.set()

    monkeypatch.setattr(FakeBrowser, "close", close_slowly)
    _cycle(tmp, feeds_path)
    db = _db(tmp)
    assert [r[0] for r in db.execute("SELECT state FROM views")] == ["done"] * len(STORIES), \
        "no capture waits for the next run because its kick came while the browser was closing"
    db.close()


def test_without_a_browser_one_line_says_so_once_and_the_captures_go_on(world, monkeypatch, caplog):
    from monitor.evidence import screenshot

    tmp, feeds_path, _site = world
    monkeypatch.setattr(screenshot, "browser", lambda: None)
    monkeypatch.setattr(screenshot, "_said_no_browser", False)
    digest = _cycle(tmp, feeds_path)
    assert all(title in digest for title, _text in STORIES), "no browser costs no story"
    said = [r.getMessage() for r in caplog.records if "screenshot" in r.getMessage()]
    assert len(said) == 1 and "no Chromium found" in said[0], said
    db = _db(tmp)
    assert db.execute("SELECT COUNT(*) FROM captures").fetchone()[0] == len(STORIES)
    assert db.execute("SELECT COUNT(*) FROM views").fetchone()[0] == 0, "nothing queued that nothing can render"
    db.close()


def test_a_failed_browser_leaves_the_screenshots_queued_and_the_next_run_renders_each_once(world, tmp_path):
    from monitor.evidence.capture import Evidence
    from monitor.evidence.verify import verify_state
    from monitor.evidence.wacz import export_wacz
    from monitor.evidence.verify import verify_wacz
    from monitor.store import Store
    from monitor import clock

    tmp, feeds_path, _site = world
    FakeBrowser.fail = "the browser exited"
    digest = _cycle(tmp, feeds_path)
    assert all(title in digest for title, _text in STORIES), "a broken browser costs no story"
    db = _db(tmp)
    assert [tuple(r) for r in db.execute("SELECT state, attempts FROM views")] == [("pending", 1)] * 3
    db.close()

    FakeBrowser.fail = ""
    _cycle(tmp, feeds_path)  # nothing new on the site: only the queue left by the first run
    _cycle(tmp, feeds_path)  # and nothing left to render: no browser starts
    assert [len(b.rendered) for b in FakeBrowser.started] == [0, 0, 0, 3]  # 3 tries failed, then 3 renders
    db = _db(tmp)
    assert [tuple(r) for r in db.execute("SELECT state, attempts FROM views")] == [("done", 2)] * 3
    shas = [r[0] for r in db.execute("SELECT sha256 FROM views")]
    lines = [json.loads(r[0])["event"] for r in db.execute("SELECT line FROM custody")]
    assert lines.count("rendered") == 3 and lines.count("captured") == 3
    db.close()
    shots = sum(1 for p in (tmp / "state.db.warc").iterdir()
                for r in _records(tmp, p.name, 0, p.stat().st_size) if r.type == "resource")
    assert shots == 3, "each screenshot written once"

    store = Store(tmp / "state.db")
    try:
        evidence = Evidence(store)
        assert verify_state(store, evidence).ok
        export_wacz(store, evidence, clock.now().replace(year=2000), None, tmp_path / "out.wacz")
    finally:
        store.close()
    checked = verify_wacz(tmp_path / "out.wacz")
    assert checked.ok, checked.problems
    import zipfile

    with zipfile.ZipFile(tmp_path / "out.wacz") as zf:
        cdx = zf.read("indexes/index.cdx").decode()
        report = zf.read("provenance/provenance.json").decode()
    assert cdx.count("urn:view:") == 3 and cdx.count('"mime": "image/png"') == 3, "each screenshot indexed"
    assert all(sha in report for sha in shas), "the technical report names each screenshot's hash"


def test_with_a_bucket_the_screenshot_is_read_from_and_kept_beside_its_capture_in_the_bucket(world, s3, monkeypatch):
    from monitor.evidence.capture import Evidence
    from monitor.evidence.verify import verify_state
    from monitor.store import Store

    tmp, feeds_path, _site = world
    monkeypatch.setenv("MONITOR_ARCHIVE_URL", f"s3://{BUCKET}/views")
    digest = _cycle(tmp, feeds_path)
    assert all(title in digest for title, _text in STORIES)
    db = _db(tmp)
    rows = db.execute("SELECT v.state, v.warc_file, v.sha256, c.warc_file AS capture_file "
                      "FROM views v JOIN captures c ON c.id = v.capture_id").fetchall()
    db.close()
    assert [r["state"] for r in rows] == ["done"] * 3
    assert all(r["capture_file"].startswith(f"s3://{BUCKET}/views/") for r in rows), "captures are objects"
    assert all(r["warc_file"].startswith(f"s3://{BUCKET}/views/") for r in rows), "and so are their screenshots"
    assert not (tmp / "state.db.warc").exists() or not any((tmp / "state.db.warc").iterdir()), "nothing local"
    store = Store(tmp / "state.db")
    try:
        assert verify_state(store, Evidence(store)).ok, "verify re-reads every screenshot from the bucket"
    finally:
        store.close()


def _renderer(tmp):
    from monitor.evidence.capture import Evidence
    from monitor.evidence.views import ViewRenderer
    from monitor.store import Store

    store = Store(tmp / "state.db")
    return store, ViewRenderer(store, Evidence(store))


async def _until(check, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("never happened")


def test_the_browser_starts_when_a_page_matches_and_waits_open_for_the_cycles_next_capture(world):
    tmp, _feeds, _site = world
    store, renderer = _renderer(tmp)

    async def run() -> None:
        renderer.prepare()  # a page matched; its requisites are still on the wire
        await _until(lambda: len(FakeBrowser.started) == 1)
        renderer.kick()  # the first capture's screenshot (here: nothing queued) is done: the queue is empty
        await asyncio.sleep(0.3)
        assert not FakeBrowser.started[0].closed, "kept open for the next match of the cycle"
        renderer.prepare()  # the next match uses the browser already running
        await asyncio.sleep(0.1)
        await renderer.finish()

    try:
        asyncio.run(run())
    finally:
        store.close()
    assert len(FakeBrowser.started) == 1 and FakeBrowser.started[0].closed, "one browser, closed at the run's end"


def test_a_browser_started_for_a_capture_that_never_came_is_closed_after_the_idle_time(world, monkeypatch):
    from monitor.evidence import views

    tmp, _feeds, _site = world
    monkeypatch.setattr(views, "IDLE_CLOSE", 0.2)
    store, renderer = _renderer(tmp)

    async def run() -> None:
        renderer.prepare()  # the page matched, then its capture failed: no kick ever comes
        await _until(lambda: FakeBrowser.started and FakeBrowser.started[0].closed)
        assert renderer._browser is None

    try:
        asyncio.run(run())
    finally:
        store.close()
    assert len(FakeBrowser.started) == 1


def test_a_browser_start_queued_by_a_match_that_runs_after_the_run_ended_starts_nothing(world):
    tmp, _feeds, _site = world
    store, renderer = _renderer(tmp)

    async def run() -> None:
        await renderer.finish()  # the run ends and closes what is open
        await asyncio.to_thread(renderer._open_quietly)  # prepare()'s start, its thread scheduled only now

    try:
        asyncio.run(run())
    finally:
        store.close()
    assert FakeBrowser.started == [], "no browser is left running after the run"

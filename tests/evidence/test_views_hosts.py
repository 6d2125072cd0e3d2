"""Screenshots and captures when several hosts share one state (issue 25): a capture the spool indexed later
still gets its screenshot, two hosts never both render one, a host's renderer is not stopped by another
host's queue, WARC file names carry the host that wrote them, and a slow bucket never holds up the event loop.

The browser is test_views.py's stand-in (counted, held, broken at will); the bucket is moto's S3 on loopback.
"""

from __future__ import annotations

import asyncio
import http.client
import io
import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.conftest import PROJECT
from tests.evidence.test_objects import (
    BUCKET,
    KHOROG,
    _free_port,
    _hops,
    _story,
    s3,  # noqa: F401 (moto's S3 on loopback, a fixture)
)
from tests.evidence.test_views import STORIES, FakeBrowser, _cycle, _db, world  # noqa: F401 (a fixture)
from tests.support.localsite import Page, article_html, rss


def _views(tmp, columns: str = "capture_id, state, host_id") -> list[tuple]:
    db = _db(tmp)
    try:
        return [tuple(r) for r in db.execute(f"SELECT {columns} FROM views ORDER BY capture_id")]
    finally:
        db.close()


def _rendered_lines(tmp) -> list[int]:
    db = _db(tmp)
    try:
        lines = [json.loads(r[0]) for r in db.execute("SELECT line FROM custody ORDER BY n")]
    finally:
        db.close()
    return sorted(line["capture"] for line in lines if line["event"] == "rendered")


def test_a_capture_held_in_the_spool_gets_its_screenshot_once_the_drain_indexes_it(world, s3, monkeypatch):
    tmp, feeds_path, _site = world
    monkeypatch.setenv("MONITOR_ARCHIVE_URL", f"s3://{BUCKET}/spooled-views")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_free_port()}")  # the bucket is down
    _cycle(tmp, feeds_path)
    assert _views(tmp, "state") == [] and len(list((tmp / "state.db.spool").glob("*.json"))) == len(STORIES)
    # the browser starts when a page matches (views.prepare), before its capture is written: it renders nothing
    assert [b.rendered for b in FakeBrowser.started] in ([], [[]]), "nothing indexed, nothing to render"
    assert all(b.closed for b in FakeBrowser.started), "the run closed the browser it started in advance"

    monkeypatch.setenv("AWS_ENDPOINT_URL", s3["env"]["AWS_ENDPOINT_URL"])  # back: nothing new on the site
    _cycle(tmp, feeds_path)
    assert _views(tmp, "state") == [("done",)] * len(STORIES), \
        "each capture the drain indexed had its screenshot queued in the same transaction, and rendered"
    assert _rendered_lines(tmp) == [capture_id for (capture_id,) in _views(tmp, "capture_id")]


def _renderer(tmp, host: str, monkeypatch):
    """One host's renderer on its own connection to the shared state."""
    from monitor.evidence.capture import Evidence
    from monitor.evidence.views import ViewRenderer
    from monitor.store import Store

    monkeypatch.setenv("MONITOR_HOST_ID", host)
    store = Store(tmp / "state.db")
    return store, ViewRenderer(store, Evidence(store))


def test_two_hosts_sharing_a_state_and_a_bucket_render_each_screenshot_once(world, s3, monkeypatch):
    tmp, feeds_path, _site = world
    monkeypatch.setenv("MONITOR_ARCHIVE_URL", f"s3://{BUCKET}/two-hosts")
    FakeBrowser.fail = "the browser exited"  # the poll's run leaves the three screenshots queued
    _cycle(tmp, feeds_path)
    FakeBrowser.fail = ""
    assert _views(tmp, "state") == [("pending",)] * len(STORIES)
    (a_store, a), (b_store, b) = _renderer(tmp, "vps-a", monkeypatch), _renderer(tmp, "vps-b", monkeypatch)

    async def both() -> None:
        a.kick()
        b.kick()
        await asyncio.gather(a.finish(), b.finish())

    try:
        asyncio.run(both())
    finally:
        a_store.close()
        b_store.close()
    assert a.rendered + b.rendered == len(STORIES) and a.rendered and b.rendered, "the two hosts shared the queue"
    assert sum(len(browser.rendered) for browser in FakeBrowser.started) == len(STORIES), "no page rendered twice"
    assert _views(tmp, "state") == [("done",)] * len(STORIES)
    assert _rendered_lines(tmp) == [c for (c,) in _views(tmp, "capture_id")], "one custody line each"
    keys = [o["Key"] for o in s3["client"].list_objects_v2(Bucket=BUCKET, Prefix="two-hosts/").get("Contents", [])]
    assert len(keys) == 2 * len(STORIES), "each capture and each screenshot written once to the bucket"


def test_a_claim_left_by_a_host_that_died_mid_render_goes_back_to_the_queue(world, monkeypatch):
    from monitor.store.leases import machine_id

    tmp, feeds_path, _site = world
    monkeypatch.setenv("MONITOR_HOST_ID", "vps-a")
    FakeBrowser.fail = "the browser exited"
    _cycle(tmp, feeds_path)  # vps-a's run: three screenshots queued
    FakeBrowser.fail = ""
    gone = subprocess.Popen(["true"])
    gone.wait()
    db = _db(tmp)
    ids = [r[0] for r in db.execute("SELECT capture_id FROM views ORDER BY capture_id")]
    claims = [("vps-b/41", "julianday('now') - 700.0 / 86400"),  # vps-b froze or died 700 s ago: stale
              ("vps-b/42", "julianday('now')"),  # vps-b is rendering it now: left alone
              (f"vps-a/{gone.pid}@{machine_id()}", "julianday('now')")]  # a process of this machine, gone: at once
    for capture_id, (holder, when) in zip(ids, claims):
        db.execute(f"UPDATE views SET state = 'rendering', claimed_by = ?, claimed_at = ({when} - 2440587.5) "
                   "* 86400.0 WHERE capture_id = ?", (holder, capture_id))
    db.commit()
    db.close()
    _cycle(tmp, feeds_path)  # the next run on vps-a
    assert [(state, host) for _id, state, host in _views(tmp)] == [("done", "vps-a"), ("rendering", "vps-a"),
                                                                   ("done", "vps-a")]
    assert _rendered_lines(tmp) == [ids[0], ids[2]]


def test_another_hosts_local_captures_at_the_head_of_the_queue_do_not_stop_this_hosts_renderer(world, monkeypatch):
    tmp, feeds_path, site = world
    monkeypatch.setenv("MONITOR_HOST_ID", "vps-b")
    monkeypatch.setenv("MONITOR_ARCHIVE_DIR", str(tmp / "b.warc"))  # vps-b's own disk
    FakeBrowser.fail = "the browser exited"
    _cycle(tmp, feeds_path)  # vps-b queued three screenshots, then died
    FakeBrowser.fail = ""
    db = _db(tmp)
    columns = ", ".join(r[1] for r in db.execute("PRAGMA table_info(captures)") if r[1] != "id")
    queued = ", ".join(r[1] for r in db.execute("PRAGMA table_info(views)") if r[1] != "capture_id")
    for _ in range(20):  # 60 of vps-b's views ahead of anything vps-a queues: more than one page of the queue
        for capture_id in [r[0] for r in db.execute("SELECT capture_id FROM views WHERE capture_id <= 3")]:
            cur = db.execute(f"INSERT INTO captures ({columns}) SELECT {columns} FROM captures WHERE id = ?",
                             (capture_id,))
            db.execute(f"INSERT INTO views (capture_id, {queued}) SELECT ?, {queued} FROM views WHERE capture_id = ?",
                       (cur.lastrowid, capture_id))
    db.commit()
    db.close()
    site.add("/news/new", article_html("Elders arrested in Khorog", [
        ("Security forces arrested three elders in Khorog, the administrative centre of GBAO, on Saturday, "
         "relatives said; the elders had negotiated with the authorities in May 2022.")]))
    items = [{"title": t, "path": f"/news/{n}"} for n, (t, _x) in enumerate(STORIES)]
    site.add("/feed.xml", Page(rss("Outlet", items + [{"title": "Elders arrested in Khorog", "path": "/news/new"}],
                                   base=site.base).encode(), content_type="application/rss+xml"))
    monkeypatch.setenv("MONITOR_HOST_ID", "vps-a")
    monkeypatch.setenv("MONITOR_ARCHIVE_DIR", str(tmp / "a.warc"))
    _cycle(tmp, feeds_path)
    assert [u for b in FakeBrowser.started for u, _hops in b.rendered] == [site.url("/news/new")]
    views = _views(tmp)
    assert views[-1][1:] == ("done", "vps-a"), "vps-a rendered its own capture"
    assert {(state, host) for _id, state, host in views[:-1]} == {("pending", "vps-b")}, "vps-b's wait for vps-b"
    assert [p.name.endswith("-vps-a.warc.gz") for p in (tmp / "a.warc").iterdir()] == [True]
    assert [p.name.endswith("-vps-b.warc.gz") for p in (tmp / "b.warc").iterdir()] == [True]


def test_two_hosts_writing_one_warc_folder_keep_their_own_files_and_old_names_still_read(tmp_path, monkeypatch):
    from monitor.evidence.warc import WarcArchive, warcinfo

    def on(host: str) -> WarcArchive:
        monkeypatch.setenv("MONITOR_HOST_ID", host)
        return WarcArchive(shared)

    old = "pamir-monitor-20261101000000-00001.warc.gz"  # written before hosts were named
    (tmp_path / old).write_bytes(warcinfo(old) + b"old capture")
    shared = tmp_path  # an NFS folder both hosts write, or two archives merged later
    a, b = on("vps-a"), on("vps_b/2")
    first, other, second = a.append(b"capture on a"), b.append(b"capture on b"), a.append(b"more on a")
    assert first.file == second.file != other.file, "each host appends to its own file, never the other's"
    assert first.file.endswith("-00002-vps-a.warc.gz")
    assert other.file.startswith("pamir-monitor-") and "/" not in other.file and "vps-b-" in other.file
    assert old not in (first.file, other.file), "a file named without a host is not appended to any more"
    assert a.read(first.file, first.offset, first.length) == b"capture on a"
    assert b.read(other.file, other.offset, other.length) == b"capture on b"
    assert {p.name for p in a.files()} == {old, first.file, other.file}
    assert a.read(old, 0, (tmp_path / old).stat().st_size).endswith(b"old capture")
    assert [p.name for p in a.closed_files()] == [old], "each host's newest file is still being written"


class SlowBucket:
    """A reverse proxy to moto that holds each PUT until the test's event loop lets it go (or 5 s pass)."""

    def __init__(self, upstream: int):
        self.arrived, self.release = threading.Event(), threading.Event()
        self.released_in_time: list[bool] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.command == "PUT":
                    outer.arrived.set()
                    outer.released_in_time.append(outer.release.wait(5))
                conn = http.client.HTTPConnection("127.0.0.1", upstream, timeout=10)
                conn.request(self.command, self.path, body=body, headers=dict(self.headers))
                answer = conn.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _any

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_a_slow_bucket_does_not_hold_up_the_event_loop_and_is_written_before_the_row(world, s3, monkeypatch):
    from monitor.config.feeds import load_feeds
    from monitor.delivery.stdout import StdoutNotifier
    from monitor.evidence.capture import Evidence
    from monitor.pipeline import Monitor
    from monitor.relevance.keywords import load_rules
    from monitor.store import Store

    tmp, feeds_path, _site = world
    monkeypatch.setenv("MONITOR_SCREENSHOTS", "0")
    monkeypatch.setenv("MONITOR_ARCHIVE_URL", f"s3://{BUCKET}/slow-bucket")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_free_port()}")  # down: the first capture is spooled
    store = Store(tmp / "state.db")
    evidence, url = Evidence(store), "http://outlet.example/news/khorog"
    pending = evidence.write(_hops(url, article_html("Khorog", [KHOROG]).encode()), text=KHOROG)
    with store.transaction():
        evidence.index(pending, story_id=_story(store, url))
    slow = SlowBucket(s3["port"])  # back, but slow: the spool's drain and each new capture wait on it
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{slow.port}")
    rows_while_put: list[int] = []

    async def loop_watch(done: asyncio.Event) -> None:
        """Runs only if the event loop is free: lets each held PUT go, noting what the state held meanwhile."""
        while not done.is_set():
            if slow.arrived.is_set():
                rows_while_put.append(store.db.execute("SELECT COUNT(*) FROM captures").fetchone()[0])
                slow.arrived.clear()
                slow.release.set()
            await asyncio.sleep(0.005)

    async def run() -> None:
        async with Monitor(load_feeds(feeds_path), load_rules(PROJECT / "keywords.yaml"), store,
                           [StdoutNotifier(stream=io.StringIO())]) as monitor:
            done = asyncio.Event()
            watch = asyncio.create_task(loop_watch(done))
            try:
                await monitor.poll_all()
            finally:
                done.set()
                await watch

    try:
        asyncio.run(run())
        captures = len(store.captures())
    finally:
        store.close()
        slow.server.shutdown()
    assert len(slow.released_in_time) == 1 + len(STORIES) and all(slow.released_in_time), \
        "the event loop ran while the bucket was slow: the spool's upload and each PUT were in a worker thread"
    assert captures == 1 + len(STORIES) and rows_while_put[0] == 0, "the object was PUT before the row naming it"
    listed = s3["client"].list_objects_v2(Bucket=BUCKET, Prefix="slow-bucket/").get("Contents", [])
    assert len(listed) == 1 + len(STORIES)


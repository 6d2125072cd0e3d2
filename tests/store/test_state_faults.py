"""State faults: a corrupt, foreign, locked or full state file gives a clear error and is never overwritten.

A full disk is made two ways: SQLite's `PRAGMA max_page_count` in process (always available), and a
real tiny tmpfs for the CLI end to end (skipped where mounting is not allowed).
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import io
import os
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import PROJECT, run_cli
from tests.support.clock import age
from tests.support.faultserver import feeds_yaml
from tests.support.localsite import LocalSite, Page, article_html, rss

KHOROG = [
    "Security forces detained two Pamiri activists in Khorog, GBAO, on Wednesday night after they criticised "
    "the regional governor online, relatives said.",
    "The activists' phones were confiscated and their families were warned not to speak to journalists.",
    "Rights defenders say such detentions have become routine in the Gorno-Badakhshan region.",
]
FILLER = ["The regional library has extended its opening hours for the winter season."] * 2


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _site(site: LocalSite, extra: int = 0, more: tuple[dict[str, str], ...] = ()) -> None:
    """A feed with the Khorog story first, then `more` items, then `extra` unmatched items."""
    site.add("/khorog", article_html("Two Pamiri activists detained in Khorog", KHOROG))
    items = [{"title": "Two Pamiri activists detained in Khorog", "path": "/khorog"}, *more]
    for i in range(extra):
        site.add(f"/n{i}", article_html(f"Library hours {i}", FILLER))
        items.append({"title": f"Library hours {i}", "path": f"/n{i}"})
    site.add("/feed.xml", Page(rss("Feed", items, base=site.base).encode(), content_type="application/rss+xml"))


def _run(tmp: Path, feeds: Path, state: Path, *cmd: str) -> subprocess.CompletedProcess:
    return run_cli(*(cmd or ("run", "--once")), "--feeds", str(feeds), "--keywords", str(PROJECT / "keywords.yaml"),
                   "--state", str(state), cwd=tmp)


@pytest.mark.parametrize("content", [
    b"feeds:\n  - name: My notes\n    url: https://example.org/feed\n",  # the user pointed --state at a YAML file
    bytes(range(256)) * 64,  # random bytes
    b"SQLite format 3\x00" + b"\xff" * 4080,  # a header and garbage
])
def test_a_file_that_is_not_a_database_is_refused_and_left_untouched(tmp_path, site, content):
    _site(site)
    feeds = feeds_yaml(tmp_path / "feeds.yaml", [("Feed", site.url("/feed.xml"))])
    state = tmp_path / "state.db"
    state.write_bytes(content)
    for cmd in (("run", "--once"), ("status",), ("export", "--since", "2020-01-01"), ("show", "1")):
        result = _run(tmp_path, feeds, state, *cmd)
        assert result.returncode == 1, (cmd, result.stderr)
        assert "Traceback" not in result.stderr, (cmd, result.stderr)
        assert "not a usable SQLite database" in result.stderr and "left untouched" in result.stderr, result.stderr
        assert state.read_bytes() == content, f"{cmd} changed the user's file"
    assert not site.requested(), "nothing is fetched when the state cannot be used"


def _damaged_pages(state: Path, size: int, page: int) -> list[int]:
    """Offsets of the last pages (data of the big tables) and of the schema's pages after the first: the tables
    added over time moved the schema off the file's end, where this test used to hit it."""
    offsets = set(range(size - 6 * page, size, page))
    db = sqlite3.connect(state)
    try:
        offsets |= {(n - 1) * page for (n,) in db.execute(
            "SELECT pageno FROM dbstat WHERE name IN ('sqlite_schema', 'sqlite_master') AND pageno > 1")}
    except sqlite3.OperationalError:  # an SQLite without dbstat: the last pages only
        pass
    finally:
        db.close()
    return sorted(offsets)


def test_a_damaged_database_gives_a_clear_error_and_is_not_overwritten(tmp_path, site):
    _site(site, extra=120)
    feeds = feeds_yaml(tmp_path / "feeds.yaml", [("Feed", site.url("/feed.xml"))])
    state = tmp_path / "state.db"
    assert _run(tmp_path, feeds, state).returncode == 0
    data = bytearray(state.read_bytes())
    page = 4096
    assert len(data) > 20 * page
    for start in _damaged_pages(state, len(data), page):
        data[start:start + 64] = b"\xee" * 64
    state.write_bytes(bytes(data))
    before = _digest(state)
    site.add("/late", article_html("Late story", FILLER))
    for cmd in (("run", "--once"), ("status",), ("export", "--since", "2020-01-01")):
        result = _run(tmp_path, feeds, state, *cmd)
        assert result.returncode == 1, (cmd, result.returncode, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr, (cmd, result.stderr)
        assert "state" in result.stderr and ("malformed" in result.stderr or "not a usable" in result.stderr)
        assert _digest(state) == before, f"{cmd} wrote into the damaged file"


def test_another_monitor_on_the_same_state_is_refused_at_once(tmp_path, site):
    _site(site)
    feeds = feeds_yaml(tmp_path / "feeds.yaml", [("Feed", site.url("/feed.xml"))])
    state = tmp_path / "state.db"
    with open(tmp_path / "state.db.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        started = time.monotonic()
        result = _run(tmp_path, feeds, state)
    assert result.returncode == 1
    assert "another monitor is already running" in result.stderr
    assert time.monotonic() - started < 10
    assert not site.requested()


def test_a_database_locked_by_another_program_is_reported_not_broken(tmp_path, site):
    """Someone holds an exclusive SQLite lock (a backup tool, a DB browser): wait the busy timeout, then say so."""
    _site(site)
    feeds = feeds_yaml(tmp_path / "feeds.yaml", [("Feed", site.url("/feed.xml"))])
    state = tmp_path / "state.db"
    assert _run(tmp_path, feeds, state).returncode == 0
    other = sqlite3.connect(state, isolation_level=None)
    try:
        other.execute("PRAGMA journal_mode = DELETE")  # a tool that switches the file out of WAL, then locks it
    except sqlite3.OperationalError:
        pass
    other.execute("BEGIN EXCLUSIVE")
    try:
        result = _run(tmp_path, feeds, state, "status")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "locked" in result.stderr, result.stderr
    assert sqlite3.connect(state).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_full_database_stops_the_run_cleanly_and_recovers_in_process(tmp_path, site):
    """PRAGMA max_page_count makes SQLite answer SQLITE_FULL: what was stored stays, nothing is corrupt."""
    from monitor.config.feeds import load_feeds
    from monitor.delivery.stdout import StdoutNotifier
    from monitor.pipeline import Monitor
    from monitor.relevance.keywords import load_rules
    from monitor.store import Store

    _site(site, extra=150)
    feeds_path = feeds_yaml(tmp_path / "feeds.yaml", [("Feed", site.url("/feed.xml"))])
    feeds, rules = load_feeds(feeds_path), load_rules(PROJECT / "keywords.yaml")
    state = tmp_path / "state.db"
    out = io.StringIO()

    async def cycle(store: Store):
        async with Monitor(feeds, rules, store, [StdoutNotifier(stream=out)]) as monitor:
            await monitor.poll_all()
            await monitor.send_digest()

    store = Store(state)
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count = {pages + 3}")
    with pytest.raises(sqlite3.DatabaseError, match="full"):
        asyncio.run(cycle(store))
    store.close()
    db = sqlite3.connect(state)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = db.execute("SELECT COUNT(*) FROM items").fetchone()[0]
    db.close()

    store = Store(state)  # space again (a new connection has no page limit)
    try:
        asyncio.run(cycle(store))
        assert store.db.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 151
        assert store.db.execute("SELECT COUNT(*) FROM items").fetchone()[0] >= stored
    finally:
        store.close()
    assert out.getvalue().count("Two Pamiri activists detained in Khorog") == 1


@pytest.fixture
def tiny_fs(tmp_path):
    """An 8 MB tmpfs mounted under tmp_path (root only); skipped where mounting is not allowed."""
    mount = tmp_path / "tinyfs"
    mount.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_a_full_disk_gives_a_clear_error_no_corruption_and_the_next_run_recovers(tmp_path, site, tiny_fs):
    _site(site, extra=0)
    feeds = feeds_yaml(tmp_path / "feeds.yaml", [("Feed", site.url("/feed.xml"))])
    state = tiny_fs / "state.db"
    first = _run(tmp_path, feeds, state)
    assert first.returncode == 0, first.stderr
    assert "Two Pamiri activists detained in Khorog" in first.stdout

    site.add("/khorog2", article_html("Second detention in Khorog", [
        "A third Pamiri activist was detained in Khorog on Thursday, GBAO residents said, two days after "
        "security forces detained two of his colleagues over their posts online.",
        "His lawyer was not allowed to see him; the regional prosecutor's office declined to comment."]))
    _site(site, extra=300, more=({"title": "Third Pamiri activist detained in Khorog", "path": "/khorog2"},))
    filler = tiny_fs / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:  # fill the disk, then give back 16 KB: enough to start, not enough for 300 items
        while True:
            try:
                os.write(fd, b"\0" * 4096)
            except OSError:
                break
        os.ftruncate(fd, max(0, os.fstat(fd).st_size - 16 * 1024))
    finally:
        os.close(fd)
    full = _run(tmp_path, feeds, state)
    assert full.returncode == 1, (full.returncode, full.stderr[-2000:])
    assert "Traceback" not in full.stderr, full.stderr[-3000:]
    assert "full" in full.stderr.lower(), full.stderr[-1000:]
    filler.unlink()

    db = sqlite3.connect(state)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT COUNT(*) FROM stories").fetchone()[0] >= 1
    db.close()
    age(state, 1 / 24)  # an hour on: the next digest is due however fast the runs were
    again = _run(tmp_path, feeds, state)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "Two Pamiri activists detained in Khorog" not in again.stdout, "the first story is not sent twice"
    assert "Third Pamiri activist detained in Khorog" in first.stdout + full.stdout + again.stdout
    db = sqlite3.connect(state)
    assert db.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 302
    assert db.execute("SELECT COUNT(*) FROM stories").fetchone()[0] == 2

"""A disk that fills up in the middle of a run polling several feeds at once: every commit that fails is
reported once, in one clean line naming the disk, with no asyncio traceback; the next run, with space again,
catches up and sends nothing twice."""

from __future__ import annotations

import os
import sqlite3

from monitor.store import Store
from tests.store.test_state_faults import _run, tiny_fs  # noqa: F401  (a fixture)
from tests.support.faultserver import feeds_yaml
from tests.support.localsite import Page, article_html, rss

TITLES = {3: "Rushan poet arrested, family says he is held incommunicado"}
FILLER = ["The regional library has extended its opening hours for the winter season."] * 2
STORY = ["Security forces detained a Pamiri activist in Khorog, GBAO, on Thursday, relatives said, after "
         "he criticised the regional governor online.",
         "Police in Rushan arrested a Pamiri poet and human rights defender on Friday evening; his family in "
         "Gorno-Badakhshan says he is held incommunicado and his lawyer was turned away."]


def _feeds(site, count: int, items: int) -> list[tuple[str, str]]:
    feeds = []
    for f in range(count):
        entries = []
        if f == 3:  # the story the full disk interrupts
            entries.append({"title": TITLES[f], "path": f"/f{f}/story"})
            site.add(f"/f{f}/story", article_html(TITLES[f], STORY))
        for i in range(items):
            site.add(f"/f{f}/n{i}", article_html(f"Library hours {f}-{i}", FILLER))
            entries.append({"title": f"Library hours {f}-{i}", "path": f"/f{f}/n{i}"})
        site.add(f"/f{f}.xml", Page(rss(f"Feed {f}", entries, base=site.base).encode(),
                                    content_type="application/rss+xml"))
        feeds.append((f"Feed {f}", site.url(f"/f{f}.xml")))
    return feeds


def _fill(folder, leave: int) -> None:
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            try:
                os.write(fd, b"\0" * 65536)
            except OSError:
                break
        while True:
            try:
                os.write(fd, b"\0" * 4096)
            except OSError:
                break
        os.ftruncate(fd, max(0, os.fstat(fd).st_size - leave))
    finally:
        os.close(fd)


def test_a_disk_filling_up_while_several_feeds_are_polled_is_reported_once_per_commit_without_tracebacks(
        tmp_path, site, tiny_fs):  # noqa: F811
    state = tiny_fs / "state.db"
    Store(state).close()
    feeds = feeds_yaml(tmp_path / "feeds.yaml", _feeds(site, 4, 30))
    _fill(tiny_fs, 96 * 1024)
    full = _run(tmp_path, feeds, state)
    assert full.returncode == 1, (full.returncode, full.stderr[-2000:])
    for noise in ("Traceback", "exception was never retrieved", "Task ", "Error in atexit", "never awaited"):
        assert noise not in full.stderr, full.stderr[-3000:]
    lines = [line for line in full.stderr.splitlines() if "full" in line.lower()]
    assert lines and len(lines) == len(set(lines)), "each failing commit is reported once:\n" + "\n".join(lines)
    (tiny_fs / "filler").unlink()
    db = sqlite3.connect(state)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    again = _run(tmp_path, feeds, state)
    assert again.returncode == 0, again.stderr[-2000:]
    assert TITLES[3] in full.stdout + again.stdout, again.stderr[-3000:]
    db = sqlite3.connect(state)
    stories = db.execute("SELECT COUNT(*), COUNT(DISTINCT url), COUNT(digest_id) FROM stories").fetchone()
    db.close()
    assert stories == (1, 1, 1), "each story stored once and taken by one digest"


def test_a_disk_io_error_on_a_full_disk_is_called_a_full_disk(tiny_fs):  # noqa: F811
    """SQLite reports a full disk as "disk I/O error" when its write-ahead log or shared memory cannot grow."""
    from monitor.store import explain_error

    state = tiny_fs / "state.db"
    Store(state).close()
    _fill(tiny_fs, 0)
    said = explain_error(str(state), sqlite3.OperationalError("disk I/O error"))
    assert "disk is full" in said and "Free some space" in said, said
    (tiny_fs / "filler").unlink()
    said = explain_error(str(state), sqlite3.OperationalError("disk I/O error"))
    assert "disk is full" not in said and "disk I/O error" in said, said

"""The service under signals while a poll is in flight (tests/test_scheduler.py has the single-signal cases).

A user edits feeds.yaml to add a feed while the service is busy with a slow site: the first edit has a tab in
it (refused with file:line; the running feeds go on, the new one is not started), the second is right (the feed
is added and its story caught); then SIGTERM arrives in the middle of the slow poll. The service exits 0 without
a traceback, and a following `run --once` finds every story exactly once and fetches no page twice.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.support.clock import child_env
from tests.conftest import PROJECT, run_cli
from tests.support.faultserver import stop, wait_for
from tests.support.localsite import LocalSite, Page, article_html, rss
from tests.test_scheduler import BORING, STORIES

NEW_STORY = ("/s/new", ("Pamiri journalist's brother detained in Khorog", [
    "The brother of an exiled Pamiri journalist was detained in Khorog on Saturday and questioned about his "
    "sibling's reports from abroad, relatives said.",
    "Rights groups in GBAO say relatives of exiles are increasingly targeted by the security services."]))


def _log(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def test_sighup_twice_then_sigterm_mid_poll_loses_nothing(tmp_path):
    with LocalSite() as site, LocalSite("127.0.0.2") as other:
        slow = {**STORIES, **BORING}
        for path, (title, text) in slow.items():
            site.add(path, Page(article_html(title, text).encode(), delay=1.5))
        site.add("/slow.xml", Page(rss("Slow", [{"title": t, "path": p} for p, (t, _) in slow.items()],
                                       base=site.base).encode(), content_type="application/rss+xml"))
        path, (title, text) = NEW_STORY
        other.add(path, article_html(title, text))
        other.add("/new.xml", Page(rss("New", [{"title": title, "path": path}], base=other.base).encode(),
                                   content_type="application/rss+xml"))
        feeds = tmp_path / "feeds.yaml"
        good = (f"feeds:\n  - name: Slow\n    url: {site.url('/slow.xml')}\n    interval: 1h\n"
                "settings:\n  timeout: 10\n  per_host: 1\n")
        added = good.replace("settings:", f"  - name: New\n    url: {other.url('/new.xml')}\nsettings:")
        feeds.write_text(good, encoding="utf-8")
        state, log = tmp_path / "state.db", tmp_path / "service.log"
        common = ["--feeds", str(feeds), "--keywords", str(PROJECT / "keywords.yaml"), "--state", str(state)]
        env = child_env() | {"PYTHONPATH": str(PROJECT)}
        proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", *common], env=env, cwd=tmp_path,
                                stdout=subprocess.DEVNULL, stderr=open(log, "w", encoding="utf-8"))
        try:
            assert wait_for(lambda: site.requested("/s/"), 30), _log(log)
            feeds.write_text(added.replace("    url: " + other.url("/new.xml"),
                                           "\turl: " + other.url("/new.xml")), encoding="utf-8")
            proc.send_signal(signal.SIGHUP)
            assert wait_for(lambda: "reload refused" in _log(log), 10), _log(log)
            assert f"{feeds}:6:" in _log(log), _log(log)  # the line of the tab
            assert not other.requested(), "a refused config started its feed anyway"

            feeds.write_text(added, encoding="utf-8")
            proc.send_signal(signal.SIGHUP)
            assert wait_for(lambda: other.requested(path), 20), _log(log)
            assert wait_for(lambda: "from 'New'" in _log(log), 10), _log(log)  # logs name no title (issue 12)
            pending = [p for p in slow if not site.requested(p)]
            assert pending, "the slow poll should still be in flight"
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(60)
        finally:
            stop(proc)
        text = _log(log)
        assert code == 0, text
        assert "Traceback" not in text and "monitor service stopped" in text, text

        again = run_cli("run", "--once", *common)
        assert again.returncode == 0, again.stderr
    db = sqlite3.connect(state)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        titles = sorted(r[0] for r in db.execute("SELECT title FROM stories"))
    finally:
        db.close()
    assert titles == sorted([t for t, _ in STORIES.values()] + [title]), titles
    for page in slow:
        assert len(site.requested(page)) == 1, page  # nothing lost, nothing fetched twice
    assert len(other.requested(path)) == 1

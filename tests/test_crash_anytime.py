"""Crash at any moment: `monitor run --once` is SIGKILLed while it fetches pages, while it extracts, while it
stores and while it sends, then run again. Over the two runs every relevant story reaches the reader exactly
once (a resent message carries the same Message-ID: at most the one message in flight comes twice, as the
README documents), the state passes `PRAGMA integrity_check`, and no process of the killed run is left.

Each phase is held open by the servers, so the kill lands where it is meant to: article pages that answer late
(fetching), a long page the server has finished sending (extracting), a write lock on the state held by the
test (storing: the monitor is inside a store call, waiting), a mail server that took the message and then
hangs before its 250 (sending).
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.support.clock import child_env
from tests.conftest import PROJECT
from tests.support.faultserver import wait_for
from tests.support.localsite import LocalSite, Page, article_html, rss
from tests.support.proctree import HAS_PROC, marked, new_mark
from tests.support.smtp_sink import SmtpSink
from tests.delivery.test_crash_delivery import ARTICLES as FIRST_ARTICLES

pytestmark = pytest.mark.skipif(not HAS_PROC, reason="finding the run's processes needs /proc")

DOSSIER = "/news/dossier"
ARTICLES = {
    **FIRST_ARTICLES,
    "/news/lawyer-barred": ("Lawyer barred from seeing detained Khorog journalist", [
        "A lawyer hired by the family of a journalist detained in Khorog last week said guards at the GBAO "
        "pre-trial detention centre turned him away three days in a row.",
        "The journalist's colleagues say he is held over a report on the 2022 protests in Gorno-Badakhshan.",
    ]),
    "/news/elders-summoned": ("Pamiri elders summoned by security service in Khorog", [
        "Four elders from Khorog's Pamiri community were summoned to the regional security service on Thursday "
        "and questioned for six hours about a petition, one of them told relatives.",
        "The petition asked for the release of men detained in GBAO after the events of May 2022.",
    ]),
    DOSSIER: ("Dossier: every detention in Khorog since 2022, district by district", [
        f"Entry {i}: residents of Khorog in GBAO described a detention in district {i % 40}, the search of a "
        f"family home and a court hearing scheduled for case {i * 7}." for i in range(14000)
    ]),
}
BORING = {f"/news/weather-{i}": (f"Weather report {i}", [f"Sunny spells are expected on day {i}.",
                                                         "Temperatures stay seasonal all week."]) for i in range(2)}
TITLES = [title for title, _ in ARTICLES.values()]  # every title a digest line may show


def build_site(site: LocalSite, delay: float = 0.0, dossier: bool = False) -> list[str]:
    """The feed and its pages; the long dossier (only where extraction must be caught in the act) costs
    trafilatura a second or two. Returns the titles that must reach the reader."""
    pages = {p: a for p, a in {**ARTICLES, **BORING}.items() if dossier or p != DOSSIER}
    for path, (title, paragraphs) in pages.items():
        site.add(path, Page(article_html(title, paragraphs).encode(), delay=delay))
    items = [{"title": title, "path": path} for path, (title, _) in pages.items()]
    site.add("/feed.xml", Page(rss("Pamir Test News", items, base=site.base).encode(),
                               content_type="application/rss+xml"))
    return [title for path, (title, _) in pages.items() if path in ARTICLES]


class Runs:
    """`monitor run --once` on one state, as a user's timer would start it, each run marked for /proc."""

    def __init__(self, tmp: Path, site: LocalSite, sink: SmtpSink):
        self.tmp, self.state, self.log = tmp, tmp / "state.db", tmp / "run.log"
        self.feeds = tmp / "feeds.yaml"
        self.feeds.write_text(f"feeds:\n  - name: Pamir Test News\n    url: {site.url('/feed.xml')}\n"
                              "settings:\n  timeout: 10\n", encoding="utf-8")
        self.env = child_env()
        self.env.update(sink.env(), PYTHONPATH=str(PROJECT))
        self.marks: list[str] = []

    def start(self, log: Path | None = None) -> subprocess.Popen:
        mark = new_mark()
        self.marks.append(mark)
        cmd = [sys.executable, "-m", "monitor", "run", "--once", "--feeds", str(self.feeds),
               "--keywords", str(PROJECT / "keywords.yaml"), "--state", str(self.state)]
        out = open(log or self.log, "a", encoding="utf-8")
        return subprocess.Popen(cmd, env={**self.env, mark: "1"}, cwd=self.tmp, stdout=out, stderr=subprocess.STDOUT)

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def leftovers(self) -> list[int]:
        return [pid for mark in self.marks for pid in marked(mark)]


def delivered(sink: SmtpSink) -> tuple[Counter, int]:
    """(how often each story title arrived, counting each Message-ID once; how many messages came again)."""
    bodies: dict[str, str] = {}
    ids: Counter = Counter()
    for msg in sink.messages:
        ids[msg["Message-ID"]] += 1
        bodies[msg["Message-ID"]] = msg.get_body(("plain",)).get_content()
    titles: Counter = Counter()
    for text in bodies.values():
        for line in text.splitlines():
            title = line.split(". ", 1)[-1]
            if title in TITLES:
                titles[title] += 1
    return titles, sum(n - 1 for n in ids.values())


def _hold_write_lock(state: Path) -> sqlite3.Connection:
    """Take the state's write lock as another writer would: the monitor's next write waits inside the store."""
    db = sqlite3.connect(state, timeout=10, isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    return db


PHASES = ["fetching", "extracting", "storing", "sending"]


@pytest.mark.parametrize("phase", PHASES)
def test_a_run_killed_at_any_moment_loses_nothing_and_sends_nothing_twice(tmp_path, phase):
    lock: sqlite3.Connection | None = None
    with LocalSite() as site, SmtpSink() as sink:
        titles = build_site(site, delay=30.0 if phase == "fetching" else 0.0, dossier=phase == "extracting")
        if phase == "sending":
            sink.stall(after_receipt=True)  # the server has the message; our mark never happens
        runs = Runs(tmp_path, site, sink)
        first = runs.start()
        try:
            if phase == "fetching":
                assert wait_for(lambda: site.requested("/news/"), 60), runs.text()
                assert not [p for p in site.served if p.startswith("/news/")], site.served
            elif phase == "extracting":
                assert wait_for(lambda: DOSSIER in site.served, 60), runs.text()
                time.sleep(0.2)
                assert "Dossier: every detention" not in runs.text(), "the long page was extracted already"
            elif phase == "storing":
                assert wait_for(lambda: any(p.startswith("/news/") for p in site.served), 60), runs.text()
                lock = _hold_write_lock(runs.state)
                time.sleep(1.0)  # the run's next write now waits in the store for the lock (the loop with it)
            else:
                assert sink.stalled.wait(60), runs.text()
            assert first.poll() is None, runs.text()
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        assert wait_for(lambda: not runs.leftovers(), 15), f"processes of the killed run remain: {runs.leftovers()}"
        if lock is not None:
            lock.execute("ROLLBACK")
            lock.close()
        for page in site.pages.values():
            page.delay = 0.0
        sink.accept()

        second = runs.start()
        assert second.wait(120) == 0, runs.text()
        log = runs.text()
    assert "Traceback" not in log, log
    assert wait_for(lambda: not runs.leftovers(), 15), runs.leftovers()
    received, resent = delivered(sink)
    assert received == Counter({t: 1 for t in titles}), (received, log[-3000:])
    assert resent <= (1 if phase == "sending" else 0), resent
    db = sqlite3.connect(runs.state)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT COUNT(*) FROM stories").fetchone()[0] == len(titles)
        assert db.execute("SELECT COUNT(*) FROM outbox WHERE status != 'sent'").fetchone()[0] == 0
    finally:
        db.close()


def test_two_runs_started_together_on_one_state_send_everything_once(tmp_path):
    with LocalSite() as site, SmtpSink() as sink:
        expected = build_site(site)
        runs = Runs(tmp_path, site, sink)
        logs = [tmp_path / "a.log", tmp_path / "b.log"]
        procs = [runs.start(log) for log in logs]
        codes = [p.wait(120) for p in procs]
        texts = [log.read_text(encoding="utf-8") for log in logs]
        again = runs.start()  # and a third, later, finds nothing new to send
        assert again.wait(120) == 0, runs.text()
    for code, text in zip(codes, texts):
        assert "Traceback" not in text, text
        assert code == 0 or (code == 1 and "another monitor is already running" in text), (code, text)
    assert 0 in codes, texts
    received, resent = delivered(sink)
    assert received == Counter({t: 1 for t in expected}), received
    assert resent == 0
    assert not runs.leftovers()

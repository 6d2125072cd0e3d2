"""The service (`monitor run`) under signals, and `monitor status` telling which sources are dead."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path


from monitor import clock
from tests.support.clock import child_env
from tests.conftest import PROJECT, run_cli
from tests.support.faultserver import feeds_yaml, stop, wait_for
from tests.support.localsite import LocalSite, Page, article_html, rss

STORIES = {
    "/s/court": ("Khorog court jails Pamiri poet", [
        "A court in Khorog, GBAO, sentenced a Pamiri poet to nine years in prison on Tuesday after a closed trial, "
        "his relatives said.",
        "He was detained in March after reading a poem about the events of 2022 at a wedding."]),
    "/s/border": ("В Хороге задержан журналист", [
        "В Хороге задержан местный журналист, писавший о ситуации в ГБАО, сообщили его коллеги.",
        "Журналиста задержали сотрудники ГКНБ у него дома; изъяты ноутбук и телефоны."]),
    "/s/families": ("Relatives of exiled Pamiris detained in GBAO", [
        "Security forces in Khorog detained the parents of two Pamiri activists who live in exile in Europe, "
        "according to a rights group.",
        "The rights group said the detentions in the Gorno-Badakhshan region aim to silence critics abroad."]),
}
BORING = {f"/s/weather{i}": (f"Weather report {i}", [f"Sunny spells are expected on day {i} in most districts.",
                                                     "Temperatures will stay seasonal throughout the week."])
          for i in range(3)}


def _serve(args: list[str], log: Path) -> subprocess.Popen:
    env_python = {"PYTHONPATH": str(PROJECT)}

    env = child_env() | env_python
    return subprocess.Popen([sys.executable, "-m", "monitor", *args], stdout=subprocess.PIPE,
                            stderr=open(log, "w", encoding="utf-8"), env=env, cwd=PROJECT, text=True)


def _start_service(tmp_path: Path, feeds_yaml: str) -> tuple[Path, Path, subprocess.Popen]:
    """`monitor run` on this feeds.yaml with the shipped keywords: (feeds file, log file, process)."""
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(feeds_yaml, encoding="utf-8")
    log = tmp_path / "service.log"
    proc = _serve(["run", "--feeds", str(feeds), "--keywords", str(PROJECT / "keywords.yaml"),
                   "--state", str(tmp_path / "state.db")], log)
    return feeds, log, proc


def _log(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def test_sigterm_mid_poll_exits_0_with_a_consistent_state_and_loses_nothing(tmp_path):
    with LocalSite() as site:
        for path, (title, text) in {**STORIES, **BORING}.items():
            site.add(path, Page(article_html(title, text).encode(), delay=1.0))
        items = [{"title": t, "path": p} for p, (t, _) in {**STORIES, **BORING}.items()]
        site.add("/feed.xml", Page(rss("Slow News", items, base=site.base).encode(),
                                   content_type="application/rss+xml"))
        feeds = feeds_yaml(tmp_path / "feeds.yaml", [("Slow News", site.url("/feed.xml"))],
                           settings="  timeout: 5\n  per_host: 2\n")
        state, log = tmp_path / "state.db", tmp_path / "service.log"
        common = ["--feeds", str(feeds), "--keywords", str(PROJECT / "keywords.yaml"), "--state", str(state)]
        proc = _serve(["run", *common], log)
        try:
            assert wait_for(lambda: site.requested("/s/"), 30), _log(log)
            proc.send_signal(signal.SIGTERM)
            sent = time.monotonic()
            code = proc.wait(30)
            took = time.monotonic() - sent
        finally:
            stop(proc)
        assert code == 0, _log(log)
        assert took < 15, f"stopped {took:.1f}s after SIGTERM"
        text = _log(log)
        assert "stopping" in text and "monitor service stopped" in text, text
        assert "Traceback" not in text and "cut off" not in text, text
        db = sqlite3.connect(state)
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        first_items = db.execute("SELECT COUNT(*) FROM items").fetchone()[0]
        db.close()

        second = run_cli("run", "--once", *common)
        assert second.returncode == 0, second.stderr
        db = sqlite3.connect(state)
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        urls = [r[0] for r in db.execute("SELECT url FROM items")]
        assert len(urls) == len(set(urls)) == len(STORIES) + len(BORING), urls
        titles = sorted(r[0] for r in db.execute("SELECT title FROM stories"))
        assert titles == sorted(t for t, _ in STORIES.values()), titles
        for title, _ in STORIES.values():
            assert second.stdout.count(title) == 1, (title, second.stdout)
        assert first_items == len(STORIES) + len(BORING), "the poll in flight was finished, not cut off"
        for path in {**STORIES, **BORING}:  # so the second run fetched no article again
            assert len(site.requested(path)) == 1, path


def test_sighup_with_a_broken_config_keeps_the_last_good_one(tmp_path):
    with LocalSite() as site:
        body = rss("A", [{"title": t, "path": p} for p, (t, _) in BORING.items()], base=site.base).encode()
        for path, (title, text) in BORING.items():
            site.add(path, article_html(title, text))
        site.add("/a.xml", Page(body, content_type="application/rss+xml"))
        site.add("/b.xml", Page(body, content_type="application/rss+xml"))
        good = f"feeds:\n  - name: A\n    url: {site.url('/a.xml')}\n    interval: 1s\nsettings:\n  timeout: 2\n"
        feeds, log, proc = _start_service(tmp_path, good)
        try:
            assert wait_for(lambda: site.requested("/a.xml"), 30), _log(log)
            feeds.write_text(good.replace("    interval: 1s\n", "    interval: 1s\n\tenabled: false\n"),
                             encoding="utf-8")
            proc.send_signal(signal.SIGHUP)
            assert wait_for(lambda: "reload refused" in _log(log), 10), _log(log)
            assert f"{feeds}:5:" in _log(log), _log(log)
            polled = len(site.requested("/a.xml"))
            assert wait_for(lambda: len(site.requested("/a.xml")) >= polled + 2, 10), "the old config still runs"
            assert proc.poll() is None

            feeds.write_text(good.replace("/a.xml", "/b.xml"), encoding="utf-8")
            proc.send_signal(signal.SIGHUP)
            assert wait_for(lambda: "config reloaded" in _log(log), 10), _log(log)
            assert wait_for(lambda: site.requested("/b.xml"), 10), "the new good config is used"
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(20) == 0, _log(log)
        finally:
            stop(proc)
        assert "Traceback" not in _log(log)


def test_a_feed_added_by_reload_on_a_new_host_delivers_its_story(tmp_path):
    """Hosts of feeds are trusted; a reload must extend that trust to the new feed's host."""
    with LocalSite() as first, LocalSite(host="127.0.0.2") as second:
        first.add("/a.xml", Page(rss("A", [], base=first.base).encode(), content_type="application/rss+xml"))
        path, (title, text) = "/s/court", STORIES["/s/court"]
        second.add(path, article_html(title, text))
        second.add("/b.xml", Page(rss("B", [{"title": title, "path": path}], base=second.base).encode(),
                                  content_type="application/rss+xml"))
        one = f"feeds:\n  - name: A\n    url: {first.url('/a.xml')}\n    interval: 1s\nsettings:\n  timeout: 2\n"
        feeds, log, proc = _start_service(tmp_path, one)
        try:
            assert wait_for(lambda: first.requested("/a.xml"), 30), _log(log)
            feeds.write_text(one.replace("settings:", f"  - name: B\n    url: {second.url('/b.xml')}\n"
                                                      "    interval: 1s\nsettings:"), encoding="utf-8")
            proc.send_signal(signal.SIGHUP)
            assert wait_for(lambda: second.requested(path), 20), _log(log)
            assert wait_for(lambda: "new story" in _log(log), 10), _log(log)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(20) == 0, _log(log)
        finally:
            stop(proc)
        assert "blocked" not in _log(log)
        assert title in sqlite3.connect(tmp_path / "state.db").execute("SELECT group_concat(title) FROM stories"
                                                                       ).fetchone()[0]


def test_status_names_failing_feeds_and_the_long_dead_ones(tmp_path):
    with LocalSite() as site:
        site.add("/ok.xml", Page(rss("OK", [{"title": t, "path": p} for p, (t, _) in BORING.items()],
                                     base=site.base).encode(), content_type="application/rss+xml"))
        for path, (title, text) in BORING.items():
            site.add(path, article_html(title, text))
        site.add("/dead.xml", Page(b"down for maintenance", status=503, content_type="text/plain"))
        feeds = feeds_yaml(tmp_path / "feeds.yaml", [("Working Feed", site.url("/ok.xml")),
                                                      ("Dead Feed", site.url("/dead.xml"))])
        state = tmp_path / "state.db"
        common = ("--feeds", str(feeds), "--keywords", str(PROJECT / "keywords.yaml"), "--state", str(state))
        assert run_cli("run", "--once", *common).returncode == 0
    status = run_cli("status", *common)
    assert status.returncode == 0, status.stderr
    rows = {line.split("  ")[0]: line for line in status.stdout.splitlines() if line.startswith(("Working", "Dead"))}
    assert "FAILING since" in rows["Dead Feed"] and "HTTP 503 Service Unavailable" in rows["Dead Feed"], status.stdout
    assert "FAILING" not in rows["Working Feed"]
    assert "failing for more than" not in status.stdout

    two_days_ago = (clock.now() - timedelta(days=2)).isoformat(timespec="seconds")
    db = sqlite3.connect(state)
    with db:
        db.execute("UPDATE feeds SET error_since = ? WHERE name = 'Dead Feed'", (two_days_ago,))
    db.close()
    status = run_cli("status", *common)
    assert "FAILING since 2d ago" in status.stdout, status.stdout
    footer = [line for line in status.stdout.splitlines() if "failing for more than" in line]
    assert footer == ["feeds failing for more than 24h: Dead Feed"], status.stdout


def test_a_database_error_in_a_job_is_one_line_and_the_service_goes_on(caplog):
    """A full disk or a database server that stays away: the job says so in one line, no traceback, and runs
    again at its next time."""
    import asyncio
    import logging
    import types

    from monitor.scheduler import Service

    service = object.__new__(Service)  # only what a job needs: the state's name, the set of running jobs
    service.monitor = types.SimpleNamespace(store=types.SimpleNamespace(where="postgresql://pamir:***@db/pamir"))
    service.running, service.stopping = set(), asyncio.Event()

    async def step() -> None:
        raise sqlite3.OperationalError("the database server cannot be used (connection refused)")

    with caplog.at_level(logging.ERROR, logger="monitor.service"):
        asyncio.run(service._tracked("digest", step)())
    (record,) = [r for r in caplog.records if r.name == "monitor.service"]
    assert record.exc_info is None and "\n" not in record.getMessage()
    assert record.getMessage() == ("job digest: postgresql://pamir:***@db/pamir: state database error: the database "
                                   "server cannot be used (connection refused); it runs again at its next time")

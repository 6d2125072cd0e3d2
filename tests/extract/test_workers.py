"""Extraction workers: a monitor killed hard leaves no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.support.clock import child_env
from tests.conftest import PROJECT
from tests.support.localsite import LocalSite, Page, article_html, rss
from tests.support.proctree import marked


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_a_monitor_killed_mid_cycle_leaves_no_worker_behind(tmp_path):
    with LocalSite() as site:
        items = []
        for i in range(6):
            path = f"/a/{i}"
            site.add(path, Page(article_html(f"Weather report {i}", ["Sunny spells in most districts."] * 20).encode(),
                                delay=0.0 if i == 0 else 3.0))
            items.append({"title": f"Weather report {i}", "path": path})
        site.add("/feed.xml", Page(rss("W", items, base=site.base).encode(), content_type="application/rss+xml"))
        feeds = tmp_path / "feeds.yaml"
        feeds.write_text(f"feeds:\n  - name: W\n    url: {site.url('/feed.xml')}\n", encoding="utf-8")
        mark = f"MONITOR_TEST_MARK_{uuid.uuid4().hex}"
        env = child_env()
        env.update({"PYTHONPATH": str(PROJECT), mark: "1"})
        proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "--once", "--feeds", str(feeds),
                                 "--keywords", str(PROJECT / "keywords.yaml"), "--state", str(tmp_path / "s.db")],
                                env=env, cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while len(marked(mark)) < 3 and time.monotonic() < deadline:  # monitor, fork server, workers
                time.sleep(0.1)
            assert len(marked(mark)) >= 3, "the extraction workers never started"
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            deadline = time.monotonic() + 15
            while marked(mark) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert marked(mark) == [], "processes of the killed monitor are still running"
        finally:
            proc.kill()
            for pid in marked(mark):
                os.kill(pid, signal.SIGKILL)


def _ignores_sigint(pid: int) -> bool:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        mask = next(line.split()[1] for line in f if line.startswith("SigIgn:"))
    return bool(int(mask, 16) & (1 << (signal.SIGINT - 1)))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_a_terminals_ctrl_c_to_the_process_group_leaves_the_workers_to_the_parent():
    """Ctrl-C in a terminal signals every process of the group: the workers must not die of it (each would print
    a KeyboardInterrupt traceback); the parent decides, and ends them itself."""
    import asyncio

    from monitor.extract.text import ExtractorPool

    pool = ExtractorPool(workers=2)
    try:
        pool._start_workers()
        workers = list(pool._pool._processes.values())
        assert workers, "the workers never started"
        deadline = time.monotonic() + 10  # a worker is set up once its initializer ran
        while not all(_ignores_sigint(w.pid) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        for worker in workers:
            os.kill(worker.pid, signal.SIGINT)
        time.sleep(0.5)
        assert all(w.is_alive() for w in workers), "a worker died of Ctrl-C"
        html = article_html("Detained in Khorog", ["Police detained two activists in Khorog on Monday."] * 5)
        extracted = asyncio.run(pool.extract(html, "https://example.org/a", hint=None))
        assert extracted is not None and "Khorog" in extracted.text
    finally:
        pool.close()

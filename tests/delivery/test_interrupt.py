"""Ctrl-C while an urgent alert is on its way to Telegram: the request in flight gets a short grace to finish,
the run says "interrupted" in one line, and the next run does not send the alert again."""

from __future__ import annotations

import signal
import subprocess
import sys

from tests.conftest import PROJECT
from tests.support.clock import child_env
from tests.support.fake_telegram import FakeTelegram
from tests.support.faultserver import feeds_yaml
from tests.support.localsite import LocalSite, Page, article_html, rss
from tests.support.terminal import foreground

TITLE = "Pamiri activists detained in Khorog"
STORY = ["Security forces detained two Pamiri activists in Khorog, GBAO, on Wednesday night after they criticised "
         "the regional governor online, relatives said.",
         "The activists' phones were confiscated and their families were warned not to speak to journalists."]


def _monitor(tmp_path, feeds, tg: FakeTelegram) -> subprocess.Popen:
    env = child_env({"PYTHONPATH": str(PROJECT), **tg.env()})
    return subprocess.Popen([sys.executable, "-m", "monitor", "run", "--once", "--feeds", str(feeds), "--keywords",
                             str(PROJECT / "keywords.yaml"), "--state", str(tmp_path / "state.db")],
                            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=foreground)  # Ctrl-C reaches it, however the suite was started


def test_ctrl_c_during_a_telegram_send_finishes_that_request_and_the_next_run_sends_nothing_twice(tmp_path):
    with LocalSite() as site, FakeTelegram(delay=1.5) as tg:
        site.add("/s/1", article_html(TITLE, STORY))
        site.add("/feed.xml", Page(rss("Feed", [{"title": TITLE, "path": "/s/1"}], base=site.base).encode(),
                                   content_type="application/rss+xml"))
        feeds = feeds_yaml(tmp_path / "feeds.yaml", [("Feed", site.url("/feed.xml"))])
        proc = _monitor(tmp_path, feeds, tg)
        try:
            assert tg.arrived.wait(60), "the alert was never sent"
            proc.send_signal(signal.SIGINT)  # the request is in flight: the fake answers after 1.5 s
            _, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
        assert proc.returncode == 130, err
        assert "Traceback" not in err and "never retrieved" not in err, err
        interrupted = [line for line in err.splitlines() if "interrupted" in line.lower()]
        assert len(interrupted) == 1, err
        tg.delay = 0.0
        again = _monitor(tmp_path, feeds, tg)
        _, err2 = again.communicate(timeout=60)
        assert again.returncode == 0, err2
    alerts = [m for m in tg.messages if TITLE in m["visible"]]
    assert len(alerts) == 1, [m["visible"][:80] for m in tg.messages]

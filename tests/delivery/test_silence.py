"""A monitor's story: the GBAO sources fall silent (an internet cut) while the others publish. One alert says
since when; none more while it lasts; one more when they speak again."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta

from monitor import clock
from monitor.config.feeds import load_feeds
from monitor.delivery.cycle import DeliverySteps
from monitor.delivery.stdout import StdoutNotifier
from tests.support.clock import pin, restore

FEEDS = """feeds:
  - name: Khorog Telegram
    url: https://t.example/feed
    region: gbao
  - name: Pamir local
    url: https://p.example/feed
    region: gbao
  - name: Eurasianet
    url: https://e.example/feed
settings:
  silence_after: 12h
"""


class Cycle(DeliverySteps):
    """The delivery half of a cycle, with the one channel a test can read: a digest file."""

    def __init__(self, store, feeds, path):
        self.store, self.feeds, self.settings = store, feeds, feeds.settings
        self.notifiers = [StdoutNotifier(str(path))]
        self.undelivered = False
        self.feed_names = {f.name for f in feeds.feeds}


def _seen(store, feed: str, n: int) -> None:
    store.record_item(feed=feed, guid=None, url=f"https://x.example/{feed}/{n}", url_key=f"{feed}/{n}",
                      status="unmatched")


def test_gbao_sources_silent_then_speaking_again(store, tmp_path):
    feeds_file = tmp_path / "feeds.yaml"
    feeds_file.write_text(FEEDS, encoding="utf-8")
    feeds = load_feeds(feeds_file)
    out = tmp_path / "digests.txt"
    cycle = Cycle(store, feeds, out)
    saved = os.environ[clock.ENV]
    start = clock.now()
    try:
        _seen(store, "Khorog Telegram", 1)
        _seen(store, "Eurasianet", 1)
        for hours in (6, 13, 20):  # the others keep publishing; GBAO has been silent since `start`
            pin(start + timedelta(hours=hours))
            _seen(store, "Eurasianet", hours)
            asyncio.run(cycle.send_health())
        text = out.read_text(encoding="utf-8")
        assert text.count("GBAO sources silent since") == 1
        assert f"silent since {start:%Y-%m-%d %H:%M} UTC (2 sources; the other sources still publish)" in text
        pin(start + timedelta(hours=22))
        _seen(store, "Pamir local", 2)
        asyncio.run(cycle.send_health())
        asyncio.run(cycle.send_health())
        text = out.read_text(encoding="utf-8")
        assert text.count("GBAO sources speaking again") == 1 and text.count("GBAO sources silent") == 1
    finally:
        restore(saved)


def test_no_alert_when_everything_is_quiet(store, tmp_path):
    feeds_file = tmp_path / "feeds.yaml"
    feeds_file.write_text(FEEDS, encoding="utf-8")
    cycle = Cycle(store, load_feeds(feeds_file), tmp_path / "digests.txt")
    saved = os.environ[clock.ENV]
    start = clock.now()
    try:
        _seen(store, "Khorog Telegram", 1)
        _seen(store, "Eurasianet", 1)
        pin(start + timedelta(hours=30))  # nobody published: a quiet night, not a cut
        asyncio.run(cycle.send_health())
        assert not (tmp_path / "digests.txt").exists()
    finally:
        restore(saved)

"""The 5,000-source bench (bench/bench_hosts.py) measures what it says: poll lag, double polls and takeover from
the site's poll log, and a site whose Telegram previews the monitor reads as channels.

The full bench runs for half an hour and `--quick` for most of a minute, so CI checks the parts that decide
the figures (pure functions over a poll log) and the site's pages, in well under a second.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}_under_test", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def hosts():
    return _load("bench_hosts")


def test_a_late_poll_is_its_gap_beyond_the_interval_and_a_source_still_waiting_counts(hosts) -> None:
    # source 0 on time twice, source 1 polled 30 s late, source 2 not polled again by the end (100 s overdue)
    polls = [(0, 0), (100, 0), (200, 0), (5, 1), (135, 1), (10, 2)]
    lag = hosts.poll_lags(polls, sources=4, interval=100, start=0, end=210)
    assert lag["lags_measured"] == 3 and lag["still_waiting_at_end"] == 1
    assert lag["max"] == pytest.approx(100) and lag["p50"] == pytest.approx(0)
    assert lag["sources_never_polled"] == 1 and lag["double_polls"] == 0


def test_two_hosts_polling_one_source_show_as_double_polls_not_as_punctuality(hosts) -> None:
    polls = [(0, 0), (3, 0), (100, 0), (104, 0)]
    lag = hosts.poll_lags(polls, sources=1, interval=100, start=0, end=150)
    assert lag["double_polls"] == 2
    assert lag["polls_per_source_per_interval"] == pytest.approx(4 / 1.5)


def test_takeover_is_the_worst_lateness_of_a_next_poll_after_the_kill(hosts) -> None:
    # killed at 50: source 0 was due at 100 and came at 100; source 1 was due at 60 and came at 95 (35 s late);
    # source 2 was never polled again (due at 80, end 200: 120 s so far)
    polls = [(0, 0), (100, 0), (-40, 1), (95, 1), (-20, 2)]
    k = hosts.takeover_times(polls, sources=3, interval=100, kill=50, end=200)
    assert k["takeover_s"] == pytest.approx(120) and k["not_polled_again"] == 1
    assert k["all_polled_again_after_s"] is None
    k = hosts.takeover_times(polls[:4], sources=2, interval=100, kill=50, end=200)
    assert k["takeover_s"] == pytest.approx(35) and k["all_polled_again_after_s"] == pytest.approx(50)


def test_the_sites_channel_preview_is_read_as_a_telegram_channel_and_new_posts_appear() -> None:
    from monitor.sources.telegram import parse_preview

    site_mod = _load("hosts_site")
    site = site_mod.HostsSite(feeds=2, channels=3, items=2, posts=20, delay=0, seed=1, match_rate=0.5,
                              min_kb=1, max_kb=2)
    url = site.channel_url(1)
    entries, older = parse_preview("channel-1", site.channel_page(1), url)
    assert len(entries) == 20 and older is None
    assert all(e.text and e.published for e in entries)
    # a page spans 38 hours, so a poll never walks back to older pages
    assert (entries[-1].published - entries[0].published).total_seconds() == 19 * 2 * 3600
    assert any("Khorog" in e.text or "Gorno-Badakhshan" in e.text for e in entries)
    before = sum(site.chan_head)
    assert site.advance(0.1)["new_posts"] == 6 and sum(site.chan_head) == before + 6
    newest = max(range(3), key=lambda c: site.chan_head[c])
    entries, _ = parse_preview("c", site.channel_page(newest), site.channel_url(newest))
    assert entries[-1].url.endswith(f"/{site.chan_head[newest]}")

"""The timer's every-15-minutes run when nothing happened: one conditional GET per feed, and nothing more.

And the moment something does happen, the same run becomes a full cycle without asking any feed twice.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import PROJECT, run_cli
from tests.support.localsite import LocalSite, Page, article_html, rss

KHOROG = [
    "Relatives say police in Khorog took away three young men from the Pamiri community on Sunday night and have "
    "not said where they are held; lawyers were turned away from the regional police building in GBAO.",
    "Rights groups have documented dozens of similar detentions in the region since the protests of 2022.",
]
WEATHER = ["Snow is expected on the passes this week; drivers should carry chains.",
           "Temperatures will fall below minus twenty at night in the high valleys."]


def _outlet(site: LocalSite, items: list[tuple[str, str]]) -> None:
    site.add("/feed.xml", Page(rss("Outlet", [{"title": t, "path": p} for t, p in items], base=site.base).encode(),
                               content_type="application/rss+xml"))


def _setup(tmp_path: Path, site: LocalSite) -> list[str]:
    site.add("/news/weather", article_html("Snow on the passes", WEATHER))
    _outlet(site, [("Snow on the passes", "/news/weather")])
    (tmp_path / "feeds.yaml").write_text(f"feeds:\n  - name: Outlet\n    url: {site.url('/feed.xml')}\n",
                                         encoding="utf-8")
    return ["--feeds", str(tmp_path / "feeds.yaml"), "--keywords", str(PROJECT / "keywords.yaml"),
            "--state", str(tmp_path / "state.db")]


def _once(opts: list[str], *extra: str, env: dict[str, str] | None = None):
    result = run_cli(*opts, *extra, "run", "--once", env=env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


def test_a_run_with_nothing_new_asks_each_feed_once_with_its_validator_and_nothing_else(tmp_path, site):
    opts = _setup(tmp_path, site)
    _once(opts)  # the first run reads everything and leaves the plan for the quiet ones
    site.clear()
    quiet = _once(opts, "-v")
    asked = site.requested()
    assert [r.path for r in asked] == ["/feed.xml"], "no robots.txt, no article page"
    assert asked[0].headers.get("if-none-match"), "a conditional GET"
    assert "all not modified" in quiet.stderr and "no new matching stories: no digest" in quiet.stderr
    assert quiet.stdout.strip() == ""
    status = run_cli(*opts, "status")
    assert "ok" in status.stdout.splitlines()[1], status.stdout


def test_a_story_published_between_two_quiet_runs_is_delivered_and_the_feed_is_asked_once(tmp_path, site):
    opts = _setup(tmp_path, site)
    _once(opts)
    _once(opts)
    site.add("/news/khorog", article_html("Three young Pamiris taken away in Khorog", KHOROG))
    _outlet(site, [("Three young Pamiris taken away in Khorog", "/news/khorog"), ("Snow on the passes", "/news/weather")])
    site.clear()
    run = _once(opts)
    assert "Three young Pamiris taken away in Khorog" in run.stdout
    assert len(site.requested("/feed.xml")) == 1, "the quiet attempt's answer is used, not asked for again"
    assert len(site.requested("/news/khorog")) == 1 and not site.requested("/news/weather")
    site.clear()
    again = _once(opts)
    assert again.stdout.strip() == "" and [r.path for r in site.requested()] == ["/feed.xml"]


def test_an_edited_keywords_file_or_delivery_setting_runs_the_full_cycle(tmp_path, site):
    opts = _setup(tmp_path, site)
    _once(opts)
    keywords = tmp_path / "keywords.yaml"
    keywords.write_text((PROJECT / "keywords.yaml").read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    opts[3] = str(keywords)
    full = _once(opts)
    assert "all not modified" not in full.stderr, "a changed rule file is validated by a full cycle"
    assert "all not modified" in _once(opts).stderr
    digest_file = tmp_path / "digests.txt"
    assert "all not modified" not in _once(opts, env={"MONITOR_DIGEST_FILE": str(digest_file)}).stderr


def test_a_broken_config_is_reported_even_when_the_last_cycle_was_quiet(tmp_path, site):
    opts = _setup(tmp_path, site)
    _once(opts)
    (tmp_path / "feeds.yaml").write_text("feeds:\n  - name: Outlet\n    urll: nowhere\n", encoding="utf-8")
    result = run_cli(*opts, "run", "--once")
    assert result.returncode == 2 and "feeds.yaml:3" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_a_site_that_asked_another_host_to_wait_is_not_asked_by_the_quiet_cycle(tmp_path, site):
    """Host vps-a was told by one outlet to come back in an hour (Retry-After) and shared that pause in the state;
    vps-b's timer-driven run finds nothing else to do: it asks the other outlet, and leaves that one alone."""
    from monitor.sources.politeness import origin_of
    from monitor.store import Store

    env = {"MONITOR_HOST_ID": "vps-b"}
    with LocalSite() as other:
        other.add("/rss", Page(rss("Other", [{"title": "Snow on the passes", "path": "/news/weather"}],
                                   base=other.base).encode(), content_type="application/rss+xml"))
        other.add("/news/weather", article_html("Snow on the passes", WEATHER))
        opts = _setup(tmp_path, site)
        (tmp_path / "feeds.yaml").write_text(f"feeds:\n  - name: Outlet\n    url: {site.url('/feed.xml')}\n"
                                             f"  - name: Other\n    url: {other.url('/rss')}\n", encoding="utf-8")
        _once(opts, env=env)  # the full run that leaves the plan
        state = Store(tmp_path / "state.db")
        try:
            state.pause_origin(origin_of(site.url("/feed.xml")), 3600, "Retry-After", "vps-a")
        finally:
            state.close()
        site.clear()
        other.clear()
        quiet = _once(opts, "-v", env=env)
        assert site.requested() == [], "the outlet asked to be left alone for an hour"
        assert [r.path for r in other.requested()] == ["/rss"], "the other outlet is asked as every quiet cycle"
        assert "all not modified; 1 left alone while their site's pause lasts" in quiet.stderr
        assert "feed 'Outlet': skipped: its site asked host vps-a to wait (Retry-After)" in quiet.stderr


def test_a_retry_after_met_by_one_timer_run_holds_for_the_next_runs_on_the_same_host(tmp_path, site):
    """The outlet answers 429 with Retry-After: one hour. The `run --once` timer fires again 15 minutes later on
    the same machine: that run must not ask the outlet again (its own Fetcher is new, the state remembers)."""
    opts = _setup(tmp_path, site)
    site.add("/feed.xml", Page(b"slow down", status=429, headers={"Retry-After": "3600"}))
    first = run_cli(*opts, "run", "--once")
    assert first.returncode == 3 and "HTTP 429 Too Many Requests, retry after 3600s" in first.stderr, first.stderr
    assert len(site.requested("/feed.xml")) == 1
    second = run_cli(*opts, "run", "--once")
    assert second.returncode == 3 and "Traceback" not in second.stderr
    assert len(site.requested("/feed.xml")) == 1, "the next run leaves the outlet alone for the hour it asked"
    assert "host asked us to wait (Retry-After, met by another host or an earlier run)" in second.stderr, \
        second.stderr


def test_alerts_waiting_for_a_reader_who_takes_none_end_the_quiet_plan_when_the_digest_is_due(tmp_path):
    """The reader with `urgency: digest` reads the killing in the next digest: timer runs that find every feed
    unchanged must not hold that digest back for the plan's hour."""
    import json
    from datetime import timedelta

    from monitor import clock
    from monitor.config.feeds import load_feeds
    from monitor.delivery.digest import alerts_owed_at, urgent_digests
    from monitor.delivery.outbox import queue_digest
    from monitor.quiet import MAX_AGE, make_plan
    from monitor.store import Store
    from tests.delivery.test_digest_placement import TITLES, _killing

    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - name: Outlet\n    url: https://outlet.example/feed.xml\n"
                     "recipients:\n  - name: desk\n    email: desk@example.org\n    urgency: digest\n"
                     "settings:\n  digest_interval: 20m\n", encoding="utf-8")
    spec = load_feeds(feeds)
    store = Store(tmp_path / "state.db")
    store.queue_digest("digest", [], {})
    assert alerts_owed_at(store, spec) is None, "nothing waits"
    _killing(store)
    [alert] = urgent_digests(store, topic_titles=TITLES)
    queue_digest(store, alert, [])
    owed = alerts_owed_at(store, spec)
    assert owed == store.last_digest_at() + timedelta(minutes=20) - timedelta(minutes=2)  # less its 10 % slack
    now = clock.time()
    assert json.loads(make_plan(spec, "fp", now))["valid_until"] == now + MAX_AGE
    assert json.loads(make_plan(spec, "fp", now, until=owed.timestamp()))["valid_until"] == owed.timestamp()
    feeds.write_text(feeds.read_text(encoding="utf-8").replace("urgency: digest", "urgency: all"), encoding="utf-8")
    assert alerts_owed_at(store, load_feeds(feeds)) is None, "every reader had the alert"
    store.close()

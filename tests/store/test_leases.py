"""Leases shared by the hosts of one state (issue 25), on both backends: claims, fencing tokens, a fenced host
writing nothing, heartbeats in `monitor status`, a pause of an origin that every host obeys, and delivery under
a channel lease."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time

import pytest

from monitor.delivery.outbox import deliver_due, queue_digest
from monitor.delivery.status import host_lines
from monitor.store.leases import LeaseLost, fenced
from tests.delivery.test_outbox import add_stories, make_digest


def test_a_lease_is_one_hosts_until_given_back_and_each_new_claim_has_a_higher_token(store):
    a = store.claim(["feed:Ozodi", "coordinator"], "host-a", 60)
    assert set(a) == {"feed:Ozodi", "coordinator"}
    assert store.claim(["feed:Ozodi", "coordinator"], "host-b", 60) == {}, "held by host A, not expired"
    again = store.claim(["feed:Ozodi"], "host-a", 60)["feed:Ozodi"]
    assert again.token == a["feed:Ozodi"].token, "a renewal by its holder keeps the token"
    store.hold(a["feed:Ozodi"], 0)  # given back (or expired: the same test on the database's clock)
    b = store.claim(["feed:Ozodi", "coordinator"], "host-b", 60)
    assert set(b) == {"feed:Ozodi"}
    assert b["feed:Ozodi"].token == a["feed:Ozodi"].token + 1
    store.hold(b["feed:Ozodi"], 0)
    assert store.claim(["feed:Ozodi"], "host-a", 60)["feed:Ozodi"].token == a["feed:Ozodi"].token + 2


def test_a_host_that_lost_its_lease_commits_no_row(store):
    lease = store.claim(["feed:Ozodi"], "host-a", 60)["feed:Ozodi"]
    with fenced(lease):
        add_stories(store, 1, 1)  # while the lease holds, writes go through (and renew it)
        store.hold(lease, 0)
        store.claim(["feed:Ozodi"], "host-b", 60)  # host A was frozen past its lease: host B has the feed now
        with pytest.raises(LeaseLost) as lost:
            with store.transaction():
                store.record_item(feed="Ozodi", guid=None, url="https://o/2", url_key="o/2", status="matched")
        assert "feed:Ozodi" in str(lost.value) and f"token {lease.token}" in str(lost.value)
        with pytest.raises(LeaseLost):  # a lone write too
            store.record_poll_failure("Ozodi", "timed out", 5.0)
    urls = [r[0] for r in store.db.execute("SELECT url FROM items")]
    assert urls == ["https://ozodi.example/a/1"]
    assert store.db.execute("SELECT polls FROM feeds").fetchall() == []


def test_status_lists_each_host_when_last_seen_and_the_leases_it_holds(store):
    store.heartbeat("vps-1", "0.1.0", started=True)
    store.heartbeat("vps-2", "0.1.0", started=True)
    store.claim(["coordinator", "channel:email"], "vps-1/4242", 120)  # holder: host/pid
    store.claim(["feed:Ozodi"], "vps-2/77", 120)
    lines = host_lines(store)
    assert lines[0] == "hosts:"
    one = next(line for line in lines if line.startswith("  vps-1:"))
    two = next(line for line in lines if line.startswith("  vps-2:"))
    assert "last seen 0s ago" in one and "channel:email (token 1," in one and "coordinator (token 1, " in one
    assert "feed:Ozodi (token 1, 2m left, pid 77)" in two and "coordinator" not in two
    store.claim(["feed:Pamir"], "vps-2/78@3f2a9c01d4e5", 120)  # this version's holder names the machine too
    assert "feed:Pamir (token 1, 2m left, pid 78)" in next(line for line in host_lines(store) if "vps-2" in line)


def test_a_pause_one_host_met_holds_for_the_other_hosts(store):
    assert store.origin_pause("https://ozodi.example:443", "vps-2") is None
    store.pause_origin("https://ozodi.example:443", 300, "Retry-After", "vps-1")
    store.pause_origin("https://ozodi.example:443", 10, "back-off after repeated failures", "vps-1")  # longer stays
    left, why = store.origin_pause("https://ozodi.example:443", "vps-2")
    assert 290 < left <= 300 and why == "Retry-After"
    assert store.origin_pause("https://ozodi.example:443", "vps-1") is None, "vps-1's own Fetcher keeps it"
    (paused,) = store.origins_paused("vps-2").items()  # what the quiet cycle reads, in one query
    assert paused[0] == "https://ozodi.example:443" and paused[1][1:] == ("Retry-After", "vps-1")
    assert store.origins_paused("vps-1") == {}


def _dead_pid() -> int:
    import subprocess
    import sys

    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout)


def test_a_crashed_run_of_this_host_leaves_no_lease_behind_for_the_next_run(store):
    from monitor.store.leases import machine_id

    here = machine_id()
    store.claim(["channel:email"], f"vps-1/{_dead_pid()}@{here}", 120)  # SIGKILLed while it held the channel
    store.claim(["feed:Ozodi"], f"vps-1/{os.getpid()}@{here}", 120)  # and this process, alive, holds a feed
    assert store.claim(["channel:email", "feed:Ozodi"], f"vps-1/999999999@{here}", 120).keys() == {"channel:email"}
    assert store.claim(["channel:email"], "vps-2/1", 120) == {}, "another host still waits for the expiry"


def test_a_clone_under_the_same_host_id_does_not_take_the_other_machines_live_leases(store):
    """Two VMs cloned from one image both call themselves vps-1. The clone's pid 4242 may not exist on this
    machine; that says nothing about the other machine, whose run is alive and holds its leases."""
    from monitor.store.leases import holder_id, machine_id

    other = f"vps-1/{_dead_pid()}@{'0' * 12}"  # a pid that is dead HERE, on another machine
    assert machine_id() != "0" * 12 and holder_id().endswith("@" + machine_id())
    store.claim(["coordinator", "feed:Ozodi"], other, 120)
    assert store.claim(["coordinator", "feed:Ozodi"], f"vps-1/{os.getpid()}@{machine_id()}", 120) == {}, \
        "the clone waits for lease_ttl, as another host would"
    store.claim(["feed:Asia-Plus"], f"vps-1/{_dead_pid()}", 120)  # an older monitor's holder: no machine named
    assert store.claim(["feed:Asia-Plus"], f"vps-1/{os.getpid()}@{machine_id()}", 120) == {}


def test_status_warns_in_one_line_when_two_machines_heartbeat_under_one_host_id(store):
    store.heartbeat("vps-1", "0.1.0", started=True, machine="aaaaaaaaaaaa")  # vps-1 before a reboot
    store.heartbeat("vps-1", "0.1.0", machine="aaaaaaaaaaaa")
    store.heartbeat("vps-1", "0.1.0", started=True, machine="bbbbbbbbbbbb")  # after it: a new boot, one at a time
    store.heartbeat("vps-2", "0.1.0", started=True, machine="cccccccccccc")
    assert not any("warning" in line for line in host_lines(store)), "a reboot is not a clone"
    store.heartbeat("vps-2", "0.1.0", started=True, machine="dddddddddddd")  # a clone of vps-2 starts...
    store.heartbeat("vps-2", "0.1.0", machine="cccccccccccc")  # ...while the original still beats
    warnings = [line for line in host_lines(store) if "warning" in line]
    assert warnings == [("  warning: 2 machines heartbeat under the host id vps-2 at once (cccccccccccc, "
                         "dddddddddddd): give each its own MONITOR_HOST_ID (a cloned machine?)")]


class Recorder:
    channel = "stdout"

    def __init__(self, on_send=None):
        self.sent: list[str] = []
        self.on_send = on_send

    def render(self, digest) -> list[str]:
        return [f"digest of {len(digest.stories)}"]

    async def send(self, message: str) -> None:
        self.sent.append(message)
        if self.on_send:
            self.on_send()


def test_a_channel_another_host_is_delivering_is_left_to_it(store, caplog):
    add_stories(store, 1, 2)
    notifier = Recorder()
    queue_digest(store, make_digest(store), [notifier])
    store.claim(["channel:stdout"], "host-b", 60)
    with caplog.at_level(logging.INFO, logger="monitor.deliver"):
        report = asyncio.run(deliver_due(store, [notifier]))
    assert notifier.sent == [] and report.sent == []
    assert "another host is delivering this channel now" in caplog.text


def test_a_fenced_mark_rolls_back_and_the_new_holder_sends_it_once_more(store, caplog):
    """Host A's lease expires while the channel accepts its message (frozen, or a stalled server): host B
    claims the channel; A's mark is refused, and B resends that one message: once."""
    add_stories(store, 1, 2)

    def lose_lease():
        store.db.execute("UPDATE leases SET expires_at = 0 WHERE name = 'channel:stdout'")
        store.claim(["channel:stdout"], "host-b", 60)

    a = Recorder(on_send=lose_lease)
    queue_digest(store, make_digest(store), [a])
    with caplog.at_level(logging.WARNING, logger="monitor.deliver"):
        report = asyncio.run(deliver_due(store, [a]))
    assert a.sent == ["digest of 2"] and report.sent == []
    assert "lease channel:stdout (token 1) lost" in caplog.text
    assert store.db.execute("SELECT status FROM outbox").fetchone()[0] == "pending", "A's mark was rolled back"
    store.db.execute("UPDATE leases SET expires_at = 0 WHERE name = 'channel:stdout'")  # B's round ends
    b = Recorder()
    report = asyncio.run(deliver_due(store, [b]))
    assert b.sent == ["digest of 2"] and len(report.sent) == 1
    assert store.db.execute("SELECT status FROM outbox").fetchone()[0] == "sent"


def test_on_postgresql_a_claim_neither_waits_for_the_write_lock_nor_takes_a_lease_a_writer_renews(pg_url, tmp_path):
    """A frozen writer holds the one advisory write lock and, having renewed its lease, that lease's row: another
    host still claims everything else at once (no deadlock, no wait) and skips that one row."""
    from monitor.store import Store

    a, b = Store(tmp_path / "a.db", database_url=pg_url), Store(tmp_path / "b.db", database_url=pg_url)
    try:
        lease = a.claim(["feed:Ozodi"], "host-a", 60)["feed:Ozodi"]
        b.claim(["feed:Asia-Plus"], "host-b", 60)
        b.db.execute("UPDATE leases SET expires_at = 0 WHERE name = 'feed:Asia-Plus'")  # B's expired: free
        with fenced(lease), a.transaction():  # host A inside a write transaction: write lock + its lease's row
            started = time.monotonic()
            got = b.claim(["feed:Ozodi", "feed:Asia-Plus"], "host-b", 60)
            assert time.monotonic() - started < 2, "a claim does not wait for the write lock"
            assert set(got) == {"feed:Asia-Plus"}, "the lease a writer holds and renews stays its own"
        with pytest.raises(sqlite3.OperationalError):  # and a write of B's does wait for A's write lock
            b.db.execute("PRAGMA busy_timeout = 200")
            with fenced(lease), a.transaction():
                b.heartbeat("host-b", "0.1.0")
    finally:
        a.close()
        b.close()


def test_lease_ttl_is_a_duration_between_a_second_and_an_hour_and_defaults_to_two_minutes(tmp_path):
    from monitor.config.feeds import ConfigError, load_feeds

    path = tmp_path / "feeds.yaml"
    head = "feeds:\n  - name: A\n    url: https://example.org/feed.xml\n"
    path.write_text(head, encoding="utf-8")
    assert load_feeds(path).settings.lease_ttl == 120.0
    path.write_text(head + "settings:\n  lease_ttl: 3s\n", encoding="utf-8")
    assert load_feeds(path).settings.lease_ttl == 3.0
    path.write_text(head + "settings:\n  lease_ttl: 0.5s\n", encoding="utf-8")
    with pytest.raises(ConfigError) as bad:
        load_feeds(path)
    assert f"{path}:5: settings.lease_ttl: lease_ttl must be between 1s and 1h" in str(bad.value)
    path.write_text(head + "settings:\n  lease_ttl: 120\n", encoding="utf-8")  # minutes, as every duration: 2 h
    with pytest.raises(ConfigError) as bad:
        load_feeds(path)
    assert "a bare number means minutes" in str(bad.value)

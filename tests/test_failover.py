"""Two hosts, one monitor (issue 25): two `monitor run` services (hosts A and B) on one PostgreSQL, loopback feeds
on three origins, an SMTP server and a Bot API. One host fails in each scenario — killed while the SMTP server
holds its message after DATA, frozen longer than every lease, frozen inside a write transaction, or the database
restarts under both — and the other carries on.

In every scenario: every story reaches both channels, no story is in two digests, a resend happens at most once
per channel per crash and carries the same Message-ID, no feed is polled by two hosts at once (the sites log
each request with its start and end and the host's User-Agent), a fenced host commits no row (no item written
twice), and the survivor delivers what came after the failure within lease_ttl + 30 s.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.conftest import PROJECT
from tests.support.clock import child_env
from tests.support.fake_telegram import FakeTelegram
from tests.support.faultserver import stop, wait_for
from tests.support.localsite import LocalSite, Page, article_html, rss
from tests.support.smtp_sink import SmtpSink

TTL = 3.0
TAKEOVER = TTL + 30.0
PLACES = ["Khorog", "Rushan", "Vanj", "Ishkashim", "Roshtqal'a", "Darvaz"]
NAMES = ["Davlatov", "Mamadshoev", "Alimamadov", "Niyozov", "Sherzamonov", "Gulobov", "Pulodov", "Shonazarov"]


WORDS = ("river road school market bridge village valley pass clinic garden orchard mill canal bazaar mosque "
         "workshop pasture hostel airport stadium library theatre bakery quarry depot ferry tunnel meadow").split()


def story(n: int) -> tuple[str, list[str]]:
    """A detention report of its own: a title, the sentence the rules match, and text no other story shares
    (so the near-duplicate check folds none of them into another)."""
    name, place = NAMES[n % len(NAMES)], PLACES[n % len(PLACES)]
    rng = random.Random(n)
    local = " ".join(f"the {rng.choice(WORDS)} of {rng.choice(WORDS)} number {rng.randrange(10_000)}"
                     for _ in range(25))
    return (f"Pamiri activist {name} detained in {place} ({n})",
            [f"Security services detained the Pamiri activist {name} in {place}, GBAO, his relatives said.",
             f"Witnesses named the places of case {n}: {local}."])


class World:
    """The loopback world of one scenario: three feed origins, SMTP, Bot API, a fresh database, two hosts."""

    def __init__(self, tmp: Path, url: str, stack: ExitStack):
        self.tmp, self.url = tmp, url
        self.sites = [stack.enter_context(LocalSite()) for _ in range(3)]
        self.sink = stack.enter_context(SmtpSink())
        self.tg = stack.enter_context(FakeTelegram())
        self.stories: dict[int, int] = {}  # story number -> site index
        self.procs: dict[str, subprocess.Popen] = {}
        self.marks: list[tuple[str, float]] = []
        self.woken: tuple[str, float] | None = None  # (user agent, when) of a host woken from SIGSTOP
        stack.callback(self.stop)

    def publish(self, numbers: range) -> None:
        """New stories on the feeds (each site's feed lists all of its stories so far)."""
        for n in numbers:
            self.stories[n] = n % len(self.sites)
            title, paragraphs = story(n)
            self.sites[n % len(self.sites)].add(f"/s/{n}", Page(article_html(title, paragraphs).encode(), delay=0.1))
        for i, site in enumerate(self.sites):
            items = [{"title": story(n)[0], "path": f"/s/{n}"} for n, s in sorted(self.stories.items()) if s == i]
            site.add("/feed.xml", Page(rss(f"Site {i}", items, base=site.base).encode(),
                                       content_type="application/rss+xml", delay=0.1))

    def start(self, host: str, **env: str) -> None:
        feeds = self.tmp / f"feeds-{host}.yaml"
        lines = ["feeds:"] + [f"  - name: Site {i}\n    url: {s.url('/feed.xml')}\n    interval: 1s"
                              for i, s in enumerate(self.sites)]
        feeds.write_text("\n".join(lines) + f"""
settings:
  lease_ttl: {TTL:g}s
  digest_interval: 2s
  timeout: 5
  screenshots: false
  requisites_max_count: 0
  user_agent: failover-{host}
""", encoding="utf-8")
        # no screenshots: this is about leases, and two Chromiums starved the hosts of a loaded suite
        # (tests/evidence/test_views_hosts.py renders across hosts)
        environ = child_env({"PYTHONPATH": str(PROJECT), "MONITOR_DATABASE_URL": self.url, "MONITOR_HOST_ID": host,
                             "PGAPPNAME": f"monitor-{host}", "MONITOR_PG_IDLE_TIMEOUT_MS": "3000",
                             "MONITOR_PG_LOCK_TIMEOUT_MS": "5000", "MONITOR_SCREENSHOTS": "0",
                             **self.sink.env(), **self.tg.env(), **env})
        self.procs[host] = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "--feeds", str(feeds), "--keywords", str(PROJECT / "keywords.yaml"),
             "--state", str(self._home(host) / "state.db")], stdout=subprocess.DEVNULL,
            stderr=open(self.tmp / f"{host}.log", "w", encoding="utf-8"), env=environ, cwd=PROJECT)

    def _home(self, host: str) -> Path:
        """Each host's own folder, as on two machines: the instance lock lives beside the state."""
        home = self.tmp / host
        home.mkdir(exist_ok=True)
        return home

    def log(self, host: str) -> str:
        return (self.tmp / f"{host}.log").read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        """Kill both: what a clean stop does is tested in test_scheduler.py, and it takes seconds."""
        for proc in self.procs.values():
            stop(proc)

    # --- what the database and the channels say -------------------------------------------------

    def sql(self, query: str, *params) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
            return conn.execute(query, params).fetchall()

    def holder(self, name: str) -> str | None:
        rows = self.sql("SELECT holder FROM leases WHERE name = %s AND expires_at > EXTRACT(EPOCH FROM "
                        "clock_timestamp())", name)
        return rows[0][0].split("/")[0] if rows else None  # holder: host/pid

    def feeds_held_by(self, host: str) -> int:
        return self.sql("SELECT COUNT(*) FROM leases WHERE holder LIKE %s AND name LIKE 'feed:%%' AND expires_at > "
                        "EXTRACT(EPOCH FROM clock_timestamp())", f"{host}/%")[0][0]

    def emails(self) -> list[tuple[str, str]]:
        """(Message-ID, plain text) of every message the SMTP server recorded, resends included."""
        return [(m["Message-ID"], m.get_body(("plain",)).get_content()) for m in list(self.sink.messages)]

    def delivered(self, numbers) -> bool:
        titles = [story(n)[0] for n in numbers]
        mails = " ".join(text for _, text in self.emails())
        posts = " ".join(m["visible"] for m in list(self.tg.messages))
        return all(t in mails and t in posts for t in titles)

    def check(self, crashes: int = 1) -> None:
        """The promises of every scenario, on everything the channels and the database hold."""
        titles = [story(n)[0] for n in self.stories]
        by_id = Counter(mid for mid, _ in self.emails())
        assert max(by_id.values()) <= 1 + crashes, f"resent more than once per crash: {by_id}"
        texts = dict(self.emails())
        for title in titles:  # in one digest only: one distinct message per channel names it
            assert sum(title in text for text in texts.values()) == 1, title
            posts = {m["visible"] for m in self.tg.messages if title in m["visible"]}
            assert len(posts) == 1, (title, posts)
        post_counts = Counter(m["visible"] for m in self.tg.messages)
        assert max(post_counts.values()) <= 1 + crashes, "a Telegram message sent more than once per crash"
        twice = self.sql("SELECT url, attempts FROM items WHERE attempts > 1")
        assert twice == [], f"an item written twice (a fenced host's write went through?): {twice}"
        stored = Counter(r[0] for r in self.sql("SELECT title FROM stories"))
        assert stored == Counter(titles), stored
        assert self.sql("SELECT COUNT(*) FROM stories WHERE digest_id IS NULL")[0][0] == 0
        for i, site in enumerate(self.sites):  # no feed polled by two hosts at once
            polls = sorted((r.at, r.end or float("inf"), r.headers.get("user-agent", ""))
                           for r in site.requested("/feed.xml"))
            # A host frozen between its lease check and the send sends that one request when it wakes (no check
            # can close that gap from this side); its poll then writes nothing (the items check above).
            stale = [p for p in polls if self.woken and p[2] == self.woken[0] and 0 <= p[0] - self.woken[1] < 2]
            polls = [p for p in polls if p not in stale[:1]]
            for (a_start, a_end, a_host), (b_start, _, b_host) in zip(polls, polls[1:]):
                assert a_host == b_host or b_start >= a_end, (f"Site {i}: {a_host} and {b_host} polled it at once",
                                                              polls, self.marks)


@pytest.fixture
def world(tmp_path, pg_cluster):
    url = pg_cluster.new_database("failover")
    with ExitStack() as stack:
        yield World(tmp_path, url, stack)
    pg_cluster.drop(url)


def _both(world: World) -> None:
    world.start("A")
    world.start("B")
    assert wait_for(lambda: len(world.sql("SELECT host_id FROM hosts")) == 2, 30), world.log("A") + world.log("B")


def _takeover(world: World, numbers: range, started: float, survivor: str) -> None:
    assert wait_for(lambda: world.delivered(numbers), TAKEOVER), world.log(survivor)[-3000:]
    assert time.monotonic() - started <= TAKEOVER


def test_sigkill_while_the_smtp_server_holds_its_message_after_data(world):
    world.sink.stall(after_receipt=True)  # the first digest's email is recorded, and its 250 never comes
    world.publish(range(0, 6))
    _both(world)
    assert wait_for(world.sink.stalled.is_set, 40), world.log("A") + world.log("B")
    victim = world.holder("channel:email")
    assert victim in ("A", "B")
    survivor = "B" if victim == "A" else "A"
    assert wait_for(lambda: world.feeds_held_by(victim) > 0, 30), "the victim holds feed leases when killed"
    world.procs[victim].kill()
    killed = time.monotonic()
    world.sink.release()
    world.publish(range(6, 9))
    _takeover(world, range(0, 9), killed, survivor)
    world.check(crashes=1)
    resent = [mid for mid, count in Counter(mid for mid, _ in world.emails()).items() if count == 2]
    assert len(resent) <= 1, "only the message in flight is sent again, with its Message-ID"


def test_sigstop_longer_than_every_lease_then_sigcont(world):
    world.publish(range(0, 6))
    _both(world)
    assert wait_for(lambda: world.delivered(range(0, 6)), 40), world.log("A") + world.log("B")
    victim = world.holder("coordinator") or "A"
    survivor = "B" if victim == "A" else "A"
    os.kill(world.procs[victim].pid, signal.SIGSTOP)
    stopped = time.monotonic()
    world.marks.append(("stop", stopped))
    world.publish(range(6, 10))
    _takeover(world, range(0, 10), stopped, survivor)
    assert world.holder("coordinator") == survivor
    world.woken = (f"failover-{victim}", time.monotonic())
    world.marks.append(("cont", world.woken[1]))
    os.kill(world.procs[victim].pid, signal.SIGCONT)  # it wakes up with every lease gone: it must write nothing
    world.publish(range(10, 12))
    assert wait_for(lambda: world.delivered(range(0, 12)), TAKEOVER)
    world.check(crashes=1)
    assert world.procs[victim].poll() is None, "the woken host runs on"


def test_sigstop_inside_a_write_transaction(world):
    """A host frozen while it holds the write lock: the server ends its session (idle_in_transaction
    timeout), the other host takes the lock and the leases, and the frozen host's transaction is never committed."""
    import psycopg

    world.publish(range(0, 4))
    _both(world)
    assert wait_for(lambda: world.delivered(range(0, 4)), 40), world.log("A") + world.log("B")
    world.publish(range(4, 8))
    with psycopg.connect(world.url) as blocker:  # a row lock the next poll's last write waits for, in its transaction
        blocker.execute("SELECT * FROM feeds FOR UPDATE")
        holder: list[str] = []

        def in_write_transaction() -> bool:
            rows = world.sql("SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                             "WHERE l.locktype = 'advisory' AND l.granted")
            holder[:] = [r[0] for r in rows if r[0].startswith("monitor-")]
            return bool(holder)

        assert wait_for(in_write_transaction, 20)
        victim = holder[0].removeprefix("monitor-")
        os.kill(world.procs[victim].pid, signal.SIGSTOP)
        stopped = time.monotonic()
        world.marks.append(("stop", stopped))
    survivor = "B" if victim == "A" else "A"
    _takeover(world, range(0, 8), stopped, survivor)
    world.marks.append(("cont", time.monotonic()))
    os.kill(world.procs[victim].pid, signal.SIGCONT)
    world.publish(range(8, 10))
    assert wait_for(lambda: world.delivered(range(0, 10)), TAKEOVER), world.log(survivor)[-3000:]
    world.check(crashes=1)


def test_postgresql_restart_in_the_middle_of_a_cycle(world, pg_cluster):
    world.publish(range(0, 4))
    _both(world)
    assert wait_for(lambda: world.delivered(range(0, 4)), 40), world.log("A") + world.log("B")
    world.publish(range(4, 8))
    assert wait_for(lambda: any(r.path.startswith("/s/") for s in world.sites for r in s.requested("/s/4")), 20)
    pg_cluster.restart()  # every connection of both hosts is ended (fast shutdown), as an upgrade does
    restarted = time.monotonic()
    assert wait_for(lambda: world.delivered(range(0, 8)), 20), world.log("A")[-2000:] + world.log("B")[-2000:]
    assert time.monotonic() - restarted <= TAKEOVER
    world.check(crashes=1)

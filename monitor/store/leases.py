"""Hosts and leases: several hosts sharing one state behave as one monitor (issue 25).

A lease is a row of `leases` (name, holder, token, expires_at). Names: `feed:<name>`, `origin:<scheme://host:port>`,
`coordinator`, `channel:<name>`. Expiry is read on the DATABASE's clock (`clock_timestamp()` on PostgreSQL,
`julianday('now')` on SQLite), so the hosts' own clocks may disagree. The fencing token grows by one on every new
claim of a name, and never goes back.

Fencing: a task that acts under a lease runs inside `fenced(lease)`; every write transaction opened there
(`Store.transaction()`, and the lone writes of a poll through `guarded()`) first renews each lease of the
context in the same transaction, by holder and token, only while it has not expired. A lease another host has
claimed since raises `LeaseLost` in that transaction, which rolls it back: a fenced host commits no row.

Claims and PostgreSQL's write lock: every write transaction takes one advisory lock (pg.py). Claims do not: they
run in a plain transaction (`BEGIN DEFERRED`) that touches only `leases`, with `FOR UPDATE SKIP LOCKED`. A writer
holds the advisory lock first and then row locks on the leases it renews; a claim waits for neither (skip), so
the two orders can never deadlock, and a claim is never held up behind a long write (or a frozen writer).
"""

from __future__ import annotations

import contextvars
import functools
import hashlib
import logging
import os
import socket
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

log = logging.getLogger("monitor.hosts")

LEASE_TTL = 120.0  # seconds; settings.lease_ttl


def host_id() -> str:
    """This host's name among the hosts sharing a state: $MONITOR_HOST_ID, else the machine's hostname."""
    return (os.environ.get("MONITOR_HOST_ID") or "").strip() or socket.gethostname()


def holder_id() -> str:
    """Who holds a lease: this host, process and machine ("vps-1/4242@3f2a9c01d4e5"). Two processes never share a
    lease, even with one MONITOR_HOST_ID (a cloned machine), so one cannot renew or give back what the other acts
    under; the machine part says where the pid means something (`holder_gone`)."""
    return f"{host_id()}/{os.getpid()}@{machine_id()}"


@functools.cache
def machine_id() -> str:
    """Where a pid names a process: a hash of /etc/machine-id, the kernel's boot id and this pid namespace, so
    cloned VMs (one hostname, often one machine-id), a reboot and two containers all differ. Hashed: the
    machine-id itself is not to be shown. Without /proc (not Linux) the network card's address stands in for
    the boot, or a random number per process: then no other process's pid is ever judged dead here."""
    parts = []
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id", "/proc/sys/kernel/random/boot_id"):
        try:
            with open(path, encoding="ascii", errors="replace") as f:
                parts.append(f.read().strip())
        except OSError:
            parts.append("")
    try:
        parts.append(str(os.stat("/proc/self/ns/pid").st_ino))
    except OSError:
        parts.append("")
    if not parts[2]:
        import uuid

        parts.append(f"{uuid.getnode():x}")
    return hashlib.sha256(("pamir-monitor\0" + "\0".join(parts)).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Lease:
    name: str
    holder: str
    token: int
    ttl: float


class LeaseLost(Exception):
    """Another host holds this lease now (or it expired): what this host was doing under it is not written."""

    def __init__(self, lease: Lease):
        super().__init__(f"lease {lease.name} (token {lease.token}) lost: another host holds it now")
        self.lease = lease


_FENCES: contextvars.ContextVar[tuple[Lease, ...]] = contextvars.ContextVar("monitor_fences", default=())


@contextmanager
def fenced(*leases: Lease | None, replace: bool = False) -> Iterator[None]:
    """Every write transaction inside checks and renews these leases first (asyncio tasks inherit the context);
    `replace`: only these, not those of the enclosing context."""
    token = _FENCES.set((() if replace else _FENCES.get()) + tuple(lease for lease in leases if lease is not None))
    try:
        yield
    finally:
        _FENCES.reset(token)


def current_fences() -> tuple[Lease, ...]:
    """The leases the running task acts under."""
    return _FENCES.get()


def guarded_write(method):
    """A Store method whose lone write is checked against the context's leases (see `LeaseQueries.guarded`)."""

    @functools.wraps(method)
    def write(self, *args, **kwargs):
        with self.guarded():
            return method(self, *args, **kwargs)

    return write


async def keep_alive(store, leases, ttl: float) -> None:
    """Renew leases while this host waits on the network (a slow server is not a dead host); cancel when done.
    Only a frozen or dead host stops renewing, and then loses them. A failed renewal is left to the fence."""
    import asyncio

    while True:
        await asyncio.sleep(ttl / 3)
        for lease in leases:
            try:
                store.hold(lease, ttl)
            except sqlite3.Error as exc:
                log.warning("%s: lease not renewed: %s", lease.name, exc)


def holder_gone(holder: str) -> bool:
    """Whether a live lease of another process under this host id may be taken back now: its holder ran on THIS
    machine (same machine id, boot and pid namespace) and its pid is gone (a crashed run), so the next run need
    not wait lease_ttl. A holder on another machine under the same host id (a clone), or of an older monitor
    that did not say its machine, keeps its lease until it expires: its pid means nothing here."""
    pid, _, machine = holder.rpartition("/")[2].partition("@")
    if not pid.isdigit() or machine != machine_id():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists (another user's process)
        return False
    return False


def _now_sql(backend: str) -> str:
    if backend == "postgresql":
        return "EXTRACT(EPOCH FROM clock_timestamp())::double precision"
    return "((julianday('now') - 2440587.5) * 86400.0)"


class LeaseQueries:
    """The mixin: heartbeats, claims, renewals (fencing), releases, and what `monitor status` shows."""

    backend: str

    @property
    def _now(self) -> str:
        return _now_sql(self.backend)

    # --- hosts -----------------------------------------------------------------------------------

    def heartbeat(self, host: str, version: str, *, started: bool = False, machine: str = "") -> None:
        """Record that `host` is alive (on the database's clock); `started` also stamps a (re)start. `machine`
        (machine_id()) is kept per host id too, so two machines beating under one id show (`host_id_clashes`)."""
        now = self._now
        self.db.execute(
            f"""INSERT INTO hosts (host_id, started_at, last_seen, version) VALUES (?, {now}, {now}, ?)
                ON CONFLICT (host_id) DO UPDATE SET last_seen = excluded.last_seen, version = excluded.version,
                  started_at = CASE WHEN ? THEN excluded.started_at ELSE hosts.started_at END""",
            (host, version, bool(started)))
        if not machine:
            return
        self.db.execute(  # beats are counted per host id: an order that no two heartbeats share
            f"""INSERT INTO host_machines (host_id, machine, first_beat, last_beat, last_seen)
                SELECT ?, ?, n, n, {now} FROM (SELECT COALESCE(MAX(last_beat), 0) + 1 AS n FROM host_machines
                                              WHERE host_id = ?) AS beat WHERE TRUE
                ON CONFLICT (host_id, machine) DO UPDATE SET last_beat = excluded.last_beat,
                  last_seen = excluded.last_seen""", (host, machine, host))
        if started:  # a machine (or boot) not seen for a day is history
            self.db.execute(f"DELETE FROM host_machines WHERE host_id = ? AND last_seen < {now} - 86400", (host,))

    def host_id_clashes(self, within: float = 3600.0) -> list[tuple[str, list[str]]]:
        """(host id, machines) where two machines heartbeat under one host id at once (each beat again after the
        other's first heartbeat, both seen within `within` seconds): a clone. A reboot or a move to a new machine
        is one after the other, not a clash."""
        recent = f"{self._now} - ?"
        rows = self.db.execute(
            f"""SELECT a.host_id, a.machine, b.machine FROM host_machines a JOIN host_machines b
                  ON b.host_id = a.host_id AND b.machine > a.machine
                WHERE a.first_beat < b.last_beat AND b.first_beat < a.last_beat
                  AND a.last_seen > {recent} AND b.last_seen > {recent}
                ORDER BY a.host_id, a.machine, b.machine""", (float(within), float(within))).fetchall()
        clashes: dict[str, list[str]] = {}
        for host, one, two in rows:
            seen = clashes.setdefault(host, [])
            seen += [m for m in (one, two) if m not in seen]
        return list(clashes.items())

    def hosts_seen(self) -> list[tuple[str, float, float, str]]:
        """(host, seconds since its start, seconds since its last heartbeat, version), most recent first."""
        rows = self.db.execute(f"SELECT host_id, {self._now} - started_at, {self._now} - last_seen, version "
                               "FROM hosts ORDER BY last_seen DESC").fetchall()
        return [(r[0], float(r[1]), float(r[2]), r[3]) for r in rows]

    def leases_held(self) -> list[tuple[str, str, int, float]]:
        """(name, holder, token, seconds left) of every lease not expired."""
        rows = self.db.execute(f"SELECT name, holder, token, expires_at - {self._now} FROM leases "
                               f"WHERE expires_at > {self._now} AND holder != '' ORDER BY holder, name").fetchall()
        return [(r[0], r[1], int(r[2]), float(r[3])) for r in rows]

    # --- claims ----------------------------------------------------------------------------------

    def claim(self, names: Iterable[str], holder: str, ttl: float) -> dict[str, Lease]:
        """Take every lease of `names` that is free (expired) or already ours; returns those had, by name.

        A lease still ours keeps its token (a renewal); a new claim increments it."""
        names = list(dict.fromkeys(names))
        if not names:
            return {}
        marks = ",".join("?" * len(names))
        known = {r[0] for r in self.db.execute(f"SELECT name FROM leases WHERE name IN ({marks})", names)}
        missing = [n for n in names if n not in known]
        if missing:  # first sight of a name: a row to lock from now on (rare: once per name, ever)
            self.db.executemany("INSERT INTO leases (name, holder, token, expires_at) VALUES (?, '', 0, 0) "
                                "ON CONFLICT (name) DO NOTHING", [(n,) for n in missing])
        now = self._now
        got: dict[str, Lease] = {}
        skip = " FOR UPDATE SKIP LOCKED" if self.backend == "postgresql" else ""
        self.db.execute("BEGIN DEFERRED" if self.backend == "postgresql" else "BEGIN IMMEDIATE")
        try:
            rows = self.db.execute(
                f"SELECT name, holder, token, expires_at > {now} FROM leases WHERE name IN ({marks}) "
                f"AND (holder = ? OR expires_at <= {now} OR holder LIKE ? ESCAPE '\\'){skip}",
                [*names, holder, _like_literal(holder.rpartition("/")[0]) + "/%"]).fetchall()
            for name, was, token, live in rows:
                if live and was != holder and not holder_gone(was):  # another process under this host id
                    continue
                renew = was == holder and bool(live)
                token = int(token) if renew else int(token) + 1
                self.db.execute(f"UPDATE leases SET holder = ?, token = ?, expires_at = {now} + ? WHERE name = ?",
                                (holder, token, float(ttl), name))
                got[name] = Lease(name, holder, token, float(ttl))
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        return got

    def hold(self, lease: Lease, seconds: float) -> None:
        """Keep a lease `seconds` more from now, or give it back at once (0): another host may take it then.
        Nothing happens when it is no longer ours (same holder and token)."""
        self.db.execute("BEGIN DEFERRED" if self.backend == "postgresql" else "BEGIN IMMEDIATE")
        try:
            self.db.execute(f"UPDATE leases SET expires_at = {self._now} + ? WHERE name = ? AND holder = ? "
                            "AND token = ?", (float(seconds), lease.name, lease.holder, lease.token))
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # --- politeness shared by the hosts -----------------------------------------------------------

    def pause_origin(self, origin: str, seconds: float, reason: str, host: str) -> None:
        """The other hosts leave `origin` alone for `seconds` (a Retry-After or back-off `host` met: a holder id,
        host/pid@machine, since the process's own Fetcher keeps the pause itself); a longer pause stays."""
        self.db.execute(
            f"""INSERT INTO origin_pauses (origin, until_at, reason, host) VALUES (?, {self._now} + ?, ?, ?)
                ON CONFLICT (origin) DO UPDATE SET until_at = excluded.until_at, reason = excluded.reason,
                  host = excluded.host WHERE excluded.until_at > origin_pauses.until_at""",
            (origin, float(seconds), reason, host))

    def origin_pause(self, origin: str, host: str) -> tuple[float, str] | None:
        """(seconds left, why) while another host or process than `host` was asked to leave `origin` alone."""
        row = self.db.execute(f"SELECT until_at - {self._now}, reason FROM origin_pauses WHERE origin = ? "
                              "AND host != ?", (origin, host)).fetchone()
        return (float(row[0]), row[1]) if row is not None and row[0] > 0 else None

    def origins_paused(self, host: str) -> dict[str, tuple[float, str, str]]:
        """Every origin some host or process other than `host` was asked to leave alone now: origin → (seconds
        left, why, who met it). One query: what the quiet cycle asks before it polls (quiet.py)."""
        rows = self.db.execute(f"SELECT origin, until_at - {self._now}, reason, host FROM origin_pauses "
                               f"WHERE host != ? AND until_at > {self._now}", (host,)).fetchall()
        return {r[0]: (float(r[1]), r[2], r[3]) for r in rows}

    # --- fencing ---------------------------------------------------------------------------------

    def check_fences(self) -> None:
        """Inside a write transaction: renew every lease of the context, or raise LeaseLost (→ rollback)."""
        for lease in _FENCES.get():
            cursor = self.db.execute(
                f"UPDATE leases SET expires_at = {self._now} + ? WHERE name = ? AND holder = ? AND token = ? "
                f"AND expires_at > {self._now}", (lease.ttl, lease.name, lease.holder, lease.token))
            if cursor.rowcount != 1:
                raise LeaseLost(lease)

    def fences_live(self, leases: Iterable[Lease]) -> bool:
        """Read only: whether each of these leases is still ours and unexpired (checked before a request)."""
        for lease in leases:
            row = self.db.execute(f"SELECT 1 FROM leases WHERE name = ? AND holder = ? AND token = ? "
                                  f"AND expires_at > {self._now}", (lease.name, lease.holder, lease.token)).fetchone()
            if row is None:
                return False
        return True

    def guarded(self):
        """A lone write under a lease becomes a transaction of its own, so the lease is checked with it."""
        if _FENCES.get() and not self.db.in_transaction:
            return self.transaction()
        return nullcontext()


def _like_literal(text: str) -> str:
    """`text` matched as itself by LIKE … ESCAPE '\\': a host id `web_1` must not match `web-1`'s leases."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")

"""`monitor status`: which sources work, which are dead and since when, and what waits in the outbox."""

from __future__ import annotations

from datetime import datetime

from monitor import clock
from monitor.config.feeds import FeedsFile
from monitor.delivery.notifier import channel_label
from monitor.store import Store


def _ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "never"
    seconds = (now - when).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit} ago"
    return f"{seconds:.0f}s ago"


def _when(when: datetime | None, now: datetime) -> str:
    """A time the user can trust: one already past means "at the next run", which is when it really happens."""
    if when is None:
        return "unknown"
    if when <= now:
        return "at the next run (due now)"
    return f"at {when.isoformat(timespec='minutes')} (in {_ago(now - (when - now), now).removesuffix(' ago')})"


def format_status(store: Store, feeds: FeedsFile | None, now: datetime | None = None) -> str:
    now = now or clock.now()
    states = {s.name: s for s in store.all_feed_states()}
    names = [f.name for f in feeds.feeds] if feeds else sorted(states)
    failing_after = feeds.settings.failing_after if feeds else 86400
    rows = [("feed", "last success", "status", "items", "matches", "avg fetch")]
    dead = []
    for name in names:
        s = states.get(name)
        if s is None:
            rows.append((name, "never", "not polled yet", "0", "0", "-"))
            continue
        if s.last_error:
            status = f"FAILING since {_ago(s.error_since, now)}: {s.last_error}"
            if s.error_since and (now - s.error_since).total_seconds() >= failing_after:
                dead.append(name)
        else:
            status = "ok"
        rows.append((name, _ago(s.last_success, now), status, str(s.items_seen), str(s.matches),
                     f"{s.avg_fetch_ms:.0f} ms"))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:5], widths)) + "  " + r[5] for r in rows]
    lines.append("")
    waiting, urgent = store.waiting_count()
    if waiting:
        from monitor.delivery.digest import next_digest_at

        when = next_digest_at(store.last_digest_at(), feeds.settings, now) if feeds else None
        at = f"; next digest {_when(when, now)}" if when else ""
        lines.append(f"waiting for the next digest: {waiting} stor{'y' if waiting == 1 else 'ies'}"
                     + (f" ({urgent} urgent, sent at the next run)" if urgent else "") + at)
    else:
        lines.append("waiting for the next digest: nothing")
    outbox = store.outbox_channels()
    if outbox:
        lines.append("delivery queue:")
        for row in outbox:
            counts = ", ".join(f"{row[k]} {k}" for k in ("sent", "pending", "failed") if row[k])
            detail = ""
            if row["pending"]:
                detail = f"; next attempt {_when(row['next'], now)}"
            if row["error"] and (row["pending"] or row["failed"]):
                detail += f"; last error: {row['error']}"
            lines.append(f"  {channel_label(row['channel'])}: {counts}{detail}")
        if any(row["pending"] for row in outbox):
            lines.append("  (`monitor flush` retries every pending message now)")
        if any(row["failed"] for row in outbox):
            lines.append("  (`monitor flush --failed` sends what was refused for good again, once its cause is fixed)")
    else:
        lines.append("delivery queue: empty")
    lines += kept_text_lines(store, feeds)
    from monitor.evidence.capture import archive_summary

    lines.append(archive_summary(store))
    lines.append(f"state: {store.describe()}")
    lines += host_lines(store)
    if dead:
        lines.append("")
        lines.append(f"feeds failing for more than {failing_after / 3600:.0f}h: " + ", ".join(dead))
    return "\n".join(lines)


def _size(n: int) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def kept_text_lines(store: Store, feeds: FeedsFile | None) -> list[str]:
    """The space the kept texts of unmatched articles take (for `monitor rematch`), and for how long."""
    count, kept_bytes = store.kept_text_stats()
    days = feeds.settings.keep_unmatched_days if feeds else None
    keep = f", kept {days} days" if days else (", no more kept (keep_unmatched_days: 0)" if days == 0 else "")
    return ["", f"kept texts: {count} unmatched article(s), {_size(kept_bytes)} compressed{keep}"]


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{max(seconds, 0):.0f}s"


def host_lines(store: Store) -> list[str]:
    """The hosts sharing this state: when each was last seen (the database's clock), and the leases it holds."""
    import sqlite3

    try:
        hosts, leases = store.hosts_seen(), store.leases_held()
    except sqlite3.OperationalError:  # a read-only copy of a state older than the hosts table
        return []
    if not hosts:
        return []
    held: dict[str, list[str]] = {}
    for name, holder, token, left in leases:  # holder: "host/pid@machine" ("host/pid" from older versions)
        host, _, pid = holder.rpartition("/")
        pid = pid.partition("@")[0]
        held.setdefault(host or holder, []).append(f"{name} (token {token}, {_span(left)} left{', pid ' + pid if pid else ''})")
    lines = ["hosts:"]
    for host, up, seen, version in hosts:
        lines.append(f"  {host}: last seen {_span(seen)} ago, up {_span(up)}, version {version or '?'}; "
                     + ("holds " + ", ".join(held.pop(host)) if host in held else "holds no lease"))
    for holder, names in held.items():  # a lease whose holder never recorded a heartbeat (an older monitor)
        lines.append(f"  {holder}: no heartbeat; holds " + ", ".join(names))
    try:
        clashes = store.host_id_clashes()
    except sqlite3.OperationalError:  # a read-only copy of a state older than the host_machines table
        clashes = []
    for host, machines in clashes:
        lines.append(f"  warning: {len(machines)} machines heartbeat under the host id {host} at once "
                     f"({', '.join(machines)}): give each its own MONITOR_HOST_ID (a cloned machine?)")
    return lines

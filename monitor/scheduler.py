"""`monitor run`: the long-running service under APScheduler 3.x.

One job per feed on its own interval, one digest job, one job that retries the outbox. Misfires coalesce
and are never silently dropped (APScheduler's default grace is one second). SIGTERM/SIGINT let the job in
flight finish (a poll commits per article, so an interrupted one loses nothing); SIGHUP reloads the config
and keeps the last good one when the new one is broken.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import timedelta, timezone

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor import clock
from monitor.delivery import outbox
from monitor.config.feeds import ConfigError, FeedsFile, FeedSpec
from monitor.pipeline import Monitor
from monitor.store import explain_error
from monitor.store.leases import LeaseLost

log = logging.getLogger("monitor.service")

RETRY_EVERY = 60.0  # seconds between outbox retries
STOP_GRACE = 60.0  # seconds the job in flight gets to finish after SIGTERM
JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 24 * 3600}


class Service:
    def __init__(self, monitor: Monitor, reload_config: Callable[[], tuple]):
        self.monitor = monitor
        self.reload_config = reload_config  # returns (FeedsFile, RuleSet) or raises ConfigError
        self.scheduler = AsyncIOScheduler(timezone=timezone.utc, job_defaults=JOB_DEFAULTS)
        self.running: set[asyncio.Task] = set()
        self.specs: dict[str, FeedSpec] = {}  # the config's feeds by name, rebuilt by schedule() (reloads too)
        self.stopping = asyncio.Event()

    def _tracked(self, name: str, step: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            if self.stopping.is_set():
                return
            task = asyncio.current_task()
            if task:
                self.running.add(task)
            try:
                await step()
            except asyncio.CancelledError:
                if not self.stopping.is_set():
                    raise
                log.warning("job %s cut off: it did not finish within %.0fs of the stop", name, STOP_GRACE)
            except LeaseLost as exc:  # another host took over this work: its transaction was rolled back
                log.warning("job %s: %s; nothing of it was written here", name, exc)
            except sqlite3.DatabaseError as exc:  # a full disk, a restarting database server: one line, not a bug
                log.error("job %s: %s; it runs again at its next time", name,
                          explain_error(self.monitor.store.where, exc))
            except Exception:  # a job's bug is logged, the service goes on
                log.exception("job %s failed", name)
            finally:
                if task:
                    self.running.discard(task)

        return job

    def schedule(self, feeds: FeedsFile) -> None:
        """(Re)build the jobs from the config with stable ids.

        Jobs whose feed and interval are unchanged keep their timing across a reload; new or changed ones start
        now, spread over at most a minute so a thousand feeds do not all start in the same second.
        """
        now = clock.now()
        enabled = [s for s in feeds.feeds if s.enabled]
        self.specs = {s.name: s for s in feeds.feeds}  # a poll finds its feed by name: 5,000 feeds, no scan each
        jobs = {job.id: job for job in self.scheduler.get_jobs()}
        for job_id, job in jobs.items():
            if job_id.startswith("feed:") and job_id[5:] not in {s.name for s in enabled}:
                job.remove()
        fresh = [s for s in enabled if f"feed:{s.name}" not in jobs
                 or jobs[f"feed:{s.name}"].trigger.interval.total_seconds() != s.interval]
        for i, spec in enumerate(fresh):
            first = now + timedelta(seconds=min(60.0, len(fresh) / 10) * i / len(fresh))
            self.scheduler.add_job(self._tracked(spec.name, self._poll_step(spec.name)), "interval",
                                   seconds=spec.interval, id=f"feed:{spec.name}", replace_existing=True,
                                   next_run_time=clock.to_real(first))  # APScheduler runs on the real clock
        last = self.monitor.store.last_digest_at()
        # Fixed times and quiet hours are checked each minute (send_digest decides whether one is due).
        interval = 60.0 if feeds.settings.digest_at or feeds.settings.quiet_hours else feeds.settings.digest_interval
        digest = jobs.get("digest")
        if digest is None or digest.trigger.interval.total_seconds() != interval:
            first = now + timedelta(seconds=min(90.0, interval))  # after the first polls (at most 90 s)
            next_digest = max(first, (last + timedelta(seconds=interval)) if last else now)
            self.scheduler.add_job(self._tracked("digest", self._digest), "interval", seconds=interval,
                                   id="digest", replace_existing=True, next_run_time=clock.to_real(next_digest))
        self._schedule_weekly(feeds)
        tick = max(0.5, feeds.settings.lease_ttl / 4)
        if jobs.get("tick") is None or jobs["tick"].trigger.interval.total_seconds() != tick:
            self.scheduler.add_job(self._tracked("tick", self._tick), "interval", seconds=tick, id="tick",
                                   replace_existing=True)
        # a dead host's channel lease frees its pending messages after lease_ttl: retried no later than that
        retry = min(RETRY_EVERY, feeds.settings.lease_ttl)
        if jobs.get("outbox") is None or jobs["outbox"].trigger.interval.total_seconds() != retry:
            self.scheduler.add_job(self._tracked("outbox", self._retry_outbox), "interval", seconds=retry,
                                   id="outbox", replace_existing=True)
        log.info("scheduled %d feed(s), %d new or changed; next digest at %s", len(enabled), len(fresh),
                 clock.from_real(self.scheduler.get_job("digest").next_run_time).isoformat(timespec="seconds"))

    def _schedule_weekly(self, feeds: FeedsFile) -> None:
        """settings.weekly_report: a cron job at its time; the report itself checks it was not sent yet."""
        spec = feeds.settings.weekly_report
        if self.scheduler.get_job("weekly"):
            self.scheduler.remove_job("weekly")
        if spec is None:
            return

        async def weekly() -> None:
            from monitor.delivery.weekly import send_weekly_if_due

            with self.monitor.hosts.coordinating() as coordinator:
                if coordinator:
                    await send_weekly_if_due(self.monitor.store, self.monitor.notifiers,
                                             self.monitor.feeds.settings.weekly_report or spec,
                                             [t.name for t in self.monitor.matcher.rules.topics],
                                             rules=self.monitor.matcher.rules)

        self.scheduler.add_job(self._tracked("weekly", weekly), "cron", day_of_week=spec.weekday, hour=spec.hour,
                               minute=spec.minute, timezone=spec.tz, id="weekly")
        self.scheduler.add_job(self._tracked("weekly-catch-up", weekly), id="weekly-catch-up",
                               replace_existing=True)  # a report missed while the service was down

    def _poll_step(self, name: str) -> Callable[[], Awaitable[None]]:
        async def step() -> None:
            spec = self.specs.get(name)
            if spec is None:
                return
            await self.monitor.poll_feed(spec)
            await self.monitor.send_urgent()

        return step

    async def _tick(self) -> None:
        """The heartbeat, and the coordinator lease claimed or renewed (it moves when its holder is gone)."""
        self.monitor.hosts.beat()
        self.monitor.hosts.coordinate()
        # MONITOR_ARCHIVE_URL: what a bucket refused waits in the spool; the service retries it here (and the
        # bucket is tried again), as each `run --once` does at its start
        await self.monitor.drain_spool()

    async def _digest(self) -> None:
        with self.monitor.hosts.coordinating() as coordinator:
            if coordinator:
                await self.monitor.send_digest()
                return
        await self.monitor.deliver()  # another host is the coordinator: only what is due on our channel leases

    async def _retry_outbox(self) -> None:
        with self.monitor.hosts.coordinating() as coordinator:
            if coordinator:  # a feed failing for long is announced even with no story to send
                await self.monitor.send_health()
        await outbox.deliver_due(self.monitor.store, self.monitor.notifiers,
                                 lease_ttl=self.monitor.settings.lease_ttl)

    def reload(self) -> None:
        try:
            feeds, rules = self.reload_config()
        except ConfigError as exc:
            log.error("reload refused, keeping the last good config:\n%s", exc)
            return
        self.monitor.reconfigure(feeds, rules)
        self.schedule(feeds)
        log.info("config reloaded")

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        self.monitor.hosts.keep_polled = True  # a polled feed stays with this host until it is due again
        self.monitor.hosts.beat(started=True)
        self.schedule(self.monitor.feeds)
        self.scheduler.start()
        log.info("monitor service started")
        await self.stopping.wait()
        log.info("stopping: letting %d job(s) in flight finish", len(self.running))
        # pause, not shutdown: APScheduler's shutdown cancels the jobs in flight at once
        self.scheduler.pause()
        if self.running:
            done, pending = await asyncio.wait(set(self.running), timeout=STOP_GRACE)
            for task in pending:  # a poll commits article by article; cancelling loses nothing committed
                task.cancel()
            if pending:
                grace = max(map(outbox.grace_of, self.monitor.notifiers), default=outbox.SEND_GRACE)
                await asyncio.wait(pending, timeout=grace + 5)  # a send in flight has its grace
        self.scheduler.shutdown(wait=False)
        self.monitor.views.halt()  # screenshots still queued are rendered at the next start (evidence/views.py)
        self.monitor.hosts.step_down()
        log.info("monitor service stopped")

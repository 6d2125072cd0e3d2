"""The delivery half of a cycle: urgent alerts at once, the feed-health notice, page re-checks, the digest when
it is due, and the outbox delivered after each.

`DeliverySteps` is mixed into `pipeline.Monitor`: it needs `store`, `notifiers`, `settings`, `matcher`,
`feed_names`, `evidence` and `undelivered` from there.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from monitor import clock
from monitor.delivery import outbox
from monitor.delivery.digest import ANNOUNCED_KEY, build_digest, digest_due, health_notice, next_digest_at, quiet_until, urgent_digests

log = logging.getLogger("monitor")


class DeliverySteps:
    """What a cycle sends, in the order a cycle sends it."""

    async def send_urgent(self) -> int:
        """Queue one alert per waiting urgent story and deliver at once; returns how many were queued."""
        queued = 0
        for digest in urgent_digests(self.store, topic_titles=self.matcher.rules.titles, settings=self.settings):
            if outbox.queue_digest(self.store, digest, self.notifiers) is not None:
                queued += 1
        if queued:
            log.info("urgent: %d alert(s) queued", queued)
            await self.deliver()
        return queued

    async def deliver(self, *, force: bool = False) -> outbox.DeliveryReport:
        """Send what the outbox holds (all of it now with `force`); remember whether something stays queued."""
        report = await outbox.deliver_due(self.store, self.notifiers, force=force, lease_ttl=self.settings.lease_ttl)
        if not report.ok or report.unconfigured:
            self.undelivered = True
        return report

    async def send_health(self) -> bool:
        """Announce feeds failing longer than `failing_after` (and their recovery), once per episode, even when
        no story is waiting; quiet hours hold it back. Returns whether a notice was queued."""
        now = clock.now()
        digest, record = health_notice(self.store, self.settings, self.feed_names, now)
        if digest is not None and quiet_until(now, self.settings):
            return False
        if digest is not None and outbox.queue_digest(self.store, digest, self.notifiers) is None:
            return False
        self.store.meta_set(ANNOUNCED_KEY, json.dumps(record, ensure_ascii=False))
        if digest is not None:
            log.warning("feed health notice queued: %s", digest.title)
            await self.deliver()
        return await self.send_silence(now) or digest is not None

    async def send_silence(self, now) -> bool:
        """The silence alert of the `region: gbao` sources (delivery/silence.py), once per episode and once
        when they speak again; like the health notice, quiet hours hold it back."""
        from monitor.delivery.silence import SILENCE_KEY, silence_notice

        notice, state = silence_notice(self.store, self.feeds, now)
        if notice is not None and (quiet_until(now, self.settings)
                                   or outbox.queue_digest(self.store, notice, self.notifiers) is None):
            return False
        self.store.meta_set(SILENCE_KEY, state)
        if notice is not None:
            log.warning("silence notice queued: %s", notice.title)
            await self.deliver()
        return notice is not None

    async def recheck_pages(self) -> int:
        """Re-fetch what is due; returns how many changes were found. Also applies evidence_retention."""
        from monitor.evidence.recheck import apply_retention, recheck_due

        apply_retention(self.evidence, self.settings)
        return await recheck_due(self)

    async def send_digest(self, kind: str = "digest", *, force: bool = False) -> int:
        """Queue the digest of every waiting story (if any and if due: `digest_interval`, `digest_at`, quiet
        hours) and deliver what is due; returns stories queued.

        A regular digest first re-fetches the matched pages that are due (settings.recheck_after), whether or not
        the digest itself is due, so an edit or a removal is in the digest it belongs to; nothing is fetched when
        nothing is due.
        """
        if kind == "digest":
            await self.recheck_pages()
        now = clock.now()
        if kind == "digest" and not force and not digest_due(self.store, self.settings, now):
            waiting = self.store.waiting_count()[0]
            if waiting:
                when = next_digest_at(self.store.last_digest_at(), self.settings, now)
                log.info("%d stor%s wait for the next digest at %s", waiting, "y" if waiting == 1 else "ies",
                         when.isoformat(timespec="minutes"))
            else:
                log.info("no new matching stories: no digest")
            await self.deliver()
            return 0
        self.prune_kept_texts()
        alerts_alone = any(not getattr(n, "takes_alerts", lambda: True)() for n in self.notifiers)
        digest = build_digest(self.store, self.settings, kind=kind, feed_names=self.feed_names,  # type: ignore[arg-type]
                              topic_titles=self.matcher.rules.titles, mentions_max=self.matcher.rules.safety_net_max,
                              alerts_alone=alerts_alone)
        count = 0
        if digest is None:
            log.info("no new matching stories: no digest")
        elif outbox.queue_digest(self.store, digest, self.notifiers) is not None:
            count = len(digest.stories)
            log.info("digest queued: %d stor%s", count, "y" if count == 1 else "ies")
        await self.deliver()
        return count

    def prune_kept_texts(self) -> int:
        """Forget unmatched texts older than settings.keep_unmatched_days (every digest job does this)."""
        now, days = clock.now(), self.settings.keep_unmatched_days
        cutoff = now - timedelta(days=days) if days else now + timedelta(days=1)  # 0: forget every kept text
        pruned = self.store.prune_kept_texts(cutoff)
        if pruned:
            log.info("forgot the kept text of %d unmatched article(s) (keep_unmatched_days: %d)", pruned, days)
        return pruned

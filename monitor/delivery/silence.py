"""The silence alert: when every `region: gbao` source has brought nothing new for `silence_after` while the
other sources still publish, one message says so ("GBAO sources silent since …"), and one more when they
speak again. The internet cuts of November 2021 and May 2022 looked like this from outside.

"Nothing new" is read from the items the monitor saw: the newest first sighting of an item from those feeds
(a feed that fails because the region is cut off brings nothing either). The episode is kept in `meta`, so
each message goes once, across `run --once` runs.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from monitor.config.feeds import FeedsFile
from monitor.delivery.notifier import fmt_time
from monitor.models import Digest

SILENCE_KEY = "gbao_silence"  # meta: the ISO time the GBAO sources went silent since (the episode announced)


def silence_notice(store, feeds: FeedsFile, now: datetime) -> tuple[Digest | None, str | None]:
    """The message to send now (or None), and the meta value to keep afterwards."""
    state = store.meta_get(SILENCE_KEY) or None
    gbao = [f.name for f in feeds.feeds if f.enabled and f.region == "gbao"]
    others = [f.name for f in feeds.feeds if f.enabled and f.region != "gbao"]
    if not gbao or not others:
        return None, None
    last_gbao = store.newest_item_seen(gbao)
    if last_gbao is None:  # never heard from: nothing to compare with
        return None, state
    if state is not None:
        since = datetime.fromisoformat(state)
        if last_gbao > since:
            return Digest(kind="health", created_at=now, title=f"GBAO sources speaking again: new items since "
                          f"{fmt_time(last_gbao)}, after a silence since {fmt_time(since)}"), None
        return None, state
    last_other = store.newest_item_seen(others)
    limit = now - timedelta(seconds=feeds.settings.silence_after)
    if last_gbao < limit and last_other is not None and last_other >= limit:
        return Digest(kind="health", created_at=now, title=f"GBAO sources silent since {fmt_time(last_gbao)} "
                      f"({len(gbao)} source{'s' if len(gbao) != 1 else ''}; the other sources still publish)"), \
            last_gbao.isoformat()
    return None, None

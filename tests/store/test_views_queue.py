"""The screenshot queue shared by the hosts of one state (issue 25), on both backends: each host reads only what
it can render, a view is rendered under a claim that only one holder gets, and a stale claim goes back."""

from __future__ import annotations

from dataclasses import replace

from monitor import clock
from monitor.evidence.warc import Written
from tests.evidence.test_objects import _hops, _story


def _capture(store, tmp_path, url: str, where: str | None = None) -> int:
    from monitor.evidence.capture import Evidence

    evidence = Evidence(store, directory=tmp_path / "warc")
    pending = evidence.write(_hops(url, b"<p>Khorog</p>"), text="Khorog")
    if where is not None:  # a capture in the bucket (its bytes do not matter here)
        pending = replace(pending, written=Written(where, 0, 10))
    with store.transaction():
        return evidence.index(pending, story_id=_story(store, url))


def test_each_host_reads_the_views_it_can_render_and_one_claim_wins(store, tmp_path):
    local = _capture(store, tmp_path, "http://outlet.example/news/1")
    bucket = _capture(store, tmp_path, "http://outlet.example/news/2", "s3://gbao-evidence/x/ab.warc.gz")
    store.queue_view(local, "vps-a")
    store.queue_view(bucket, "vps-a")
    assert [r["id"] for r in store.pending_views("vps-a")] == [local, bucket]
    assert [r["id"] for r in store.pending_views("vps-b")] == [bucket], "vps-a's local capture is not vps-b's"
    assert [r["id"] for r in store.pending_views("vps-a", after=local)] == [bucket]
    assert store.has_pending_views("vps-b")

    assert store.claim_view(bucket, "vps-b/7")
    assert not store.claim_view(bucket, "vps-a/3"), "claimed: the other host leaves it"
    assert [r["id"] for r in store.pending_views("vps-a")] == [local] and not store.has_pending_views("vps-b")
    assert store.view_claimants() == ["vps-b/7"]
    assert not store.view_done(bucket, Written("s3://gbao-evidence/x/cd.warc.gz", 0, 5), "cd" * 32, clock.now(),
                               "vps-a/3"), "only the claim's holder marks it done"
    assert store.release_stale_views(600, [], give_up_after=3) == 0, "a fresh claim of a live host stays"
    assert store.release_stale_views(600, ["vps-b/7"], give_up_after=3) == 1, "a holder known dead: back at once"
    assert store.claim_view(bucket, "vps-a/3")
    assert store.release_stale_views(-1, [], give_up_after=3) == 1, "a claim older than the bound: back"
    [row] = store.db.execute("SELECT state, attempts, claimed_by FROM views WHERE capture_id = ?", (bucket,))
    assert tuple(row) == ("pending", 2, None), "each lost claim counts as an attempt"

    assert store.claim_view(bucket, "vps-a/3")
    assert store.view_done(bucket, Written("s3://gbao-evidence/x/cd.warc.gz", 0, 5), "cd" * 32, clock.now(),
                           "vps-a/3")
    assert not store.claim_view(bucket, "vps-b/7"), "done: nobody renders it again"
    assert sum('"rendered"' in line for _n, line, _h in store.custody()) == 1, "one custody line"

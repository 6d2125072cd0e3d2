"""Every poll registers its feed first. A feed already known at the same address keeps its validators and costs
no write (on PostgreSQL a write is a transaction under the shared lock: 5,000 of them per interval at 5,000
sources); a feed moved to a new address forgets the validators of the old one."""

from __future__ import annotations


def _poll_ok(store, name: str) -> None:
    store.record_poll_success(name, etag='"v1"', last_modified="Mon, 07 Dec 2026 08:00:00 GMT", fetch_ms=120,
                              new_items=3, matches=0)


def test_a_known_feed_at_the_same_address_keeps_its_validators_and_a_moved_one_forgets_them(store) -> None:
    store.ensure_feed("Radio Ozodi", "https://rus.ozodi.org/api/feed")
    _poll_ok(store, "Radio Ozodi")
    store.ensure_feed("Radio Ozodi", "https://rus.ozodi.org/api/feed")
    assert store.feed_state("Radio Ozodi").etag == '"v1"'
    store.ensure_feed("Radio Ozodi", "https://www.ozodi.org/api/feed")
    state = store.feed_state("Radio Ozodi")
    assert state.etag is None and state.last_modified is None and state.polls == 1


def test_registering_a_known_feed_again_writes_nothing(tmp_path) -> None:
    from monitor.store import Store

    store = Store(tmp_path / "monitor.db")
    try:
        store.ensure_feed("Eurasianet", "https://eurasianet.org/rss")
        before = store.db.total_changes
        for _ in range(3):
            store.ensure_feed("Eurasianet", "https://eurasianet.org/rss")
        assert store.db.total_changes == before
    finally:
        store.close()

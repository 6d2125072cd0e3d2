"""README, "Two hosts and a database that survives a host": the connection string names every database node and
asks for the one that accepts writes. The monitor takes such a URL as it is (libpq tries the nodes in order)."""

from __future__ import annotations

import socket

from monitor.store import Store
from monitor.store.common import redact_url


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_with_the_first_node_down_the_state_is_kept_on_the_next_one(pg_url, tmp_path) -> None:
    node = pg_url.split("@", 1)[1].split("/", 1)[0]
    url = pg_url.replace(node, f"127.0.0.1:{_dead_port()},{node}") + "?target_session_attrs=read-write&connect_timeout=5"
    store = Store(tmp_path / "monitor.db", database_url=url)
    try:
        store.ensure_feed("Radio Ozodi", "https://rus.ozodi.org/api/feed")
        assert store.feed_state("Radio Ozodi").name == "Radio Ozodi"
    finally:
        store.close()
    reopened = Store(tmp_path / "monitor.db", database_url=pg_url)  # the same database, reached directly
    try:
        assert reopened.feed_state("Radio Ozodi") is not None
    finally:
        reopened.close()


def test_the_password_of_a_two_node_url_is_never_shown() -> None:
    url = ("postgresql://pamir:s3cret@10.0.0.1:5432,10.0.0.2:5432/pamir"
           "?target_session_attrs=read-write&connect_timeout=5&sslmode=require")
    shown = redact_url(url)
    assert "s3cret" not in shown
    assert shown.startswith("postgresql://pamir:***@10.0.0.1:5432,10.0.0.2:5432/pamir?target_session_attrs=read-write")

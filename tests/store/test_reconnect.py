"""PostgreSQL restarts under a running monitor: the store connects again by itself, a transaction the restart cut
off is gone whole and said so in one line, and the next one works — no caller does anything for it."""

from __future__ import annotations

import logging
import sqlite3

import pytest

from monitor.store import ConnectionLost, Store, explain_error


@pytest.fixture
def pg_store(pg_url, tmp_path):
    s = Store(tmp_path / "monitor.db", database_url=pg_url)
    yield s
    s.close()


def _cut(cluster, store) -> None:
    cluster.terminate(store.db.conn.info.backend_pid)


def test_a_connection_ended_between_steps_is_opened_again_and_the_step_runs(pg_cluster, pg_store, caplog):
    pg_store.meta_set("before", "1")
    for step in (lambda: pg_store.meta_get("before"),  # a read
                 lambda: pg_store.meta_set("lone", "write"),  # a write outside a transaction
                 lambda: pg_store.queue_digest("digest", [], {"stdout": ["hello"]})):  # a whole transaction
        _cut(pg_cluster, pg_store)
        with caplog.at_level(logging.WARNING, logger="monitor.store"):
            step()
    assert pg_store.meta_get("lone") == "write"
    assert [m.payload for m in pg_store.due_messages()] == ["hello"]
    said = [r.getMessage() for r in caplog.records if r.name == "monitor.store"]
    assert len(said) == 3 and all("was lost" in s and "connected again" in s for s in said), said
    assert all("postgres@127.0.0.1" in s for s in said)


def test_a_transaction_cut_off_midway_is_gone_whole_in_one_line_and_the_next_one_works(pg_cluster, pg_store):
    with pytest.raises(ConnectionLost) as caught:
        with pg_store.transaction():
            pg_store.meta_set("half", "done")
            _cut(pg_cluster, pg_store)
            pg_store.meta_set("other", "half")
    line = explain_error(pg_store.where, caught.value)
    assert "\n" not in line and "lost mid-transaction" in line and "nothing of that transaction was kept" in line
    assert isinstance(caught.value, sqlite3.OperationalError), "callers that catch database errors catch it"
    assert pg_store.meta_get("half") is None, "nothing of the cut-off transaction was committed"
    with pg_store.transaction():  # the caller replays it: it works on the new connection
        pg_store.meta_set("half", "done")
    assert pg_store.meta_get("half") == "done"


def test_a_server_that_stays_away_is_one_clear_line_without_the_password(pg_cluster, pg_store, monkeypatch):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr("monitor.store.pg.RECONNECT_S", 0.3)
    pg_store.db._url = f"postgresql://monitor:s3cret@127.0.0.1:{port}/monitor"  # the server is gone for good
    _cut(pg_cluster, pg_store)
    with pytest.raises(sqlite3.OperationalError) as caught:
        pg_store.meta_get("anything")
    line = explain_error(pg_store.where, caught.value)
    assert "database server cannot be used" in line and "\n" not in line and "s3cret" not in line, line

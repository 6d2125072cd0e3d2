"""The suite's throwaway PostgreSQL: every test gets its own empty database on a shared cluster."""

from __future__ import annotations


def test_each_test_gets_its_own_empty_database(pg_cluster, pg_url):
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE mine (x int)")
        assert conn.execute("SELECT current_setting('server_version_num')::int").fetchone()[0] >= 150000
    other = pg_cluster.new_database()
    try:
        with psycopg.connect(other) as conn:
            assert conn.execute("SELECT to_regclass('mine')").fetchone()[0] is None
    finally:
        pg_cluster.drop(other)

"""PostgreSQL restarted under a running `monitor run` service, in the middle of a poll and between polls: the
service connects again by itself, nothing is lost, and the digest carries every story once."""

from __future__ import annotations

import signal
import time

from tests.conftest import PROJECT, run_cli
from tests.support.faultserver import stop, wait_for
from tests.support.localsite import LocalSite, Page, article_html, rss
from tests.test_scheduler import BORING, STORIES, _log, _serve


def _stories(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute("SELECT COUNT(*) FROM stories").fetchone()[0]


def test_a_database_restarted_mid_poll_and_between_polls_costs_the_service_nothing(tmp_path, pg_cluster, pg_url):
    with LocalSite() as site:
        for path, (title, text) in {**STORIES, **BORING}.items():
            site.add(path, Page(article_html(title, text).encode(), delay=0.6))  # a poll is in flight for seconds
        items = [{"title": t, "path": p} for p, (t, _) in {**STORIES, **BORING}.items()]
        site.add("/feed.xml", Page(rss("Slow News", items, base=site.base).encode(),
                                   content_type="application/rss+xml"))
        feeds = tmp_path / "feeds.yaml"
        feeds.write_text(f"feeds:\n  - name: Slow News\n    url: {site.url('/feed.xml')}\n    interval: 1s\n"
                         "settings:\n  timeout: 5\n  per_host: 2\n", encoding="utf-8")
        common = ["--feeds", str(feeds), "--keywords", str(PROJECT / "keywords.yaml"),
                  "--state", str(tmp_path / "state.db"), "--database-url", pg_url]
        log = tmp_path / "service.log"
        proc = _serve(["run", *common], log)
        try:
            assert wait_for(lambda: site.requested("/s/"), 60), _log(log)
            pg_cluster.restart()  # while the poll's pages are on the wire
            assert wait_for(lambda: _stories(pg_url) == len(STORIES), 60), _log(log)
            polls = len(site.requested("/feed.xml"))
            pg_cluster.restart()  # between two polls
            assert wait_for(lambda: len(site.requested("/feed.xml")) >= polls + 2, 30), _log(log)
            assert wait_for(lambda: _log(log).count("connected again") >= 2, 10), _log(log)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0, _log(log)
        finally:
            stop(proc)
        text = _log(log)
        assert "Traceback" not in text, text
        assert "postgres@127.0.0.1" in text and "the connection to the database server was lost" in text

        digest = run_cli("run", "--once", *common)
        assert digest.returncode == 0, digest.stderr
        for title, _ in STORIES.values():
            assert digest.stdout.count(title) == 1, (title, digest.stdout)
        import psycopg

        with psycopg.connect(pg_url) as conn:
            urls = [r[0] for r in conn.execute("SELECT url FROM items")]
        assert len(urls) == len(set(urls)) == len(STORIES) + len(BORING), urls
        for path in STORIES:  # a page is fetched again only if the restart cut its poll off before it was kept
            assert 1 <= len(site.requested(path)) <= 2, path
        again = run_cli("run", "--once", *common)
        assert again.returncode == 0 and again.stdout.strip() == "", "nothing is sent twice"

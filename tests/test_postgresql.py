"""The state in PostgreSQL, end to end: the same digest as on SQLite, nothing sent twice, search across scripts,
two runs writing at once, and `status` naming the database without its password."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

from tests.conftest import PROJECT, run_cli
from tests.support import clock as suite_clock
from tests.test_pipeline import news_site, write_feeds  # noqa: F401  (a fixture)

TITLES = ("Twelve Pamiri activists detained in Khorog", "В Хороге задержаны пятеро жителей")


def _args(tmp_path, feeds, state="state.db"):
    return ["--feeds", str(feeds), "--keywords", str(PROJECT / "keywords.yaml"), "--state", str(tmp_path / state)]


def test_run_once_on_postgresql_sends_the_digest_once_and_keeps_no_state_file(tmp_path, news_site, pg_url):
    feeds = write_feeds(tmp_path / "feeds.yaml", news_site)
    env = {"MONITOR_DATABASE_URL": pg_url}
    first = run_cli("run", "--once", *_args(tmp_path, feeds), env=env)
    assert first.returncode == 0, first.stderr
    for title in TITLES:
        assert first.stdout.count(title) == 1, first.stdout
    assert "Pamir tyres" not in first.stdout
    assert not (tmp_path / "state.db").exists(), "the state is in PostgreSQL, not in a file"
    news_site.clear()
    second = run_cli("run", "--once", *_args(tmp_path, feeds), env=env)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "" and "no new matching stories" in second.stderr
    import psycopg

    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT COUNT(*) FROM stories WHERE digest_id IS NOT NULL").fetchone()[0] == 2
        assert conn.execute("SELECT COUNT(*) FROM items").fetchone()[0] >= 4


def test_status_names_the_database_without_its_password(tmp_path, news_site, pg_url):
    feeds = write_feeds(tmp_path / "feeds.yaml", news_site)
    run_cli("run", "--once", *_args(tmp_path, feeds), "--database-url", pg_url)
    with_password = pg_url.replace("postgres@", "postgres:s3cret-pw@")  # trust auth: the password is not checked
    status = run_cli("status", *_args(tmp_path, feeds), "--database-url", with_password)
    assert status.returncode == 0, status.stderr
    assert "state: PostgreSQL postgresql://postgres:***@" in status.stdout
    assert "s3cret-pw" not in status.stdout + status.stderr


def test_two_runs_on_two_hosts_writing_at_once_never_duplicate_a_digest(tmp_path, news_site, pg_url):
    """Two runs with their own state folders (as on two hosts) and one database: each story is sent once."""
    feeds = write_feeds(tmp_path / "feeds.yaml", news_site, extra="  digest_interval: 1s\n")
    for host in ("a", "b"):
        (tmp_path / host).mkdir()
    env = suite_clock.child_env({"PYTHONPATH": str(PROJECT), "MONITOR_DATABASE_URL": pg_url})
    procs = [subprocess.Popen([sys.executable, "-m", "monitor", "run", "--once", *_args(tmp_path, feeds, f"{n}/state.db")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=PROJECT)
             for n in ("a", "b")]
    outs = [p.communicate(timeout=120) for p in procs]
    for proc, (_, err) in zip(procs, outs):
        assert proc.returncode == 0, err
        assert "Traceback" not in err, err
    sent = Counter(t for out, _ in outs for t in TITLES if t in out)
    assert all(n == 1 for n in sent.values()), [o for o, _ in outs]
    # the two hosts share the work through leases (issue 25): a story the run that was not the coordinator
    # stored waits for the next coordinator's digest, here a third run
    # a minute later, as the next timer run: a digest is due however soon the first two ended
    last = subprocess.run([sys.executable, "-m", "monitor", "run", "--once", *_args(tmp_path, feeds, "a/state.db")],
                          capture_output=True, text=True, env={**env, **suite_clock.ahead(60)}, cwd=PROJECT,
                          timeout=120)
    sent.update(t for t in TITLES if t in last.stdout)
    assert sent == Counter({t: 1 for t in TITLES}), [o for o, _ in outs] + [last.stdout]


def test_search_finds_every_spelling_of_khorog_on_postgresql_as_on_sqlite(tmp_path, pg_url):
    from tests.support.webarchive import build_archive
    from tests.web.test_web import browse, config, found

    ids = build_archive(tmp_path / "monitor.db", database_url=pg_url)
    khorog = {ids["Ozodi RU"], ids["Ozodi TJ"], ids["Eurasianet"], ids["BBC Persian"], ids["Untrusted feed"]}
    cfg = config(tmp_path / "monitor.db", database_url=pg_url)
    pages = browse(cfg, *(lambda c, q=q: c.get("/", params={"q": q}) for q in ("Хорог", "Khorugh", "خاروغ")))
    for page in pages:
        assert page.status_code == 200
        assert set(found(page.text)) == khorog, page.text[-2000:]
    exact, tajik, tg = browse(cfg, lambda c: c.get("/", params={"q": '"Хоруг"'}),
                              lambda c: c.get("/", params={"q": '"Хоруғ" боздошт'}),
                              lambda c: c.get("/", params={"language": "tg"}))
    assert found(exact.text) == [ids["Ozodi TJ"]] == found(tajik.text) == found(tg.text)
    home = browse(cfg, lambda c: c.get("/"))[0]
    assert home.status_code == 200 and "Khorog" in home.text


def test_migrate_state_moves_a_pending_message_and_the_next_run_sends_it_once(tmp_path, site, pg_url):
    from tests.support.fake_telegram import FakeTelegram
    from tests.support.localsite import article_html
    from tests.sources.test_politeness import KHOROG, news_feed
    from tests.test_operations import STORY, cli, feeds, run

    site.add("/news/khorog", article_html(*STORY[:1], KHOROG))
    site.add("/feed.xml", news_feed(site, [STORY]))
    f = feeds(tmp_path, site)
    with FakeTelegram() as tg:
        tg.fail(429, retry_after=600)
        assert run(tmp_path, f, env=tg.env()).returncode == 3  # the digest stays queued in the SQLite file
        moved = cli(tmp_path, f, "migrate-state", "--to", pg_url)
        assert moved.returncode == 0, moved.stdout + moved.stderr
        assert "rows copied and checked (1 stories, 1 pending message(s))" in moved.stdout
        from monitor.store import Store

        copied = Store(tmp_path / "unused.db", database_url=pg_url)
        try:  # the story's incident (and any researcher's review of it) moves with it
            assert [len(copied.incident_reports_for([r["id"]])) for r in copied.incidents_since("")] == [1]
        finally:
            copied.close()
        again = cli(tmp_path, f, "migrate-state", "--to", pg_url)
        assert again.returncode == 1 and "not an empty state" in again.stderr
        env = {**tg.env(), "MONITOR_DATABASE_URL": pg_url}
        flushed = cli(tmp_path, f, "flush", env=env)
        assert "flush: 1 message(s) sent, 0 still queued" in flushed.stdout, flushed.stdout + flushed.stderr
        site.clear()
        site.add("/feed.xml", news_feed(site, [STORY]))
        assert run(tmp_path, f, env=env).returncode == 0
        assert [m["text"].count("Activists detained in Khorog") for m in tg.messages] == [1]
        back = cli(tmp_path, f, "migrate-state", "--from", pg_url, "--to", str(tmp_path / "back.db"))
        assert back.returncode == 0, back.stdout + back.stderr
        assert "0 pending message(s)" in back.stdout

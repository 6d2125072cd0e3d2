"""Evidence in object storage: an organisation keeps its captures in a bucket (MONITOR_ARCHIVE_URL), off the
host that may be seized. Each capture is one object PUT with its SHA-256 before its row is written; a bucket
or a state that is down leaves the capture in the local spool, and the next cycle uploads and indexes it once.
Exports, `verify` and the web download read the objects back; an object altered or deleted is named.

Against moto's S3 server on loopback; credentials and endpoint only through the standard AWS variables."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import socket
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from monitor import clock
from tests.conftest import PROJECT, run_cli
from tests.support.localsite import LocalSite, Page, article_html, rss

pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")

BUCKET, PREFIX = "gbao-evidence", "monitor/warc"
KHOROG = ("Relatives said that officers detained four Pamiri men in Khorog on Monday night and took them to the "
          "regional headquarters of the security service in Gorno-Badakhshan (GBAO). A lawyer hired by the "
          "families was not allowed to see them, and no charges had been announced by Tuesday afternoon.")
RUSHAN = ("A court in Dushanbe sentenced a resident of Rushan district to eighteen years in prison on Wednesday, "
          "his brother said; the trial in the GBAO case was closed to the public. The man was detained in May "
          "2022 during the security operation in Rushan.")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3():
    """moto's S3 on 127.0.0.1, and the AWS variables a deployment would set (nothing else is configured)."""
    port = _free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {"AWS_ACCESS_KEY_ID": "monitor-test", "AWS_SECRET_ACCESS_KEY": "monitor-test-secret",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        for k in ("AWS_PROFILE", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN"):
            mp.delenv(k, raising=False)
        import boto3

        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield {"client": client, "env": env, "port": port}
    server.stop()


def _objects(client, prefix: str = PREFIX) -> dict[str, bytes]:
    """The objects under `prefix`: moto's buckets are shared by every test module of a pytest process."""
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=f"{prefix}/").get("Contents", [])
    return {o["Key"]: client.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listed}


def _cli(tmp: Path, *args: str, env: dict):
    return run_cli(*args, "--feeds", str(tmp / "feeds.yaml"), "--keywords", str(PROJECT / "keywords.yaml"),
                   "--state", str(tmp / "state.db"), env=env, cwd=tmp)


def _rows(tmp: Path) -> list[dict]:
    db = sqlite3.connect(tmp / "state.db")
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute("SELECT * FROM captures ORDER BY id")]
    finally:
        db.close()


def _outlet(site: LocalSite, tmp: Path, stories: list[tuple[str, str, str]]) -> None:
    for path, title, text in stories:
        site.add(path, article_html(title, [text]))
    site.add("/feed.xml", Page(rss("Outlet", [{"title": t, "path": p} for p, t, _ in stories],
                                   base=site.base).encode(), content_type="application/rss+xml"))
    (tmp / "feeds.yaml").write_text(f"feeds:\n  - name: Outlet\n    url: {site.url('/feed.xml')}\n"
                                    "settings:\n  timeout: 5\n  digest_interval: 1s\n", encoding="utf-8")


@pytest.fixture(scope="module")
def bucketed(s3, tmp_path_factory):
    """Two `monitor run --once` with MONITOR_ARCHIVE_URL: the first while the bucket is down (its story's
    capture is spooled), the second once it is back (that capture uploaded and indexed, a new one PUT
    directly); then `export --format wacz`."""
    tmp = tmp_path_factory.mktemp("objects")
    env = {**s3["env"], "MONITOR_ARCHIVE_URL": f"s3://{BUCKET}/{PREFIX}"}
    down = {**env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{_free_port()}"}  # nothing listens there
    spool = tmp / "state.db.spool"
    khorog = ("/news/khorog", "Four Pamiri men detained in Khorog", KHOROG)
    with LocalSite() as site:
        _outlet(site, tmp, [khorog])
        first = _cli(tmp, "run", "--once", env=down)
        assert first.returncode == 0, first.stderr
        while_down = {"rows": _rows(tmp), "spooled": sorted(p.suffix for p in spool.iterdir()),
                      "objects": len(_objects(s3["client"]))}
        _outlet(site, tmp, [khorog, ("/news/rushan", "Rushan man sentenced to eighteen years", RUSHAN)])
        run = _cli(tmp, "run", "--once", env=env)
        assert run.returncode == 0, run.stderr
    from monitor.cli.main import main

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MONITOR_ARCHIVE_URL", env["MONITOR_ARCHIVE_URL"])
        assert main(["export", "--format", "wacz", "--since", "2020-01-01", "-o", str(tmp / "all.wacz"),
                     "--state", str(tmp / "state.db"), "--feeds", str(tmp / "feeds.yaml"),
                     "--keywords", str(PROJECT / "keywords.yaml")]) == 0
    yield {"tmp": tmp, "env": env, "first": first, "run": run, "while_down": while_down, "spool": spool}


def test_each_capture_is_one_object_named_by_its_sha256_and_indexed_with_it(s3, bucketed):
    rows = _rows(bucketed["tmp"])
    objects = _objects(s3["client"])
    assert len(rows) == 2 and len(objects) == 2
    for row in rows:
        key = row["warc_file"].removeprefix(f"s3://{BUCKET}/")
        data = objects[key]
        assert key == f"{PREFIX}/{hashlib.sha256(data).hexdigest()}.warc.gz"
        assert row["object_sha256"] == hashlib.sha256(data).hexdigest()
        assert (row["warc_offset"], row["warc_length"]) == (0, len(data))
        stored = s3["client"].get_object_attributes(Bucket=BUCKET, Key=key, ObjectAttributes=["Checksum"])
        assert base64.b64decode(stored["Checksum"]["ChecksumSHA256"]).hex() == row["object_sha256"]
        assert b"WARC/1.1" in gzip.decompress(data)  # gzip members, as local WARC files
    assert not (bucketed["tmp"] / "state.db.warc").exists() or not list((bucketed["tmp"] / "state.db.warc").iterdir())
    custody = json.loads(sqlite3.connect(bucketed["tmp"] / "state.db").execute(
        "SELECT line FROM custody ORDER BY n LIMIT 1").fetchone()[0])
    assert custody["object_sha256"] == rows[0]["object_sha256"]
    for secret in ("monitor-test-secret",):
        assert secret not in bucketed["run"].stderr + bucketed["run"].stdout


def _verify_state(tmp: Path, monkeypatch, archive_url: str | None):
    from monitor.cli.main import main

    if archive_url:
        monkeypatch.setenv("MONITOR_ARCHIVE_URL", archive_url)
    else:
        monkeypatch.delenv("MONITOR_ARCHIVE_URL", raising=False)
    return main(["verify", "--state", str(tmp / "state.db")])


def test_export_verify_and_download_read_the_objects_back(s3, bucketed, monkeypatch, capsys):
    from monitor.evidence.verify import verify_wacz

    tmp, env = bucketed["tmp"], bucketed["env"]
    assert verify_wacz(tmp / "all.wacz").ok
    # a reader needs only the AWS variables: the bucket is in each row
    assert _verify_state(tmp, monkeypatch, None) == 0
    assert "2 captures" in capsys.readouterr().out
    import zipfile

    with zipfile.ZipFile(tmp / "all.wacz") as z:
        packed = z.read("archive/data.warc.gz")
    for data in _objects(s3["client"]).values():
        assert data in packed  # concatenated byte for byte
    from monitor.store import Store
    from monitor.web.evidence import capture_bytes

    row = _rows(tmp)[0]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MONITOR_ARCHIVE_URL", env["MONITOR_ARCHIVE_URL"])
        store = Store(tmp / "state.db")
        try:
            got = capture_bytes(store, row["story_id"], row["id"])
            from monitor.evidence.capture import archive_summary

            status = archive_summary(store)  # `monitor status`
        finally:
            store.close()
    assert f"new captures go to s3://{BUCKET}/{PREFIX} (2 object(s) indexed, " in status
    assert got is not None and hashlib.sha256(got[0]).hexdigest() == row["object_sha256"]


def test_verify_names_an_altered_and_a_missing_object(s3, bucketed, monkeypatch, capsys):
    tmp, env, client = bucketed["tmp"], bucketed["env"], s3["client"]
    first, second = _rows(tmp)
    keys = [r["warc_file"].removeprefix(f"s3://{BUCKET}/") for r in (first, second)]
    kept = {k: client.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in keys}
    altered = bytearray(kept[keys[0]])
    altered[len(altered) // 2] ^= 0x20
    client.put_object(Bucket=BUCKET, Key=keys[0], Body=bytes(altered))  # someone with write access to the bucket
    client.delete_object(Bucket=BUCKET, Key=keys[1])
    try:
        assert _verify_state(tmp, monkeypatch, env["MONITOR_ARCHIVE_URL"]) == 1
        out = capsys.readouterr().out
        assert f"capture {first['id']}" in out and f"the object s3://{BUCKET}/{keys[0]} was altered" in out
        assert f"capture {second['id']}" in out and f"s3://{BUCKET}/{keys[1]} is missing from the bucket" in out
    finally:
        for k, data in kept.items():
            client.put_object(Bucket=BUCKET, Key=k, Body=data)


def test_a_bucket_that_is_down_leaves_the_capture_in_the_spool_and_the_next_run_uploads_it_once(s3, bucketed):
    tmp, env = bucketed["tmp"], bucketed["env"]
    assert "waits in the spool" in bucketed["first"].stderr
    # while the bucket was down: the capture and its index request in the spool, no row, no object
    assert bucketed["while_down"] == {"rows": [], "spooled": [".gz", ".json"], "objects": 0}
    assert "evidence spool: 1 uploaded, 1 indexed, 0 still waiting" in bucketed["run"].stderr
    rows = _rows(tmp)
    assert [r["final_url"].rsplit("/", 1)[1] for r in rows] == ["khorog", "rushan"]
    # what is left is the copy of the capture this run indexed, cleared by the next cycle once its row is seen
    assert [p.name for p in bucketed["spool"].glob("*.warc.gz")] == [f"{rows[1]['object_sha256']}.warc.gz"]
    from monitor.evidence.capture import Evidence
    from monitor.store import Store

    with pytest.MonkeyPatch.context() as mp:  # the next cycle finds nothing left to upload or index
        mp.setenv("MONITOR_ARCHIVE_URL", env["MONITOR_ARCHIVE_URL"])
        store = Store(tmp / "state.db")
        try:
            done = Evidence(store).drain()
            assert (done.uploaded, done.indexed, done.waiting) == (0, 0, 0)
            assert len(store.captures()) == 2
        finally:
            store.close()
    assert list(bucketed["spool"].glob("*")) == []
    assert len(_objects(s3["client"])) == 2


def _hops(url: str, body: bytes):
    from monitor.sources.exchange import Hop

    return [Hop(url, "GET", "/" + url.split("/", 3)[3], (("Host", "outlet.example"),), "HTTP/1.1", 200, "OK",
                (("Content-Type", "text/html"),), body, "192.0.2.7:80", clock.now())]


def _story(store, url: str) -> int:
    from monitor.models import Article, FeedEntry, MatchResult, TopicHit

    item = store.record_item(feed="Outlet", guid=None, url=url, url_key=url, status="matched")
    entry = FeedEntry(feed="Outlet", url=url, title="Khorog", published=clock.now() - timedelta(hours=1))
    article = Article(entry=entry, final_url=url, title="Khorog", text=KHOROG, published=entry.published,
                      fetched_at=clock.now(), raw_sha256="ab" * 32)
    return store.add_story(item, article, MatchResult(hits=(TopicHit("gbao", 2.5, ("khorog",)),), snippet="Khorog"))


def test_a_state_that_is_down_at_index_time_leaves_the_capture_in_the_spool_until_the_story_is_back(
        s3, store, tmp_path, monkeypatch):
    monkeypatch.setenv("MONITOR_ARCHIVE_URL", f"s3://{BUCKET}/{tmp_path.name}")
    monkeypatch.setenv("MONITOR_SPOOL_DIR", str(tmp_path / "spool"))
    from monitor.evidence.capture import Evidence

    evidence = Evidence(store)
    url = "http://outlet.example/news/khorog"
    pending = evidence.write(_hops(url, article_html("Khorog", [KHOROG]).encode()), text=KHOROG, title="Khorog")
    assert pending is not None and pending.stored

    class StateDown(Exception):
        pass

    with pytest.raises(StateDown):  # the commit never happens: the database went away mid-transaction
        with store.transaction():
            story = _story(store, url)
            evidence.index(pending, story_id=story)
            raise StateDown
    assert store.captures() == [] and len(evidence.objects.spool) == 1
    assert evidence.drain().waiting == 1  # its story is not in the state (yet)
    story = _story(store, url)  # the item is fetched again and recorded
    done = evidence.drain()
    assert (done.indexed, done.uploaded) == (1, 0)  # the bucket had it already: not PUT again
    assert evidence.drain().indexed == 0 and len(evidence.objects.spool) == 0
    [row] = store.captures(story)
    assert row["object_sha256"] == pending.object_sha256 and evidence.read(row).startswith(b"\x1f\x8b")
    from monitor.evidence.verify import verify_state

    assert verify_state(store, evidence).ok


def test_without_boto3_a_command_says_what_to_install(tmp_path, monkeypatch, capsys):
    import sys

    from monitor.cli.main import main
    from monitor.store import Store

    Store(tmp_path / "state.db").close()
    monkeypatch.setitem(sys.modules, "boto3", None)  # as on a host where the [s3] extra was not installed
    monkeypatch.setenv("MONITOR_ARCHIVE_URL", "s3://gbao-evidence/monitor")
    assert main(["verify", "--state", str(tmp_path / "state.db")]) == 1
    err = capsys.readouterr().err
    assert "MONITOR_ARCHIVE_URL needs boto3: pip install 'pamir-monitor[s3]'" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_no_quiet_cycle_is_taken_while_captures_wait_in_the_spool(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from monitor.quiet import _spool_waiting

    state = SimpleNamespace(path=str(tmp_path / "state.db"))
    monkeypatch.setenv("MONITOR_ARCHIVE_URL", f"s3://{BUCKET}/monitor")
    assert not _spool_waiting(state)  # no spool yet
    (tmp_path / "state.db.spool").mkdir()
    (tmp_path / "state.db.spool" / f"{'ab' * 32}.warc.gz").write_bytes(b"\x1f\x8b")
    assert _spool_waiting(state)  # the full cycle runs, and drains it first
    monkeypatch.delenv("MONITOR_ARCHIVE_URL")
    assert not _spool_waiting(state)  # no bucket configured: nothing could drain it


def test_check_config_knows_the_variables_and_guards_the_secret_key(tmp_path):
    from monitor.delivery.envfile import read_env_file

    env_file = tmp_path / "secrets.env"
    env_file.write_text(f"MONITOR_ARCHIVE_URL=s3://{BUCKET}/monitor\nMONITOR_SPOOL_DIR=/var/spool/pamir\n"
                        "AWS_ACCESS_KEY_ID=AKIAEXAMPLE\nAWS_SECRET_ACCESS_KEY=wJalrEXAMPLE\n", encoding="utf-8")
    env_file.chmod(0o644)
    env, problems, warnings = read_env_file(env_file)
    assert problems == [] and env["MONITOR_ARCHIVE_URL"] == f"s3://{BUCKET}/monitor"
    assert [w.message for w in warnings] == ["holds a secret but others can read it: chmod 0600, owned by root"]


def test_a_capture_nobody_can_index_leaves_the_spool_after_a_week_with_its_url_named(s3, tmp_path, monkeypatch,
                                                                                       caplog):
    import os

    from monitor.evidence.capture import Evidence
    from monitor.store import Store

    monkeypatch.setenv("MONITOR_ARCHIVE_URL", f"s3://{BUCKET}/{tmp_path.name}")
    store = Store(tmp_path / "state.db")
    try:
        evidence = Evidence(store)
        url = "http://outlet.example/news/vanished"
        pending = evidence.write(_hops(url, b"<p>Khorog</p>"), text="Khorog")  # then the process died
        spooled = tmp_path / "state.db.spool" / f"{pending.object_sha256}.warc.gz"
        assert evidence.drain().waiting == 1  # a young entry waits: its run may still be indexing it
        week_ago = clock.time() - 8 * 86400
        os.utime(spooled, (week_ago, week_ago))
        assert evidence.drain().dropped == 1
        assert not spooled.exists() and store.captures() == []
        assert f"the capture of {url} was never indexed" in caplog.text
    finally:
        store.close()


def test_an_archive_url_with_keys_or_a_bad_bucket_is_refused_without_echoing_the_secret():
    from monitor.evidence.objectstore import ArchiveURLError, parse_url

    assert parse_url("s3://pamir-evidence/monitor/") == ("pamir-evidence", "monitor")
    with pytest.raises(ArchiveURLError) as keyed:
        parse_url("s3://AKIAEXAMPLE:s3cr3t/half@pamir-evidence/monitor")
    assert "s3cr3t" not in str(keyed.value) and "AWS_SECRET_ACCESS_KEY" in str(keyed.value)
    for bad in ("s3://Pamir_Evidence/x", "s3://bucket:9000/x", "https://bucket/x", "s3:///x"):
        with pytest.raises(ArchiveURLError):
            parse_url(bad)


def test_spool_entries_that_can_never_be_indexed_are_moved_aside_once_and_quiet_runs_resume(s3, tmp_path):
    """Three captures sit in the spool that nothing will ever index: one whose index request was damaged, one
    whose story is gone although its page is recorded as seen, one left by a run that was killed before its
    transaction. The next run moves each aside once, naming it in one line; the runs after it are quiet again
    instead of running the full cycle for a week."""
    env = {**s3["env"], "MONITOR_ARCHIVE_URL": f"s3://{BUCKET}/{tmp_path.name}"}
    spool = tmp_path / "state.db.spool"
    weather = "Snow is expected on the passes this week; drivers should carry chains in the high valleys."
    with LocalSite() as site:
        _outlet(site, tmp_path, [("/news/khorog", "Four Pamiri men detained in Khorog", KHOROG),
                                 ("/news/weather", "Snow on the passes", weather)])
        for _ in range(2):  # the first captures and indexes; the second clears the spool and leaves the plan
            run = _cli(tmp_path, "run", "--once", env=env)
            assert run.returncode == 0, run.stderr
        assert not list(spool.glob("*.warc.gz"))
        (real,) = list(_objects(s3["client"], tmp_path.name).values())  # the Khorog capture, in the bucket

        def plant(data: bytes, request: dict | str | None) -> str:
            sha = hashlib.sha256(data).hexdigest()
            (spool / f"{sha}.warc.gz").write_bytes(data)
            if request is not None:
                (spool / f"{sha}.json").write_text(request if isinstance(request, str) else json.dumps(request))
            return sha

        page = site.url("/news/weather")
        damaged = plant(real + gzip.compress(b"1"), '{"story_id": 1, "url": ')
        gone = plant(real + gzip.compress(b"2"), {
            "object_url": f"s3://{BUCKET}/{tmp_path.name}/x.warc.gz", "length": 1, "object_sha256": "0" * 64,
            "payload_sha256": "0" * 64, "captured_at": "2026-12-01T00:00:00+00:00", "url": page, "final_url": page,
            "status": 200, "redirects": [], "peer": "127.0.0.1", "text_sha256": "0" * 64, "story_id": 999,
            "source_id": None, "reason": "first"})
        crashed = plant(real + gzip.compress(b"3"), None)
        full = _cli(tmp_path, "run", "--once", "-v", env=env)
        quiet = _cli(tmp_path, "run", "--once", "-v", env=env)
        status = _cli(tmp_path, "status", env=env)
    assert full.returncode == 0 and "Traceback" not in full.stderr, full.stderr
    lines = [line for line in full.stderr.splitlines() if "can never be indexed" in line]
    assert len(lines) == 3, full.stderr
    assert any(damaged in line and "is not one this monitor wrote" in line for line in lines)
    assert any(page in line and "story 999 is gone" in line for line in lines)
    assert any(crashed in line and "its run ended before" in line and "/news/khorog" in line for line in lines)
    assert not list(spool.glob("*.warc.gz")) and len(list((spool / "rejected").glob("*.warc.gz"))) == 3
    assert (spool / "rejected" / f"{gone}.json").exists(), "kept whole, for a person to look at"
    assert "all not modified" in quiet.stderr and "can never be indexed" not in quiet.stderr, quiet.stderr
    assert "3 moved aside to" in status.stdout


def test_a_state_that_is_down_never_gets_a_spool_entry_moved_aside(tmp_path):
    """Moving aside is for entries nothing will ever index; a database that is down only makes them wait."""
    from monitor.evidence.objectstore import ObjectStore
    from monitor.evidence.offsite import ObjectArchive
    from monitor.evidence.spool import Spool

    class Down:
        def __getattr__(self, name):
            def refuse(*args, **kwargs):
                raise sqlite3.OperationalError("server closed the connection unexpectedly")
            return refuse

    spool = Spool(tmp_path / "spool")
    for data, request in ((b"\x1f\x8b crashed run", None), (b"\x1f\x8b story gone", {"story_id": 9, "url": "u",
                                                                                     "final_url": "u"})):
        sha = hashlib.sha256(data).hexdigest()
        spool.put(sha, data)
        if request:
            spool.put_request(sha, request)
    done = ObjectArchive(ObjectStore(BUCKET), spool).drain(Down(), lambda request: None)
    assert done.set_aside == 0 and len(spool) == 2 and not spool.rejected.exists()

"""The evidence archive as an investigator uses it: pages kept as received, a WACZ handed over, verified,
signed; pages that the publisher edits or deletes are noticed; a crash never leaves a half record indexed."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from monitor import clock

from tests.conftest import PROJECT, run_cli
from tests.support.clock import age
from tests.support.localsite import LocalSite, Page, article_html, rss
from tests.support.packages import rezip

KHOROG = [
    "Relatives said that officers detained four Pamiri men in Khorog on Monday night and took them to the "
    "regional headquarters of the security service in Gorno-Badakhshan (GBAO).",
    "One of the men had returned from Russia a week earlier. A lawyer hired by the families was not allowed "
    "to see them, and no charges had been announced by Tuesday afternoon.",
    "Rights groups say at least two hundred residents of the region have been jailed since the protests of "
    "2022, many of them after closed trials in Dushanbe.",
]
RUSHAN = [
    "A court in Dushanbe sentenced a resident of Rushan district to eighteen years in prison on Wednesday, "
    "his brother said; the trial in the GBAO case was closed to the public.",
    "The man was detained in May 2022 during the security operation in Rushan, in which local people say "
    "more than twenty civilians were killed.",
    "His family says he was beaten in custody and that his confession was extracted under duress.",
]
EDITED = [
    KHOROG[0],
    "The men were released on Tuesday evening after questioning, a spokesman for the regional police said.",
    "Officials described the reports of detentions as provocations spread by extremist groups abroad.",
]


def _cli(tmp: Path, *args: str, env: dict | None = None):
    return run_cli(*args, "--feeds", str(tmp / "feeds.yaml"), "--keywords", str(PROJECT / "keywords.yaml"),
                   "--state", str(tmp / "state.db"), env=env, cwd=tmp)


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """One local outlet, one `monitor run --once`: two stories, one behind a redirect, one sent gzip-encoded."""
    tmp = tmp_path_factory.mktemp("evidence")
    with LocalSite() as site:
        site.add("/news/khorog", article_html("Four Pamiri men detained in Khorog", KHOROG))
        site.add("/r/khorog", Page(b"", status=301, headers={"Location": "/news/khorog"}))
        page = article_html("Rushan man sentenced to eighteen years", RUSHAN).encode()
        sent = gzip.compress(page)
        site.add("/news/rushan", Page(sent, headers={"Content-Encoding": "gzip"}))
        site.add("/feed.xml", Page(rss("Outlet", [
            {"title": "Four Pamiri men detained in Khorog", "path": "/r/khorog"},
            {"title": "Rushan man sentenced to eighteen years", "path": "/news/rushan"},
        ], base=site.base).encode(), content_type="application/rss+xml"))
        (tmp / "feeds.yaml").write_text(f"feeds:\n  - name: Outlet\n    url: {site.url('/feed.xml')}\n"
                                        "settings:\n  timeout: 5\n  digest_interval: 1s\n", encoding="utf-8")
        run = _cli(tmp, "run", "--once")
        assert run.returncode == 0, run.stderr
        assert "Four Pamiri men detained in Khorog" in run.stdout
        export = _cli(tmp, "export", "--format", "wacz", "--since", "2020-01-01", "-o", str(tmp / "all.wacz"))
        assert export.returncode == 0, export.stderr
        yield {"tmp": tmp, "site": site, "wacz": tmp / "all.wacz", "gzip_body": sent}


def _db(tmp: Path) -> sqlite3.Connection:
    db = sqlite3.connect(tmp / "state.db")
    db.row_factory = sqlite3.Row
    return db


def _rows(tmp: Path, sql: str) -> list[sqlite3.Row]:
    """Read and close at once: a connection left to the garbage collector checkpoints the WAL and deletes
    its files whenever it is collected, even in the middle of another test copying the folder."""
    db = _db(tmp)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def _copy_state(src: Path, dst: Path) -> None:
    """Copy a state folder; the WAL index (-shm) is rebuilt by SQLite, so it is not copied."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*-shm"))


def test_each_matched_page_is_kept_as_received_with_its_capture_metadata(archive):
    from warcio.archiveiterator import ArchiveIterator

    tmp = archive["tmp"]
    caps = {r["final_url"].rsplit("/", 1)[1]: r for r in _rows(tmp, "SELECT * FROM captures")}
    assert set(caps) == {"khorog", "rushan"}
    khorog, rushan = caps["khorog"], caps["rushan"]
    assert json.loads(khorog["redirects"]) == [[301, archive["site"].url("/r/khorog")]], "the redirect is kept"
    assert khorog["peer"] == f"127.0.0.1:{archive['site'].port}"
    assert khorog["captured_at"].endswith("+00:00") and khorog["monitor_version"]
    # the gzip-encoded page is kept as the bytes that came over the wire, not our decoded copy
    assert rushan["payload_sha256"] == hashlib.sha256(archive["gzip_body"]).hexdigest()
    warc = tmp / "state.db.warc" / rushan["warc_file"]
    with open(warc, "rb") as f:
        f.seek(rushan["warc_offset"])
        records = list(ArchiveIterator(io.BytesIO(f.read(rushan["warc_length"]))))
    kinds = [r.rec_type for r in records]
    assert kinds == ["request", "response", "metadata"]
    response = records[1]
    assert response.http_headers.get_header("Content-Encoding") == "gzip"
    assert response.rec_headers.get_header("WARC-IP-Address") == "127.0.0.1"
    # the khorog capture holds the 301 and the page, each with its request
    with open(tmp / "state.db.warc" / khorog["warc_file"], "rb") as f:
        f.seek(khorog["warc_offset"])
        kinds = [(r.rec_type, r.http_headers.get_statuscode() if r.rec_type == "response" else "")
                 for r in ArchiveIterator(io.BytesIO(f.read(khorog["warc_length"])))]
    assert kinds == [("request", ""), ("response", "301"), ("request", ""), ("response", "200"), ("metadata", "")]


def test_a_wacz_export_reads_back_and_every_record_digest_matches(archive):
    from warcio.archiveiterator import ArchiveIterator

    with zipfile.ZipFile(archive["wacz"]) as zf:
        names = set(zf.namelist())
        assert {"archive/data.warc.gz", "indexes/index.cdx", "pages/pages.jsonl", "datapackage.json",
                "datapackage-digest.json"} <= names
        assert zf.getinfo("archive/data.warc.gz").compress_type == zipfile.ZIP_STORED
        package = json.loads(zf.read("datapackage.json"))
        assert package["wacz_version"] == "1.1.1" and package["profile"] == "data-package"
        for res in package["resources"]:
            assert "sha256:" + hashlib.sha256(zf.read(res["path"])).hexdigest() == res["hash"], res["path"]
        digest = json.loads(zf.read("datapackage-digest.json"))
        assert digest["hash"] == "sha256:" + hashlib.sha256(zf.read("datapackage.json")).hexdigest()
        records = list(ArchiveIterator(io.BytesIO(zf.read("archive/data.warc.gz")), check_digests=True))
        assert [r for r in records if r.rec_type == "response"], "warcio re-checked every record's digests"
        assert all(r.digest_checker.passed is not False for r in records)
        pages = [json.loads(line) for line in zf.read("pages/pages.jsonl").decode().splitlines()]
        cdx = zf.read("indexes/index.cdx").decode().splitlines()
    assert pages[0]["format"] == "json-pages-1.0"
    titles = {p["title"] for p in pages[1:]}
    assert titles == {"Four Pamiri men detained in Khorog", "Rushan man sentenced to eighteen years"}
    assert all("Khorog" in p["text"] or "Rushan" in p["text"] for p in pages[1:]), "extracted texts are searchable"
    assert cdx == sorted(cdx) and len(cdx) == 3, "one index line per response, 301 included, sorted"
    for line in cdx:
        entry = json.loads(line.split(" ", 2)[2])
        assert entry["filename"] == "data.warc.gz" and int(entry["offset"]) > 0


def _flip(path: Path, member: str, at: int) -> None:
    """Flip one byte of a member stored in the zip (at `at` bytes into the member's data)."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
    with open(path, "r+b") as f:
        f.seek(info.header_offset + 26)
        name_len, extra_len = int.from_bytes(f.read(2), "little"), int.from_bytes(f.read(2), "little")
        pos = info.header_offset + 30 + name_len + extra_len + at
        f.seek(pos)
        byte = f.read(1)
        f.seek(pos)
        f.write(bytes([byte[0] ^ 0x01]))


def test_one_flipped_byte_in_an_exported_warc_fails_verify_and_names_the_record(archive, tmp_path):
    ok = _cli(archive["tmp"], "verify", str(archive["wacz"]))
    assert ok.returncode == 0 and "OK" in ok.stdout, ok.stdout + ok.stderr
    bad = tmp_path / "bad.wacz"
    shutil.copy(archive["wacz"], bad)
    with zipfile.ZipFile(bad) as zf:
        line = next(line for line in zf.read("indexes/index.cdx").decode().splitlines() if "/news/rushan" in line)
    entry = json.loads(line.split(" ", 2)[2])
    _flip(bad, "archive/data.warc.gz", int(entry["offset"]) + int(entry["length"]) // 2)
    result = _cli(archive["tmp"], "verify", str(bad))
    assert result.returncode != 0
    assert "MISMATCH archive/data.warc.gz: sha256:" in result.stdout, "the manifest entry is named"
    damaged = [line for line in result.stdout.splitlines() if "record" in line and "offset" in line]
    assert len(damaged) == 1, result.stdout
    assert f"offset {entry['offset']} (response {entry['url']}, HTTP 200)" in damaged[0], result.stdout


def test_a_signed_export_verifies_and_a_tampered_one_does_not(archive, tmp_path):
    tmp = archive["tmp"]
    key = tmp_path / "ngo.key"
    made = _cli(tmp, "keygen", "--key", str(key))
    assert made.returncode == 0, made.stderr
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert "fingerprint: SHA256:" in made.stdout
    signed = tmp_path / "signed.wacz"
    out = _cli(tmp, "export", "--format", "wacz", "--since", "2020-01-01", "--sign", "-o", str(signed),
               env={"MONITOR_SIGNING_KEY": str(key)})
    assert out.returncode == 0, out.stderr
    good = _cli(tmp, "verify", str(signed), "--public-key", f"{key}.pub")
    assert good.returncode == 0, good.stdout
    assert "signature: signed" in good.stdout
    # someone edits a text and recomputes every hash of the manifest: only the signature can tell
    tampered = tmp_path / "tampered.wacz"
    def edit(files: dict[str, bytes]) -> None:
        files["pages/pages.jsonl"] = files["pages/pages.jsonl"].replace(b"Khorog", b"Kharog")

    rezip(signed, tampered, edit, rehash=True)
    bad = _cli(tmp, "verify", str(tampered))
    assert bad.returncode != 0 and "signature" in bad.stdout, bad.stdout


def test_verify_state_rehashes_every_capture_and_names_a_damaged_one(archive, tmp_path):
    tmp = tmp_path / "copy"
    _copy_state(archive["tmp"], tmp)
    ok = _cli(tmp, "verify", "--state", str(tmp / "state.db"))
    assert ok.returncode == 0 and "2 captures" in ok.stdout, ok.stdout + ok.stderr
    cap = _rows(tmp, "SELECT * FROM captures ORDER BY id LIMIT 1")[0]
    path = tmp / "state.db.warc" / cap["warc_file"]
    data = bytearray(path.read_bytes())
    data[cap["warc_offset"] + cap["warc_length"] // 2] ^= 0x40
    path.write_bytes(bytes(data))
    bad = run_cli("verify", "--state", str(tmp / "state.db"), cwd=tmp)
    assert bad.returncode != 0
    assert f"capture {cap['id']} (story {cap['story_id']}" in bad.stdout, bad.stdout


def test_a_page_edited_or_deleted_after_capture_is_reported_once_with_a_new_capture(archive, tmp_path):
    tmp, site = tmp_path / "copy", archive["site"]
    _copy_state(archive["tmp"], tmp)
    age(tmp / "state.db", 1.5)
    site.add("/news/khorog", article_html("Four Pamiri men detained in Khorog", EDITED))
    gone = site.pages.pop("/news/rushan")
    try:
        run = _cli(tmp, "run", "--once")
        # a week later (the 7d re-check): the edited page is as we saw it last, the removed one still gone
        age(tmp / "state.db", 8)
        site.clear()
        again = _cli(tmp, "run", "--once")
    finally:
        site.pages["/news/rushan"] = gone
        site.add("/news/khorog", article_html("Four Pamiri men detained in Khorog", KHOROG))
    assert run.returncode == 0, run.stderr
    assert "Pages changed since capture" in run.stdout
    assert "edited: 2 paragraphs changed" in run.stdout
    assert "removed by the publisher (HTTP 404)" in run.stdout
    rows = _rows(tmp, "SELECT story_id, change, warc_length FROM captures WHERE reason = 'recheck'")
    assert sorted(r["change"] for r in rows) == ["edited", "removed"] and all(r["warc_length"] for r in rows)
    edited = next(r["story_id"] for r in rows if r["change"] == "edited")
    show = _cli(tmp, "show", str(edited))
    assert "edited: 2 paragraphs changed" in show.stdout
    assert "+The men were released on Tuesday evening" in show.stdout, show.stdout
    # reported once: the 7d re-check finds nothing new, and a removed page is not fetched again
    assert again.returncode == 0 and "Pages changed" not in again.stdout, again.stdout
    assert "no new matching stories" in again.stderr
    assert [r.path for r in site.requested("/news/")] == ["/news/khorog"]
    verify = _cli(tmp, "verify", "--state", str(tmp / "state.db"))
    assert verify.returncode == 0 and "4 captures" in verify.stdout, verify.stdout


def test_nothing_is_fetched_again_before_a_recheck_is_due(archive, tmp_path):
    tmp, site = tmp_path / "copy", archive["site"]
    _copy_state(archive["tmp"], tmp)
    site.clear()
    run = _cli(tmp, "run", "--once")
    assert run.returncode == 0
    assert not site.requested("/news/"), "fresh stories are not re-fetched"


_WRITER = """
import os, sys, time
sys.path.insert(0, sys.argv[2])
from datetime import datetime, timezone
from monitor import clock
from monitor.sources.fetch import Hop
from monitor.store import Store
from monitor.evidence.capture import Evidence
real_write = os.write
def slow_write(fd, data):  # a slow disk: 4 KB at a time, so the kill lands inside a record
    n = real_write(fd, bytes(data[:4096]))
    time.sleep(0.002)
    return n
os.write = slow_write
store = Store(sys.argv[1])
evidence = Evidence(store)
for i in range(1000):
    body = os.urandom(300_000)
    hop = Hop(f"http://news.example/{i}", "GET", f"/{i}", (("Host", "news.example"),), "HTTP/1.1", 200, "OK",
              (("Content-Type", "text/html"),), body, "192.0.2.1:80", clock.now())
    pending = evidence.write([hop], text=f"story {i}")
    with store.transaction():
        evidence.index(pending, story_id=1)
    print(i, flush=True)
"""


def test_a_sigkill_mid_write_never_leaves_a_half_record_indexed(tmp_path):
    from monitor.evidence.capture import Evidence
    from monitor.evidence.verify import verify_state
    from monitor.store import Store

    state = tmp_path / "state.db"
    store = Store(state)  # one story to hang the captures on
    store.db.execute("INSERT INTO items (feed, url, url_key, first_seen, status) VALUES ('f', 'u', 'k', 'now', 'matched')")
    store.db.execute("""INSERT INTO stories (item_id, source, title, url, final_url, fetched_at, text, extracted,
                        raw_sha256, topics, terms, score, snippet, highlights) VALUES
                        (1, 'f', 't', 'u', 'u', '2026-01-01T00:00:00+00:00', 'x', 1, '', '[]', '[]', 1, '', '[]')""")
    store.close()
    child = subprocess.Popen([sys.executable, "-c", _WRITER, str(state), str(PROJECT)], stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout.readline().strip() == "0", "one capture was indexed"
        warc_dir = tmp_path / "state.db.warc"
        deadline = time.monotonic() + 20
        db = sqlite3.connect(state)
        while time.monotonic() < deadline:  # wait until the file is longer than what is indexed: mid-write
            end = db.execute("SELECT MAX(warc_offset + warc_length) FROM captures").fetchone()[0] or 0
            files = sorted(warc_dir.iterdir())
            if files[-1].stat().st_size > end + 8192:
                break
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        db.close()
    finally:
        if child.poll() is None:
            child.kill()
    store = Store(state)
    try:
        evidence = Evidence(store)
        indexed = store.db.execute("SELECT COUNT(*), MAX(warc_offset + warc_length) FROM captures").fetchone()
        torn = evidence.archive.files()[-1]
        assert torn.stat().st_size > indexed[1], "the kill left a partial record on disk"
        result = verify_state(store, evidence)
        assert result.ok, result.problems  # every indexed capture is whole
        # the next capture does not go after the torn tail: a new file, and everything still verifies
        from monitor.sources.fetch import Hop

        hop = Hop("http://news.example/after", "GET", "/after", (), "HTTP/1.1", 200, "OK", (), b"<p>after</p>",
                  "192.0.2.1:80", clock.now())
        pending = evidence.write([hop], text="after")
        with store.transaction():
            evidence.index(pending, story_id=1)
        assert pending.written.file != torn.name and pending.written.offset > 0
        assert verify_state(store, evidence).ok
    finally:
        store.close()


def _hop(i: int, size: int = 6000):
    from monitor.sources.fetch import Hop

    return Hop(f"http://news.example/{i}", "GET", f"/{i}", (("Host", "news.example"),), "HTTP/1.1", 200, "OK",
               (("Content-Type", "text/html"),), os.urandom(size), "192.0.2.1:80", clock.now())


def test_warc_files_rotate_and_old_ones_go_by_the_retention_setting(store):
    from monitor.config.feeds import Settings
    from monitor.evidence.capture import Evidence, archive_summary
    from monitor.evidence.recheck import apply_retention
    from monitor.evidence.verify import verify_state

    store.db.execute("INSERT INTO items (feed, url, url_key, first_seen, status) VALUES ('f', 'u', 'k', 'x', 'matched')")
    store.db.execute("""INSERT INTO stories (item_id, source, title, url, final_url, fetched_at, text, extracted,
                        raw_sha256, topics, terms, score, snippet, highlights) VALUES
                        (1, 'f', 't', 'u', 'u', '2026-01-01T00:00:00+00:00', 'x', 1, '', '[]', '[]', 1, '', '[]')""")
    settings = Settings(warc_max_bytes="15kB", evidence_retention="30d")
    evidence = Evidence(store, settings)
    for i in range(5):
        with store.transaction():
            evidence.index(evidence.write([_hop(i)], text=f"story {i}"), story_id=1)
    files = evidence.archive.files()
    assert len(files) >= 3 and all(p.stat().st_size <= 15_000 for p in files)
    assert "5 capture(s)" in archive_summary(store) and "kB in" in archive_summary(store)
    store.db.execute("UPDATE captures SET captured_at = '2025-01-01T00:00:00+00:00' WHERE id <= 2")
    assert apply_retention(evidence, settings) >= 1
    assert files[0].exists() is False and files[-1].exists(), "the file being written is never deleted"
    assert verify_state(store, evidence).ok, "expired captures are not checked against deleted files"
    assert store.capture_summary()[0] < 5


def test_every_channel_reports_a_page_change_once_escaped():
    from monitor.models import Digest, PageChange
    from monitor.delivery.email import render_html
    from monitor.delivery.telegram import render_chunks
    from monitor.delivery.text import render_text

    change = PageChange(7, 3, "Court <b>verdict</b> in Khorog", "https://news.example/a", "Outlet", "removed",
                        "removed by the publisher (HTTP 410)")
    digest = Digest(kind="digest", created_at=clock.now(), changes=(change,))
    assert "removed by the publisher (HTTP 410)" in render_text(digest)
    assert "1 page changed" in render_text(digest)
    html = render_html(digest)
    assert "Court &lt;b&gt;verdict&lt;/b&gt;" in html and "removed by the publisher (HTTP 410)" in html
    assert "removed by the publisher (HTTP 410)" in "".join(render_chunks(digest))


def test_what_counts_as_a_removal_and_as_an_edit():
    from monitor.evidence.recheck import MIN_CHANGED_CHARS, compare, is_home_redirect

    assert is_home_redirect("https://news.example/2024/05/khorog-arrests", "https://news.example/")
    assert is_home_redirect("https://news.example/ru/2024/khorog", "https://news.example/ru/")
    assert not is_home_redirect("https://news.example/a/khorog", "https://news.example/a/khorog/")
    assert not is_home_redirect("https://news.example/a/khorog", "https://news.example/2024/khorog-arrests")
    text = "\n".join(KHOROG)
    assert compare(text, text.replace("Monday", "Monday "))[1] < MIN_CHANGED_CHARS, "whitespace is no edit"
    assert compare(text, text + "\nViews: 1,204")[1] < MIN_CHANGED_CHARS, "a counter is no edit"
    changed, letters, diff = compare(text, "\n".join(EDITED))
    assert (changed, letters >= MIN_CHANGED_CHARS) == (2, True)
    assert diff.startswith("--- as captured") and "+Officials described the reports" in diff


def test_index_keys_are_surts_as_web_archive_tools_write_them():
    from monitor.evidence.wacz import surt

    assert surt("https://www.Asia-Plus.tj/ru/news/x?b=2&a=1") == "tj,asia-plus)/ru/news/x?a=1&b=2"
    assert surt("https://rus.ozodi.org:443/a/32951.html") == "org,ozodi,rus)/a/32951.html"
    assert surt("http://127.0.0.1:8080/khorog") == "1,0,0,127:8080)/khorog"


def test_images_and_screenshots_are_not_deflated_again_and_every_record_reads_back():
    # A PNG or JPEG gains nothing from a second deflate; level 9 on a screenshot cost 0.04 CPU-s a page on the
    # render's way. The gzip header says how hard its member was compressed (XFL: 4 fastest, 2 best, 0 other).
    from monitor.evidence.warc import build_capture, members, parse_record
    from monitor.sources.fetch import Hop

    page = _hop(1)
    photo = Hop("http://news.example/photo.jpg", "GET", "/photo.jpg", (("Host", "news.example"),), "HTTP/1.1",
                200, "OK", (("Content-Type", "image/jpeg"),), os.urandom(40_000), "192.0.2.1:80", clock.now())
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(60_000)
    built = build_capture([page], {"reason": "capture"}, [(photo,)], (png, clock.now()))
    levels = {}
    for start, end, raw, error in members(built.data):
        assert not error and end is not None
        record = parse_record(raw)
        assert record.problems() == []
        levels[(record.type, record.uri)] = built.data[start + 8]
    assert levels[("response", "http://news.example/photo.jpg")] == 4
    assert levels[("resource", "urn:view:http://news.example/1")] == 4
    assert levels[("response", "http://news.example/1")] == 0  # HTML: zlib's default level
    assert levels[("metadata", "http://news.example/1")] == 0
    shot = next(parse_record(raw) for _s, _e, raw, _x in members(built.data) if b"urn:view:" in raw[:600])
    assert shot.block == png

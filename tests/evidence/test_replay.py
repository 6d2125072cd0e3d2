"""An exported WACZ opens in ReplayWeb.page, the player courts and archivists use, in a real headless Chromium.

The player comes from the npm registry (`npm pack replaywebpage`, cached outside the repository) and is
served on loopback with the package; nothing else is reached. Skips with one line without Chromium or npm.
"""

from __future__ import annotations

import time
import zipfile

import pytest

from tests.conftest import PROJECT, run_cli
from tests.support.localsite import LocalSite, Page, article_html, rss
from tests.support.replayer import FIND_REPLAY, PAGE, player, serve

TITLE = "Four Pamiri men detained in Khorog"
TEXT = ["Relatives said that officers detained four Pamiri men in Khorog on Monday night and took them to the "
        "regional headquarters of the security service in Gorno-Badakhshan (GBAO).",
        "A lawyer hired by the families was not allowed to see them, and no charges had been announced."]


def png(width: int, height: int) -> bytes:
    """A real PNG (a red-to-blue gradient), so the browser has pixels to decode."""
    import struct
    import zlib

    row = b"\x00" + b"".join(bytes([255 * x // width, 40, 255 - 255 * x // width]) for x in range(width))
    rows = row * height

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


LONG = [f"Paragraph {n} of the families' account: the hearing was postponed again, and the lawyer was turned "
        "away at the gate of the detention centre." for n in range(1, 41)]  # a page longer than one screen
FIGURE = '<figure><img src="/img/khorog-map.png" alt="Map of Khorog" width="320" height="120"></figure>'
CSS = b"body { font-family: Serif; } h1 { color: #113; background: url('/img/rule.png') no-repeat; }"


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("replay")
    with LocalSite() as site:
        page = article_html(TITLE, TEXT + LONG).replace("</h1>", "</h1>" + FIGURE).replace(
            "</head>", '<link rel="stylesheet" href="/css/site.css"></head>')
        site.add("/news/khorog", page)
        site.add("/img/khorog-map.png", Page(png(320, 120), content_type="image/png"))
        site.add("/img/rule.png", Page(png(8, 8), content_type="image/png"))
        site.add("/css/site.css", Page(CSS, content_type="text/css"))
        site.add("/feed.xml", Page(rss("Outlet", [{"title": TITLE, "path": "/news/khorog"}], base=site.base).encode(),
                                   content_type="application/rss+xml"))
        (tmp / "feeds.yaml").write_text(f"feeds:\n  - name: Outlet\n    url: {site.url('/feed.xml')}\n"
                                        "settings:\n  timeout: 5\n", encoding="utf-8")
        common = ("--feeds", str(tmp / "feeds.yaml"), "--keywords", str(PROJECT / "keywords.yaml"),
                  "--state", str(tmp / "state.db"))
        run = run_cli("run", "--once", *common, cwd=tmp, env={"MONITOR_SCREENSHOTS": "1"})
        assert run.returncode == 0, run.stderr
        out = run_cli("export", "--format", "wacz", "-o", str(tmp / "export.wacz"), *common, cwd=tmp)
        assert out.returncode == 0, out.stderr
        requested = [r.path for r in site.requested()]
        yield tmp / "export.wacz", site.url("/news/khorog"), requested


def test_the_warc_member_is_not_zip64_when_it_fits(export):
    wacz, _url, _requested = export
    with zipfile.ZipFile(wacz) as zf:
        info = zf.getinfo("archive/data.warc.gz")
    with open(wacz, "rb") as f:
        f.seek(info.header_offset)
        head = f.read(30)
        name_len, extra_len = int.from_bytes(head[26:28], "little"), int.from_bytes(head[28:30], "little")
        f.seek(info.header_offset + 30 + name_len)
        extra = f.read(extra_len)
    ids = []
    while len(extra) >= 4:
        ids.append(int.from_bytes(extra[:2], "little"))
        extra = extra[4 + int.from_bytes(extra[2:4], "little"):]
    assert 0x0001 not in ids, "no ZIP64 extra field for a member far below 4 GiB"
    assert int.from_bytes(head[18:22], "little") == info.compress_size, "sizes in the local header, not 0xFFFFFFFF"


def test_an_export_replays_in_replayweb_page_with_its_text(export, tmp_path):
    from tests.web.test_web_browser import _browser

    wacz, url, _requested = export
    package = player()
    browser = _browser()
    (tmp_path / "index.html").write_text(PAGE.format(wacz="export.wacz", url=url), encoding="utf-8")
    files = {"/": tmp_path / "index.html", "/index.html": tmp_path / "index.html", "/ui.js": package / "ui.js",
             "/replay/sw.js": package / "sw.js", "/export.wacz": wacz}
    try:
        with serve(files) as base:
            browser.get(base + "/")
            seen: dict = {}
            # ~1 s when it works, over 12 s on a loaded CI run. In two full suites of seven the player never
            # opened its replay frame at the first load (cause unknown; never with the test alone, nor under
            # CPU load): as a reader would, the test then loads the player once more, and checks the same.
            for attempt in (1, 2):
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    seen = browser.execute_script(FIND_REPLAY)
                    if "no charges had been announced" in seen["text"] and any(ok for _src, ok in seen["images"]):
                        break
                    time.sleep(0.2)
                if any("mp_/" in f for f in seen["frames"]) or attempt == 2:
                    break
                browser.save_screenshot(str(tmp_path / "replay-first-load.png"))
                browser.get(base + "/")
            browser.save_screenshot(str(tmp_path / "replay.png"))
    finally:
        browser.quit()
    assert any("mp_/" in f for f in seen["frames"]), f"the player opened no replay frame: {seen['frames']}"
    assert TITLE in seen["text"] and "no charges had been announced" in seen["text"], seen["text"][:500]
    assert [src for src, ok in seen["images"] if ok and src.endswith("/img/khorog-map.png")], \
        f"the article's image loads from the package: {seen['images']}"


def test_the_page_requisites_are_records_of_the_same_capture(export):
    import io
    import json

    from warcio.archiveiterator import ArchiveIterator

    wacz, url, requested = export
    assert requested.count("/img/khorog-map.png") == 1 and requested.count("/css/site.css") == 1
    assert "/img/rule.png" in requested, "an image the stylesheet uses is kept too"
    with zipfile.ZipFile(wacz) as zf:
        records = [(r.rec_type, r.rec_headers.get_header("WARC-Target-URI"), r.content_stream().read())
                   for r in ArchiveIterator(io.BytesIO(zf.read("archive/data.warc.gz")))]
        captures = [json.loads(line) for line in zf.read("stories/captures.jsonl").decode().splitlines()]
    responses = [uri for kind, uri, _body in records if kind == "response"]
    assert sorted(responses[:-1]) == sorted(url.replace("/news/khorog", p)
                                            for p in ("/css/site.css", "/img/khorog-map.png", "/img/rule.png"))
    assert responses[-1] == url, "the page's own response stays the capture's last"
    assert len(captures) == 1 and captures[0]["final_url"] == url
    note = json.loads(next(body for kind, _uri, body in records if kind == "metadata"))
    assert {r["url"].rsplit("/", 1)[-1] for r in note["requisites"]} == {"site.css", "khorog-map.png", "rule.png"}


def test_each_capture_has_a_full_page_screenshot_rendered_from_the_capture_alone(export):
    import io
    import struct
    import zlib

    from warcio.archiveiterator import ArchiveIterator

    from monitor.evidence.screenshot import VIEWPORT, browser

    if browser() is None:
        pytest.skip("no Chromium here: apt-get install chromium (.ci/run does)")
    wacz, url, requested = export
    assert requested.count("/news/khorog") == 1, "the browser sent no second request to the site"
    with zipfile.ZipFile(wacz) as zf:
        shots = [(r.rec_headers, r.content_stream().read())
                 for r in ArchiveIterator(io.BytesIO(zf.read("archive/data.warc.gz")))
                 if r.rec_type == "resource"]
        cdx = zf.read("indexes/index.cdx").decode()
    assert len(shots) == 1
    headers, png = shots[0]
    assert headers.get_header("WARC-Target-URI") == f"urn:view:{url}"
    assert headers.get_header("Content-Type") == "image/png" and headers.get_header("WARC-Date")
    assert headers.get_header("WARC-Block-Digest").startswith("sha256:")
    assert f"urn:view:{url}" in cdx and '"mime": "image/png"' in cdx, "listed in the package's index"
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert height > VIEWPORT[1], f"the whole page, not one screen: {width}x{height}"
    chunks, pos = [], 8
    while pos < len(png):
        size, kind = struct.unpack(">I4s", png[pos:pos + 8])
        if kind == b"IDAT":
            chunks.append(png[pos + 8:pos + 8 + size])
        pos += 12 + size
    channels = {2: 3, 6: 4}[png[25]]
    assert len(zlib.decompress(b"".join(chunks))) == height * (1 + width * channels), "it decodes"

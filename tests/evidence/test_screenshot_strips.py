"""A long page's screenshot captured in strips and stitched: the same pixels as one capture, less memory.

Chromium held a long page's whole bitmap several times over while capturing it in one piece; captured in
strips it holds one strip's (bench/bench_render.py measures it). What a user relies on stays: the evidence is
one PNG of the whole page, pixel for pixel what one capture gives, and a page cut at screenshot.MAX_HEIGHT says
so in the screenshot's note. The real browser here is whichever screenshot.browser() finds (Debian's headless
shell first); the stitching is also checked alone, on strips encoded with every PNG scanline filter.
"""

from __future__ import annotations

import io
import json
import random
import struct
import time
import zlib
from datetime import UTC, datetime

import pytest

from monitor.evidence.pngstrips import Stitcher


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def _png(rows: list[bytes], width: int, colour: int, kind: int) -> bytes:
    """A PNG of `rows` (raw pixels) with every scanline filtered by `kind`, as an encoder starts a strip: the
    row above the first one taken as zeros."""
    bpp = {2: 3, 6: 4}[colour]
    out, prior = bytearray(), bytes(width * bpp)
    for row in rows:
        line = bytearray()
        for i, x in enumerate(row):
            a = row[i - bpp] if i >= bpp else 0
            b, c = prior[i], prior[i - bpp] if i >= bpp else 0
            line.append((x - (0, a, b, (a + b) // 2, _paeth(a, b, c))[kind]) & 0xFF)
        out += bytes([kind]) + line
        prior = row

    def chunk(name: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + name + data + struct.pack(">I", zlib.crc32(name + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, len(rows), 8, colour, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(out))) + chunk(b"IEND", b""))


@pytest.mark.parametrize("colour", [2, 6], ids=["RGB", "RGBA"])
@pytest.mark.parametrize("kind", range(5), ids=["none", "sub", "up", "average", "paeth"])
def test_strips_however_filtered_stitch_into_the_page_pixel_for_pixel(kind, colour):
    from PIL import Image

    rng = random.Random(kind * 10 + colour)
    width, bpp = 7, {2: 3, 6: 4}[colour]
    rows = [bytes(rng.randrange(256) for _ in range(width * bpp)) for _ in range(9)]
    stitch = Stitcher()
    for part in (rows[:4], rows[4:7], rows[7:]):
        stitch.add(_png(part, width, colour, kind))
    with Image.open(io.BytesIO(stitch.png())) as page:
        assert page.size == (width, 9)
        assert page.tobytes() == b"".join(rows), "the stitched page decodes to the strips' pixels"


def test_strips_that_do_not_fit_together_are_refused():
    stitch = Stitcher()
    stitch.add(_png([bytes(9)], 3, 2, 0))
    with pytest.raises(ValueError, match="different widths"):
        stitch.add(_png([bytes(12)], 4, 2, 0))
    with pytest.raises(ValueError, match="not a PNG"):
        stitch.add(b"<html>not an image</html>")
    with pytest.raises(ValueError, match="no strip"):
        Stitcher().png()


def test_the_headless_shell_is_preferred_to_the_full_browser(monkeypatch):
    from monitor.evidence import screenshot

    installed = {"chromium": "/usr/bin/chromium", "chromium-headless-shell": "/usr/bin/chromium-headless-shell"}
    monkeypatch.setattr(screenshot.shutil, "which", installed.get)
    assert screenshot.browser() == "/usr/bin/chromium-headless-shell"
    del installed["chromium-headless-shell"]
    assert screenshot.browser() == "/usr/bin/chromium", "the full browser still does when it is all there is"


BANDS = ["#b22222", "#ffffff", "#1e90ff", "#228b22", "#ffd700", "#4b0082", "#000000"]
LONG = ("<!DOCTYPE html><html><head><style>body{margin:0} div{height:650px;font:24px sans-serif}</style></head>"
        "<body>" + "".join(f'<div style="background:{c}">Band {i}: Khorog, GBAO</div>' for i, c in enumerate(BANDS))
        + "</body></html>").encode()  # 7 x 650 = 4,550 px


@pytest.fixture(scope="module")
def long_page():
    from monitor.evidence import screenshot
    from monitor.evidence.views import StoredHop

    binary = screenshot.browser()
    if binary is None:
        pytest.skip("no Chromium here: apt-get install chromium-headless-shell (.ci/run does)")
    url = "http://127.0.0.1:8123/news/long"
    with screenshot.Browser(binary, nice=0, strip=1000) as browser:
        yield browser, [StoredHop(url, 200, [("Content-Type", "text/html")], LONG)], url


def test_a_long_page_captured_in_strips_has_the_pixels_of_one_capture(long_page):
    from PIL import Image

    browser, hops, url = long_page
    stitched = browser.render(hops, url)
    assert browser.last_height == (4550, 4550)
    browser.strip = 0
    try:
        whole = browser.render(hops, url)
    finally:
        browser.strip = 1000
    with Image.open(io.BytesIO(stitched)) as a, Image.open(io.BytesIO(whole)) as b:
        assert a.size == b.size == (1280, 4550)
        assert a.convert("RGB").tobytes() == b.convert("RGB").tobytes(), "five strips, the same page"
        rgb = a.convert("RGB")
        assert rgb.getpixel((1200, 990)) == rgb.getpixel((1200, 1010)) == (255, 255, 255), "band 1 across a seam"
        assert rgb.getpixel((1200, 1310)) == (30, 144, 255) and rgb.getpixel((1200, 4540)) == (0, 0, 0)


def test_a_page_longer_than_the_cap_is_cut_and_says_where(long_page, monkeypatch):
    from monitor.evidence import screenshot

    browser, hops, url = long_page
    monkeypatch.setattr(screenshot, "MAX_HEIGHT", 2600)
    png = browser.render(hops, url)
    assert struct.unpack(">II", png[16:24]) == (1280, 2600)
    assert browser.last_height == (4550, 2600)


def test_the_screenshots_note_gives_the_page_height_and_the_cut():
    """What ViewRenderer writes beside the PNG (the `metadata` record of urn:view:<url>)."""
    from warcio.archiveiterator import ArchiveIterator

    from monitor.evidence.views import ViewRenderer
    from monitor.evidence.warc import build_capture
    from monitor.sources.fetch import Hop

    url = "http://127.0.0.1:8123/news/long"
    when = datetime(2022, 5, 18, tzinfo=UTC)
    capture = build_capture([Hop(url, "GET", "/news/long", (("Host", "127.0.0.1:8123"),), "HTTP/1.1", 200, "OK",
                                 (("Content-Type", "text/html"),), LONG, "127.0.0.1:8123", when)], {}).data

    class Evidence:
        def read(self, row):
            return capture

    class Cut:
        last_height = (20000, 16000)

        def render(self, hops, page_url, *, timeout=30):
            return b"\x89PNG\r\n\x1a\nstand-in"

    renderer = ViewRenderer(None, Evidence())
    renderer._browser = Cut()
    notes = []
    for page, shown in ((20000, 16000), (4550, 4550)):
        Cut.last_height = (page, shown)
        _sha, _at, data = renderer._render({"id": 7, "final_url": url})
        notes += [json.loads(r.content_stream().read()) for r in ArchiveIterator(io.BytesIO(data))
                  if r.rec_type == "metadata"]
    assert notes[0]["screenshot"]["page_height_px"] == 20000 and notes[0]["screenshot"]["cut_at_px"] == 16000
    assert notes[1]["screenshot"]["page_height_px"] == 4550 and "cut_at_px" not in notes[1]["screenshot"]


def test_the_browsers_pipe_is_read_on_a_descriptor_above_1023():
    # A service polling thousands of sources holds many sockets, so the pipe to Chromium can get a descriptor
    # over 1023, which select() refuses ("filedescriptor out of range"): the screenshot would fail.
    import os
    import resource
    import threading

    from monitor.evidence.screenshot import _Pipe

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1400:
        pytest.skip(f"the hard limit on open files is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1400), hard))
    read, write = os.pipe()
    high_read, high_write = os.dup2(read, 1300), os.dup2(write, 1301)
    os.close(read)
    os.close(write)
    try:
        pipe = _Pipe(None, high_write, high_read, time.monotonic() + 5)
        threading.Timer(0.1, os.write, (high_write, b'{"id": 1, "result": {"ok": true}}\0')).start()
        assert pipe._read() == {"id": 1, "result": {"ok": True}}
    finally:
        os.close(high_read)
        os.close(high_write)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_the_browser_starts_when_its_pipe_gets_descriptor_3():
    # When another thread closes descriptor 3 just before the pipe to Chromium is made, the pipe's read end is
    # 3 already: the browser must still find it open (it said "Remote debugging pipe file descriptors are
    # not open", 1 start in 4 in bench_render.py, whose sampler thread opens files all the time).
    import subprocess
    import sys

    from monitor.evidence import screenshot
    from tests.conftest import PROJECT

    if screenshot.browser() is None:
        pytest.skip("no Chromium here: apt-get install chromium-headless-shell (.ci/run does)")
    script = (
        "import os\n"
        "os.closerange(3, 4096)\n"
        "from monitor.evidence import screenshot\n"
        "real = screenshot._Proxy.__init__\n"
        "def proxy_then_free_3(self, hops):\n"
        "    hold = os.open(os.devnull, os.O_RDONLY)  # 3, while the proxy's socket is made (4)\n"
        "    real(self, hops)\n"
        "    os.close(hold)  # as a sampler thread would: the pipe to Chromium gets 3\n"
        "screenshot._Proxy.__init__ = proxy_then_free_3\n"
        "from monitor.evidence.views import StoredHop\n"
        "url = 'http://127.0.0.1:8123/p'\n"
        "hop = StoredHop(url, 200, [('Content-Type', 'text/html')], b'<h1>Khorog</h1>')\n"
        "with screenshot.Browser(screenshot.browser(), nice=0) as b:\n"
        "    print(b.render([hop], url)[:8] == b'\\x89PNG\\r\\n\\x1a\\n')\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=PROJECT)
    assert done.returncode == 0 and done.stdout.strip() == "True", done.stderr[-2000:]

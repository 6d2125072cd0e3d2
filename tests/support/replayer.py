"""ReplayWeb.page on loopback: the player from the npm registry, served with a WACZ to a headless Chromium.

The player (`npm pack replaywebpage`) is cached outside the repository, in `$MONITOR_TEST_CACHE` or
~/.cache/pamir-monitor-tests/, so it is fetched once per machine. `player()` skips the calling test with one
line when npm is missing or the registry cannot be reached. `serve(dir)` answers GET and HEAD with byte ranges
(the player reads a remote WACZ by ranges, as it reads one on the web).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PAGE = """<!doctype html><html><head><meta charset="utf-8"><script src="/ui.js"></script></head>
<body><replay-web-page source="/{wacz}" url="{url}" replayBase="/replay/" embed="replayonly"
 style="display:block;width:1100px;height:1300px"></replay-web-page></body></html>"""


def cache_dir() -> Path:
    return Path(os.environ.get("MONITOR_TEST_CACHE") or Path.home() / ".cache" / "pamir-monitor-tests")


def player() -> Path:
    """The unpacked `replaywebpage` package (ui.js, sw.js), fetched with `npm pack` on first use."""
    import pytest

    home = cache_dir() / "replaywebpage"
    if (home / "package" / "sw.js").exists() and (home / "package" / "ui.js").exists():
        return home / "package"
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed, so ReplayWeb.page cannot be fetched (apt-get install npm; .ci/run does)")
    home.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run([npm, "pack", "replaywebpage", "--silent"], cwd=home, capture_output=True,
                              text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.skip("npm pack replaywebpage timed out (is the npm registry reachable?)")
    tgz = sorted(home.glob("replaywebpage-*.tgz"))
    if done.returncode != 0 or not tgz:
        pytest.skip(f"npm pack replaywebpage failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    with tarfile.open(tgz[-1]) as tar:
        members = [m for m in tar.getmembers() if m.name in ("package/ui.js", "package/sw.js")]
        tar.extractall(home, members=members, filter="data")
    return home / "package"


@contextmanager
def serve(files: dict[str, Path]) -> Iterator[str]:
    """A loopback server for `files` (URL path -> file), with Range support; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_HEAD(self) -> None:
            self.do_GET(body=False)

        def do_GET(self, body: bool = True) -> None:
            path = files.get(self.path.split("?", 1)[0])
            if path is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = path.read_bytes()
            start, end, status = 0, len(data) - 1, 200
            spec = self.headers.get("Range", "")
            if spec.startswith("bytes="):
                first, _, last = spec[6:].split(",")[0].partition("-")
                if first:
                    start, end = int(first), min(int(last) if last else end, end)
                else:
                    start = max(0, len(data) - int(last))
                status = 206
            self.send_response(status)
            kind = {".js": "application/javascript", ".html": "text/html; charset=utf-8"}.get(path.suffix,
                                                                                               "application/zip")
            self.send_header("Content-Type", kind)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(end - start + 1))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if body:
                self.wfile.write(data[start:end + 1])

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# Walks the page, every shadow root and every same-origin frame; returns what the replayed article shows.
FIND_REPLAY = """
const out = {text: "", images: [], frames: []};
function walk(root) {
  for (const el of root.querySelectorAll('*')) {
    if (el.shadowRoot) walk(el.shadowRoot);
    if (el.tagName === 'IFRAME') {
      let doc = null;
      try { doc = el.contentDocument; } catch (e) {}
      if (!doc || !doc.body) continue;
      const href = doc.location.href;
      out.frames.push(href);
      if (href.includes('mp_/')) {
        out.text += doc.body.innerText;
        for (const img of doc.images) out.images.push([img.src, img.complete && img.naturalWidth > 0]);
      }
      walk(doc);
    }
  }
}
walk(document);
out.text += '\\n' + document.body.innerText;
return out;
"""

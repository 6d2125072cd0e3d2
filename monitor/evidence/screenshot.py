"""A full-page PNG of a capture, rendered by headless Chromium from the captured records alone.

The Berkeley Protocol asks for the URL, the HTML source and a full-page screenshot with its date and time.
The browser gets no network: every request it makes goes to a loopback proxy (`--proxy-server`, loopback
not bypassed, host names never resolved) that answers only from the capture's own responses and refuses the
rest. So no second request reaches the site and no browser fingerprint leaves the machine. For rendering
only, https:// is served as http:// (the proxy cannot answer a TLS tunnel); the records are not changed.

Chromium is driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: JSON messages ended by
NUL on fds 3 and 4), so no driver or extra package is needed. Without a Chromium, `render` returns None and
the caller says so once.

Memory: Debian's old headless shell (`chromium-headless-shell`) is used before the full browser, and a page
taller than STRIP is captured strip by strip and stitched (pngstrips.py), so Chromium holds one strip's bitmap
rather than the whole page's several times over (bench/bench_render.py; bench/README.md, "Screenshots' memory").
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import subprocess
import tempfile
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from monitor.evidence.pngstrips import Stitcher

log = logging.getLogger("monitor.evidence")

VIEWPORT = (1280, 800)
MAX_HEIGHT = 16000  # px: a page longer than this is cut (PNG size stays sane); the screenshot's note says so
STRIP = 2000  # px: a longer page is captured in strips of this height and stitched (pngstrips.py)
# Debian's old headless shell first (`apt-get install chromium-headless-shell`): no browser UI, no WebUI
# renderers; with strips it peaked at ~280 MB PSS where the full browser took ~500 (bench/README.md)
BROWSERS = ("chromium-headless-shell", "chrome-headless-shell", "chromium", "chromium-browser", "google-chrome",
            "google-chrome-stable")


def browser() -> str | None:
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


def _key(url: str) -> str:
    u = urlsplit(url)
    return f"{u.hostname or ''}:{u.port or ''}{u.path or '/'}" + (f"?{u.query}" if u.query else "")


def _served(hop) -> tuple[int, list[tuple[str, str]], bytes]:
    """What the proxy answers for one captured exchange: headers as received, the body for the browser."""
    headers = [(n, v) for n, v in hop.headers if n.lower() not in ("transfer-encoding", "content-length",
                                                                      "connection", "keep-alive",
                                                                      "strict-transport-security",
                                                                      "content-security-policy")]
    body = hop.body
    kind = next((v for n, v in headers if n.lower() == "content-type"), "").lower()
    coding = next((v for n, v in headers if n.lower() == "content-encoding"), "").lower()
    if ("html" in kind or "css" in kind) and coding in ("gzip", "deflate", "x-gzip", ""):
        try:
            if coding:
                body = zlib.decompress(body, 47)  # gzip or zlib header, detected
                headers = [(n, v) for n, v in headers if n.lower() != "content-encoding"]
            body = body.replace(b"https://", b"http://")
        except zlib.error:
            body = hop.body
    return hop.status, headers, body


class _Proxy:
    """A loopback HTTP proxy answering from captured exchanges only."""

    def __init__(self, hops):
        self.answers = {_key(h.url): _served(h) for h in hops}
        self.refused: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                found = proxy.answers.get(_key(self.path))
                if found is None:
                    proxy.refused.append(self.path)
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status, headers, body = found
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_CONNECT(self) -> None:  # a TLS tunnel to the site: never
                proxy.refused.append(self.path)
                self.send_response(403)
                self.end_headers()

            do_POST = do_PUT = do_HEAD = do_OPTIONS = do_CONNECT

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # shutdown() waits for the loop to look again: at the default 0.5 s, closing the browser took 0.43 s
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.address = f"127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Pipe:
    """The DevTools protocol over Chromium's debugging pipe."""

    def __init__(self, proc: subprocess.Popen, to_chrome: int, from_chrome: int, deadline: float):
        self.proc, self.out, self.inp, self.deadline = proc, to_chrome, from_chrome, deadline
        self.buffer, self.next_id, self.events = b"", 0, []

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.out, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str, session: str | None = None) -> None:
        def seen() -> bool:
            return any(e.get("method") == method and (session is None or e.get("sessionId") == session)
                       for e in self.events)

        while not seen():
            self.events.append(self._read())

    def _read(self) -> dict:
        import select

        end = self.buffer.find(b"\0")
        if end < 0:  # a screenshot is megabytes of base64: gather the chunks, look for the end in the new one
            chunks = [self.buffer]
            ready = select.poll()  # not select(): it refuses a descriptor over 1023, which a busy service has
            ready.register(self.inp, select.POLLIN)
            while end < 0:
                left = self.deadline - time.monotonic()
                if left <= 0 or not ready.poll(max(1, int(left * 1000))):
                    self.buffer = b"".join(chunks)
                    raise TimeoutError("the browser did not answer in time")
                chunk = os.read(self.inp, 1 << 20)
                if not chunk:
                    raise RuntimeError("the browser exited")
                found = chunk.find(b"\0")
                if found >= 0:
                    end = sum(map(len, chunks)) + found
                chunks.append(chunk)
            self.buffer = b"".join(chunks)
        raw, self.buffer = self.buffer[:end], self.buffer[end + 1:]
        return json.loads(raw)


_said_no_browser = False
ENV = "MONITOR_SCREENSHOTS"  # "0" turns them off whatever feeds.yaml says (test suites, CI)


def enabled(settings) -> bool:
    return bool(getattr(settings, "screenshots", True)) and os.environ.get(ENV, "1").strip() != "0"


class Browser:
    """One headless Chromium for many pages: started once, one page at a time, each in a fresh browser
    context (no cache, cookie or storage carried from one capture to the next), behind one loopback proxy
    whose answers are swapped to the capture being rendered. Niced, so a poll running beside it comes first."""

    def __init__(self, binary: str, *, nice: int = 10, strip: int = STRIP, flags: tuple[str, ...] = ()):
        self.strip = strip  # 0: the whole page in one capture (the bench compares)
        self.proxy = _Proxy([])
        self.profile = tempfile.mkdtemp(prefix="monitor-shot-")
        to_r, self._to_w = os.pipe()      # we write commands, Chromium reads them on fd 3
        self._from_r, from_w = os.pipe()  # Chromium writes answers on fd 4
        args = [binary, "--headless=new", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-features=Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider",
                "--disable-quic", f"--proxy-server=http://{self.proxy.address}", "--proxy-bypass-list=<-loopback>",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", f"--user-data-dir={self.profile}",
                "--hide-scrollbars", "--renderer-process-limit=1", f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}",
                *flags, "about:blank"]

        def child() -> None:
            source = from_w if from_w != 3 else os.dup(from_w)  # dup2(to_r, 3) would close it first
            os.dup2(to_r, 3)
            os.dup2(source, 4)
            # dup2 onto the same number is a no-op that keeps close-on-exec: a pipe that was already fd 3 (a
            # young process has few files open) was closed at exec, and Chromium said "Remote debugging pipe
            # file descriptors are not open" (1 start in 4 in bench_render.py)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)
            if nice:
                os.nice(nice)

        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, preexec_fn=child,
                                     close_fds=False)  # fds 3 and 4: the pipe Chromium expects
        os.close(to_r)
        os.close(from_w)
        self.cdp = _Pipe(self.proc, self._to_w, self._from_r, time.monotonic() + 30)
        self.pages = 0
        self.last_height: tuple[int, int] = (0, 0)  # the last page's (height, height captured): cut when unequal

    def render(self, hops, page_url: str, *, timeout: float = 30) -> bytes:
        """A full-page PNG of `page_url` from the captured `hops` alone. Raises RuntimeError/TimeoutError."""
        cdp = self.cdp
        cdp.deadline = time.monotonic() + timeout
        self.proxy.answers = {_key(h.url): _served(h) for h in hops}
        context = cdp.send("Target.createBrowserContext", {"disposeOnDetach": True})["browserContextId"]
        try:
            target = cdp.send("Target.createTarget", {"url": "about:blank", "browserContextId": context})["targetId"]
            session = cdp.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            cdp.send("Page.enable", session=session)
            cdp.send("Emulation.setDeviceMetricsOverride", {"width": VIEWPORT[0], "height": VIEWPORT[1],
                                                            "deviceScaleFactor": 1, "mobile": False}, session)
            cdp.events.clear()  # about:blank's own load event must not count
            nav = cdp.send("Page.navigate", {"url": page_url.replace("https://", "http://", 1)}, session)
            if nav.get("errorText"):
                raise RuntimeError(f"the browser could not open the capture ({nav['errorText']})")
            cdp.wait_event("Page.loadEventFired", session)
            size = cdp.send("Page.getLayoutMetrics", session=session)["cssContentSize"]
            full = max(1, int(size["height"]))
            width, height = max(VIEWPORT[0], int(size["width"])), min(MAX_HEIGHT, full)
            png = self._capture(session, width, height)
            self.last_height = (full, height)
        finally:
            self.proxy.answers = {}
            try:
                cdp.send("Target.disposeBrowserContext", {"browserContextId": context})
            except (RuntimeError, TimeoutError, OSError):
                pass
            cdp.events.clear()
        self.pages += 1
        return png

    def _capture(self, session: str, width: int, height: int) -> bytes:
        """The page's PNG, `width` x `height` from the top. A page taller than a strip is captured strip by
        strip and stitched: Chromium then holds one strip's bitmap, not the page's (70 MB per copy for a
        1280 x 14,000 page), and the pixels are the same (tests/evidence/test_screenshot_strips.py)."""
        step = self.strip if 0 < self.strip < height else height
        stitch = Stitcher()
        joining = None  # the strip being joined (zlib, off the GIL) while Chromium paints the next one
        with ThreadPoolExecutor(1, thread_name_prefix="strips") as joiner:
            for y in range(0, height, step):
                shot = self.cdp.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                                                "optimizeForSpeed": True,  # ~1/3 less CPU
                                                                "clip": {"x": 0, "y": y, "width": width,
                                                                         "height": min(step, height - y),
                                                                         "scale": 1}},
                                     session)
                png = base64.b64decode(shot.pop("data"))
                if step == height:
                    return png
                if joining is not None:
                    joining.result()  # in order, and at most one strip waiting: memory stays one strip's
                joining = joiner.submit(stitch.add, png)
                del png
            if joining is not None:
                joining.result()
        return stitch.png()

    def close(self) -> None:
        try:
            self.cdp.deadline = time.monotonic() + 5
            self.cdp.send("Browser.close")
        except (RuntimeError, TimeoutError, OSError, ValueError):
            pass
        for fd in (self._to_w, self._from_r):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proxy.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def render(hops, page_url: str, *, timeout: float = 30) -> bytes | None:
    """A full-page PNG of `page_url` from the captured `hops` (the page's and its requisites'), in a browser of
    its own; None without a browser. Raises RuntimeError/TimeoutError when the browser fails."""
    binary = browser()
    if binary is None:
        return None
    with Browser(binary, nice=0) as b:
        return b.render(hops, page_url, timeout=timeout)


def wanted(settings, response) -> bool:
    """Whether a capture of `response` gets a full-page screenshot: screenshots on, an HTML page, and a
    browser to render it (without one, one line says so, once). It is queued and rendered after, by
    views.py: a story is never held up by the browser."""
    from monitor.evidence.requisites import PAGE_TYPES

    global _said_no_browser
    if response is None or not response.hops or not enabled(settings) \
            or not any(t in response.headers.get("content-type", "").lower() for t in PAGE_TYPES):
        return False
    if browser() is None:
        if not _said_no_browser:
            _said_no_browser = True
            log.warning("screenshots: no Chromium found (install chromium, or set `screenshots: false`); "
                        "captures are kept without them")
        return False
    return True

"""Bench: what does keeping every matched page as WARC cost? Capture, export and verify, against a baseline.

    python bench/bench_evidence.py [N] [--s3]

N captures (default 300) of real article pages (../shared/corpus/pages when there, else a generated page of
~120 kB), each gzip-encoded as a server would send it. Prints per capture: the time to build the records and
append them with fsync (the monitor's path) against writing the same bytes without fsync (the floor), and the
time to export all as WACZ and to verify the WACZ and the state, and the time of a full-page screenshot per
page rendered from the capture (5 pages; where Chromium is installed). A cycle's cost is the capture time times the
number of *matched* pages, which are few.

--s3: the same captures, export and verify once more with MONITOR_ARCHIVE_URL pointing at moto's S3 server
on loopback (`pip install 'moto[server]'`): one object per capture, spooled then PUT with its SHA-256, against
the local WARC folder (no screenshots then).
"""

from __future__ import annotations

import gzip
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.evidence.capture import Evidence  # noqa: E402
from monitor.evidence.verify import verify_state, verify_wacz  # noqa: E402
from monitor.evidence.wacz import export_wacz  # noqa: E402
from monitor.evidence.warc import build_capture  # noqa: E402
from monitor.sources.fetch import Hop  # noqa: E402
from monitor.store import Store  # noqa: E402

PAGES = ROOT.parent / "shared" / "corpus" / "pages"


def bodies() -> list[bytes]:
    found = [p.read_bytes() for p in sorted(PAGES.glob("*.htm*"))] if PAGES.is_dir() else []
    return found or [(b"<p>" + b"Khorog news paragraph. " * 40 + b"</p>\n") * 120]


def main(n: int, s3: bool = False) -> None:
    if s3:
        with moto_s3():
            local = measure(n, None)
            remote = measure(n, "s3://bench-evidence/warc")
        for name, r in (("local WARC folder", local), ("S3 (moto, loopback)", remote)):
            print(f"{name}: capture {r['capture'] * 1000:.2f} ms each; export WACZ {r['export']:.2f} s; "
                  f"verify WACZ {r['wacz']:.2f} s ({r['ok_wacz']}); verify state {r['state']:.2f} s ({r['ok_state']})")
        print(f"S3 over local: capture {remote['capture'] / local['capture']:.1f}x, "
              f"verify state {remote['state'] / local['state']:.1f}x")
        return
    measure(n, None, verbose=True)


def moto_s3():
    """moto's S3 server on a free loopback port, and the AWS variables pointing at it."""
    import contextlib
    import os
    import socket

    from moto.server import ThreadedMotoServer

    @contextlib.contextmanager
    def running():
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1",
                          AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}")
        import boto3

        boto3.client("s3").create_bucket(Bucket="bench-evidence")
        try:
            yield
        finally:
            server.stop()

    return running()


def measure(n: int, archive_url: str | None, verbose: bool = False) -> dict:
    import os

    if archive_url:
        os.environ["MONITOR_ARCHIVE_URL"] = archive_url
    else:
        os.environ.pop("MONITOR_ARCHIVE_URL", None)
    pages = [gzip.compress(b) for b in bodies()]
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "state.db")
        store.db.execute("INSERT INTO items (feed, url, url_key, first_seen, status) VALUES ('f','u','k','x','matched')")
        store.db.execute("""INSERT INTO stories (item_id, source, title, url, final_url, fetched_at, text, extracted,
            raw_sha256, topics, terms, score, snippet, highlights) VALUES (1, 'f', 't', 'u', 'u', ?, 'x', 1, '',
            '[]', '[]', 1, '', '[]')""", (datetime.now(timezone.utc).isoformat(),))
        evidence = Evidence(store)
        hops = [Hop(f"https://news.example/{i}", "GET", f"/{i}", (("Host", "news.example"),), "HTTP/1.1", 200, "OK",
                    (("Content-Type", "text/html"), ("Content-Encoding", "gzip")), pages[i % len(pages)],
                    "192.0.2.1:443", datetime.now(timezone.utc)) for i in range(n)]
        t = time.perf_counter()
        for hop in hops:
            with store.transaction():
                evidence.index(evidence.write([hop], text="x" * 5000), story_id=1)
        capture = (time.perf_counter() - t) / n
        t = time.perf_counter()
        with open(Path(tmp) / "floor.warc.gz", "ab") as f:
            for hop in hops:
                f.write(build_capture([hop], {"text": "x" * 5000}).data)
        floor = (time.perf_counter() - t) / n
        size = evidence.archive.size()
        t = time.perf_counter()
        export_wacz(store, evidence, datetime(2000, 1, 1, tzinfo=timezone.utc), None, Path(tmp) / "x.wacz")
        export = time.perf_counter() - t
        t = time.perf_counter()
        ok_wacz = verify_wacz(Path(tmp) / "x.wacz").ok
        wacz_time = time.perf_counter() - t
        t = time.perf_counter()
        ok_state = verify_state(store, evidence).ok
        state_time = time.perf_counter() - t
        store.close()
    result = {"capture": capture, "export": export, "wacz": wacz_time, "ok_wacz": ok_wacz, "state": state_time,
              "ok_state": ok_state}
    if not verbose:
        return result
    print(f"captures: {n}, page bodies {min(map(len, pages)):,}–{max(map(len, pages)):,} bytes (gzip), "
          f"archive {size / 1e6:.1f} MB")
    print(f"capture (records + append + fsync + index): {capture * 1000:.2f} ms each; "
          f"baseline without fsync or index: {floor * 1000:.2f} ms ({capture / floor:.1f}x)")
    print(f"export WACZ: {export:.2f} s; verify WACZ: {wacz_time:.2f} s ({ok_wacz=}); "
          f"verify state: {state_time:.2f} s ({ok_state=})")
    screenshots(hops[:5])
    return result


def screenshots(hops: list) -> None:
    """Per page: the capture with a full-page screenshot rendered from it (headless Chromium, no network)."""
    from monitor.evidence.screenshot import browser, render

    if browser() is None:
        print("screenshots: no Chromium here, not measured")
        return
    times, sizes = [], []
    for hop in hops:
        t = time.perf_counter()
        png = render([hop], hop.url)
        times.append(time.perf_counter() - t)
        sizes.append(len(png or b""))
    times.sort()
    print(f"screenshot per page (start Chromium, render from the capture, full-page PNG): median "
          f"{times[len(times) // 2] * 1000:.0f} ms, min {times[0] * 1000:.0f} ms, max {times[-1] * 1000:.0f} ms; "
          f"PNG {min(sizes) / 1e3:.0f}–{max(sizes) / 1e3:.0f} kB")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--s3"]
    main(int(args[0]) if args else 300, s3="--s3" in sys.argv[1:])

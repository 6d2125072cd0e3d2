"""Bench: the screenshots' peak memory and CPU, rendering bench-size pages, one strategy against another.

    python bench/bench_render.py [N] [--strategy NAME ...] [--flags "--some-chromium-flag ..."]

N (default 6) of bench/site.py's article pages (50-150 kB of HTML with inline styles and scripts, rendered
1,280 px wide and 6,000-16,000 px tall) go through screenshot.Browser the way ViewRenderer renders a run's
queue: one browser, a fresh browser context per page, each page served from its records by the loopback proxy.
Each strategy runs in a child process of its own (a clean heap), one after another. Printed per strategy: the
peak summed PSS of the Chromium tree, of the main process and of both together (sampled every 50 ms), the CPU
per page (Chromium's tree and the main process, user+sys, browser start included) and the wall time per page.
Last, whether every strategy's PNG of each page has the same pixels (decoded with Pillow, after the run).

Strategies (all by default; the headless shell's are skipped when it is not installed):
  full-chromium    the full browser (`chromium`), the page in one capture: the code before this bench
  strips-chromium  the full browser, the page in 2,000 px strips stitched into one PNG (pngstrips.py)
  full-shell       Debian's `chromium-headless-shell`, one capture
  strips-shell     the headless shell in strips: what screenshot.py does now when the shell is installed

--flags adds Chromium flags to every strategy (to try one: `--flags "--in-process-gpu"`). Memory figures are
fair on a loaded machine; times are not (say the load average with them).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MB = 1024 * 1024
STRATEGIES = {  # name: (browser binaries to look for, strip height: 0 = one capture)
    "full-chromium": (("chromium", "chromium-browser", "google-chrome"), 0),
    "strips-chromium": (("chromium", "chromium-browser", "google-chrome"), None),
    "full-shell": (("chromium-headless-shell", "chrome-headless-shell"), 0),
    "strips-shell": (("chromium-headless-shell", "chrome-headless-shell"), None),
}


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
            for line in fh:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    stat = fh.read().decode("latin-1")
                kids.setdefault(int(stat[stat.rindex(")") + 2:].split()[1]), []).append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    out, todo = [], list(kids.get(pid, []))
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def _cpu_s(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().decode("latin-1").rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


class Peaks(threading.Thread):
    """Peak PSS of this process, of its descendants (the browser's tree) and of both in one sample; the
    descendants' CPU (user+sys, each process at its last sample: one that lived under 50 ms is missed)."""

    def __init__(self, every: float = 0.05):
        super().__init__(daemon=True)
        self.every, self.stop = every, threading.Event()
        self.main = self.browser = self.both = 0
        self.cpu: dict[int, float] = {}

    def run(self) -> None:
        me = os.getpid()
        while not self.stop.is_set():
            main = _pss_kb(me)
            tree = _descendants(me)
            browser = sum(map(_pss_kb, tree))
            self.cpu.update((pid, _cpu_s(pid)) for pid in tree)
            self.main, self.browser = max(self.main, main), max(self.browser, browser)
            self.both = max(self.both, main + browser)
            self.stop.wait(self.every)


def pages(n: int) -> list[tuple[str, bytes]]:
    """N article pages of the bench's site (same seed, same pages every run), as (url, html)."""
    from bench.site import Site

    site = Site(max(n, 1), 5, 0, 7, 0.1, 5, 50, 150)
    site.port = 8080
    return [(site.article_url(i, 1), site.page_bytes(i, 1)) for i in range(n)]


def child(strategy: str, n: int, flags: list[str], keep: Path) -> dict:
    """One strategy, in this process: render the N pages, measure, keep the PNGs in `keep`."""
    from monitor.evidence import screenshot
    from monitor.evidence.views import StoredHop

    names, strip = STRATEGIES[strategy]
    binary = next((p for p in map(shutil.which, names) if p), None)
    if binary is None:
        return {"strategy": strategy, "skipped": f"none of {', '.join(names)} installed"}
    todo = pages(n)
    peaks = Peaks()
    peaks.start()
    before, t0 = os.times(), time.perf_counter()  # the main process's CPU: imports and pages made before
    browser = screenshot.Browser(binary, nice=0, strip=screenshot.STRIP if strip is None else strip,
                                 flags=tuple(flags))
    heights = []
    try:
        for k, (url, html) in enumerate(todo):
            png = browser.render([StoredHop(url, 200, [("Content-Type", "text/html; charset=utf-8")], html)], url)
            heights.append(browser.last_height[1])
            (keep / f"{strategy}-{k}.png").write_bytes(png)
            del png
    finally:
        browser.close()
    wall, after = time.perf_counter() - t0, os.times()
    peaks.stop.set()
    peaks.join()
    return {"strategy": strategy, "binary": binary, "pages": n, "heights": heights,
            "peak_browser_mb": peaks.browser / 1024, "peak_main_mb": peaks.main / 1024,
            "peak_both_mb": peaks.both / 1024,
            "cpu_browser_s_per_page": sum(peaks.cpu.values()) / n,
            "cpu_main_s_per_page": (after.user + after.system - before.user - before.system) / n,
            "wall_s_per_page": wall / n}


def same_pixels(keep: Path, strategies: list[str], n: int) -> list[str]:
    """For each page, whether every strategy's PNG decodes to the same pixels (and size)."""
    from PIL import Image

    lines = []
    for k in range(n):
        digests = {}
        for s in strategies:
            path = keep / f"{s}-{k}.png"
            if path.exists():
                with Image.open(path) as im:
                    digests[s] = (im.size, hashlib.sha256(im.convert("RGB").tobytes()).hexdigest()[:16])
        alike = len(set(digests.values())) <= 1
        size = next(iter(digests.values()))[0] if digests else None
        lines.append(f"page {k} {size}: {'the same pixels' if alike else 'DIFFERENT: ' + json.dumps(digests)}")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("n", nargs="?", type=int, default=6, help="pages per strategy")
    ap.add_argument("--strategy", action="append", choices=sorted(STRATEGIES), help="(repeatable; default all)")
    ap.add_argument("--flags", default="", help="extra Chromium flags for every strategy")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--keep", help=argparse.SUPPRESS)
    args = ap.parse_args()
    flags = args.flags.split()
    if args.child:
        print(json.dumps(child(args.child, args.n, flags, Path(args.keep))))
        return 0
    chosen = args.strategy or list(STRATEGIES)
    print(f"{args.n} bench pages per strategy; load average {os.getloadavg()[0]:.1f}"
          + (f"; flags {args.flags}" if flags else ""))
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-render-") as keep:
        for name in chosen:
            out = subprocess.run([sys.executable, __file__, str(args.n), "--child", name, "--keep", keep,
                                  "--flags", args.flags], check=False, capture_output=True, text=True, cwd=ROOT)
            if out.returncode:
                print(f"{name}: failed: {out.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            results.append(r)
            if "skipped" in r:
                print(f"{name:16} skipped: {r['skipped']}")
                continue
            print(f"{name:16} peak PSS: Chromium {r['peak_browser_mb']:4.0f} MB, main {r['peak_main_mb']:3.0f} MB, "
                  f"both {r['peak_both_mb']:4.0f} MB; CPU per page: Chromium {r['cpu_browser_s_per_page']:.2f} s, "
                  f"main {r['cpu_main_s_per_page']:.2f} s; wall per page {r['wall_s_per_page']:.2f} s")
        done = [r["strategy"] for r in results if "skipped" not in r]
        if done:
            heights = next(r["heights"] for r in results if "skipped" not in r)
            print(f"page heights captured: {', '.join(map(str, heights))} px; load average after "
                  f"{os.getloadavg()[0]:.1f}")
            for line in same_pixels(Path(keep), done, args.n):
                print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Hostile feeds, one at a time: wall time and peak memory of `monitor run --once` for each case of
tests/support/hostile.py, plus the two memory targets (one feed of 20,000 items; 200 feeds x 20 items).

    python bench/bench_hostile.py                 # every case, a table on stdout
    python bench/bench_hostile.py --json out.json  # the figures as JSON too
    python bench/bench_hostile.py "huge title" "many items"

Memory is the peak of the summed RSS of the run's whole process tree (monitor, fork server, extraction
workers), sampled every 50 ms from /proc; the baseline row is a run over one ordinary feed with one story,
measured in the same session, so the table shows what each case costs on top of the monitor itself.
Everything is served on loopback; nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.hostile import ALL_CASES, HostileWorld, feeds_yaml_text  # noqa: E402
from tests.support.localsite import LocalSite, Page  # noqa: E402
from tests.support.proctree import PeakRSS, new_mark  # noqa: E402

TARGET_MB = 600


def run_once(folder: Path, feeds_text: str) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "feeds.yaml").write_text(feeds_text, encoding="utf-8")
    mark = new_mark()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env.update(PYTHONPATH=str(ROOT), **{mark: "1"})
    cmd = [sys.executable, "-m", "monitor", "run", "--once", "--feeds", str(folder / "feeds.yaml"),
           "--keywords", str(ROOT / "keywords.yaml"), "--state", str(folder / "state.db")]
    started = time.monotonic()
    with PeakRSS(mark) as peak:
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=folder, timeout=600)
    seconds = time.monotonic() - started
    (folder / "stderr.log").write_text(done.stderr, encoding="utf-8")
    return {"seconds": round(seconds, 2), "peak_mb": round(peak.bytes / 2**20), "exit": done.returncode,
            "traceback": "Traceback" in done.stderr}


def many_feeds(site: LocalSite, feeds: int = 200, items: int = 20) -> str:
    """200 feeds x 20 items on one host, each item its own small page (no keyword: the prefilter skips it)."""
    from tests.support.hostile import item, rss_feed

    site.add("/p", Page(b"<html><body><article><p>A quiet day at the market.</p></article></body></html>",
                        etag=False))
    sources = []
    for f in range(feeds):
        body = rss_feed([item(f"Market day {f}-{i}", site.url(f"/p?f={f}&i={i}")) for i in range(items)])
        site.add(f"/feed/{f}.xml", Page(body, content_type="application/rss+xml"))
        sources.append({"name": f"Feed {f}", "url": site.url(f"/feed/{f}.xml")})
    return feeds_yaml_text(sources, settings="  timeout: 30\n  per_host: 8\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cases", nargs="*", help=f"cases to run (default all): {', '.join(ALL_CASES)}")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    cases = args.cases or ALL_CASES
    rows: list[tuple[str, dict]] = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-hostile-") as tmp:
        work = Path(tmp)
        with HostileWorld() as world:  # baseline: one ordinary story on an ordinary feed
            url, title, summary = world.story("/a/baseline")
            from tests.support.hostile import item, rss_feed

            world.site.add("/baseline.xml", Page(rss_feed([item(title, url, summary=summary)]),
                                                 content_type="application/rss+xml"))
            rows.append(("baseline (one ordinary feed)", run_once(work / "baseline", feeds_yaml_text(
                [{"name": "Baseline", "url": world.site.url("/baseline.xml")}]))))
        for case in cases:
            with HostileWorld() as world:
                rows.append((case, run_once(work / case.replace(" ", "-"), feeds_yaml_text(world.sources([case])))))
            print(f"{case}: {rows[-1][1]}", file=sys.stderr)
        if not args.cases:
            with HostileWorld() as world:
                rows.append(("all cases in one run", run_once(work / "all", feeds_yaml_text(world.sources(cases)))))
            with LocalSite("127.0.0.1") as site:
                rows.append(("200 feeds x 20 items", run_once(work / "many-feeds", many_feeds(site))))
    print(f"hostile feeds, {os.cpu_count()} cores, load average before {load_before:.1f}, after "
          f"{os.getloadavg()[0]:.1f}; time = wall of one `run --once`, peak = summed RSS of its process tree\n")
    print(f"{'case':36} {'time':>8} {'peak MB':>8}  exit")
    for name, r in rows:
        flag = "" if r["exit"] == 0 and not r["traceback"] else "  FAILED"
        print(f"{name:36} {r['seconds']:7.1f}s {r['peak_mb']:8d}  {r['exit']}{flag}")
    worst = max(r["peak_mb"] for _, r in rows)
    print(f"\nworst peak {worst} MB against the {TARGET_MB} MB target: {'held' if worst < TARGET_MB else 'MISSED'}")
    if args.json:
        args.json.write_text(json.dumps(dict(rows), indent=2), encoding="utf-8")
    return 0 if worst < TARGET_MB and all(r["exit"] == 0 for _, r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())

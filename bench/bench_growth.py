"""How a cycle's cost grows: linearly with the number of feeds, and not at all with the size of the state.

    python bench/bench_growth.py                 # feeds 10/30/100, state 0/1k/10k/100k stories (~10 min)
    python bench/bench_growth.py --quick         # feeds 10/30, state 0/1k/10k (~2 min)

Part 1 runs the first cycle and the nothing-new cycle (median of 3) on sites of 10, 30 and 100 feeds x 5
items (bench/site.py, one loopback address per outlet). Part 2 fills a state with N archived stories
(synthetic texts, their near-duplicate index included, as bench_dedup.py builds them) and then runs the
same 30-feed site on it: the first cycle (every new item is checked against the seen list and the index)
and the nothing-new cycle. Prints a table per part and writes JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

import run as harness  # noqa: E402  (bench/run.py: the site process, measure(), the feeds file)


def _cycle(name: str, site, workdir: Path, state: Path, keywords: Path, python: str) -> dict:
    feeds_yaml = workdir / "feeds.yaml"
    cmd = [python, "-m", "monitor", "run", "--once", "--feeds", str(feeds_yaml), "--keywords", str(keywords),
           "--state", str(state)]
    return harness.measure(name, cmd, workdir, site, harness.monitor_env(workdir), timeout=1800)


def _three(name: str, site, workdir, state, keywords, python) -> float:
    return statistics.median(_cycle(f"{name}-{k}", site, workdir, state, keywords, python)["wall"] for k in range(3))


def fill_state(state: Path, stories: int) -> float:
    """N archived stories with their near-duplicate index, written through the Store as a run writes them."""
    from bench_dedup import _sig_of

    from monitor.models import Article, FeedEntry, MatchResult, TopicHit
    from monitor.stories.neardup import NearDupIndex
    from monitor.store import Store

    t0 = time.perf_counter()
    store = Store(state)
    NearDupIndex(store)  # records the index parameters, as a first run would
    now = datetime(2024, 1, 1, tzinfo=timezone.utc)
    match = MatchResult(hits=(TopicHit("gbao", 1.0, ("khorog",)),))
    for start in range(0, stories, 5000):
        ids = []
        with store.transaction():
            for seed in range(start, min(stories, start + 5000)):
                _, text, data, words, shingles, keys = _sig_of(seed)
                url = f"https://archive.example.org/{seed}"
                item = store.record_item(feed="archive", guid=None, url=url, url_key=url, status="matched")
                entry = FeedEntry(feed="archive", url=url, title=f"archived story {seed}")
                article = Article(entry=entry, final_url=url, title=entry.title, text=text, published=now,
                                  fetched_at=now, raw_sha256="0" * 64)
                story_id = store.add_story(item, article, match)
                store.neardup_add(story_id, keys, data, words, shingles)
                ids.append(story_id)
        store.queue_digest("digest", ids, {})  # archived: sent long ago, nothing waits
    store.close()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--delay", type=float, default=0.1)
    ap.add_argument("--python", default=sys.executable)
    args = ap.parse_args(argv)
    feeds_steps = (10, 30) if args.quick else (10, 30, 100)
    state_steps = (0, 1_000, 10_000) if args.quick else (0, 1_000, 10_000, 100_000)
    keywords = BENCH.parent / "keywords.yaml"
    workdir = Path(tempfile.mkdtemp(prefix="pamir-growth-"))
    out: dict = {"delay": args.delay, "feeds": [], "state": []}
    try:
        for n in feeds_steps:
            site = harness.SiteProcess(n, 5, args.delay, 1, workdir / "site.log")
            try:
                harness.write_feeds(workdir / "feeds.yaml", site.feeds, {})
                state = workdir / f"feeds{n}.db"
                first = _cycle(f"f{n}-first", site, workdir, state, keywords, args.python)["wall"]
                steady = _three(f"f{n}-steady", site, workdir, state, keywords, args.python)
            finally:
                site.stop()
            out["feeds"].append({"feeds": n, "first_s": first, "steady_s": steady})
            print(f"feeds {n:>4}: first cycle {first:6.2f} s, nothing new {steady:5.2f} s", file=sys.stderr)
        for stories in state_steps:
            state = workdir / f"state{stories}.db"
            built = fill_state(state, stories) if stories else 0.0
            site = harness.SiteProcess(30, 5, args.delay, 1, workdir / "site.log")
            try:
                harness.write_feeds(workdir / "feeds.yaml", site.feeds, {})
                first = _cycle(f"s{stories}-first", site, workdir, state, keywords, args.python)["wall"]
                steady = _three(f"s{stories}-steady", site, workdir, state, keywords, args.python)
            finally:
                site.stop()
            size = state.stat().st_size / 2**20
            out["state"].append({"stories": stories, "first_s": first, "steady_s": steady, "state_mb": size,
                                 "build_s": built})
            print(f"state {stories:>7,} stories ({size:6.0f} MB): first cycle {first:6.2f} s, nothing new "
                  f"{steady:5.2f} s", file=sys.stderr)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"\nGrowth (30 feeds x 5 items unless said; {args.delay * 1000:.0f} ms per response; medians of 3 for "
          "nothing new)\n")
    print("| feeds | first cycle | per feed | nothing new | per feed |\n|---|---|---|---|---|")
    for row in out["feeds"]:
        print(f"| {row['feeds']} | {row['first_s']:.2f} s | {row['first_s'] / row['feeds'] * 1000:.0f} ms | "
              f"{row['steady_s']:.2f} s | {row['steady_s'] / row['feeds'] * 1000:.0f} ms |")
    print("\n| stories in the state | state file | first cycle | nothing new |\n|---|---|---|---|")
    for row in out["state"]:
        print(f"| {row['stories']:,} | {row['state_mb']:.0f} MB | {row['first_s']:.2f} s | {row['steady_s']:.2f} s |")
    results = BENCH / "results"
    results.mkdir(exist_ok=True)
    path = results / f"growth-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(f"\nJSON: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

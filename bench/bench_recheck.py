"""Kept texts and `monitor rematch`: the disk they take, the cost of keeping them, how fast a re-check runs
(CPU time of this process, so a loaded machine changes the figures little).

    python bench/bench_recheck.py                 # 5,000 kept texts (about a minute)
    python bench/bench_recheck.py --texts 20000

Texts are the reference texts of the shared extraction benchmark (real articles, ../shared/corpus) when
present, else tests/relevance/labelled, cycled with a counter appended so no two are identical. Baselines in the same
run: the text stored uncompressed (disk), recording the item alone (cost of keeping), and the matcher over the
same texts in memory (rematch's overhead for reading, decompressing and bookkeeping).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import zlib
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.relevance.matcher import Matcher  # noqa: E402
from monitor.models import Article, FeedEntry  # noqa: E402
from monitor.review.rematch import rematch  # noqa: E402
from monitor.relevance.keywords import load_rules  # noqa: E402
from monitor.store import Store  # noqa: E402

GOLD = ROOT / ".." / "shared" / "corpus" / "extraction-benchmark" / "ground-truth.json"


def texts() -> list[str]:
    if GOLD.exists():
        data = json.loads(GOLD.read_text(encoding="utf-8"))
        found = [v.get("articleBody") or v.get("text") or "" for v in (data.values() if isinstance(data, dict)
                                                                        else data) if isinstance(v, dict)]
        found = [t for t in found if len(t) > 500]
        if found:
            return found
    return [p.read_text(encoding="utf-8") for p in sorted((ROOT / "tests" / "relevance" / "labelled").glob("*.txt"))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--texts", type=int, default=5000)
    args = ap.parse_args()
    pool = texts()
    sample = [f"{pool[i % len(pool)]}\n{i}" for i in range(args.texts)]
    now = datetime.now(timezone.utc)
    matcher = Matcher(load_rules(ROOT / "keywords.yaml"))
    raw = sum(len(t.encode()) for t in sample)
    packed = sum(len(zlib.compress(t.encode(), 6)) for t in sample)
    print(f"{len(sample)} texts from {len(pool)} distinct articles, {raw / len(sample) / 1024:.1f} kB each")
    print(f"disk: zlib {packed / len(sample) / 1024:.2f} kB a text vs {raw / len(sample) / 1024:.2f} kB "
          f"uncompressed ({raw / packed:.1f}x smaller); gzip of the raw page would be ~60 kB")

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "state.db")
        t0 = time.process_time()
        for i, _ in enumerate(sample):
            store.record_item(feed="bench", guid=None, url=f"https://b.example/{i}", url_key=f"b{i}",
                              status="unmatched")
        base = time.process_time() - t0
        t0 = time.process_time()
        for i, text in enumerate(sample):
            with store.transaction():
                item = store.record_item(feed="bench", guid=None, url=f"https://k.example/{i}", url_key=f"k{i}",
                                         status="unmatched")
                entry = FeedEntry(feed="bench", url=f"https://k.example/{i}", title=f"Article {i}")
                store.keep_text(item, Article(entry=entry, final_url=entry.url, title=entry.title, text=text,
                                              published=now, fetched_at=now, raw_sha256="0" * 64))
        kept = time.process_time() - t0
        print(f"keeping: {kept / len(sample) * 1000:.2f} ms an article (item + text, one transaction) vs "
              f"{base / len(sample) * 1000:.2f} ms for the item alone")
        for i, text in enumerate(sample[:200]):  # warm up (first calls build caches)
            matcher.match(f"Article {i}", text)
        t0 = time.process_time()
        for i, text in enumerate(sample):
            matcher.match(f"Article {i}", text)
        in_memory = time.process_time() - t0
        t0 = time.process_time()
        report = rematch(store, matcher, since=None, dry_run=True, progress=False)
        took = time.process_time() - t0
        print(f"rematch --dry-run: {report.texts} texts in {took:.1f} s ({report.texts / took:.0f}/s), "
              f"{len(report.found)} would match; the matcher alone in memory: {in_memory:.1f} s "
              f"({took / in_memory:.2f}x)")
        count, size = store.kept_text_stats()
        print(f"state: {count} kept texts, {size / 1024 / 1024:.1f} MB; at 300 unmatched articles a day, "
              f"180 days take {size / count * 300 * 180 / 1024 / 1024:.0f} MB")
        store.close()


if __name__ == "__main__":
    main()

"""Bench: full-text search of the web interface at 100,000 stories; target p95 under 200 ms.

    python bench/bench_search.py                   # 100,000 stories (about 2 minutes on 2 cores)
    python bench/bench_search.py --stories 10000   # quicker
    python bench/bench_search.py --json out.json --keep /tmp/search.db
    python bench/bench_search.py --keep /tmp/search.db --reuse     # measure the queries again
    python bench/bench_search.py --postgresql      # the same on a throwaway PostgreSQL cluster on loopback
    python bench/bench_search.py --database-url postgresql://…/empty_db    # or on a database of yours

1. Builds a state of synthetic stories (≈300 words each, in English, Russian, Tajik and Persian, over two
   years; a few per cent name Khorog or Rushan in one of their spellings) with the real store's tables.
2. Builds the search index the way `monitor serve` does (fold, then short write batches) and reports its
   speed, its size and the longest batch: how long a poll could have waited for the web server's lock.
3. Runs every query of the list below 20 times through the same path as the home page (query expansion with
   the shipped aliases → FTS5 → newest 50 → count), then the whole page over HTTP (ASGI, templates included).
4. Baseline in the same run: the same words with LIKE over titles and texts (what a tool without a folded
   index would do): its time, and how many stories it misses for lack of folding and aliases.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.store import Store  # noqa: E402
from monitor.store.web import StoryFilter  # noqa: E402
from monitor.web.search import SearchIndex, build_query, load_aliases  # noqa: E402

NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)
DATABASE_URL: str | None = None  # --postgresql / --database-url: the state in PostgreSQL
SYLLABLES = {
    "en": "ta re mo lin ca pro ve ment ter son ar dis for ma".split(),
    "ru": "ро ва ли на ст ко пре до ни ель ов ра ми за".split(),
    "tg": "дар ва ба аз мо ҳо он ки ро бо шуд ҳа қи ғо".split(),
    "fa": "در از به را که با ای ان ها ست مي ند ور".split(),
}
PLACES = {
    "en": ["Khorog", "Khorugh", "Khorog's", "Rushan", "GBAO", "Gorno-Badakhshan"],
    "ru": ["Хорог", "Хороге", "Хорога", "Рушан", "ГБАО", "Горно-Бадахшанской"],
    "tg": ["Хоруғ", "Хоруғи", "Рӯшон", "ВМКБ", "Бадахшон"],
    "fa": ["خاروغ", "روشان", "بدخشان"],
}
EVENT = {"en": ["detained", "arrested", "sentenced"], "ru": ["задержан", "задержали", "арестован"],
         "tg": ["боздошт", "ҳабс"], "fa": ["بازداشت"]}
TOPICS = ["gbao_rights", "gbao_story", "gbao_violence", "pamiri_institutions"]
QUERIES = [
    ("Хорог", {}), ("Khorugh", {}), ("Рушан", {}), ("ГБАО", {}), ('"Хоруг"', {}), ("задержан", {}),
    ("detained Khorog", {}), ("خاروغ", {}), ("Хорог", {"language": "ru"}), ("Khorog", {"topic": "gbao_violence"}),
    ("Хорог", {"source": "Outlet 7"}), ("zzqqx", {}), ("", {"language": "tg"}), ("", {}),
]


def vocabulary(rng: random.Random, lang: str, n: int = 4000) -> list[str]:
    syl = SYLLABLES[lang]
    return ["".join(rng.choice(syl) for _ in range(rng.randint(2, 4))) for _ in range(n)]


def build(path: Path, n: int, seed: int = 7) -> dict[str, float]:
    rng = random.Random(seed)
    vocab = {lang: vocabulary(rng, lang) for lang in SYLLABLES}
    weights = [1 / (i + 1) for i in range(4000)]
    store = Store(path, database_url=DATABASE_URL)
    started = time.perf_counter()
    langs = ["en", "ru", "tg", "fa"]
    with store.transaction() as db:
        items, stories = [], []
        for i in range(1, n + 1):
            lang = langs[i % 4] if i % 10 else "ru"
            words = rng.choices(vocab[lang], weights, k=300)
            if rng.random() < 0.06:  # a story about the region
                for _ in range(rng.randint(1, 4)):
                    words[rng.randrange(300)] = rng.choice(PLACES[lang])
                words[rng.randrange(300)] = rng.choice(EVENT[lang])
            title = " ".join(words[:8]).capitalize()
            text = " ".join(words[8:])
            when = NOW - timedelta(minutes=rng.randrange(2 * 365 * 24 * 60))
            url = f"https://outlet{i % 40}.example/{i}"
            items.append((i, f"Outlet {i % 40}", url, url, when.isoformat(), "matched"))
            topics = json.dumps(rng.sample(TOPICS, rng.randint(1, 2)))
            stories.append((i, i, f"Outlet {i % 40}", title, url, url, when.isoformat(), when.isoformat(), text, 1,
                            "%064x" % i, topics, "[]", round(rng.uniform(1, 20), 2), text[:200], "[]", 0))
        db.executemany("INSERT INTO items (id, feed, url, url_key, first_seen, status) VALUES (?, ?, ?, ?, ?, ?)",
                       items)
        db.executemany("""INSERT INTO stories (id, item_id, source, title, url, final_url, published, fetched_at,
                            text, extracted, raw_sha256, topics, terms, score, snippet, highlights, urgent)
                          VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""", stories)
    store.close()
    return {"build_s": time.perf_counter() - started}


def index(path: Path) -> dict[str, float]:
    store = Store(path, database_url=DATABASE_URL)
    search = SearchIndex()
    search.prepare(store)
    batches: list[float] = []
    write = store.search_add

    def timed(*a, **k):
        t = time.perf_counter()
        write(*a, **k)
        batches.append(time.perf_counter() - t)

    store.search_add = timed  # type: ignore[method-assign]
    started = time.perf_counter()
    docs = 0
    while True:
        done = search.catch_up(store, budget_s=5.0)
        if not done:
            break
        docs += done
    elapsed = time.perf_counter() - started
    store.close()
    size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    if DATABASE_URL:
        store = Store(path, database_url=DATABASE_URL)
        size = store.db.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        store.close()
    return {"index_s": elapsed, "index_docs_per_s": docs / elapsed if elapsed else 0.0,
            "index_longest_batch_ms": max(batches) * 1000 if batches else 0.0,
            "index_median_batch_ms": statistics.median(batches) * 1000 if batches else 0.0,
            "state_mb": size / 1e6}


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def queries(path: Path, repeat: int) -> tuple[dict[str, float], list[tuple]]:
    aliases = load_aliases(ROOT / "keywords.yaml")
    store = Store(path, database_url=DATABASE_URL)
    rows, every = [], []
    for text, filters in QUERIES:
        q = build_query(text, aliases) if text else None
        flt = StoryFilter(match=q.fts if q else None, exclude=q.exclude if q else None, **filters)
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            found = store.list_stories(flt, limit=51)
            total = store.count_stories(flt) if len(found) > 50 else len(found)
            times.append((time.perf_counter() - t) * 1000)
        every += times
        rows.append((text or "(no words)", filters, total, statistics.median(times), pct(times, 95)))
    store.close()
    return {"query_p50_ms": statistics.median(every), "query_p95_ms": pct(every, 95)}, rows


def baseline(path: Path, repeat: int) -> list[tuple]:
    """LIKE over title and text: no folding, no aliases, a scan of every story."""
    store = Store(path, database_url=DATABASE_URL)
    out = []
    for word, fts_word in (("Хорог", "Хорог"), ("Khorugh", "Khorugh"), ("задержан", "задержан")):
        times = []
        for _ in range(max(2, repeat // 5)):
            t = time.perf_counter()
            n = store.db.execute("SELECT COUNT(*) FROM stories WHERE title LIKE ? OR text LIKE ?",
                                 (f"%{word}%", f"%{word}%")).fetchone()[0]
            times.append((time.perf_counter() - t) * 1000)
        q = build_query(fts_word, load_aliases(ROOT / "keywords.yaml"))
        folded = store.count_stories(StoryFilter(match=q.fts, exclude=q.exclude), cap=10_000_000)
        out.append((word, n, folded, statistics.median(times)))
    store.close()
    return out


def pages(path: Path, repeat: int) -> dict[str, float]:
    """The whole home page over HTTP (ASGI transport): query, list, count, templates, the cached trend chart."""
    import httpx

    from monitor.relevance.keywords import load_rules
    from monitor.web.app import WebConfig, create_app

    cfg = WebConfig(state=str(path), database_url=DATABASE_URL, rules=load_rules(ROOT / "keywords.yaml"),
                    aliases=load_aliases(ROOT / "keywords.yaml"))
    app = create_app(cfg)

    async def run() -> dict[str, float]:
        async with app.app.router.lifespan_context(app.app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as c:
                t = time.perf_counter()
                await c.get("/")
                first = (time.perf_counter() - t) * 1000  # computes the trend chart over every story
                times = []
                for _ in range(repeat):
                    for text, filters in QUERIES[:8]:
                        t = time.perf_counter()
                        r = await c.get("/", params={"q": text, **filters})
                        assert r.status_code == 200
                        times.append((time.perf_counter() - t) * 1000)
                return {"page_first_ms": first, "page_p50_ms": statistics.median(times),
                        "page_p95_ms": pct(times, 95)}

    return asyncio.run(run())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stories", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--keep", type=Path, help="build the state here and keep it")
    ap.add_argument("--reuse", action="store_true", help="with --keep: use the state already there (no rebuild)")
    ap.add_argument("--postgresql", action="store_true", help="on a throwaway PostgreSQL cluster (loopback)")
    ap.add_argument("--database-url", help="on this (empty) PostgreSQL database")
    args = ap.parse_args()
    global DATABASE_URL
    cluster = None
    if args.postgresql:
        from tests.support.postgres import Cluster, server_bin

        cluster = Cluster(server_bin(), durable=True)
        os.environ.setdefault("MONITOR_PG_IDLE_TIMEOUT_MS", "0")  # build() fills one long transaction
        DATABASE_URL = cluster.new_database("bench")
    elif args.database_url:
        DATABASE_URL = args.database_url
        os.environ.setdefault("MONITOR_PG_IDLE_TIMEOUT_MS", "0")
    try:
        return _main(args)
    finally:
        if cluster:
            cluster.stop()


def _main(args) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="bench-search-"))
    path = args.keep or workdir / "monitor.db"
    result: dict[str, float] = {"stories": args.stories}
    result["backend"] = "postgresql" if DATABASE_URL else "sqlite"
    if args.reuse and (path.exists() or DATABASE_URL):
        print(f"reusing {path}")
    else:
        result |= build(path, args.stories)
        print(f"built {args.stories:,} synthetic stories in {result['build_s']:.1f} s")
    result |= index(path)
    print(f"search index: {result['index_s']:.1f} s ({result['index_docs_per_s']:,.0f} stories/s), "
          f"write batches median {result['index_median_batch_ms']:.0f} ms, longest "
          f"{result['index_longest_batch_ms']:.0f} ms (the longest a poll could wait); "
          f"state {result['state_mb']:.0f} MB")
    figures, rows = queries(path, args.repeat)
    result |= figures
    print(f"\n{'query':22} {'filters':28} {'found':>7} {'p50 ms':>8} {'p95 ms':>8}")
    for text, filters, total, p50, p95 in rows:
        shown = f"{total:,}" + ("+" if total >= 1_000 else "")
        print(f"{text:22} {json.dumps(filters, ensure_ascii=False):28} {shown:>7} {p50:8.1f} {p95:8.1f}")
    print(f"all queries: p50 {result['query_p50_ms']:.1f} ms, p95 {result['query_p95_ms']:.1f} ms")
    result |= pages(path, max(2, args.repeat // 4))
    print(f"home page over HTTP: p50 {result['page_p50_ms']:.1f} ms, p95 {result['page_p95_ms']:.1f} ms "
          f"(first view, computing the 12-month trend: {result['page_first_ms']:.0f} ms)")
    print("\nbaseline: LIKE '%word%' over titles and texts (no folding, no aliases)")
    for word, like, folded, ms in baseline(path, args.repeat):
        print(f"  {word:10} LIKE finds {like:6,} in {ms:7.1f} ms; the folded index with aliases finds {folded:6,}")
        result[f"like_{word}_ms"] = ms
    ok = result["query_p95_ms"] < 200 and result["page_p95_ms"] < 200
    print(f"\ntarget p95 < 200 ms at {args.stories:,} stories: {'MET' if ok else 'MISSED'}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1), encoding="utf-8")
    shutil.rmtree(workdir, ignore_errors=True)  # the state of 100,000 stories is 650 MB
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

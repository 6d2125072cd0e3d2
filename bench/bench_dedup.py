"""Near-duplicate detection: quality on labelled pairs and the shared corpus, then speed, memory and disk
of the SQLite-backed LSH index at 100,000 stored stories.

    /work/venv/bin/python bench/bench_dedup.py               # full run (100,000 stories, about 2 minutes)
    /work/venv/bin/python bench/bench_dedup.py --stories 10000 --skip-quality

Filler stories are synthetic texts: 400 words drawn from a 50,000-word vocabulary with Zipf frequencies
(1/rank; the 53 most frequent are English function words), so that unrelated texts share frequent
shingles as real news does.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from itertools import accumulate, combinations
from multiprocessing import Pool
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.stories import neardup  # noqa: E402
from monitor.models import Article, FeedEntry, MatchResult, TopicHit  # noqa: E402
from monitor.stories.neardup import NearDupIndex, Signature, signature  # noqa: E402
from monitor.store import Store  # noqa: E402

PAIRS = ROOT / "tests" / "stories" / "neardup_pairs"
CORPUS = ROOT / ".." / "shared" / "corpus" / "same-event"
FUNCTION_WORDS = ("the of and to in a is that for on was with he it as said by at from his an be has have "
                  "were are which this but not had they who their been its after also will would more one "
                  "two year people government police court region officials").split()


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- quality -----------------------------------------------------------------------------------------

def quality() -> None:
    rows = [line.split("\t") for line in (PAIRS / "pairs.tsv").read_text().splitlines() if not line.startswith("#")]
    sigs = {name: signature((PAIRS / f"{name}.txt").read_text()) for a, b, *_ in rows for name in (a, b)}
    results, lsh, worst_neg, worst_pos = [], [], 0.0, 1.0
    for a, b, label, _ in rows:
        said, j = sigs[a].same_story(sigs[b])
        results.append((label == "same", said))
        candidate = bool(set(sigs[a].band_keys()) & set(sigs[b].band_keys()))  # would the index have found it?
        lsh.append((label == "same", said and candidate))
        if label == "same":
            worst_pos = min(worst_pos, j)
        else:
            worst_neg = max(worst_neg, j)
    report("labelled pairs (tests/stories/neardup_pairs, en+ru), verification", results)
    report("labelled pairs, through the LSH bands (what find() sees)", lsh)
    print(f"  lowest estimated Jaccard of a 'same' pair {worst_pos:.2f}, highest of a 'different' pair {worst_neg:.2f}"
          f" (threshold {neardup.THRESHOLD}; excerpts pass by containment)")
    if not CORPUS.is_dir():
        print("shared corpus: ../shared/corpus absent, skipped")
        return
    for kind, texts in (("gold text", corpus_gold()), ("trafilatura on the .html", corpus_extracted())):
        names = sorted(texts)
        sig = {n: signature(texts[n]) for n in names}
        results, same_event, top = [], [], 0.0
        for a, b in combinations(names, 2):
            said, j = sig[a].same_story(sig[b])
            results.append((False, said))
            if a.split("__")[0] == b.split("__")[0]:
                same_event.append(j)
                top = max(top, j)
        rng = random.Random(7)
        copies = [(True, sig[n].same_story(signature(republish(texts[n], rng)))[0]) for n in names]
        print(f"shared corpus same-event, {kind}: {len(names)} articles, {len(results)} pairs "
              f"({len(same_event)} same-event hard negatives, highest Jaccard {top:.2f})")
        report("  hard negatives + synthetic republished copies (first paragraph cut, 5% words changed, boilerplate)",
               results + copies)


def report(what: str, results: list[tuple[bool, bool]]) -> None:
    tp = sum(t and s for t, s in results)
    fp = sum((not t) and s for t, s in results)
    fn = sum(t and not s for t, s in results)
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    print(f"{what}: {len(results)} pairs, {tp + fn} same: precision {p:.3f} recall {r:.3f} (tp {tp} fp {fp} fn {fn})")


def corpus_gold() -> dict[str, str]:
    return {p.name.removesuffix(".gold.txt"): "\n".join(l for l in p.read_text().splitlines() if not l.startswith("#"))
            for p in CORPUS.glob("*.gold.txt")}


def corpus_extracted() -> dict[str, str]:
    import trafilatura

    return {p.stem: trafilatura.extract(p.read_bytes()) or "" for p in CORPUS.glob("*.html")}


def republish(body: str, rng: random.Random, changed: float = 0.05) -> str:
    paragraphs = [p for p in re.split(r"\n\s*\n|\n", body) if p.strip()]
    words = "\n".join(paragraphs[1:] if len(paragraphs) > 3 else paragraphs).split(" ")
    for i in rng.sample(range(len(words)), int(len(words) * changed)):
        words[i] = rng.choice(["reportedly", "said", "the", "officials", "local"])
    return "Editor's note: republished with permission.\n" + " ".join(words) + "\nShare this. All rights reserved."


# --- scale -------------------------------------------------------------------------------------------

_VOCAB = FUNCTION_WORDS + [f"w{i}" for i in range(50_000 - len(FUNCTION_WORDS))]
_CUM = list(accumulate(1.0 / rank for rank in range(1, len(_VOCAB) + 1)))  # Zipf: the top word ~9% of tokens


FOOTERS = 0  # with --footers N: each story ends with one of N outlets' 30-word footers that extraction kept


def synthetic(seed: int, words: int = 400) -> str:
    rng = random.Random(seed)
    text = " ".join(rng.choices(_VOCAB, cum_weights=_CUM, k=words))
    if FOOTERS:
        outlet = seed % FOOTERS
        text += " " + " ".join(f"footer{outlet}x{i}" for i in range(30))
    return text


def _set_footers(n: int) -> None:
    global FOOTERS
    FOOTERS = n


def _sig_of(seed: int) -> tuple[int, str, bytes, int, int, list[int]]:
    text = synthetic(seed)
    sig = signature(text)
    return seed, text, sig.to_bytes(), sig.words, sig.shingles, sig.band_keys()


def scale(n: int, lookups: int, keep: bool) -> None:
    tmp = tempfile.mkdtemp(prefix="bench_dedup_")
    path = Path(tmp) / "monitor.db"
    store = Store(path)
    index = NearDupIndex(store)
    rss0 = rss_mb()
    now = datetime(2024, 1, 1, tzinfo=timezone.utc)
    match = MatchResult(hits=(TopicHit("gbao", 1.0, ("khorog",)),))
    t0 = time.perf_counter()
    with Pool(2, initializer=_set_footers, initargs=(FOOTERS,)) as pool:
        batch = 5000
        for start in range(0, n, batch):
            with store.transaction():
                for seed, text, data, words, shingles, keys in pool.imap(_sig_of, range(start, min(n, start + batch)),
                                                                         chunksize=200):
                    url = f"https://example.org/{seed}"
                    item = store.record_item(feed="f", guid=None, url=url, url_key=url, status="matched")
                    entry = FeedEntry(feed="f", url=url, title=f"story {seed}")
                    art = Article(entry=entry, final_url=url, title=entry.title, text=text, published=now,
                                  fetched_at=now, raw_sha256="0" * 64)
                    story_id = store.add_story(item, art, match)
                    store.neardup_add(story_id, keys, data, words, shingles)
    build = time.perf_counter() - t0
    print(f"\nbuilt {n:,} stories (synthetic 400-word texts"
          + (f", each with one of {FOOTERS} outlet footers" if FOOTERS else "") + f") in {build:.0f} s")

    rng = random.Random(11)
    hit_seeds = rng.sample(range(n), lookups)
    miss_texts = [synthetic(10_000_000 + i) for i in range(lookups)]
    hit_texts = []
    for seed in hit_seeds:  # a copy: first 40 words cut, 5% of the words changed, boilerplate added
        words = synthetic(seed).split()[40:]
        for i in rng.sample(range(len(words)), len(words) // 20):
            words[i] = "changed"
        hit_texts.append("Editor's note: republished. " + " ".join(words) + " Share this article.")
    t = time.perf_counter()
    hit_sigs = [signature(x) for x in hit_texts]
    miss_sigs = [signature(x) for x in miss_texts]
    sig_ms = (time.perf_counter() - t) * 1000 / (2 * lookups)

    def timed(sigs: list[Signature]) -> tuple[list[float], list[int | None]]:
        times, found = [], []
        for s in sigs:
            t = time.perf_counter()
            found.append(index.find(s))
            times.append((time.perf_counter() - t) * 1000)
        return times, found

    timed(miss_sigs[:50])  # warm the page cache
    hit_t, hit_found = timed(hit_sigs)
    miss_t, miss_found = timed(miss_sigs)
    found_right = sum(f == seed + 1 for f, seed in zip(hit_found, hit_seeds))  # story ids start at 1
    false_found = sum(f is not None for f in miss_found)
    cand = [len(store.neardup_candidates(s.band_keys())) for s in miss_sigs[:200]]
    print(f"signature: {sig_ms:.2f} ms per text (400 words)")
    for name, ts in (("copies (hits)", hit_t), ("new texts (misses)", miss_t)):
        q = statistics.quantiles(ts, n=100)
        key = "hit" if "hits" in name else "miss"
        RESULT.update({"stories": n, f"find_{key}_median_ms": round(statistics.median(ts), 3),
                       f"find_{key}_p99_ms": round(q[98], 3)})
        print(f"find() at {n:,} stories, {name}: median {statistics.median(ts):.3f} ms, p95 {q[94]:.3f} ms, "
              f"p99 {q[98]:.3f} ms, max {max(ts):.3f} ms")
    print(f"copies found: {found_right}/{lookups}; new texts wrongly folded: {false_found}/{lookups}; "
          f"mean verified candidates per new text {statistics.mean(cand):.2f}")

    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    sizes = dict(store.db.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall())
    idx = {k: v for k, v in sizes.items() if k.startswith("neardup") or "neardup" in k}
    total_idx = sum(idx.values())
    RESULT.update({"copies_found": found_right, "wrongly_folded": false_found, "index_mb": round(total_idx / 1e6, 1),
                   "state_mb": round(path.stat().st_size / 1e6, 1)})
    print(f"disk: state file {path.stat().st_size / 1e6:.1f} MB; near-dup index {total_idx / 1e6:.1f} MB "
          f"({total_idx / n:.0f} bytes per story): "
          + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sorted(idx.items()))
          + f"; stories table {sizes.get('stories', 0) / 1e6:.1f} MB")
    print(f"memory: the index keeps nothing in Python (state lives in SQLite; default page cache 2 MB); "
          f"process RSS {rss0:.0f} MB before build, {rss_mb():.0f} MB after build and {2 * lookups} lookups")
    store.close()
    if keep:
        print(f"kept {path}")
    else:
        for p in Path(tmp).iterdir():
            p.unlink()
        Path(tmp).rmdir()


RESULT: dict[str, float] = {}  # written with --json FILE, for bench/run.py's table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--stories", type=int, default=100_000)
    ap.add_argument("--lookups", type=int, default=1000)
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--skip-scale", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the state file")
    ap.add_argument("--footers", type=int, default=0,
                    help="stress: N outlets whose 30-word footer survives extraction in every story")
    args = ap.parse_args()
    global FOOTERS
    FOOTERS = args.footers
    print(f"parameters: {neardup.PARAMS}, threshold J>={neardup.THRESHOLD} "
          f"or containment>={neardup.CONTAINED} with J>={neardup.MIN_CONTAINED_JACCARD}")
    if not args.skip_quality:
        quality()
    if not args.skip_scale:
        scale(args.stories, args.lookups, args.keep)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(RESULT, fh)


if __name__ == "__main__":
    main()

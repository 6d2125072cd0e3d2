"""Bench: does matching cost grow with the number of terms? And: star terms or a stemmer for inflection?

    /work/venv/bin/python bench/bench_match.py

1. One MB of article text (the shared extraction benchmark's reference texts when ../shared/corpus is there,
   else our labelled examples repeated), matched with 5 terms and with 500 terms; the goal is 500 ≤ ~1.5× 5.
2. Case forms of the mission's place and people names: how many does `stem*` (grammatical endings) catch,
   and how many does snowballstemmer's Russian stemmer map to the stem of the base form (if installed)?
3. The per-page cost of matching with the shipped keywords.yaml (every form generated), against the cost of
   extracting the same pages with trafilatura, on the shared extraction benchmark (181 real pages).
4. Start-up: compiling keywords.yaml with a cold forms cache (the dictionaries load) and a warm one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.relevance.matcher import Matcher  # noqa: E402
from monitor.relevance.rules import WORD, compile_term, fold  # noqa: E402
from monitor.relevance.keywords import load_rules, parse_rules

SHARED = ROOT.parent / "shared" / "corpus" / "extraction-benchmark" / "ground-truth.json"
PAGES = SHARED.parent / "html"


def megabyte() -> str:
    if SHARED.exists():
        data = json.loads(SHARED.read_text(encoding="utf-8"))
        items = data.values() if isinstance(data, dict) else data
        parts = [i.get("articleBody", "") for i in items if isinstance(i, dict)]
    else:
        parts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "tests" / "relevance" / "labelled").glob("*.txt"))]
    text, out = "\n\n".join(parts), []
    while sum(map(len, out)) < 1_000_000:
        out.append(text)
    return "".join(out)[:1_000_000]


FIVE = ["Khorog", "detained", "Хорог*", "задержан*", "GBAO"]


def default_terms() -> list[str]:
    rules = load_rules(ROOT / "keywords.yaml")
    return list(dict.fromkeys(t.text for topic in rules.topics for t in topic.terms() if t.kind != "regex"))


def realistic(n: int) -> list[str]:
    """The shipped keywords' terms, topped up with made-up names (as a user's list of people and villages)."""
    terms = default_terms()
    syllables = ["sha", "mo", "rud", "bek", "dov", "zar", "khon", "gul", "nazar", "qadam", "ali", "sho"]
    i = 0
    while len(terms) < n:
        a, b, c = syllables[i % 12], syllables[(i // 12) % 12], syllables[(i // 144) % 12]
        terms.append((a + b + c).capitalize() + ("*" if i % 4 == 0 else ""))
        i += 1
    return terms[:n]


def stress(text: str, n: int) -> list[str]:
    """Words of middling frequency in the text itself: every term matches, thousands of times in all."""
    counts = Counter(WORD.findall(fold(text[:200_000])))
    middling = [w for w, c in counts.most_common() if 3 <= c <= 30 and len(w) > 4]
    return [w + "*" if i % 3 == 0 else w for i, w in enumerate(middling[:n])]


def timed(term_lists: list[list[str]], text: str, runs: int = 7) -> list[tuple[float, float, int]]:
    """Per term list: fastest ms of the pass (fold + automaton + boundaries) and of a whole match(), and the
    number of matches.

    The runs are interleaved (each list once per round) and the fastest round counts: on a machine shared
    with other jobs a load spike then hits every list alike, and the minimum is what the code costs."""
    matchers = [Matcher(parse_rules({"topics": {"t": {"any": terms}}})) for terms in term_lists]
    scan: list[list[float]] = [[] for _ in matchers]
    full: list[list[float]] = [[] for _ in matchers]
    hits: list[int] = [0] * len(matchers)
    for _ in range(runs):
        for i, matcher in enumerate(matchers):
            start = time.perf_counter()
            hits[i] = len(matcher.raw_hits(matcher.document("", text)))
            scan[i].append(time.perf_counter() - start)
            start = time.perf_counter()
            matcher.match("", text)
            full[i].append(time.perf_counter() - start)
    return [(min(s) * 1000, min(f) * 1000, h) for s, f, h in zip(scan, full, hits)]


RESULT: dict[str, float] = {}  # written with --json FILE, for bench/run.py's table


def bench_terms() -> None:
    text = megabyte()
    print(f"text: {len(text):,} characters ({len(text.encode()):,} bytes UTF-8); fastest of 7 interleaved runs")
    lists = [("500 terms (keywords + names)", realistic(500)), ("500 terms (stress: all hit)", stress(text, 500))]
    (base_scan, base_full, base_hits), *rest = timed([FIVE] + [terms for _, terms in lists], text)
    print(f"{'5 terms':28} pass {base_scan:6.1f} ms   match() {base_full:6.1f} ms   {base_hits:6} matches")
    for (label, _), (scan, full, hits) in zip(lists, rest):
        kind = "stress" if "stress" in label else "realistic"
        RESULT.update({"ms_5_terms": round(base_full, 1), f"ms_500_{kind}": round(full, 1),
                       f"ratio_500_vs_5_{kind}": round(full / base_full, 2)})
        if kind == "realistic":
            RESULT["ratio_500_vs_5"] = RESULT["ratio_500_vs_5_realistic"]
        print(f"{label:28} pass {scan:6.1f} ms   match() {full:6.1f} ms   {hits:6} matches"
              f"   ratio pass {scan / base_scan:.2f}x, match() {full / base_full:.2f}x")


FORMS = {
    "Хорог": ["Хорог", "Хорога", "Хорогу", "Хороге", "Хорогом", "Хорогский", "Хорогского", "Хорогской", "Хорогцы"],
    "Рушан": ["Рушан", "Рушана", "Рушане", "Рушаном", "Рушанский", "Рушанского", "Рушанском", "Рушанцы"],
    "Бадахшан": ["Бадахшан", "Бадахшана", "Бадахшане", "Бадахшаном", "Бадахшанская", "Бадахшанской", "Бадахшанцы"],
    "Памир": ["Памир", "Памира", "Памире", "Памиром", "Памирский", "Памирского", "Памирские", "Памирцы", "Памирцев"],
    "Хоруғ": ["Хоруғ", "Хоруғи", "Хоруғро", "Хоруғӣ", "Хоруғиён", "Хоруғва"],
    "Рӯшон": ["Рӯшон", "Рӯшони", "Рӯшонро", "Рӯшонӣ", "Рӯшониён"],
    "помирӣ": ["помирӣ", "помириҳо", "помириён", "помириёнро", "помириҳоро"],
}
NOT_FORMS = ["хорогдуулах", "Хорошо", "Памирбанк"]  # must not be caught


def bench_inflection() -> None:
    total = sum(len(v) for v in FORMS.values())
    star_ok = 0
    for base, forms in FORMS.items():
        m = Matcher(parse_rules({"topics": {"t": {"any": [base.rstrip("ӣ") + "*"]}}}))
        star_ok += sum(bool(m.occurrences(m.document("", f))) for f in forms)
    m_all = Matcher(parse_rules({"topics": {"t": {"any": [b.rstrip("ӣ") + "*" for b in FORMS]}}}))
    wrong = [w for w in NOT_FORMS if m_all.occurrences(m_all.document("", w))]
    print(f"stem* terms: {star_ok}/{total} case forms caught; false: {wrong or 'none'} of {NOT_FORMS}")
    try:
        import snowballstemmer
    except ImportError:
        print("snowballstemmer not installed: comparison skipped")
        return
    ru = snowballstemmer.stemmer("russian")
    stem_ok = 0
    for base, forms in FORMS.items():
        target = ru.stemWord(fold(base))
        stem_ok += sum(ru.stemWord(fold(f)) == target for f in forms)
    print(f"snowball Russian stem of the base form: {stem_ok}/{total} case forms caught (no Tajik stemmer exists)")


def bench_per_page() -> None:
    """Matching one real article with the shipped rules, against extracting it (the stage before)."""
    if not SHARED.exists():
        print("per-page cost: ../shared/corpus/extraction-benchmark is absent, skipped")
        return
    data = json.loads(SHARED.read_text(encoding="utf-8"))
    items = data.values() if isinstance(data, dict) else data
    texts = [i["articleBody"] for i in items if isinstance(i, dict) and i.get("articleBody")]
    matcher = Matcher(load_rules(ROOT / "keywords.yaml"))
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        for text in texts:
            matcher.match("", text)
        runs.append((time.perf_counter() - start) / len(texts) * 1000)
    match_ms = min(runs)
    from monitor.extract.text import extract_text
    from monitor.sources.charset import decode_html

    pages = [decode_html(p.read_bytes()) for p in sorted(PAGES.glob("*"))[:60]]
    start = time.perf_counter()
    for page in pages:
        extract_text(page, "")
    extract_ms = (time.perf_counter() - start) / max(len(pages), 1) * 1000
    RESULT.update({"match_ms_per_page": round(match_ms, 2), "extract_ms_per_page": round(extract_ms, 1),
                   "automaton_keys": len(matcher._auto)})
    print(f"per page ({len(texts)} real articles, {sum(map(len, texts)) // len(texts):,} characters on average; "
          f"{len(matcher.terms)} terms, {len(matcher._auto):,} keys with their forms): match {match_ms:.2f} ms, "
          f"extraction {extract_ms:.1f} ms ({match_ms / extract_ms:.1%} of it)")


def bench_startup() -> None:
    """load_rules(keywords.yaml) in a fresh process: with no forms cache, then with the cache it wrote."""
    code = ("import sys, time; t = time.perf_counter(); from monitor.relevance.keywords import load_rules; "
            "i = time.perf_counter(); load_rules(sys.argv[1]); print(i - t, time.perf_counter() - i)")
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "MONITOR_CACHE_DIR": cache, "PYTHONPATH": str(ROOT)}
        runs = [[float(x) for x in subprocess.run([sys.executable, "-c", code, str(ROOT / "keywords.yaml")],
                                                  env=env, capture_output=True, text=True,
                                                  check=True).stdout.split()] for _ in range(3)]
    imports, cold, warm = min(r[0] for r in runs), runs[0][1], min(r[1] for r in runs[1:])
    RESULT.update({"startup_import_s": round(imports, 2), "startup_cold_s": round(cold, 2),
                   "startup_warm_s": round(warm, 2)})
    print(f"start-up: importing the rule compiler {imports:.2f} s; compiling keywords.yaml with a cold forms "
          f"cache (dictionaries load) {cold:.2f} s, with the cache it wrote {warm:.2f} s")


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="Matching cost: 5 vs 500 terms over 1 MB; star terms vs a stemmer")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    compile_term("Хорог*")
    bench_terms()
    bench_inflection()
    bench_per_page()
    bench_startup()
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(RESULT, fh)

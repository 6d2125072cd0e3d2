"""Bench: does matching cost grow with the number of terms? And: star terms or a stemmer for inflection?

    /work/venv/bin/python bench/bench_match.py

1. One MB of article text (the shared extraction benchmark's reference texts when ../shared/corpus is there,
   else our labelled examples repeated), matched with 5 terms and with 500 terms; the goal is 500 ≤ ~1.5× 5.
2. Case forms of the mission's place and people names: how many does `stem*` (grammatical endings) catch,
   and how many does snowballstemmer's Russian stemmer map to the stem of the base form (if installed)?
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.match import Matcher  # noqa: E402
from monitor.rules import WORD, compile_term, fold, load_rules, parse_rules  # noqa: E402

SHARED = ROOT.parent / "shared" / "corpus" / "extraction-benchmark" / "ground-truth.json"


def megabyte() -> str:
    if SHARED.exists():
        data = json.loads(SHARED.read_text(encoding="utf-8"))
        items = data.values() if isinstance(data, dict) else data
        parts = [i.get("articleBody", "") for i in items if isinstance(i, dict)]
    else:
        parts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "tests" / "relevance").glob("*.txt"))]
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


def timed(terms: list[str], text: str, runs: int = 5) -> tuple[float, float, int]:
    """Median ms of the pass (fold + automaton + boundaries) and of a whole match(); number of matches."""
    matcher = Matcher(parse_rules({"topics": {"t": {"any": terms}}}))
    scan, full = [], []
    for _ in range(runs):
        start = time.perf_counter()
        hits = matcher.raw_hits(matcher.document("", text))
        scan.append(time.perf_counter() - start)
        start = time.perf_counter()
        matcher.match("", text)
        full.append(time.perf_counter() - start)
    return statistics.median(scan) * 1000, statistics.median(full) * 1000, len(hits)


RESULT: dict[str, float] = {}  # written with --json FILE, for bench/run.py's table


def bench_terms() -> None:
    text = megabyte()
    print(f"text: {len(text):,} characters ({len(text.encode()):,} bytes UTF-8); median of 5 runs")
    base_scan, base_full, base_hits = timed(FIVE, text)
    print(f"{'5 terms':28} pass {base_scan:6.1f} ms   match() {base_full:6.1f} ms   {base_hits:6} matches")
    for label, terms in (("500 terms (keywords + names)", realistic(500)), ("500 terms (stress: all hit)", stress(text, 500))):
        scan, full, hits = timed(terms, text)
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


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="Matching cost: 5 vs 500 terms over 1 MB; star terms vs a stemmer")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    compile_term("Хорог*")
    bench_terms()
    bench_inflection()
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(RESULT, fh)

"""Bench: what do the draft record and the grouping cost next to a story's processing, and does grouping stay
flat as the incidents pile up?

    /work/venv/bin/python bench/bench_incidents.py [--max 100000]

0. The reader's compilation in a fresh process (CPU), with the forms cache its first run left.
1. Per story, on the labelled reports of tests/stories/incidents-labelled (our own texts, as article pages):
   the story's processing (trafilatura extraction of the page, matching with the shipped keywords.yaml, the
   story's transaction in a real state) against the incident's (reading the draft record, filing it).
2. Grouping a new report with 1,000, 10,000 and 100,000 incidents already in the state (spread over ten
   years and every act): the candidate lookup is indexed, so the time per report should not grow.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.models import Article, DraftRecord, FeedEntry, Victim  # noqa: E402
from monitor.relevance.incident import IncidentReader  # noqa: E402
from monitor.relevance.incident_vocab import ACT_NAMES  # noqa: E402
from monitor.relevance.keywords import load_rules  # noqa: E402
from monitor.relevance.matcher import Matcher  # noqa: E402
from monitor.store import Store  # noqa: E402
from monitor.stories.incident_eval import load_folder  # noqa: E402
from monitor.stories.incidents import Grouper, to_json  # noqa: E402
from tests.support.localsite import article_html  # noqa: E402

LABELLED = ROOT / "tests" / "stories" / "incidents-labelled"
PLACES = [("Khorog", "Khorog"), ("Rushan", "Rushan"), ("Vamar", "Rushan"), ("Ishkashim", "Ishkashim"),
          ("Porshinev", "Shughnan"), ("Murghob", "Murghob"), ("Vanj", "Vanj"), ("Qalai Khumb", "Darvoz")]


def per_story(rounds: int) -> None:
    import trafilatura

    rules = load_rules(ROOT / "keywords.yaml")
    matcher, reader = Matcher(rules), IncidentReader(rules)
    samples = load_folder(LABELLED)
    pages = [(s, article_html(s.title, s.text.split("\n\n") * 3, lang=s.lang)) for s in samples]
    story_t = incident_t = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        grouper = Grouper(store)
        n = 0
        for r in range(rounds):
            for s, html in pages:
                n += 1
                t0 = time.perf_counter()
                text = trafilatura.extract(html) or s.text
                match = matcher.match(s.title, text, s.published)
                t1 = time.perf_counter()
                record = reader.read(s.title, text, s.published, s.lang)  # as the pipeline: before the transaction
                t2 = time.perf_counter()
                url = f"{s.url}?r={r}"
                entry = FeedEntry(feed=s.outlet, url=url, title=s.title, published=s.published)
                with store.transaction():  # … and filed inside the story's own transaction
                    item = store.record_item(feed=s.outlet, guid=None, url=url, url_key=url, status="matched")
                    story = store.add_story(item, Article(entry, url, s.title, text, s.published, s.published, "ab"),
                                            match)
                    t3 = time.perf_counter()
                    grouper.assign(story, record, s.published, s.published)
                    t4 = time.perf_counter()
                t5 = time.perf_counter()
                story_t += (t1 - t0) + (t3 - t2) + (t5 - t4)
                incident_t += (t2 - t1) + (t4 - t3)
        store.close()
    print(f"1. per story ({n} reports): story processing {story_t / n * 1000:.2f} ms, draft record + grouping "
          f"{incident_t / n * 1000:.2f} ms = {incident_t / story_t:.1%} of the story's")


def flat(levels: list[int], probes: int) -> None:
    rng = random.Random(7)
    start = date(2017, 1, 1)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "flat.db")
        entry = FeedEntry(feed="bench", url="https://b.example/")
        with store.transaction():
            stories = []
            for i in range(probes):
                item = store.record_item(feed="bench", guid=None, url=f"https://b.example/{i}", url_key=f"b/{i}",
                                         status="matched")
                stories.append(store.add_story(item, Article(entry, "u", "t", "x", None, _now(), "ab"),
                                               _empty_match()))
        grouper = Grouper(store)
        have = 0
        for level in levels:
            with store.transaction():
                for i in range(have, level):
                    rec = _record(rng, start, i)
                    store.add_incident(rec.act, rec.date, to_json(rec), "2026-01-01T00:00:00+00:00", rec.district, "day")
            have = level
            times = []
            for story in stories:
                rec = _record(rng, start, rng.randrange(10**9))
                t0 = time.perf_counter()
                with store.transaction():
                    grouper.assign(story, rec, None, _now())
                times.append(time.perf_counter() - t0)
            print(f"2. {level:>7,} incidents: grouping a report {statistics.median(times) * 1000:.2f} ms (median of "
                  f"{probes}), p95 {sorted(times)[int(probes * 0.95)] * 1000:.2f} ms")
        store.close()


def _record(rng: random.Random, start: date, i: int) -> DraftRecord:
    place, district = rng.choice(PLACES)
    day = start + timedelta(days=rng.randrange(3650))
    name = f"Person{i} Surname{i}ov"
    return DraftRecord(act=rng.choice(ACT_NAMES[:-1]), date=day.isoformat(), date_precision="day", place=place,
                       district=district, victims=(Victim(name, f"p{i} s{i}"),), language="en")


def _now():
    from monitor import clock

    return clock.now()


def _empty_match():
    from monitor.models import MatchResult

    return MatchResult()


COMPILE = """
import sys, time
sys.path.insert(0, {root!r})
from monitor.relevance.keywords import load_rules
from monitor.relevance.matcher import Matcher
from monitor.relevance.incident import IncidentReader
rules = load_rules({keywords!r})
t0 = time.process_time(); Matcher(rules); t1 = time.process_time(); IncidentReader(rules); t2 = time.process_time()
print(t1 - t0, t2 - t1)
"""


def compile_cost(runs: int) -> None:
    """CPU of the reader's compilation in fresh processes, as a monitor's runs pay it: a new forms cache that
    the first process (not counted) fills, then `runs` processes that find it."""
    import os
    import subprocess

    code = COMPILE.format(root=str(ROOT), keywords=str(ROOT / "keywords.yaml"))
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "MONITOR_CACHE_DIR": cache}
        got = [tuple(map(float, subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                               check=True, env=env).stdout.split())) for _ in range(runs + 1)][1:]
    print(f"0. compile, median of {runs} processes: Matcher(rules) {statistics.median(g[0] for g in got):.3f} s CPU, "
          f"IncidentReader(rules) {statistics.median(g[1] for g in got):.3f} s CPU")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--compile-runs", type=int, default=5)
    args = parser.parse_args()
    compile_cost(args.compile_runs)
    per_story(args.rounds)
    flat([n for n in (1_000, 10_000, 100_000) if n <= args.max] or [args.max], args.probes)


if __name__ == "__main__":
    main()

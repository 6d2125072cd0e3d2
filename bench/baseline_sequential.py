"""Baseline: what people run today from cron — one feed after another, every item fetched and extracted.

    python bench/baseline_sequential.py --feeds-file feeds.yaml [--limit 50] [--json out.json]

For each feed in order: a synchronous httpx GET of the feed, feedparser on the bytes, then for every entry a GET
of its link and trafilatura.extract on the page, and a case-insensitive keyword check on the text. No state, no
conditional GET, no concurrency: the loop the issue compares the monitor with. It prints one JSON object with
counts and where its time went (network wait, feedparser, trafilatura, matching).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import feedparser
import httpx
import trafilatura
import yaml

TERMS = ("khorog", "khorugh", "gbao", "gorno-badakhshan", "pamiri", "badakhshan")


def run(feeds: list[dict], timeout: float = 20.0) -> dict:
    out = {"feeds": 0, "feed_errors": 0, "items": 0, "pages": 0, "page_errors": 0, "extracted": 0, "matched": 0,
           "bytes": 0, "t_fetch_feed": 0.0, "t_parse": 0.0, "t_fetch_page": 0.0, "t_extract": 0.0, "t_match": 0.0}
    started = time.perf_counter()
    with httpx.Client(timeout=timeout, follow_redirects=True, headers={"User-Agent": "baseline-cron/1.0"}) as client:
        for feed in feeds:
            out["feeds"] += 1
            t = time.perf_counter()
            try:
                r = client.get(feed["url"])
                r.raise_for_status()
            except httpx.HTTPError:
                out["feed_errors"] += 1
                continue
            finally:
                out["t_fetch_feed"] += time.perf_counter() - t
            out["bytes"] += len(r.content)
            t = time.perf_counter()
            parsed = feedparser.parse(r.content)
            out["t_parse"] += time.perf_counter() - t
            for entry in parsed.entries:
                out["items"] += 1
                link = entry.get("link")
                if not link:
                    continue
                t = time.perf_counter()
                try:
                    page = client.get(link)
                    page.raise_for_status()
                except httpx.HTTPError:
                    out["page_errors"] += 1
                    continue
                finally:
                    out["t_fetch_page"] += time.perf_counter() - t
                out["pages"] += 1
                out["bytes"] += len(page.content)
                t = time.perf_counter()
                text = trafilatura.extract(page.text)
                out["t_extract"] += time.perf_counter() - t
                if not text:
                    continue
                out["extracted"] += 1
                t = time.perf_counter()
                low = (entry.get("title", "") + "\n" + text).lower()
                if any(term in low for term in TERMS):
                    out["matched"] += 1
                out["t_match"] += time.perf_counter() - t
    out["wall"] = time.perf_counter() - started
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--feeds-file", required=True, help="feeds.yaml (the monitor's format; only name and url used)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N feeds (0: all)")
    ap.add_argument("--json", help="also write the result here")
    args = ap.parse_args(argv)
    with open(args.feeds_file, encoding="utf-8") as fh:
        feeds = yaml.safe_load(fh)["feeds"]
    if args.limit:
        feeds = feeds[: args.limit]
    result = run(feeds)
    text = json.dumps(result)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The evidence archive, out of the state: `monitor export` and `monitor show`.

Why: pages about GBAO are taken down. For a report or a court filing a monitor needs, for every matched
story and every outlet that carried it, what was published (text, title), where (source URL, final URL
after redirects), when (publication date, fetch time) and a fingerprint of the raw page (SHA-256).
JSON Lines is the faithful format (one story a line, its sources nested, text untouched); CSV is for
spreadsheets (one row per story and source) and guards its cells against formula injection.
"""

from __future__ import annotations

import base64
import csv
import json
import sqlite3
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, TextIO

from monitor.store import Store

FORMATS = ("jsonl", "csv")

CSV_COLUMNS = (
    "story_id", "role", "source", "title", "url", "final_url", "published", "fetched_at", "seen_at",
    "raw_sha256", "has_raw_html", "extracted", "topics", "terms", "score", "text",
)


def export(
    store: Store, since: datetime, topic: str | None, fmt: str, out: TextIO, *, include_raw: bool = False
) -> int:
    """Write every story fetched since `since` (of `topic`, if given) with all its sources; returns the count.

    `include_raw` adds the gzip of the raw page as base64 (jsonl only; when keep_raw_html kept it).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; use one of: {', '.join(FORMATS)}")
    return write(_records(store, since, topic, include_raw and fmt == "jsonl"), fmt, out)


def write(records: Iterable[dict[str, Any]], fmt: str, out: TextIO) -> int:
    """Records (`story_record`) as JSON Lines or CSV; returns how many stories. The web's exports use it too."""
    count = 0
    if fmt == "jsonl":
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
        return count
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for record in records:
        count += 1
        first = {**record, "role": "first", "seen_at": record["fetched_at"]}
        rows = [first] + [{**src, "role": "also", "story_id": record["story_id"]} for src in record["sources"]]
        for row in rows:
            writer.writerow([_cell(row.get(col, "")) for col in CSV_COLUMNS])
    return count


def _records(store: Store, since: datetime, topic: str | None, include_raw: bool) -> Iterator[dict[str, Any]]:
    for row in store.export_stories(since, topic):
        yield story_record(store, row, include_raw)


def story_record(store: Store, row: sqlite3.Row, include_raw: bool) -> dict[str, Any]:
    record: dict[str, Any] = {
        "story_id": row["id"], "source": row["source"], "title": row["title"], "url": row["url"],
        "final_url": row["final_url"], "published": row["published"], "fetched_at": row["fetched_at"],
        "raw_sha256": row["raw_sha256"], "has_raw_html": row["raw_html_gz"] is not None,
        "extracted": bool(row["extracted"]), "topics": json.loads(row["topics"]), "terms": json.loads(row["terms"]),
        "score": row["score"], "digest_id": row["digest_id"], "text": row["text"],
    }
    if include_raw and row["raw_html_gz"] is not None:
        record["raw_html_gz_base64"] = base64.b64encode(row["raw_html_gz"]).decode("ascii")
    record["sources"] = [_source_record(src, include_raw) for src in store.story_sources(row["id"])]
    return record


def _source_record(src: sqlite3.Row, include_raw: bool) -> dict[str, Any]:
    record: dict[str, Any] = {
        "source": src["source"], "title": src["title"], "url": src["url"], "seen_at": src["seen_at"],
        "is_update": bool(src["is_update"]), "announced_in": src["announced_in"],
        "final_url": src["final_url"], "published": src["published"], "fetched_at": src["fetched_at"],
        "raw_sha256": src["raw_sha256"], "has_raw_html": bool(src["has_raw_html"]),
        "extracted": None if src["extracted"] is None else bool(src["extracted"]), "text": src["text"],
    }
    if include_raw and src["raw_html_gz"] is not None:
        record["raw_html_gz_base64"] = base64.b64encode(src["raw_html_gz"]).decode("ascii")
    return record


def _cell(value: Any) -> str:
    """A CSV cell; text a spreadsheet would run as a formula gets a leading apostrophe (OWASP advice)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        value = "; ".join(str(v) for v in value)
    text = str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text

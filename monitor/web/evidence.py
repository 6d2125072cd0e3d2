"""Evidence downloads on the story page: the kept raw page, and the WARC captures of the evidence archive.

The captures belong to the evidence area (issue #14: `Store.captures(story_id)` rows, WARC files read by
`evidence.warc.WarcArchive.beside(state)`). This module only looks them up when that area is present, so the
web interface works with or without it: without, the story page offers the raw page kept by `keep_raw_html`.
"""

from __future__ import annotations


def captures(store, story_id: int) -> list:
    """The story's captures (oldest first), or [] when this build keeps none."""
    lookup = getattr(store, "captures", None)
    if not callable(lookup):
        return []
    try:
        return list(lookup(story_id))
    except Exception:  # an older state without the captures table: nothing to offer
        return []


def downloads(store, story_id: int, has_raw_html: bool) -> list[tuple[str, str]]:
    """(label, URL) of every evidence file of a story that can be downloaded."""
    out = []
    for row in captures(store, story_id):
        out.append((f"WARC capture of {row['final_url']} at {row['captured_at']} ({row['reason']}; payload SHA-256 "
                    f"{row['payload_sha256'][:16]}…)", f"/story/{story_id}/capture/{row['id']}.warc.gz"))
    if has_raw_html:
        out.append(("raw page as fetched (gzip)", f"/story/{story_id}/raw.html.gz"))
    return out


def versions(store, story_id: int) -> list[dict]:
    """Every kept version of the story's page, oldest first: its date, what changed (an edit's note and diff,
    or a removal), and its WARC download. For the story page's "Versions" section."""
    out = []
    for n, row in enumerate(captures(store, story_id), 1):
        keys = row.keys()
        change = row["change"] if "change" in keys else None
        out.append({
            "n": n, "captured_at": row["captured_at"], "url": row["final_url"], "status": row["status"],
            "reason": row["reason"], "change": change or "",
            "note": (row["change_note"] if "change_note" in keys else "") or ("as first captured" if n == 1
                                                                               else "unchanged"),
            "diff": (row["diff"] if "diff" in keys else "") or "",
            "href": f"/story/{story_id}/capture/{row['id']}.warc.gz",
        })
    return out


def capture_bytes(store, story_id: int, capture_id: int) -> tuple[bytes, str] | None:
    """The capture's WARC records (gzip members: a valid .warc.gz on their own) and a file name."""
    row = next((r for r in captures(store, story_id) if r["id"] == capture_id), None)
    if row is None:
        return None
    try:
        from monitor.evidence.capture import Evidence
    except ImportError:
        return None
    try:  # a local WARC file's byte range, or the capture's object in object storage (MONITOR_ARCHIVE_URL)
        data = Evidence(store).read(row)
    except (OSError, ValueError, RuntimeError):
        return None
    return data, f"story-{story_id}-capture-{capture_id}.warc.gz"

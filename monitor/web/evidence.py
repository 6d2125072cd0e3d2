"""Evidence downloads on the story page: the kept raw page today; the web-archive capture is a seam.

Issue #14 replaces `keep_raw_html` with WARC captures. When its store offers `captures_for(story_id)`
(rows with an `id` and a `kind`), `downloads` lists them and `/capture/<id>` can serve them; until then
only the raw page (gzip, when `keep_raw_html: true` kept it) is offered.
"""

from __future__ import annotations


def downloads(store, story_id: int, has_raw_html: bool) -> list[tuple[str, str]]:
    """(label, URL) of every evidence file of a story that can be downloaded."""
    out = []
    if has_raw_html:
        out.append(("raw page as fetched (gzip)", f"/story/{story_id}/raw.html.gz"))
    captures = getattr(store, "captures_for", None)
    if callable(captures):
        for row in captures(story_id):
            out.append((f"web-archive capture ({row['kind']})", f"/capture/{row['id']}"))
    return out

"""The plain-text digest: what stdout, the digest file and the email's text part show.

Web text is flattened to single lines (a title's CR/LF cannot fake a new story or header),
matched terms are marked «like this» so a reader sees at a glance why a story was picked.
"""

from __future__ import annotations

from ..models import Digest, DigestStory
from .base import KIND_LABEL, fmt_time, one_line, segments, summary_line

RULE = "=" * 72


def marked_snippet(story: DigestStory, open_: str = "«", close: str = "»") -> str:
    """The snippet with each highlighted span wrapped in markers, on one line."""
    text = "".join(f"{open_}{piece}{close}" if hit else piece for piece, hit in segments(story.snippet, story.highlights))
    return one_line(text)


def _story_lines(number: int, story: DigestStory) -> list[str]:
    lines = [f"{number}. {one_line(story.title, 300) or '(no title)'}"]
    lines.append(f"   {one_line(story.source, 80)} · {fmt_time(story.published)}")
    lines.append(f"   {one_line(story.url, 2000)}")
    if story.terms:
        lines.append(f"   Matched: {', '.join(one_line(t, 60) for t in story.terms)}")
    snippet = marked_snippet(story)
    if snippet:
        lines.append(f"   {snippet}")
    for source, url in story.also_reported_by:
        lines.append(f"   Also reported by {one_line(source, 80)}: {one_line(url, 2000)}")
    return lines


def render_text(digest: Digest) -> str:
    """The whole digest as plain text, grouped by topic, ending with a newline."""
    out = [f"{KIND_LABEL.get(digest.kind, digest.kind)} — Pamir news monitor — {summary_line(digest)}"]
    out.append(f"Created {fmt_time(digest.created_at)}")
    if digest.kind == "test":
        out += ["", "This is a test message: the channel works. No stories are included."]
    number = 0
    for topic, stories in digest.by_topic():
        out += ["", f"== {one_line(topic, 80)} ({len(stories)}) =="]
        for story in stories:
            number += 1
            out += [""] + _story_lines(number, story)
    if digest.updates:
        out += ["", "== Also reported by (stories sent earlier, new sources) =="]
        for story in digest.updates:
            out += ["", f"- {one_line(story.title, 300) or '(no title)'}", f"  {one_line(story.url, 2000)}"]
            for source, url in story.also_reported_by:
                out.append(f"  now also {one_line(source, 80)}: {one_line(url, 2000)}")
    if digest.changes:  # evidence/recheck.py: publishers editing or deleting a report is news too
        out += ["", "== Pages changed since capture (a capture of each version is kept) =="]
        for change in digest.changes:
            out += ["", f"- {one_line(change.title, 300) or '(no title)'} [story {change.story_id}]",
                    f"  {one_line(change.source, 80)}: {one_line(change.note, 200)}", f"  {one_line(change.url, 2000)}"]
    if digest.failing_feeds:
        out += ["", "-- ", "Feeds failing for a long time (check them):"]
        for feed in digest.failing_feeds:
            out.append(f"- {one_line(feed.name, 80)}: since {fmt_time(feed.since)}: {one_line(feed.error, 200)}")
    return "\n".join(out) + "\n"

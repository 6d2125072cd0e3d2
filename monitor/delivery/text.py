"""The plain-text digest: what stdout, the digest file and the email's text part show.

Web text is flattened to single lines (a title's CR/LF cannot fake a new story or header),
matched terms are marked ⟦like this⟧ so a reader sees at a glance why a story was picked. Why ⟦ ⟧: «» are
the ordinary quotation marks of Russian and Tajik (a quoted official's words would look matched), *…* and _…_
occur in pasted text and some mail clients render them as bold or italics; the mathematical white brackets
occur in no news text in our four languages, are in every common font, and read as a mark, not punctuation.
"""

from __future__ import annotations

from monitor.models import Digest, DigestStory
from monitor.delivery.notifier import (KIND_LABEL, MENTIONS_HEADING, MENTIONS_NOTE, RECHECK_MARK, also_reported, fmt_time, matched, one_line,
                   plural, segments, summary_line)

MARK_OPEN, MARK_CLOSE = "⟦", "⟧"

RULE = "=" * 72


def marked_snippet(story: DigestStory, open_: str = MARK_OPEN, close: str = MARK_CLOSE) -> str:
    """The snippet with each highlighted span wrapped in markers, on one line."""
    text = "".join(f"{open_}{piece}{close}" if hit else piece for piece, hit in segments(story.snippet, story.highlights))
    return one_line(text)


def _story_lines(number: int, story: DigestStory, zone: str = "UTC", page: str = "") -> list[str]:
    lines = [f"{number}. {one_line(story.title, 300) or '(no title)'}"]
    lines.append(f"   {one_line(story.source, 80)} · {fmt_time(story.published, zone)} · story {story.story_id}"
                 + (f" · {RECHECK_MARK}" if story.found_on_recheck else ""))
    lines.append(f"   {one_line(story.url, 2000)}")
    if story.incident:  # delivery/incidents.py: the record of the incident this entry stands for
        lines.append(f"   {one_line(story.incident, 400)}")
    if page:
        lines.append(f"   Story page: {page}")
    if matched(story):
        lines.append(f"   Matched: {', '.join(matched(story))}")
    snippet = marked_snippet(story)
    if snippet:
        lines.append(f"   {snippet}")
    for source, url, title in also_reported(story):
        own = f" — “{one_line(title, 200)}”" if title else ""
        lines.append(f"   Also reported by {one_line(source, 80)}{own}: {one_line(url, 2000)}")
    return lines


def render_text(digest: Digest) -> str:
    """The whole digest as plain text, grouped by topic, ending with a newline."""
    out = [f"{KIND_LABEL.get(digest.kind, digest.kind)} — Pamir news monitor — {summary_line(digest)}"]
    out.append(f"Created {fmt_time(digest.created_at, digest.timezone)}")
    if digest.kind == "test":
        out += ["", "This is a test message: the channel works. No stories are included."]
    out += urgent_lines(digest)
    if digest.urgent_sent:
        out += ["", "Urgent alerts sent since the last digest (not repeated below):"]
        out += [f"- story {s.story_id}: {one_line(s.title, 200)}" for s in digest.urgent_sent]
    number = 0
    for topic, stories in digest.by_topic():
        out += ["", f"== {one_line(topic, 80)} ({plural(len(stories), 'story', 'stories')}) =="]
        for story in stories:
            number += 1
            out += [""] + _story_lines(number, story, digest.timezone, digest.story_page(story.story_id))
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
            if page := digest.story_page(change.story_id):  # where every version is shown side by side
                out.append(f"  Story page: {page}")
    out += mentions_lines(digest)
    if digest.failing_feeds:
        out += ["", "-- ", "Feeds failing for a long time (check them):"]
        for feed in digest.failing_feeds:
            out.append(f"- {one_line(feed.name, 80)}: since {fmt_time(feed.since, digest.timezone)}: {one_line(feed.error, 200)}")
    if digest.recovered:
        out += ["", "Feeds working again:"] + [f"- {one_line(name, 80)}" for name in digest.recovered]
    return "\n".join(out) + "\n"


def urgent_lines(digest: Digest) -> list[str]:
    """An alert names the urgent topic and quotes the sentence that made it urgent."""
    out: list[str] = []
    for story in digest.stories if digest.kind == "urgent" else ():
        if story.urgent_topic:
            out += ["", f"Urgent topic: {one_line(digest.title_of(story.urgent_topic), 80)}"]
            if story.urgent_sentence:
                out.append(f"Because: “{one_line(story.urgent_sentence, 400)}”")
    return out


def mentions_lines(digest: Digest) -> list[str]:
    """The safety net, last: title, source and date, the link, and the line that names the place."""
    if not digest.mentions:
        return []
    out = ["", f"== {MENTIONS_HEADING} ({len(digest.mentions) + digest.more_mentions}) ==", f"({MENTIONS_NOTE})"]
    for m in digest.mentions:
        out += ["", f"- {one_line(m.title, 300) or '(no title)'}", f"  {one_line(m.source, 80)} · {fmt_time(m.published, digest.timezone)}",
                f"  {one_line(m.url, 2000)}", f"  {one_line(m.line, 300)}"]
    if digest.more_mentions:
        out += ["", f"… and {digest.more_mentions} more (at most {len(digest.mentions)} are listed: "
                    "settings: safety_net_max in keywords.yaml)"]
    return out

"""Pages that change or vanish: re-fetch each matched story's page after `settings.recheck_after`.

State media editing or deleting a report is news for our users. A re-fetch that finds the text materially
changed, or the page gone (404, 410, a redirect to the site's home page), keeps a new capture, notes the
change once for the next digest and keeps a short paragraph diff for `monitor show`. A Telegram post is
re-checked through its own page: one deleted from its channel is reported once. Only what is due is
fetched; a cycle with nothing due costs one indexed query.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import re
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from monitor import clock

log = logging.getLogger("monitor.evidence")

MIN_CHANGED_CHARS = 30  # fewer changed letters than this (a view counter, a date stamp) is not an edit
MAX_DIFF_LINES = 40


def paragraphs(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n+", text or "") if p.strip()]


def _norm(p: str) -> str:
    return re.sub(r"\W+", " ", p.casefold()).strip()


def compare(old: str, new: str) -> tuple[int, int, str]:
    """(paragraphs changed, letters changed, a short unified diff) between two versions of a text."""
    a, b = paragraphs(old), paragraphs(new)
    na, nb = [_norm(p) for p in a], [_norm(p) for p in b]
    matcher = difflib.SequenceMatcher(None, na, nb, autojunk=False)
    changed = letters = 0
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        changed += max(i2 - i1, j2 - j1)
        before, after = " ".join(na[i1:i2])[:5000], " ".join(nb[j1:j2])[:5000]
        same = sum(m.size for m in difflib.SequenceMatcher(None, before, after, autojunk=False).get_matching_blocks())
        letters += max(len(before), len(after)) - same
    lines = [line[:200] for line in difflib.unified_diff(a, b, "as captured", "now", n=0, lineterm="")]
    if len(lines) > MAX_DIFF_LINES:
        lines = lines[:MAX_DIFF_LINES] + [f"… ({len(lines) - MAX_DIFF_LINES} more lines)"]
    return changed, letters, "\n".join(lines)


_WORD = re.compile(r"\w+(?:[.,:]\d+)*", re.UNICODE)
MAX_SPAN = 6  # words: a longer replacement is a rewrite, which the paragraph diff shows


def _stem(term: str) -> str:
    term = term.casefold().strip("*").strip()
    return term[:max(4, len(term) - 2)] if len(term) > 4 else term


def key_changes(old: str, new: str, terms: list[str]) -> list[str]:
    """Changes that matter even inside one sentence: a number ("killed: 3 → 1") or a word of the story's
    matched terms («убиты → скончались»). Only replacements of a few words count: a counter appended or a
    paragraph added is not one."""
    stems = [_stem(t) for t in terms if t and " " not in t.strip()]
    pa, pb = paragraphs(old), paragraphs(new)
    found: list[str] = []
    outer = difflib.SequenceMatcher(None, [_norm(p) for p in pa], [_norm(p) for p in pb], autojunk=False)
    for tag, i1, i2, j1, j2 in outer.get_opcodes():
        if tag == "replace" and i2 - i1 == j2 - j1:  # the same paragraphs, edited: compare them word by word
            for x, y in zip(pa[i1:i2], pb[j1:j2]):
                found += _in_paragraph(_WORD.findall(x), _WORD.findall(y), stems)
    return list(dict.fromkeys(found))


def _in_paragraph(a: list[str], b: list[str], stems: list[str]) -> list[str]:
    if min(len(a), len(b)) < MAX_SPAN:  # "Views: 1,204", a date line: not a sentence
        return []

    def is_term(tok: str) -> bool:
        return any(tok.casefold().startswith(st) for st in stems if st)

    found: list[str] = []
    matcher = difflib.SequenceMatcher(None, [t.casefold() for t in a], [t.casefold() for t in b], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "replace" or i2 - i1 > MAX_SPAN or j2 - j1 > MAX_SPAN:
            continue
        before, after = a[i1:i2], b[j1:j2]
        old_num = next((t for t in before if any(c.isdigit() for c in t)), None)
        new_num = next((t for t in after if any(c.isdigit() for c in t)), None)
        if old_num and new_num and old_num != new_num:
            near = b[max(0, j1 - MAX_SPAN):j1] + b[j2:j2 + MAX_SPAN]
            label = next((t for t in near if is_term(t)), None) or next(
                (t for t in b[j2:j2 + MAX_SPAN] + b[max(0, j1 - 3):j1][::-1] if t.isalpha() and len(t) > 3), "")
            found.append(f"{label}: {old_num} → {new_num}" if label else f"{old_num} → {new_num}")
        elif any(is_term(t) for t in before) != any(is_term(t) for t in after) or \
                (any(is_term(t) for t in before) and [t.casefold() for t in before] != [t.casefold() for t in after]):
            found.append(f"«{' '.join(before)} → {' '.join(after)}»")
    return found


def is_home_redirect(requested: str, final: str) -> bool:
    """A removed article often redirects to the site's front page (or a language root like /ru/)."""
    a, b = urlsplit(requested), urlsplit(final)
    if a.path.rstrip("/") == b.path.rstrip("/"):
        return False
    return b.path.strip("/").count("/") == 0 and len(b.path.strip("/")) <= 5 and not b.query


async def recheck_due(monitor) -> int:
    """Re-fetch every story whose re-check is due; returns how many changes were noted."""
    steps = tuple(monitor.settings.recheck_after)
    if not steps:
        return 0
    due = monitor.store.due_rechecks(steps)
    if not due:
        return 0
    results = await asyncio.gather(*(recheck_story(monitor, story_id, step) for story_id, step in due))
    found = sum(results)
    log.info("re-checked %d page(s): %d changed or removed", len(due), found)
    return found


async def recheck_story(monitor, story_id: int, step: int) -> int:
    """One re-fetch; 1 when it noted a change. A network failure leaves the step due for the next cycle."""
    from monitor.sources.charset import decode_html
    from monitor.sources.fetch import FetchError

    store = monitor.store
    row = store.story(story_id)
    if row is None:
        return 0
    old_text, last_change = store.latest_text(story_id)
    if last_change == "removed":
        store.record_recheck(story_id, step, "removed earlier")
        return 0
    url = row["final_url"] or row["url"]
    kinds = {f.name: f.kind for f in monitor.feeds.feeds}
    if kinds.get(row["source"]) == "telegram":  # a post: is it still on its channel?
        return await _recheck_post(monitor, story_id, step, row)
    removed = ""
    try:
        response = await monitor.fetcher.get(url, feed=row["source"])
        hops = response.hops
    except FetchError as exc:
        if exc.status in (404, 410):
            removed, hops = f"removed by the publisher (HTTP {exc.status})", exc.hops
        else:
            log.info("re-check of story %d (%s): %s; trying again next cycle", story_id, url, exc)
            return 0
    if not removed and is_home_redirect(url, response.url):
        removed = "removed by the publisher (redirected to the home page)"
    if removed:
        return await _note(monitor, story_id, step, hops, "removed", removed, text="", title=row["title"],
                     view=await _view(monitor, hops))
    if not row["extracted"]:  # we kept the feed's summary, not the page's text: nothing to compare an edit with
        store.record_recheck(story_id, step, "present (no page text kept to compare)")
        return 0
    html = decode_html(response.content, response.headers.get("content-type", "text/html"))
    extracted = await monitor.extractor.extract(html, response.url, with_metadata=False, hint=None)
    new_text = extracted.text if extracted is not None else ""
    if not new_text.strip():
        if row["title"] and row["title"].casefold() in html.casefold():
            store.record_recheck(story_id, step, "unchanged (no text extracted)")
            return 0
        return await _note(monitor, story_id, step, hops, "removed",
                     "removed by the publisher (the page no longer carries the article)", text="", title=row["title"],
                     view=await _view(monitor, hops))
    changed, letters, diff = compare(old_text, new_text)
    keys = key_changes(old_text, new_text, _terms(row))
    if letters < MIN_CHANGED_CHARS and not keys:
        store.record_recheck(story_id, step, "unchanged")
        return 0
    note = "edited: " + "; ".join(
        ([f"{changed} paragraph{'s' if changed != 1 else ''} changed"] if letters >= MIN_CHANGED_CHARS else [])
        + keys)
    return await _note(monitor, story_id, step, hops, "edited", note, text=new_text, title=row["title"], diff=diff,
                 view=await _view(monitor, hops))


async def _recheck_post(monitor, story_id: int, step: int, row) -> int:
    """A Telegram post deleted from its channel is reported once: its own page says "Post not found" (or 404)."""
    from monitor.evidence.requisites import telegram_post_page
    from monitor.sources.fetch import FetchError

    first = next(iter(monitor.store.captures(story_id)), None)
    page = telegram_post_page(row["url"], first["final_url"]) if first is not None else None
    if page is None:
        monitor.store.record_recheck(story_id, step, "not re-checked: no page of the post known")
        return 0
    try:
        response = await monitor.fetcher.get(page, feed=row["source"])
    except FetchError as exc:
        if exc.status in (404, 410):
            return await _note(monitor, story_id, step, exc.hops, "removed",
                         f"removed from the channel (HTTP {exc.status})", text="", title=row["title"])
        log.info("re-check of post %s (story %d): %s; trying again next cycle", row["url"], story_id, exc)
        return 0
    if b"tgme_widget_message_error" in response.content or b"data-post=" not in response.content:
        return await _note(monitor, story_id, step, response.hops, "removed",
                     "removed from the channel (Telegram: post not found)", text="", title=row["title"])
    monitor.store.record_recheck(story_id, step, "present")
    return 0


async def _view(monitor, hops) -> bool:
    """Whether the re-checked version gets its own full-page screenshot: queued with the capture and rendered
    from its records after (views.py), so the digest never waits for a browser."""
    from monitor.evidence import screenshot

    return bool(hops) and screenshot.enabled(monitor.settings) and screenshot.browser() is not None


def _terms(row) -> list[str]:
    import json

    try:
        return [str(t) for t in json.loads(row["terms"] or "[]")]
    except (ValueError, TypeError, IndexError, KeyError):
        return []


async def _note(monitor, story_id: int, step: int, hops, change: str, note: str, *, text: str, title: str,
          diff: str | None = None, view: bool = False) -> int:
    pending = await monitor.evidence.write_async(hops, text=text, title=title, reason=f"recheck: {note}")
    with monitor.store.transaction():
        if pending is None:  # nothing to keep (no exchange) or the disk refused: still report the change
            monitor.store.record_recheck(story_id, step, f"{change} (capture not kept)")
        else:
            monitor.evidence.index(pending, story_id=story_id, reason="recheck", change=change, note=note,
                                   diff=diff, text=text if change == "edited" else None, view=view)
            monitor.store.record_recheck(story_id, step, change)
    if view and pending is not None:
        monitor.views.kick()
    log.warning("story %d: %s", story_id, note)
    return 1


def apply_retention(evidence, settings) -> int:
    """Delete closed WARC files whose every capture is older than settings.evidence_retention."""
    keep = getattr(settings, "evidence_retention", None)
    if not keep:
        return 0
    files = evidence.archive.closed_files()  # never a file being written (this host's, or another's)
    limit = clock.now() - timedelta(seconds=keep)
    deleted = 0
    for path in files:
        newest = evidence.store.warc_file_newest(path.name)
        if newest is None or datetime.fromisoformat(newest) >= limit:
            continue
        expired = evidence.store.expire_warc_file(path.name)
        path.unlink(missing_ok=True)
        deleted += 1
        log.info("evidence retention: deleted %s (%d capture(s), the newest from %s)", path.name, expired, newest)
    return deleted

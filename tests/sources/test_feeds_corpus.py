"""Every real-world and feedparser test feed in ../shared/corpus goes through the parse path safely.

Only monitor.sources.feeds.ParseError may escape parse_feed, and no file may take longer than PER_FILE seconds
(a SIGALRM watchdog interrupts a runaway parse). All ~2,130 files take about 2-5 s, so none are sampled.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from monitor.sources.feeds import ParseError, parse_feed
from tests.conftest import SHARED_CORPUS

FOLDERS = ("feeds", "feedparser-tests")
PER_FILE = 5.0
TOTAL = 60.0


class Overrun(BaseException):
    """Raised by the watchdog; a BaseException so no `except Exception` inside the parser swallows it."""


def _files(folder: str) -> list[Path]:
    root = SHARED_CORPUS / folder
    if not root.is_dir():
        pytest.skip(f"{root} is absent (the shared corpus is optional)")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() not in (".tsv", ".md"))
    if not files:
        pytest.skip(f"{root} has no files")
    return files


@pytest.mark.parametrize("folder", FOLDERS)
def test_every_corpus_feed_parses_or_raises_parse_error(folder):
    files = _files(folder)

    def alarm(signum, frame):
        raise Overrun()

    previous = signal.signal(signal.SIGALRM, alarm)
    escaped: list[str] = []
    slow: list[str] = []
    parsed = refused = 0
    started = time.monotonic()
    try:
        for path in files:
            data = path.read_bytes()
            t0 = time.monotonic()
            signal.setitimer(signal.ITIMER_REAL, PER_FILE)
            try:
                entries = parse_feed(path.stem, data, url=f"http://corpus.example/{path.name}",
                                     headers={"content-type": "application/xml"})
                assert isinstance(entries, list)  # a well-formed feed may have no items
                assert all(e.url.startswith(("http://", "https://")) for e in entries)
                parsed += 1
            except ParseError as exc:
                assert str(exc), path
                refused += 1
            except Overrun:
                slow.append(f"{path.relative_to(SHARED_CORPUS)}: over {PER_FILE:.0f}s")
            except Exception as exc:  # noqa: BLE001 - that is what this test looks for
                escaped.append(f"{path.relative_to(SHARED_CORPUS)}: {type(exc).__name__}: {exc}"[:300])
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            if time.monotonic() - t0 > PER_FILE:
                slow.append(f"{path.relative_to(SHARED_CORPUS)}: {time.monotonic() - t0:.1f}s")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    elapsed = time.monotonic() - started
    assert not escaped, f"{len(escaped)} file(s) raised something other than ParseError:\n" + "\n".join(escaped[:20])
    assert not slow, "\n".join(slow)
    assert parsed + refused == len(files)
    if folder == "feeds":  # real feeds; feedparser's own tests are mostly single elements without an entry link
        assert parsed > len(files) // 2, f"only {parsed} of {len(files)} parsed: the parse path is broken"
    assert elapsed < TOTAL, f"{len(files)} files took {elapsed:.1f}s"


def test_every_corpus_feed_gives_at_least_plain_feedparsers_entries_with_the_same_titles():
    """Our charset repair, link fallbacks and date parsing only ever add: each file yields at least the entries
    plain feedparser gives with a link, and each of those keeps its title (parsed ~2,100 files twice: ~10 s)."""
    import feedparser

    from monitor.sources.feeds import MAX_ENTRIES, absolute_url, plain_text

    files = [p for folder in FOLDERS for p in _files(folder)]
    fewer: list[str] = []
    changed: list[str] = []
    started = time.monotonic()
    for path in files:
        data = path.read_bytes()
        url = f"http://corpus.example/{path.name}"
        headers = {"content-type": "application/xml"}
        plain = feedparser.parse(data, response_headers={**headers, "content-location": url},
                                 sanitize_html=False, resolve_relative_uris=False)
        linked = [e for e in plain.entries[:MAX_ENTRIES] if e.get("link")]
        try:
            ours = parse_feed(path.stem, data, url=url, headers=headers)
        except ParseError:
            ours = []
        if len(ours) < len(linked):
            fewer.append(f"{path.relative_to(SHARED_CORPUS)}: {len(ours)} entries, feedparser {len(linked)}")
        by_url = {e.url: e for e in ours}
        for raw in linked:
            entry = by_url.get(absolute_url(url, raw.link))
            if entry is not None and entry.title != plain_text(raw.get("title") or ""):
                changed.append(f"{path.relative_to(SHARED_CORPUS)}: {entry.title!r} != {raw.get('title')!r}")
    assert not fewer, "\n".join(fewer[:20])
    assert not changed, "\n".join(changed[:20])
    assert time.monotonic() - started < 40

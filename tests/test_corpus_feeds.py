"""Every real-world and feedparser test feed in ../shared/corpus goes through the parse path safely.

Only monitor.parse.ParseError may escape parse_feed, and no file may take longer than PER_FILE seconds
(a SIGALRM watchdog interrupts a runaway parse). All ~2,130 files take about 2-5 s, so none are sampled.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from monitor.parse import ParseError, parse_feed
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

"""A small archive in four languages for the web and report tests, matched by the shipped rules.

Texts are written for these tests. Each story goes through the real matcher (keywords.yaml) and the real
store, so what the web page shows is what a monitor would have kept.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from monitor import clock
from monitor.relevance.matcher import Matcher
from monitor.models import Article, FeedEntry, MatchResult, TopicHit
from monitor.relevance.keywords import load_rules
from monitor.store import Store

PROJECT = Path(__file__).resolve().parents[2]
NOW = clock.now().replace(microsecond=0)

# (feed, title, text, days ago)
STORIES = [
    ("Ozodi RU", "В Хороге задержаны трое активистов",
     "Сотрудники ГКНБ задержали в Хороге троих жителей ГБАО после акции протеста. Родственники задержанных "
     "говорят, что их держат без адвоката. Власти Горно-Бадахшанской области не комментируют арест.", 2),
    ("Ozodi TJ", "Дар Хоруғ се нафар боздошт шуданд",
     "Се сокини шаҳри Хоруғ пас аз эътироз боздошт шуданд. Хешовандони онҳо мегӯянд, ки боздоштшудагон "
     "ба ҳуқуқшинос дастрасӣ надоранд. Мақомоти ВМКБ дар ин бора чизе нагуфтанд.", 3),
    ("Eurasianet", "Khorugh residents detained after protest over a killing",
     "Security forces detained at least five residents of Khorugh, the capital of GBAO, after a protest over "
     "the killing of a local man. Relatives said the detained men were held without access to lawyers.", 9),
    ("BBC Persian", "بازداشت فعالان پامیری در خاروغ",
     "نیروهای امنیتی تاجیکستان در خاروغ، مرکز ولایت کوهستان بدخشان، چند فعال پامیری را بازداشت کردند. "
     "خانواده‌های بازداشت‌شدگان می‌گویند به وکیل دسترسی ندارند.", 40),
    ("HRW", "Rushan: life sentences for protesters in Gorno-Badakhshan",
     "A court in Dushanbe sentenced protesters from Rushan district of Gorno-Badakhshan to life in prison "
     "after a closed trial. Human rights groups said the detained men were tortured in custody.", 120),
    ("Untrusted feed", "<script>alert('x')</script> Khorog detention \"quoted\"",
     "Police detained a blogger in Khorog, GBAO. <img src=x onerror=alert(1)> The arrest followed a post "
     "about the 2022 protests.", 1),
]


def _match(matcher: Matcher, title: str, text: str) -> MatchResult:
    result = matcher.match(title, text)
    if result.matched:
        return result
    # A test story must be in the archive even if a later rule change stops it matching.
    return MatchResult((TopicHit("gbao_rights", 3.0, ("gbao",)),), (), text[:200], ())


def build_archive(path: Path, extra: int = 0, now: datetime | None = None,
                  database_url: str | None = None) -> dict[str, int]:
    """Write the stories (plus `extra` filler stories in the past year), dated back from `now` (default: the
    clock's now), into the file or the PostgreSQL database; returns story ids by feed."""
    now = now or clock.now().replace(microsecond=0)
    matcher = Matcher(load_rules(PROJECT / "keywords.yaml"))
    store = Store(path, database_url=database_url)
    ids: dict[str, int] = {}
    try:
        for n, (feed, title, text, days) in enumerate(STORIES + _filler(extra)):
            when = now - timedelta(days=days)
            url = f"https://news.example/{n}/story"
            entry = FeedEntry(feed, url, guid=url, title=title, published=when)
            article = Article(entry, url + "?amp", title, text, when, when + timedelta(minutes=5),
                              hashlib.sha256(text.encode()).hexdigest(), raw_html=None)
            with store.transaction():
                item = store.record_item(feed=feed, guid=url, url=url, url_key=url, status="matched")
                story_id = store.add_story(item, article, _match(matcher, title, text),
                                           raw_html_gz=b"\x1f\x8b fake" if n == 0 else None)
            ids.setdefault(feed, story_id)
            store.ensure_feed(feed, f"https://{feed.lower().replace(' ', '')}.example/rss")
        first = ids["Eurasianet"]
        copy = STORIES[2][2] + " Republished with permission."
        entry = FeedEntry("IPS", "https://ips.example/khorugh", title="Khorugh: residents held after protest")
        article = Article(entry, entry.url, entry.title, copy, now - timedelta(days=8), now - timedelta(days=8),
                          hashlib.sha256(copy.encode()).hexdigest())
        store.add_story_source(first, None, "IPS", entry.url, entry.title, article=article)
        store.record_poll_success("Ozodi RU", etag=None, last_modified=None, fetch_ms=120, new_items=4, matches=1)
        store.record_poll_failure("HRW", "HTTP 503 Service Unavailable", 900)
    finally:
        store.close()
    return ids


FILLER = [
    ("Asia-Plus", "Court in Dushanbe sentences a Pamiri activist from Rushan ({n})",
     "A court sentenced an activist from Rushan district of GBAO to eighteen years after a closed trial ({n})."),
    ("Ozodi RU", "В ГБАО задержан житель Хорога ({n})",
     "Сотрудники силовых структур задержали жителя Хорога в Горно-Бадахшанской области ({n})."),
    ("CABAR.asia", "Relatives of Pamiri exiles questioned in Khorog ({n})",
     "Security services questioned relatives of Pamiri activists living abroad in Khorog, GBAO ({n})."),
    ("Eurasianet", "Man killed during police raid in Khorog, GBAO ({n})",
     "A man was shot dead during a police raid in Khorog, the capital of GBAO, relatives said ({n})."),
]


def _filler(n: int) -> list[tuple[str, str, str, int]]:
    """Stories over the past year, busier around May (the anniversary of the 2022 events)."""
    out = []
    for i in range(n):
        feed, title, text = FILLER[i % len(FILLER)]
        days = (i * 53) % 365
        if i % 3 == 0:
            days = 190 + (i * 7) % 25  # a burst
        out.append((feed, title.format(n=i), text.format(n=i), days))
    return out


@contextmanager
def serving(state: Path, *options: str, prefix: Sequence[str] = ()) -> Iterator[str]:
    """The real `monitor serve` on a free loopback port over `state`, answering; yields its base URL (`prefix`:
    a command it runs under, such as setpriv)."""
    import httpx
    import pytest

    from tests.conftest import PROJECT
    from tests.support.smtp_sink import free_port

    port = free_port()
    proc = subprocess.Popen([*prefix, sys.executable, "-m", "monitor", "serve", "--port", str(port), "--state", str(state),
                             "--keywords", str(PROJECT / "keywords.yaml"), "--feeds", str(PROJECT / "feeds.yaml"), *options],
                            cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={"PYTHONPATH": str(PROJECT), "PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(url + "/feeds", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    if proc.poll() is not None:
        pytest.fail(f"monitor serve exited: {proc.stderr.read()}")
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(10)

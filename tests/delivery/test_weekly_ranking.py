"""The weekly report as an NGO lead reads it on Wednesday: the killing on top, whatever its score; topics by
their titles; the week still running marked as such, not as a collapse to zero; the pages a publisher edited or
took down that week; and a chart whose scale fits the week's numbers."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from monitor import clock
from monitor.delivery import charts
from monitor.delivery.weekly import build_report, render_html, render_telegram, render_text
from monitor.models import Article, FeedEntry, MatchResult, TopicHit
from monitor.relevance.keywords import load_rules
from monitor.store import Store
from tests.conftest import PROJECT

RULES = load_rules(PROJECT / "keywords.yaml")
_today = clock.now().astimezone(timezone.utc)
MONDAY = datetime(_today.year, _today.month, _today.day, tzinfo=timezone.utc) - timedelta(days=_today.weekday())
UNTIL = MONDAY + timedelta(days=2, hours=10)  # a Wednesday morning: this week is two and a half days old
SINCE = UNTIL - timedelta(days=7)
KILLING = "Young man shot dead by security forces in Khorog"


def _story(store: Store, n: int, title: str, hits: tuple[TopicHit, ...], published: datetime) -> int:
    url = f"https://news.example/{n}"
    item = store.record_item(feed="Asia News", guid=None, url=url, url_key=url[8:], status="matched")
    article = Article(FeedEntry("Asia News", url, title=title, published=published), url, title, title,
                      published, published, "")
    return store.add_story(item, article, MatchResult(hits=hits, snippet=title), urgent=False)


def _change(store: Store, story_id: int, change: str, note: str, at: datetime) -> None:
    pending = SimpleNamespace(written=SimpleNamespace(file="x.warc.gz", offset=story_id, length=1),
                              payload_sha256="0" * 64, captured_at=at, url="https://news.example/", status=404,
                              final_url="https://news.example/", redirects=(), peer="127.0.0.1", text_sha256="")
    store.add_capture(pending, story_id=story_id, source_id=None, reason="recheck", monitor_version="t",
                      change=change, note=note)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("weekly") / "monitor.db")
    for n in range(8):  # eight detentions, each scoring higher than the killing
        _story(store, n, f"Activist {n} detained in Khorog", (TopicHit("gbao_rights", 20.0 + n, ("detained",)),),
               SINCE + timedelta(days=1, hours=n))
    killed = _story(store, 99, KILLING, (TopicHit("gbao_rights", 25.0, ("detained",)),
                                         TopicHit("gbao_violence", 6.0, ("shot dead",), urgent=True)),
                    SINCE + timedelta(days=3))
    _change(store, killed, "removed", "removed by the publisher (HTTP 404)", SINCE + timedelta(days=4))
    _change(store, 3, "edited", "edited: 2 paragraphs changed", SINCE - timedelta(days=3))  # the week before
    for week in range(2, 5):  # earlier weeks, for the trend; last week has the nine above, the busiest
        for n in range(3):
            _story(store, 1000 + week * 10 + n, f"Old detention {week}/{n}",
                   (TopicHit("gbao_rights", 5.0, ("detained",)),), MONDAY - timedelta(weeks=week) + timedelta(hours=n))
    yield build_report(store, SINCE, UNTIL, rules=RULES)
    store.close()


def test_the_killing_leads_the_top_stories_whatever_its_score(report):
    assert report.top[0]["title"] == KILLING
    text = render_text(report)
    top = text.split("Top stories:")[1]
    assert top.index(KILLING) < top.index("Activist 7 detained")
    assert "1. " + KILLING in top


def test_topics_are_named_by_their_titles_in_every_rendering(report):
    for rendered in (render_text(report), render_html(report, None), render_telegram(report)[0]):
        assert "Killings and deaths in custody in GBAO" in rendered
        assert "gbao_violence" not in rendered and "gbao_rights" not in rendered


def test_the_running_week_is_marked_partial_not_shown_as_a_drop(report):
    text = render_text(report)
    weeks = next(line for line in text.splitlines() if line.startswith("Stories per week"))
    assert re.search(r"\d+ \(this week so far, to \d{4}-\d\d-\d\d\)$", weeks), weeks
    assert report.trend.partial
    svg = charts.svg(report.trend)
    assert "stroke-dasharray" in svg and "so far" in svg


def test_pages_changed_or_removed_that_week_are_in_the_report(report):
    text = render_text(report)
    section = text.split("Pages changed or removed this week:")[1].split("\n\n")[0]
    assert KILLING in section and "removed by the publisher (HTTP 404)" in section
    assert "2 paragraphs changed" not in text, "an edit of the week before belongs to that week's report"
    assert "removed by the publisher" in render_html(report, None)


def test_the_chart_scale_fits_the_data(report):
    assert report.trend.peak == 9
    labels = [int(v) for v in re.findall(r'text-anchor="end" fill="#555">(\d+)</text>', charts.svg(report.trend))]
    assert 9 <= max(labels) <= 12, labels
    for peak in (1, 3, 7, 9, 13, 21, 47, 99, 140, 1234):
        trend = charts.Trend(weeks=report.trend.weeks[:2], series=(("t", (0, peak)),))
        top = max(int(v) for v in re.findall(r'text-anchor="end" fill="#555">(\d+)</text>', charts.svg(trend)))
        assert peak <= top <= max(peak * 1.34, peak + 3), (peak, top)

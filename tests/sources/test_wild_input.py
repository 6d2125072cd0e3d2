"""Feeds and pages as the wild serves them: a stray byte, a lying or missing charset, an empty feed, Russian,
Tajik and Persian dates, odd links, a page that cannot be read. None of it may hide a story or cry wolf."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from email.utils import formatdate
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from monitor import clock

from monitor.sources.charset import decode_html
from monitor.sources.feeds import ParseError, parse_feed
from monitor.sources.dates import parse_date_text
from tests.conftest import PROJECT, run_cli
from tests.support.clock import MOMENTS
from tests.support.localsite import LocalSite, Page, rss

TITLES = {
    "ru": "В Хороге задержаны пятеро местных жителей",
    "tg": "Дар Хоруғ панҷ сокини маҳаллӣ боздошт шуданд",
    "fa": "بازداشت پنج تن از ساکنان خاروغ",
}


def feed_bytes(title: str, summary: str = "", *, encoding: str = "utf-8", declare: bool = True) -> bytes:
    decl = f' encoding="{encoding}"' if declare else ""
    body = (f'<?xml version="1.0"{decl}?><rss version="2.0"><channel><title>Лента</title><link>http://x.example/'
            f'</link><item><title>{title}</title><link>http://x.example/a/1</link><description>{summary}'
            f'</description><pubDate>Mon, 24 Sep 2018 16:42:00 GMT</pubDate></item></channel></rss>')
    return body.encode(encoding, "replace")


# --- charsets -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", sorted(TITLES))
@pytest.mark.parametrize("damage", [b"\x93", b"\xd0"], ids=["stray-0x93", "truncated-char"])
def test_one_bad_byte_leaves_a_utf8_feed_readable_and_says_so(lang, damage, caplog):
    title = TITLES[lang]
    data = feed_bytes(title, f"{title}. Подробности позже.").replace(b"</description>", damage + b"</description>")
    with caplog.at_level(logging.WARNING, logger="monitor.parse"):
        [entry] = parse_feed("Outlet", data, url="http://x.example/rss",
                             headers={"content-type": "application/rss+xml; charset=utf-8"})
    assert entry.title == title, "the whole feed must not turn into mojibake"
    assert "invalid UTF-8" in caplog.text and "'Outlet'" in caplog.text


@pytest.mark.parametrize("encoding,lang", [("cp1251", "ru"), ("koi8-r", "ru"), ("cp1256", "fa")])
def test_a_feed_in_our_codepages_without_any_charset_is_read_in_that_codepage(encoding, lang):
    title = TITLES[lang].replace("ی", "ي")  # Windows-1256 writes the Arabic yeh
    data = feed_bytes(title, title + " " + title, encoding=encoding, declare=False)
    for content_type in ("text/xml", "application/rss+xml", None):
        headers = {"content-type": content_type} if content_type else {}
        [entry] = parse_feed("Outlet", data, url="http://x.example/rss", headers=headers)
        assert entry.title == title, (encoding, content_type)


def test_a_feed_that_declares_latin1_but_is_windows_1251_is_read_as_cyrillic():
    data = feed_bytes(TITLES["ru"], TITLES["ru"] + ": подробности", encoding="cp1251", declare=False)
    [entry] = parse_feed("Outlet", data, url="http://x.example/rss",
                         headers={"content-type": "text/xml; charset=iso-8859-1"})
    assert entry.title == TITLES["ru"]


def test_a_latin1_page_stays_latin1_and_a_short_tajik_cp1251_page_stays_cyrillic():
    latin = "<html><body><p>Le café de la rue Saint-Honoré était fermé. Über die Straße, Müller à Zürich.</p></body></html>"
    assert "Zürich" in decode_html(latin.encode("latin-1")), "not cp1257 or any Baltic codepage"
    assert "Müller" in decode_html("<p>Müller</p>".encode("latin-1")), "not Mьller (Windows-1251)"
    tajik = "<html><body><p>Дар Хорог се нафар кушта шуданд</p></body></html>"
    assert "Дар Хорог се нафар кушта шуданд" in decode_html(tajik.encode("cp1251")), "not Hebrew (cp1255)"


# --- empty feeds ------------------------------------------------------------------------------------------

EMPTY = b'<?xml version="1.0"?><rss version="2.0"><channel><title>Empty</title><link>http://x.example/</link>' \
        b'<description>nothing yet</description></channel></rss>'


@pytest.mark.parametrize("content_type", ["text/xml", "text/html", "text/plain", None])
@pytest.mark.parametrize("body", [EMPTY, EMPTY.replace(b"nothing yet", b"nothing&nbsp;yet")], ids=["plain", "nbsp"])
def test_a_recognised_feed_with_no_items_is_quiet(content_type, body):
    headers = {"content-type": content_type} if content_type else {}
    assert parse_feed("Quiet outlet", body, url="http://x.example/rss", headers=headers) == []


def test_html_is_still_not_a_feed():
    with pytest.raises(ParseError, match="HTML page"):
        parse_feed("x", b"<!DOCTYPE html><html><body>hi</body></html>", url="http://x.example/",
                   headers={"content-type": "text/html"})


# --- dates ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text,expected", [
    ("Пн, 24 сен 2018 19:42:00 +0300", datetime(2018, 9, 24, 16, 42, tzinfo=timezone.utc)),
    ("24.09.2018 19:42", datetime(2018, 9, 24, 19, 42, tzinfo=timezone.utc)),
    ("Душанбе, 24 сентябри соли 2018, 19:42", datetime(2018, 9, 24, 19, 42, tzinfo=timezone.utc)),
    ("18 майи 2022", datetime(2022, 5, 18, tzinfo=timezone.utc)),
    ("۲۴ سپتامبر ۲۰۱۸ ۱۹:۴۲", datetime(2018, 9, 24, 19, 42, tzinfo=timezone.utc)),
    ("۲ خرداد ۱۴۰۱", datetime(2022, 5, 23, tzinfo=timezone.utc)),  # Solar Hijri
    ("19:42", None), ("скоро", None), ("2099-01-01", None),
])
def test_dates_feedparser_cannot_read(text, expected):
    assert parse_date_text(text) == expected


def test_a_russian_pubdate_in_a_feed_is_read():
    data = feed_bytes(TITLES["ru"]).replace(b"Mon, 24 Sep 2018 16:42:00 GMT", "Пн, 24 сен 2018 19:42:00 +0300".encode())
    [entry] = parse_feed("x", data, url="http://x.example/rss")
    assert entry.published == datetime(2018, 9, 24, 16, 42, tzinfo=timezone.utc)


# --- links ------------------------------------------------------------------------------------------------


def test_a_json_feed_with_a_bom_and_an_item_with_only_an_http_id():
    data = ('\ufeff{"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": ['
            '{"id": "https://x.example/a/1", "title": "Only an id"},'
            '{"id": "2", "url": "/a/2", "title": "Relative"}, {"id": "3", "title": "No link at all"}]}').encode()
    entries = parse_feed("J", data, url="http://x.example/feed.json")
    assert [(e.url, e.title) for e in entries] == [("https://x.example/a/1", "Only an id"),
                                                   ("http://x.example/a/2", "Relative")]


def test_an_atom_entry_whose_first_link_is_a_urn_tries_its_other_links(caplog):
    data = b"""<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>
<id>urn:uuid:feed</id><updated>2024-05-18T10:00:00Z</updated>
<entry><title>Urn first</title><id>urn:uuid:1</id><link href="urn:uuid:1"/><link rel="alternate" type="text/html"
 href="https://x.example/story/1"/><updated>2024-05-18T10:00:00Z</updated></entry>
<entry><title>Nothing</title><id>urn:uuid:2</id><updated>2024-05-18T10:00:00Z</updated></entry></feed>"""
    with caplog.at_level(logging.INFO, logger="monitor.parse"):
        entries = parse_feed("Atom outlet", data, url="http://x.example/atom")
    assert [e.url for e in entries] == ["https://x.example/story/1"]
    assert "1 of 2 item(s) have no usable link" in caplog.text


def test_a_relative_link_with_spaces_is_quoted(site):
    site.add("/news/Khorog%20detentions.html", Page(b"<html><body><p>Detained in Khorog.</p></body></html>"))
    site.add("/rss", b'<?xml version="1.0"?><rss version="2.0"><channel><title>R</title><item><title>Detained'
                     b'</title><link>news/Khorog detentions.html</link></item></channel></rss>')
    [entry] = parse_feed("R", site.pages["/rss"].body, url=site.url("/rss"))
    assert entry.url == site.url("/news/Khorog%20detentions.html")


# --- feed text counts too -----------------------------------------------------------------------------------


def test_one_poll_of_pages_from_the_wild(tmp_path, site):
    """A short Tajik Windows-1251 page without charset keeps its urgent story; a garbled page still lets the
    feed's own title and summary match; an undated urgent story waits for the digest (it may be years old)."""
    tajik = ("<html><head><title>Хабар</title></head><body><article><h1>Дар Хорог се нафар кушта шуданд</h1>"
             "<p>Шоми дируз дар Хорог се нафар дар вакти тирпарронй кушта шуданд.</p></article></body></html>")
    site.add("/tg/news/1", Page(tajik.encode("cp1251"), content_type="text/html"))
    summary = ("Security forces detained five residents of Khorog on Tuesday, their relatives said; lawyers "
               "have not been allowed to see them.")
    junk = bytes(range(128, 256)) * 40
    site.add("/n/garbled", Page(b"<html><body><p>" + junk + b"</p></body></html>", content_type="text/html"))
    killed = ("Three people were killed in Khorog on Tuesday when security forces opened fire, residents said. "
              "Relatives of those killed in Khorog say the bodies were not returned.")
    site.add("/n/gone", Page(b"gone", status=404, content_type="text/plain"))
    site.add("/rss", rss("Outlet", [
        {"title": "Хабари нав", "path": "/tg/news/1", "date": formatdate(clock.time(), usegmt=True)},
        {"title": "Five detained in Khorog", "path": "/n/garbled", "summary": summary},
        {"title": "Three killed in Khorog", "path": "/n/gone", "summary": killed, "date": ""},
    ], base=site.base).replace("<pubDate></pubDate>", ""))
    result = _run(tmp_path, site, "/rss")
    assert result.returncode == 0, result.stderr
    urgent, _, digest = result.stdout.partition("Digest — ")
    assert urgent.startswith("URGENT") and "Хабари нав" in urgent, result.stdout + result.stderr
    assert "Three killed in Khorog" not in urgent and "Three killed in Khorog" in digest
    assert "Five detained in Khorog" in digest, result.stderr


def test_feed_summary_and_page_text_both_count():
    from monitor.relevance.matcher import Matcher
    from monitor.models import Article, FeedEntry
    from monitor.extract.article import match_text
    from monitor.relevance.keywords import load_rules

    entry = FeedEntry(feed="x", url="http://x.example/1", title="Court hearing",
                      summary="The hearing concerned residents of Khorog.")
    page = "Five residents were detained on Tuesday and taken to the capital; lawyers were refused access."
    article = Article(entry=entry, final_url=entry.url, title=entry.title, text=page, published=None,
                      fetched_at=clock.now(), raw_sha256="")
    matcher = Matcher(load_rules(PROJECT / "keywords.yaml"))
    assert not matcher.match(article.title, page).matched, "the page alone does not name the place"
    assert matcher.match(article.title, match_text(article)).matched


def _run(tmp_path: Path, site: LocalSite, path: str):
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(f"feeds:\n  - name: Outlet\n    url: {site.url(path)}\nsettings:\n  timeout: 5\n",
                     encoding="utf-8")
    return run_cli("run", "--once", "--feeds", str(feeds), "--keywords", str(PROJECT / "keywords.yaml"),
                   "--state", str(tmp_path / "state.db"))


@pytest.mark.parametrize("moment", MOMENTS.values(), ids=MOMENTS, indirect=True)
def test_todays_date_in_the_solar_hijri_calendar_is_read_as_today_on_any_day(moment):
    from convertdate import persian

    digits = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
    months = ["فروردین", "اردیبهشت", "خرداد", "تیر", "مرداد", "شهریور", "مهر", "آبان", "آذر", "دی", "بهمن", "اسفند"]
    tehran = moment.astimezone(ZoneInfo("Asia/Tehran")).date()  # the date a Tehran newsroom writes
    year, month, day = persian.from_gregorian(tehran.year, tehran.month, tehran.day)
    text = f"{day} {months[month - 1]} {year}".translate(digits)
    when = parse_date_text(text)
    assert when is not None, f"{text} (the moment's own date) was refused"
    assert when.date() == tehran, text

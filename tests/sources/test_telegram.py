"""Public Telegram channels as sources (`kind: telegram`): a local server serves the web preview of our own
synthetic channels; posts are caught, folded and delivered like articles, without fetching any page."""

from __future__ import annotations

import gzip

import sqlite3

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from monitor import clock

from monitor.config.feeds import ConfigError, load_feeds
from monitor.sources.telegram import parse_preview
from tests.conftest import PROJECT, run_cli
from tests.support.clock import age
from tests.support.localsite import LocalSite, Page
from tests.support.tgpreview import Post, embed_page, post_not_found_page, preview_page

CHANNEL = "pamir_synth_news"
NOW = clock.now().replace(microsecond=0)

KHORUGH_TG = ("Дар Хоруғ се ҷавон боздошт шуданд<br/>Шоми дирӯз дар маркази шаҳри Хоруғ кормандони қувваҳои "
              "амниятӣ се ҷавони маҳаллиро боздошт карданд. Хешовандонашон мегӯянд, ки аз ҷойи нигаҳдории онҳо "
              "хабаре надоранд ва ба адвокат роҳ намедиҳанд. Ба гуфтаи шоҳидон, ҷавононро бо мошинҳои бе рақам бурданд. "
              "Мақомоти вилоят то ҳол ин хабарро шарҳ надодаанд.")
RUSHAN_2022 = ("В Рушане в мае 2022 года силовики задержали участников протеста<br/>Жители Рушана рассказали, "
               "что задержанных памирцев увезли в Душанбе; родственникам не сообщают, где они.")


def latest_posts(*, edited_text: str | None = None) -> list[Post]:
    return [
        Post(101, "Прогноз погоды: в Душанбе завтра солнечно, до +30.", NOW - timedelta(hours=5)),
        Post(102, KHORUGH_TG, NOW - timedelta(hours=3)),
        Post(103, 'Ҳисоботи нав дар бораи ҳуқуқи инсон дар Тоҷикистон: <a href="https://example.org/report-2026">'
                  'хонед</a>', NOW - timedelta(hours=2), forwarded_from=("Ozodi Synth", "https://t.me/ozodi_synth/77")),
        Post(104, edited_text or "Обновление расписания автобусов Хорог — Душанбе.", NOW - timedelta(hours=1),
             edited=edited_text is not None),
        Post(105, "Фото: рынок в Ишкашиме после ремонта", NOW - timedelta(minutes=30), photo=True),
        Post(106, "", NOW - timedelta(minutes=20), service=True),
    ]


def older_posts() -> list[Post]:
    return [Post(96, "Архивная заметка о ценах на муку.", datetime(2022, 4, 1, tzinfo=timezone.utc)),
            Post(97, RUSHAN_2022, datetime(2022, 5, 19, 8, 0, tzinfo=timezone.utc)),
            Post(100, "Новогоднее поздравление подписчикам.", datetime(2023, 1, 1, tzinfo=timezone.utc))]


@pytest.fixture
def channel(site: LocalSite) -> LocalSite:
    site.add(f"/s/{CHANNEL}", preview_page(CHANNEL, "Pamir Synth News", latest_posts()))
    site.add(f"/s/{CHANNEL}?before=101", preview_page(CHANNEL, "Pamir Synth News", older_posts(), before=101))
    site.add(f"/s/{CHANNEL}?before=96", preview_page(CHANNEL, "Pamir Synth News", [], before=96))
    return site


def feeds_file(tmp_path: Path, site: LocalSite, *channels: str) -> Path:
    path = tmp_path / "feeds.yaml"
    lines = ["feeds:"]
    for name in channels or (CHANNEL,):
        lines += [f"  - name: Telegram {name}", "    kind: telegram", f"    url: {site.url(f'/s/{name}')}",
                  "    language: tg"]
    path.write_text("\n".join(lines) + "\nsettings:\n  timeout: 5\n", encoding="utf-8")
    return path


def run(tmp_path: Path, feeds: Path, *args: str):
    return run_cli(*args, "--feeds", str(feeds), "--keywords", str(PROJECT / "keywords.yaml"),
                   "--state", str(tmp_path / "state.db"))


def test_every_post_of_a_preview_page_is_an_entry_with_its_own_link_text_and_date():
    html = preview_page(CHANNEL, "Pamir Synth News", latest_posts())
    entries, before = parse_preview("tg", html, f"https://t.me/s/{CHANNEL}")
    by_id = {e.url.rsplit("/", 1)[1]: e for e in entries}
    assert sorted(by_id) == ["101", "102", "103", "104", "105"], "the service message is not a post"
    khorugh = by_id["102"]
    assert khorugh.url == khorugh.guid == f"https://t.me/{CHANNEL}/102"
    assert khorugh.title == "Дар Хоруғ се ҷавон боздошт шуданд"
    assert "Хешовандонашон мегӯянд" in khorugh.text and "\n" in khorugh.text
    assert khorugh.published == NOW - timedelta(hours=3)
    forwarded = by_id["103"].text
    assert "Forwarded from Ozodi Synth (https://t.me/ozodi_synth/77)" in forwarded
    assert "https://example.org/report-2026" in forwarded, "links inside the post are kept"
    assert by_id["105"].text.startswith("Фото: рынок в Ишкашиме"), "a media post's caption is its text"
    assert before == 101


def test_a_channel_url_must_be_the_public_preview(tmp_path):
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds:\n  - name: Channel\n    kind: telegram\n    url: https://t.me/pamir_synth_news\n",
                    encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_feeds(path)
    assert "feeds.yaml:2" in str(err.value) and "https://t.me/s/CHANNEL" in str(err.value)


def test_a_tajik_post_about_khorugh_on_a_telegram_channel_is_caught_folded_and_sent_once(tmp_path, channel):
    site = channel
    # a second channel forwards the same post: one story, two sources
    site.add("/s/gbao_synth_mirror", preview_page("gbao_synth_mirror", "GBAO Synth Mirror", [
        Post(5, KHORUGH_TG, NOW - timedelta(hours=2), forwarded_from=("Pamir Synth News", f"https://t.me/{CHANNEL}/102")),
    ]))
    site.add("/s/closed_synth", Page(b"<html><body><div class='tgme_page'>Channel not found</div></body></html>"))
    feeds = feeds_file(tmp_path, site, CHANNEL, "gbao_synth_mirror", "closed_synth")
    first = run(tmp_path, feeds, "run", "--once")
    assert first.returncode == 0, first.stderr
    assert "feed 'Telegram closed_synth' failed: not a Telegram channel preview" in first.stderr, \
        "a private or missing channel fails in one clear line; the others go on"
    assert "Traceback" not in first.stderr
    assert "Дар Хоруғ се ҷавон боздошт шуданд" in first.stdout
    assert f"https://t.me/{CHANNEL}/102" in first.stdout
    assert first.stdout.count("Дар Хоруғ се ҷавон боздошт шуданд") == 1, "the forwarded copy is folded in"
    assert "Прогноз погоды" not in first.stdout
    asked = [r.path for r in site.requests]
    assert asked.count(f"/s/{CHANNEL}") == 1 and [p for p in asked if p.startswith(f"/{CHANNEL}/")] == \
        [f"/{CHANNEL}/102?embed=1"], "the text is in the preview; only the matched post's own page is fetched"
    shown = run(tmp_path, feeds, "show", "1")
    assert "gbao_synth_mirror" in shown.stdout, shown.stdout + shown.stderr
    assert "Хешовандонашон мегӯянд" in shown.stdout and "feed summary" not in shown.stdout, "the post is the text"
    db = sqlite3.connect(tmp_path / "state.db")
    captured = db.execute("SELECT url, reason, payload_sha256 FROM captures WHERE story_id = 1").fetchall()
    db.close()
    assert any(url.endswith(f"/s/{CHANNEL}") for url, _, _ in captured), \
        "the evidence of a post is the channel page it came in, as received (WARC)"
    archive = b"".join(p.read_bytes() for p in (tmp_path / "state.db.warc").glob("*.warc*"))
    assert f"https://t.me/{CHANNEL}/102".encode() in gzip.decompress(archive) if archive[:2] == b"\x1f\x8b" \
        else f"https://t.me/{CHANNEL}/102".encode() in archive, "the capture names the post it is evidence for"
    assert run(tmp_path, feeds, "verify", "--state").returncode == 0

    # the channel edits post 104 so that it now names Хоруғ and a detention: same key, not sent again
    site.add(f"/s/{CHANNEL}", preview_page(CHANNEL, "Pamir Synth News", latest_posts(
        edited_text="Ислоҳ: дар Хоруғ боз ду нафар боздошт шуданд.")))
    second = run(tmp_path, feeds, "run", "--once")
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "", "nothing new: the edited post keeps its key"
    assert "no new matching stories" in second.stderr


def test_backfill_walks_the_channel_back_page_by_page(tmp_path, channel):
    site = channel
    feeds = feeds_file(tmp_path, site)
    result = run(tmp_path, feeds, "backfill", "--since", "2022-05-01", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "В Рушане в мае 2022 года силовики задержали участников протеста" in result.stdout
    assert "Дар Хоруғ се ҷавон боздошт шуданд" in result.stdout
    asked = [r.path for r in site.requests]
    assert f"/s/{CHANNEL}?before=101" in asked
    assert f"/s/{CHANNEL}?before=96" not in asked, "a page already older than --since ends the walk"


def test_a_busy_channel_is_read_back_to_the_last_poll(site, store):
    """More posts than one preview page holds since the last poll: the older pages are read too, no further."""
    import asyncio

    from monitor.config.feeds import FeedSpec, Settings
    from monitor.sources.fetch import Fetcher
    from monitor.sources.telegram import entries_for

    def page(numbers, age):
        return preview_page("busy_synth", "Busy", [Post(n, f"Сообщение {n}", NOW - age) for n in numbers])

    site.add("/s/busy_synth", page(range(30, 50), timedelta(minutes=10)))
    site.add("/s/busy_synth?before=30", page(range(10, 30), timedelta(minutes=20)))
    site.add("/s/busy_synth?before=10", page(range(1, 10), timedelta(days=3)))
    site.add("/robots.txt", Page(b"User-agent: *\nAllow: /\n", content_type="text/plain"))
    spec = FeedSpec(name="Busy", kind="telegram", url=site.url("/s/busy_synth"))
    store.ensure_feed(spec.name, spec.url)
    store.record_poll_success(spec.name, etag=None, last_modified=None, fetch_ms=1, new_items=0, matches=0)

    async def poll():
        async with Fetcher(Settings(timeout=5), {"127.0.0.1"}, feeds=[spec]) as fetcher:
            return await entries_for(spec, fetcher, store, since=None)

    entries = asyncio.run(poll())
    numbers = [int(e.url.rsplit("/", 1)[1]) for e in entries]
    assert numbers == list(range(49, 0, -1)), "newest first, every post since the last poll"
    assert f"/s/busy_synth?before=1" not in [r.path for r in site.requests], "the walk stops at the last poll"


def test_a_matched_posts_own_page_and_photo_are_in_the_export(tmp_path, channel):
    import io
    import zipfile

    from warcio.archiveiterator import ArchiveIterator

    site = channel
    photo = b"\xff\xd8\xff\xe0" + b"JFIF-synthetic-photo" * 50
    site.add("/file/khorugh-102.jpg", Page(photo, content_type="image/jpeg"))
    post = Post(102, KHORUGH_TG, NOW - timedelta(hours=3), photo=True, photo_url=site.url("/file/khorugh-102.jpg"))
    posts = [post if p.number == 102 else p for p in latest_posts()]
    site.add(f"/s/{CHANNEL}", preview_page(CHANNEL, "Pamir Synth News", posts))
    site.add(f"/{CHANNEL}/102?embed=1", embed_page(CHANNEL, "Pamir Synth News", post))
    feeds = feeds_file(tmp_path, site)
    assert run(tmp_path, feeds, "run", "--once").returncode == 0
    done = run(tmp_path, feeds, "export", "--format", "wacz", "-o", str(tmp_path / "posts.wacz"))
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(tmp_path / "posts.wacz") as zf:
        responses = {r.rec_headers.get_header("WARC-Target-URI"): r.content_stream().read()
                     for r in ArchiveIterator(io.BytesIO(zf.read("archive/data.warc.gz"))) if r.rec_type == "response"}
    assert site.url(f"/{CHANNEL}/102?embed=1") in responses, "the post's own page"
    assert responses.get(site.url("/file/khorugh-102.jpg")) == photo, "its photo, byte for byte"
    assert [r.path for r in site.requests].count("/file/khorugh-102.jpg") == 1


def test_a_post_that_disappears_from_its_channel_is_reported_once(tmp_path, channel):
    site = channel
    post = next(p for p in latest_posts() if p.number == 102)
    site.add(f"/{CHANNEL}/102?embed=1", embed_page(CHANNEL, "Pamir Synth News", post))
    feeds = feeds_file(tmp_path, site)
    feeds.write_text(feeds.read_text(encoding="utf-8") + "  digest_interval: 1s\n", encoding="utf-8")
    state = tmp_path / "state.db"

    assert run(tmp_path, feeds, "run", "--once").returncode == 0
    site.add(f"/{CHANNEL}/102?embed=1", post_not_found_page())  # the channel deleted the post
    site.add(f"/s/{CHANNEL}", preview_page(CHANNEL, "Pamir Synth News",
                                           [p for p in latest_posts() if p.number != 102]))
    age(state, 1.5)
    gone = run(tmp_path, feeds, "run", "--once")
    age(state, 8)
    later = run(tmp_path, feeds, "run", "--once")
    assert gone.returncode == 0, gone.stderr
    assert "removed from the channel (Telegram: post not found)" in gone.stdout, gone.stdout + gone.stderr
    assert "removed from the channel" not in later.stdout, "reported once"
    db = sqlite3.connect(state)
    assert db.execute("SELECT change FROM captures WHERE story_id = 1 AND reason = 'recheck'").fetchall() == \
        [("removed",)], "the page saying so is kept as evidence"

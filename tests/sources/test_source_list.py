"""The shipped source list works on day one, and a user can check any list in one command
(`monitor check-config --probe`); a YouTube channel's feed is just a feed."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

from monitor import clock
from monitor.config.feeds import load_feeds
from tests.conftest import PROJECT, run_cli
from tests.support.localsite import LocalSite, Page, rss
from tests.support.tgpreview import Post, preview_page

ISSUE_URLS = ["https://rus.ozodi.org/api/", "https://www.ozodi.org/api/",
              "https://www.currenttime.tv/api/zgbip_l-vomx-tpe-v_py", "https://www.rferl.org/api/",
              "https://kloop.kg/feed/", "https://zona.media/rss", "https://ovd.info/rss.xml",
              "https://www.article19.org/feed/", "https://cpj.org/feed/", "https://freedomhouse.org/rss.xml",
              "https://globalvoices.org/feed/", "https://www.radiofarda.com/api/", "https://www.hrw.org/ru/rss/news",
              "https://feeds.bbci.co.uk/persian/rss.xml"]


def test_the_shipped_list_has_the_working_feeds_each_with_a_comment():
    feeds = load_feeds(PROJECT / "feeds.yaml")
    urls = {f.url for f in feeds.feeds}
    assert not [u for u in ISSUE_URLS if u not in urls]
    assert "https://rus.ozodi.org/api/zrqiteuuir" not in urls, "that section feed answered with 0 entries"
    sites = {f.name for f in feeds.feeds if f.kind == "site"}
    assert any("Memorial" in n for n in sites) and any("Helsinki" in n for n in sites)
    lines = (PROJECT / "feeds.yaml").read_text(encoding="utf-8").splitlines()
    uncommented = [line for line in lines if re.match(r"^  - name: ", line) and " # " not in line]
    assert not uncommented, "every source says its language, what it covers and why it is there"


def test_probe_tells_which_sources_answer_and_with_how_many_items(tmp_path, site: LocalSite):
    now = clock.now()
    site.add("/feed.xml", rss("Outlet", [{"title": f"Story {i}", "path": f"/a/{i}"} for i in range(3)],
                              base=site.base))
    site.add("/empty.xml", Page(b'<?xml version="1.0"?><rss version="2.0"><channel><title>E&nbsp;</title>'
                                b'</channel></rss>', content_type="text/xml"))  # empty is quiet, not FAILED
    site.add("/news/", "<html><body><ul><li><a href='/news/2024/05/18/khorog-detentions'>Khorog</a></li>"
                       "<li><a href='/news/2024/05/17/rushan-trial-verdict'>Rushan</a></li></ul></body></html>")
    site.add("/s/synth_probe", preview_page("synth_probe", "Synth", [Post(7, "Салом", now), Post(8, "Хайр", now)]))
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(f"""feeds:
  - name: Good feed
    url: {site.url('/feed.xml')}
  - name: Empty feed
    url: {site.url('/empty.xml')}
  - name: Moved feed
    url: {site.url('/api/zrqiteuuir')}
  - name: Listing
    kind: site
    url: {site.url('/news/')}
  - name: Channel
    kind: telegram
    url: {site.url('/s/synth_probe')}
settings:
  timeout: 5
""", encoding="utf-8")
    result = run_cli("check-config", "--probe", "--feeds", str(feeds), "--keywords", str(PROJECT / "keywords.yaml"),
                     "--state", str(tmp_path / "state.db"))
    out = result.stdout
    assert result.returncode == 1, "a source that does not answer is a problem to fix"
    assert re.search(r"ok +Good feed: feed, 3 item\(s\), newest", out), out
    assert re.search(r"EMPTY +Empty feed: feed, 0 item\(s\)", out), out
    assert "FAILED  Moved feed (feed): HTTP 404" in out
    assert re.search(r"Listing: listing page, 2 item\(s\)", out), out
    assert re.search(r"Channel: channel, 2 item\(s\), newest (just now|\d+m ago)", out), out
    assert "4 of 5 answered; 1 with no items; 1 failed" in out
    assert not Path(tmp_path / "state.db").exists(), "a probe writes no state"


def test_a_youtube_channel_feed_is_a_feed_and_its_video_descriptions_are_matched():
    from monitor.relevance.matcher import Matcher
    from monitor.sources.feeds import parse_feed
    from monitor.relevance.keywords import load_rules

    description = ("Relatives of the men detained in Khorog speak about the trial; lawyers say they were not "
                   "allowed to see the accused.")
    feed = f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns:yt="http://www.youtube.com/xml/schemas/2015" xmlns:media="http://search.yahoo.com/mrss/"
      xmlns="http://www.w3.org/2005/Atom">
 <link rel="self" href="https://www.youtube.com/feeds/videos.xml?channel_id=UCsynth"/><id>yt:channel:UCsynth</id>
 <title>Synth channel</title><published>2020-01-01T00:00:00+00:00</published>
 <entry><id>yt:video:synth0001</id><yt:videoId>synth0001</yt:videoId>
  <title>Families of the detained in Khorog</title>
  <link rel="alternate" href="https://www.youtube.com/watch?v=synth0001"/>
  <published>2024-05-18T10:00:00+00:00</published><updated>2024-05-19T10:00:00+00:00</updated>
  <media:group><media:title>Families of the detained in Khorog</media:title>
   <media:description>{description}</media:description></media:group></entry>
</feed>""".encode()
    [video] = parse_feed("YouTube synth", feed, url="https://www.youtube.com/feeds/videos.xml?channel_id=UCsynth",
                         headers={"content-type": "application/atom+xml; charset=UTF-8"})
    assert video.url == "https://www.youtube.com/watch?v=synth0001" and video.summary == description
    assert video.published == datetime(2024, 5, 18, 10, tzinfo=timezone.utc)
    match = Matcher(load_rules(PROJECT / "keywords.yaml")).match(video.title, video.summary)
    assert match.matched, "the title and description are what a video says in text"

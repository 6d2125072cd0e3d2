"""The safety net: an article that names GBAO but fires no topic is listed last, under "Other mentions of GBAO".

A user runs `monitor run --once` against a local news site with their own small keywords file. The texts
are ours.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from monitor.models import Digest, Mention
from monitor.delivery.email import render_html
from monitor.delivery.telegram import render_chunks
from monitor.delivery.text import render_text
from tests.conftest import run_cli
from tests.support.localsite import LocalSite, Page, article_html, rss

KEYWORDS = """
settings:
  safety_net_max: {cap}
  safety_net: {on}
aliases:
  places: [Khorog, Khorugh, Ishkashim, GBAO, Pamiri]
  afghanistan: [Afghan, Afghanistan, Taliban]
senses:
  afghan_side:
    terms: [Ishkashim]
    near: ["@afghanistan"]
topics:
  detentions:
    near:
      - within: 20
        one_of: [detain, arrest]
        and_one_of: ["@places"]
"""

PAGES = {
    "/a/detained": ("Teacher detained in Khorog", "Police detained a school teacher in Khorog on Monday, "
                    "his wife said; no reason was given.", "2026-03-09"),
    "/a/water": ("Khorog water mains repaired", "Engineers finished repairing the water mains of Khorog after "
                 "a week of shortages, the city said.", "2026-03-08"),
    "/a/bridge": ("New footbridge for Khorugh park", "A new footbridge over the river opened in Khorugh's "
                  "central park.", "2026-03-07"),
    "/a/festival": ("Pamiri music evening in Dushanbe", "Pamiri musicians played at a concert hall in "
                    "Dushanbe on Saturday.", "2026-03-06"),
    "/a/afghan": ("Market reopens in Ishkashim", "The Taliban administration reopened the market of Ishkashim "
                  "in Afghanistan's Badakhshan province.", "2026-03-05"),
    "/a/other": ("Cotton harvest figures", "Farmers in the Sughd region reported a larger cotton harvest.",
                 "2026-03-04"),
}


def build(site: LocalSite) -> None:
    items = []
    for path, (title, text, date) in PAGES.items():
        site.add(path, article_html(title, [text, "Our reporter contributed to this story."], date=date))
        items.append({"title": title, "path": path, "date": f"{date}T09:00:00Z"})
    site.add("/feed.xml", Page(rss("Local News", items, base=site.base).encode(), content_type="application/rss+xml"))


def run(tmp_path: Path, site: LocalSite, *, cap: int = 15, on: str = "true", state: str = "state.db"):
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(f"feeds:\n  - name: Local News\n    url: {site.url('/feed.xml')}\n", encoding="utf-8")
    keywords = tmp_path / "keywords.yaml"
    keywords.write_text(KEYWORDS.format(cap=cap, on=on), encoding="utf-8")
    return run_cli("run", "--once", "--feeds", str(feeds), "--keywords", str(keywords),
                   "--state", str(tmp_path / state))


def test_unmatched_articles_that_name_gbao_are_listed_last_capped_and_only_once(tmp_path, site):
    build(site)
    first = run(tmp_path, site, cap=2)
    assert first.returncode == 0, first.stderr
    digest = first.stdout
    assert "Teacher detained in Khorog" in digest
    section = digest.split("== Other mentions of GBAO (4) ==", 1)[1]
    assert digest.index("Teacher detained in Khorog") < digest.index("Other mentions of GBAO")
    assert "Khorog water mains repaired" in section and "New footbridge for Khorugh park" in section
    assert "Local News · 2026-03-08" in section
    assert "Engineers finished repairing the water mains of Khorog" in section
    assert "Pamiri music evening" not in section, "over the cap of 2 (newest first): counted, not listed"
    assert "… and 2 more" in section
    assert "Market reopens in Ishkashim" not in digest, "Afghan Ishkashim is not a mention of GBAO"
    assert "Cotton harvest" not in digest
    again = run(tmp_path, site, cap=2)
    assert again.stdout.strip() == "", "a mention is listed once"


def test_the_safety_net_is_off_with_one_setting(tmp_path, site):
    build(site)
    result = run(tmp_path, site, on="false")
    assert result.returncode == 0, result.stderr
    assert "Teacher detained in Khorog" in result.stdout
    assert "Other mentions" not in result.stdout and "water mains" not in result.stdout


def test_every_channel_renders_the_section_and_escapes_what_came_from_the_web():
    now = datetime(2026, 3, 10, tzinfo=timezone.utc)
    mention = Mention(7, "Khorog <b>water</b> mains", "https://news.example/w", "Local News", now,
                      "Repairs in Khorog & the suburbs.")
    digest = Digest("digest", now, mentions=(mention,), mention_ids=(7,))
    assert "== Other mentions of GBAO (1) ==" in render_text(digest)
    html = render_html(digest)
    assert "Other mentions of GBAO" in html and "Khorog &lt;b&gt;water&lt;/b&gt; mains" in html
    assert "Repairs in Khorog &amp; the suburbs." in html
    chunk = render_chunks(digest)[0]
    assert "<b>Other mentions of GBAO</b>" in chunk and "&lt;b&gt;water" in chunk
    assert "1 other mention of GBAO" in render_text(digest).splitlines()[0]

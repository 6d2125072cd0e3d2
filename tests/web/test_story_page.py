"""The story page a monitor opens from a digest: one line per matched concept with its explanation on demand
(no JavaScript: the CSP forbids it), third-party text isolated from the page's own (right-to-left outlets
no longer flip the source line), and the evidence table readable on a 390 px phone."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.webarchive import build_archive, serving
from tests.web.test_web import browse, config


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    path = tmp_path_factory.mktemp("story-page") / "monitor.db"
    return path, build_archive(path)


def test_one_line_per_concept_with_the_contexts_on_demand(archive):
    state, ids = archive
    (page,) = browse(config(state), lambda c: c.get(f"/story/{ids['Ozodi RU']}"))
    html = page.text
    section = html.split("<h2>Matched terms in context</h2>")[1].split("</section>")[0]
    concepts = re.findall(r'<details class="concept"><summary>(.*?)</summary>', section, re.S)
    assert concepts, section[:500]
    names = [re.sub(r"<[^>]+>", "", c).split(" — ")[0].strip() for c in concepts]
    assert len(names) == len(set(names)), "one line per concept"
    assert len(concepts) < 10 and "<li" not in section.split("<details")[0]
    assert all(re.search(r"\d+ match", c) for c in concepts)
    assert "<script" not in html


def test_third_party_text_is_isolated_so_right_to_left_names_do_not_flip_the_line(archive):
    state, ids = archive
    story, home = browse(config(state), lambda c: c.get(f"/story/{ids['BBC Persian']}"), lambda c: c.get("/"))
    meta = story.text.split('<p class="meta">')[1].split("</p>")[0]
    assert re.search(r'<bdi dir="auto">BBC Persian</bdi>', meta), meta
    assert re.search(r'<bdi dir="ltr">\d{4}-\d\d-\d\d \d\d:\d\d UTC</bdi>', meta), meta
    assert '<bdi dir="auto">BBC Persian</bdi>' in home.text
    assert re.search(r'<td><bdi dir="auto">BBC Persian</bdi> \(first\)</td>', story.text)


def test_the_evidence_table_fits_a_390_px_phone(tmp_path):
    from tests.web.test_web_browser import _browser

    state = tmp_path / "monitor.db"
    ids = build_archive(state)
    browser = _browser()
    try:
        browser.set_window_size(390, 844)
        with serving(state) as url:
            browser.get(f"{url}/story/{ids['Eurasianet']}")
            width = browser.execute_script("return document.documentElement.clientWidth")
            overflow = browser.execute_script("return document.documentElement.scrollWidth")
            right = browser.execute_script(
                "return Math.max(...[...document.querySelectorAll('table.evidence code')]"
                ".map(e => e.getBoundingClientRect().right))")
    finally:
        browser.quit()
    assert overflow <= width, f"the page scrolls sideways: {overflow} px wide in a {width} px window"
    assert right <= width, f"a hash is cut off at {right} px"


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", "", html).split())


def test_rule_and_outlet_text_that_can_be_right_to_left_is_isolated_wherever_it_is_shown(archive):
    state, ids = archive
    story, home, search, feeds = browse(config(state), lambda c: c.get(f"/story/{ids['BBC Persian']}"),
                                        lambda c: c.get("/"), lambda c: c.get("/", params={"q": "خاروغ"}),
                                        lambda c: c.get("/feeds"))
    summaries = re.findall(r'<details class="concept"><summary>(.*?)</summary>', story.text, re.S)
    assert any(re.search(r"[\u0600-\u06ff]", s) for s in summaries), summaries
    for summary in summaries:  # "فعال — 4 matches" must not render as "4 — فعال matches"
        assert summary.startswith('<b><bdi dir="auto">'), summary
        words = summary.split("): ", 1)[1]
        assert re.fullmatch(r'<bdi dir="auto">[^<]*</bdi>(, <bdi dir="auto">[^<]*</bdi>)*', words), words
    for terms in re.findall(r'<p class="meta">rule terms: (.*?)</p>', story.text, re.S):
        assert re.fullmatch(r'<bdi dir="auto">[^<]*</bdi>(, <bdi dir="auto">[^<]*</bdi>)*', terms), terms
    assert '<pre class="bidi-lines">' in story.text  # the explanation: each line takes its own direction
    assert re.search(r'<span class="topic" dir="auto">', story.text) and 'class="topic" dir="auto"' in home.text
    expansion = search.text.split('<p class="expansion">')[1].split("</p>")[0]
    assert '<b><bdi dir="auto">خاروغ</bdi></b> → <bdi dir="auto">' in expansion, expansion
    assert re.search(r'FAILING since .*?: <bdi dir="auto">HTTP 503', feeds.text)


def test_each_version_of_the_page_has_its_note_apart_from_its_warc_link(tmp_path):
    from datetime import timedelta
    from types import SimpleNamespace

    from monitor.store import Store
    from tests.support.webarchive import NOW

    state = tmp_path / "monitor.db"
    ids = build_archive(state)
    store = Store(state)
    try:
        for n, reason in enumerate(("first", "recheck")):
            pending = SimpleNamespace(written=SimpleNamespace(file="x.warc.gz", offset=n, length=1),
                                      payload_sha256="0" * 64, captured_at=NOW + timedelta(days=n), status=200,
                                      url="https://news.example/2/story", final_url="https://news.example/2/story",
                                      redirects=(), peer="127.0.0.1", text_sha256="")
            store.add_capture(pending, story_id=ids["Eurasianet"], source_id=None, reason=reason, monitor_version="t")
    finally:
        store.close()
    (page,) = browse(config(state), lambda c: c.get(f"/story/{ids['Eurasianet']}"))
    versions = [_text(li) for li in re.findall(r'<li class="version[^"]*">(.*?)</li>', page.text, re.S)]
    assert len(versions) == 2, page.text[-3000:]
    assert versions[0].endswith("as first captured · WARC") and versions[1].endswith("unchanged · WARC"), versions

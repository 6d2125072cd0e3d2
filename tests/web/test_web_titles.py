"""The web interface speaks the reader's language: topics by their titles from keywords.yaml in the story
badges, the topic filter, the chart's legend and the story page; the ids stay only in links and form values."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.webarchive import build_archive
from tests.web.test_web import RULES, browse, config

IDS = [t.name for t in RULES.topics]


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    path = tmp_path_factory.mktemp("web-titles") / "monitor.db"
    return path, build_archive(path)


def _visible(html: str) -> str:
    """What a reader sees: the text between tags, without attribute values (option values, links); the
    `monitor explain` account (<pre>) speaks of keywords.yaml itself, so it names the topics by their ids."""
    html = re.sub(r"<pre[^>]*>.*?</pre>", " ", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]*>", " ", html).split())


def test_topic_ids_never_show_only_their_titles(archive):
    state, ids = archive
    home, story, filtered = browse(config(state), lambda c: c.get("/"), lambda c: c.get(f"/story/{ids['Ozodi RU']}"),
                                   lambda c: c.get("/", params={"topic": "gbao_rights"}))
    for page in (home, story, filtered):
        seen = _visible(page.text)
        assert "Detentions, trials and protests in GBAO" in seen
        assert not [t for t in IDS if re.search(rf"(?<![\w@]){t}(?!\w)", seen)], "a topic id is shown"
    assert re.search(r'<option value="gbao_rights" selected>Detentions, trials and protests in GBAO( \(\d+\))?</option>',
                     filtered.text)
    assert '<span class="topic" dir="auto">Detentions, trials and protests in GBAO</span>' in home.text
    legend = re.findall(r'<text x="\d+" y="[\d.]+" fill="#222">([^<]*)</text>', home.text)
    assert legend and all("_" not in name for name in legend), legend
    assert any(name.startswith("Detentions, trials") for name in legend), legend

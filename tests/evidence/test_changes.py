"""Changes that matter inside one sentence: a lowered death toll or a softened word is reported once, and
both versions stay in the archive."""

from __future__ import annotations

import sqlite3

from monitor.evidence.recheck import key_changes
from tests.conftest import PROJECT, run_cli
from tests.support.clock import age
from tests.support.localsite import LocalSite, Page, article_html, rss

TITLE = "Three killed in Khorog as security forces open fire on protesters"
BEFORE = [
    "Relatives and local activists said that 3 people were killed in Khorog, the centre of Gorno-Badakhshan "
    "(GBAO), on Monday evening when security forces opened fire on protesters near the regional administration.",
    "Several Pamiri men were detained after the clashes and taken to the headquarters of the security service; "
    "their families have not been allowed to see them.",
]
AFTER = [BEFORE[0].replace("3 people were killed", "1 person was killed"), BEFORE[1]]


def test_a_number_or_a_rule_word_changed_inside_one_sentence_is_named():
    assert key_changes("\n".join(BEFORE), "\n".join(AFTER), ["killed", "khorog"]) == ["killed: 3 → 1"]
    ru_old = "По словам родственников, трое местных жителей были убиты в Хороге во время разгона митинга."
    ru_new = "По словам родственников, трое местных жителей скончались в Хороге во время разгона митинга."
    assert key_changes(ru_old, ru_new, ["убить", "хорог"]) == ["«были убиты → скончались»"]
    text = "\n".join(BEFORE)
    assert key_changes(text, text + "\nViews: 1,299", ["killed"]) == [], "an added counter is no edit"
    assert key_changes(text + "\nViews: 1,204", text + "\nViews: 1,299", ["killed"]) == [], "nor a counter line"


def test_a_lowered_death_toll_is_reported_once_with_both_versions_kept(tmp_path):
    with LocalSite() as site:
        site.add("/news/clashes", article_html(TITLE, BEFORE))
        site.add("/feed.xml", Page(rss("Outlet", [{"title": TITLE, "path": "/news/clashes"}], base=site.base)
                                   .encode(), content_type="application/rss+xml"))
        (tmp_path / "feeds.yaml").write_text(f"feeds:\n  - name: Outlet\n    url: {site.url('/feed.xml')}\n"
                                             "settings:\n  timeout: 15\n  digest_interval: 1s\n", encoding="utf-8")  # nothing here may time out
        state = tmp_path / "state.db"
        common = ("--feeds", str(tmp_path / "feeds.yaml"), "--keywords", str(PROJECT / "keywords.yaml"),
                  "--state", str(state))
        first = run_cli("run", "--once", *common, cwd=tmp_path)
        assert first.returncode == 0 and TITLE in first.stdout, first.stdout + first.stderr
        site.add("/news/clashes", article_html(TITLE, AFTER))
        age(state, 1.5)
        second = run_cli("run", "--once", *common, cwd=tmp_path)
        age(state, 8)
        site.pages.pop("/news/clashes")  # a week later the publisher took the report down
        third = run_cli("run", "--once", *common, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "Pages changed since capture" in second.stdout and "killed: 3 → 1" in second.stdout, second.stdout
    assert "killed: 3 → 1" not in third.stdout, "reported once"
    assert "removed by the publisher (HTTP 404)" in third.stdout, third.stdout + third.stderr
    db = sqlite3.connect(state)
    rows = db.execute("SELECT reason, change, change_note, payload_sha256, captured_at FROM captures ORDER BY id"
                      ).fetchall()
    assert [(r[0], r[1]) for r in rows] == [("first", None), ("recheck", "edited"), ("recheck", "removed")]
    assert rows[1][2] == "edited: killed: 3 → 1" and rows[0][3] != rows[1][3], "both versions kept"
    # the web story page shows every version with its date, the diff and the removal
    from tests.web.test_web import browse, config

    page = browse(config(state), lambda c: c.get("/story/1"))[0].text
    section = page.split('<section class="versions">', 1)[1].split("</section>", 1)[0]
    assert section.count('<li class="version') == 3
    assert all(r[4] in section for r in rows), "each version's date"
    assert "edited: killed: 3 → 1" in section and "+Relatives and local activists said that 1 person" in section
    assert '<strong class="removed">removed by the publisher (HTTP 404)</strong>' in section

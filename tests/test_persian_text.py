"""Persian text keeps its zero-width non-joiners (ZWNJ, U+200C): «می‌خواهند» is one word with a half-space,
and without it the word reads differently. They stay in the stored text, the digest and the export; only
the matching folds them (monitor.relevance.morph.fold)."""

from __future__ import annotations

import json

from tests.conftest import PROJECT, run_cli
from tests.support.faultserver import feeds_yaml
from tests.support.localsite import Page, article_html, rss

ZWNJ = "\u200c"
TITLE = f"بازداشت فعالان پامیری در خاروغ؛ خانواده‌ها می{ZWNJ}خواهند خبر بگیرند"
BODY = [f"نیروهای امنیتی دو فعال پامیری را در خاروغ بازداشت کردند و خانواده{ZWNJ}ها می{ZWNJ}گویند از آنها خبری ندارند.",
        f"مدافعان حقوق بشر می{ZWNJ}گویند این بازداشت{ZWNJ}ها در بدخشان کوهستانی رایج شده است."]


def test_zwnj_is_kept_in_the_stored_text_the_digest_and_the_export(tmp_path, site):
    site.add("/fa/1", article_html(TITLE, BODY))
    site.add("/feed.xml", Page(rss("Feed", [{"title": TITLE, "path": "/fa/1"}], base=site.base).encode(),
                               content_type="application/rss+xml"))
    feeds = feeds_yaml(tmp_path / "feeds.yaml", [("Feed", site.url("/feed.xml"))])
    state = tmp_path / "state.db"
    common = ("--feeds", str(feeds), "--keywords", str(PROJECT / "keywords.yaml"), "--state", str(state))
    ran = run_cli("run", "--once", *common, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert f"خانواده{ZWNJ}ها می{ZWNJ}گویند" in ran.stdout, f"the digest: {ran.stdout}"
    shown = run_cli("show", "1", *common, cwd=tmp_path)
    assert f"می{ZWNJ}گویند" in shown.stdout and f"می{ZWNJ}خواهند" in shown.stdout, shown.stdout
    exported = run_cli("export", "--since", "2020-01-01", *common, cwd=tmp_path)
    (record,) = [json.loads(line) for line in exported.stdout.splitlines() if line.strip()]
    assert record["title"] == TITLE
    assert f"بازداشت{ZWNJ}ها" in json.dumps(record, ensure_ascii=False), record

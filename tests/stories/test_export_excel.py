"""A CSV export a monitor double-clicks opens in Excel with its Cyrillic and Persian intact (`--excel`)."""

from __future__ import annotations

import csv
import io

from monitor.models import Article, FeedEntry, MatchResult, TopicHit
from monitor.store import Store
from tests.conftest import run_cli
from tests.stories.test_export import T0

TITLES = ("В Хороге задержаны трое активистов", "بازداشت فعالان پامیری در خاروغ")


def _state(path) -> None:
    store = Store(path)
    for n, title in enumerate(TITLES):
        url = f"https://news.example/{n}"
        item = store.record_item(feed="Ozodi", guid=None, url=url, url_key=url, status="matched")
        article = Article(FeedEntry("Ozodi", url, title=title, published=T0), url, title, title, T0, T0, "ab" * 32)
        store.add_story(item, article, MatchResult(hits=(TopicHit("gbao_rights", 3.0, ("хорог",)),), snippet=title))
    store.close()


def test_excel_csv_starts_with_a_byte_order_mark_to_a_file_and_to_stdout(tmp_path):
    state = tmp_path / "monitor.db"
    _state(state)
    result = run_cli("export", "--format", "csv", "--excel", "-o", str(tmp_path / "out.csv"), "--state", str(state))
    assert result.returncode == 0, result.stderr
    data = (tmp_path / "out.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf"), "Excel reads UTF-8 only after a BOM"
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert {r["title"] for r in rows} == set(TITLES) and "\r\n" in data.decode("utf-8-sig")
    piped = run_cli("export", "--format", "csv", "--excel", "--state", str(state))
    assert piped.returncode == 0 and piped.stdout.startswith("\ufeffstory_id,"), piped.stdout[:20]
    plain = run_cli("export", "--format", "csv", "--state", str(state))
    assert plain.stdout.startswith("story_id,"), "without --excel the CSV stays as it was"
    jsonl = run_cli("export", "--excel", "--state", str(state))
    assert jsonl.returncode == 2 and "--excel" in jsonl.stderr and len(jsonl.stderr.strip().splitlines()) == 1

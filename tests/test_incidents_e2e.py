"""A monitor's story: one detention in Khorog, reported in English, Russian, Tajik and Persian by four outlets,
and another man's detention there the same day. `monitor incidents` lists two incidents, not six stories."""

from __future__ import annotations

import csv
import json

from tests.conftest import PROJECT, run_cli
from tests.support.localsite import Page, article_html, rss
from monitor.stories.incident_eval import load_folder
from monitor.stories.incident_export import UWAZI_COLUMNS

LABELLED = PROJECT / "tests" / "stories" / "incidents-labelled"
CONTRACT = ["id", "act", "date", "date_precision", "place", "district", "victims", "killed", "wounded", "detained",
            "sentence_years", "perpetrators", "status", "reports"]


def test_one_detention_in_four_languages_is_one_incident(site, tmp_path, clean_env):
    samples = [s for s in load_folder(LABELLED) if s.incident in ("nazarov-detention", "shoev-detention")]
    feeds = ["feeds:"]
    for i, s in enumerate(samples):
        day = s.published.date().isoformat()
        site.add(f"/{i}/story", article_html(s.title, s.text.split("\n\n"), lang=s.lang, date=day))
        site.add(f"/{i}/feed.xml", Page(rss(s.outlet, [{"title": s.title, "path": f"/{i}/story",
                                                        "date": s.published.strftime("%a, %d %b %Y %H:%M:%S +0000")}],
                                            base=site.base).encode(), 200, "application/rss+xml"))
        feeds += [f"  - name: {s.outlet} {i}", f"    url: {site.url(f'/{i}/feed.xml')}", f"    language: {s.lang}"]
    (tmp_path / "feeds.yaml").write_text("\n".join(feeds) + "\n", encoding="utf-8")
    state = str(tmp_path / "monitor.db")
    common = ["--feeds", str(tmp_path / "feeds.yaml"), "--keywords", str(PROJECT / "keywords.yaml"), "--state", state]
    ran = run_cli("run", "--once", *common)
    assert ran.returncode == 0, ran.stderr
    listed = run_cli("incidents", "--format", "jsonl", *common)
    assert listed.returncode == 0, listed.stderr
    incidents = [json.loads(line) for line in listed.stdout.splitlines()]
    assert len(incidents) == 2
    assert all(list(i) == CONTRACT for i in incidents)
    nazarov = next(i for i in incidents if len(i["reports"]) == 4)
    assert (nazarov["act"], nazarov["place"], nazarov["date"], nazarov["status"]) == ("detention", "Khorog",
                                                                                       "2026-12-05", "draft")
    assert sorted(r["language"] for r in nazarov["reports"]) == ["en", "fa", "ru", "tg"]
    assert all(list(r) == ["story_id", "url", "outlet", "language"] for r in nazarov["reports"])
    other = next(i for i in incidents if i is not nazarov)
    assert len(other["reports"]) == 2 and other["victims"] in (["Umed Shoev"], ["Умеда Шоева"])
    table = run_cli("incidents", *common)
    assert "reported by 4 outlets in" in table.stdout and "detention · Khorog · 2026-12-05" in table.stdout

    report = run_cli("report", "--since", "2026-12-03", *common)
    assert report.returncode == 0, report.stderr
    assert "Incidents by act and district (killed / detained / sentenced):" in report.stdout
    rows = [" ".join(line.split()) for line in report.stdout.splitlines()]
    assert "detention Khorog 2 incidents 0 / 2 / 0" in rows, report.stdout

    # handed over as case files: the Uwazi CSV parses, one column per documented property
    uwazi = run_cli("export", "--incidents", "--format", "uwazi-csv", "-o", str(tmp_path / "u.csv"), *common)
    assert uwazi.returncode == 0, uwazi.stderr
    with open(tmp_path / "u.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == UWAZI_COLUMNS and len(rows) == 2
    row = next(r for r in rows if r["title__tg"])
    assert row["title"] == "Pamiri activist detained in Khorog" and row["title__ru"].startswith("В Хороге")
    assert row["type_of_act"] == "detention" and row["locality"] == "Khorog" and row["date_of_act"] == "2026-12-05"
    assert len(row["source_urls"].split("|")) == 4 and len(row["story_ids"].split("|")) == 4
    assert all(len(h) == 64 for h in row["capture_sha256"].split("|"))
    acled = run_cli("export", "--incidents", "--format", "jsonl", *common)
    event = next(json.loads(x) for x in acled.stdout.splitlines() if json.loads(x)["location"] == "Khorog"
                 and len(json.loads(x)["reports"]) == 4)
    assert (event["event_type"], event["sub_event_type"], event["admin2"]) == ("Strategic developments", "Arrests",
                                                                                "Khorog")
    assert {"url", "sha256", "story_id"} <= set(event["reports"][0])


def test_monitor_eval_incidents_prints_grouping_and_field_scores(clean_env):
    result = run_cli("eval", "--incidents", str(LABELLED), "--keywords", str(PROJECT / "keywords.yaml"))
    assert result.returncode == 0, result.stderr
    assert "12 report(s) grouped into 6 incident(s)" in result.stdout
    assert "grouping: precision 1.00, recall 1.00" in result.stdout
    assert "victims         10/10" in result.stdout


def test_a_bad_labelled_file_is_named_with_its_line(tmp_path, clean_env):
    (tmp_path / "a.txt").write_text("# incident: x\n# published: someday\n\ntext\n", encoding="utf-8")
    result = run_cli("eval", "--incidents", str(tmp_path), "--keywords", str(PROJECT / "keywords.yaml"))
    assert result.returncode == 2 and "a.txt:2: bad date 'someday'" in result.stderr
    assert "Traceback" not in result.stderr

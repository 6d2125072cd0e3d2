"""A monitor upgraded from before incidents: `monitor incidents --rebuild` files the stories it already has, and a
script reviews the records with `monitor incidents confirm|correct|merge|split` (what the web page does)."""

from __future__ import annotations

import json

from monitor.store import Store
from monitor.stories.incident_eval import load_folder
from tests.conftest import PROJECT, run_cli
from tests.review.test_rematch import in_process
from tests.stories.test_incident_review import LABELLED, store_reports


def test_rebuild_then_review_from_the_command_line(tmp_path, clean_env):
    state = tmp_path / "monitor.db"
    store = Store(state)
    try:
        store_reports(store, [s for s in load_folder(LABELLED) if s.incident in ("khorog-killing", "shoev-detention")])
    finally:
        store.close()
    common = ["--feeds", str(PROJECT / "feeds.yaml"), "--keywords", str(PROJECT / "keywords.yaml"), "--state",
              str(state)]
    rebuilt = run_cli("incidents", "--rebuild", "--format", "jsonl", *common)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "filed 4 stories under incidents" in rebuilt.stderr
    incidents = {i["act"]: i for i in map(json.loads, rebuilt.stdout.splitlines())}
    assert set(incidents) == {"killing", "detention"} and len(incidents["killing"]["reports"]) == 2
    killing = incidents["killing"]["id"]

    # the quick commands in this process (no interpreter start-up), as a script would call them
    fixed = in_process(["incidents", "correct", str(killing), "killed", "1", "--who", "Dilnoza", "--note", "HRW",
                        *common])
    assert fixed.returncode == 0, fixed.stderr
    assert f"incident {killing}: killed corrected; status draft" in fixed.stdout
    wrong = in_process(["incidents", "confirm", "999", *common])
    assert wrong.returncode == 1 and wrong.stderr.strip().endswith("there is no incident 999")
    assert "Traceback" not in wrong.stderr

    again = in_process(["incidents", "--format", "jsonl", *common])
    listed = {i["id"]: i for i in map(json.loads, again.stdout.splitlines())}
    assert len(listed) == 2 and listed[killing]["killed"] == 1
    store = Store(state)
    try:
        (review,) = store.incident_reviews(killing)
    finally:
        store.close()
    assert (review["action"], review["field"], review["who"], review["note"]) == ("correct", "killed", "Dilnoza", "HRW")

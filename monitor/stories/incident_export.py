"""Incidents as records: `monitor incidents` (a table, or JSON Lines: a contract scripts read) and
`monitor export --incidents` (JSON Lines, CSV and Uwazi CSV in ACLED / HURIDOCS terms).

The JSONL keys of `monitor incidents --format jsonl` are fixed: id, act, date, date_precision, place,
district, victims (names as the first report wrote them), killed, wounded, detained, sentence_years (a number,
or "life"), perpetrators, status (draft/confirmed) and reports (story_id, url, outlet, language).
"""

from __future__ import annotations

import json
from typing import TextIO

from monitor.models import LIFE_SENTENCE
from monitor.stories.incidents import from_json


def incident_records(store, since: str = "") -> list[dict]:
    """Every incident from `since` (ISO day of the act, else of its first report), with its reports."""
    rows = store.incidents_since(since)
    reports: dict[int, list] = {}
    for r in store.incident_reports_for([int(row["id"]) for row in rows]):
        reports.setdefault(int(r["incident_id"]), []).append(r)
    out = []
    for row in rows:
        rec = from_json(row["record"])
        years = rec.sentence_years
        out.append({
            "id": int(row["id"]), "act": rec.act or row["act"], "date": rec.date or None,
            "date_precision": rec.date_precision or None, "place": rec.place or None,
            "district": rec.district or None, "victims": [v.name for v in rec.victims], "killed": rec.killed,
            "wounded": rec.wounded, "detained": rec.detained,
            "sentence_years": "life" if years == LIFE_SENTENCE else (int(years) if years is not None and
                                                                     years == int(years) else years),
            "perpetrators": list(rec.perpetrators), "status": row["status"],
            "reports": [{"story_id": int(r["story_id"]), "url": r["final_url"] or r["url"], "outlet": r["source"],
                         "language": r["language"]} for r in reports.get(int(row["id"]), [])],
            "_evidence": dict(rec.evidence), "_reports": reports.get(int(row["id"]), []),
        })
    return out


def public(record: dict) -> dict:
    """The record with the contract's keys only."""
    return {k: v for k, v in record.items() if not k.startswith("_")}


def one_line(record: dict) -> str:
    """act · place · date · victims · counts, the record in one line (digest, table)."""
    counts = [f"{record[k]} {k}" for k in ("killed", "wounded", "detained") if record.get(k)]
    if record.get("sentence_years") is not None:
        years = record["sentence_years"]
        counts.append("life sentence" if years == "life" else f"{years} years")
    where = record.get("place") or record.get("district")
    when = record.get("date") and (record["date"] + ("" if record.get("date_precision") == "day"
                                                     else f" ({record['date_precision']})"))
    parts = [record["act"].replace("_", " "), where, when, ", ".join(record["victims"]), ", ".join(counts)]
    return " · ".join(p for p in parts if p)


def write_table(records: list[dict], out: TextIO) -> None:
    if not records:
        out.write("no incidents yet\n")
        return
    for r in records:
        langs = ", ".join(dict.fromkeys(x["language"] for x in r["reports"] if x["language"]))
        outlets = len({x["outlet"] for x in r["reports"]})
        out.write(f"{r['id']:>5}  {r['status']:<9} {one_line(r)}\n")
        out.write(f"       reported by {outlets} outlet{'s' if outlets != 1 else ''}"
                  f"{' in ' + langs if langs else ''}: " + ", ".join(f"story {x['story_id']}" for x in r["reports"])
                  + "\n")


def write_jsonl(records: list[dict], out: TextIO) -> None:
    for r in records:
        out.write(json.dumps(public(r), ensure_ascii=False) + "\n")

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


def incident_records(store, since: str = "", ids: set[int] | None = None) -> list[dict]:
    """Every incident from `since` (ISO day of the act, else of its first report), or those of `ids`, with its
    reports."""
    rows = store.incidents_since(since) if ids is None else store.incidents_by_id(list(ids))
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


# --- export --incidents: ACLED and HURIDOCS field names ------------------------------------------

# our act → ACLED (event_type, sub_event_type)
ACLED_TYPES = {
    "killing": ("Violence against civilians", "Attack"),
    "death_in_custody": ("Violence against civilians", "Attack"),
    "torture": ("Violence against civilians", "Attack"),
    "disappearance": ("Violence against civilians", "Abduction/forced disappearance"),
    "detention": ("Strategic developments", "Arrests"),
    "protest": ("Protests", "Protest with intervention"),
    "property": ("Strategic developments", "Looting/property destruction"),
}
LANGUAGES = ("en", "ru", "tg", "fa")
CSV_COLUMNS = ("event_id", "event_date", "time_precision", "event_type", "sub_event_type", "type_of_act", "country",
               "admin1", "admin2", "location", "victims", "actor1", "fatalities", "injured", "detained",
               "sentence_years", "status", "notes", "source", "source_urls", "capture_sha256", "story_ids")
UWAZI_COLUMNS = (("title",) + tuple(f"title__{lang}" for lang in LANGUAGES) +
                 ("type_of_act", "date_of_act", "date_precision", "country", "region", "district", "locality",
                  "victims", "perpetrators", "killed", "wounded", "detained", "sentence_years", "status", "summary",
                  "sources", "source_urls", "capture_sha256", "story_ids", "languages"))
_PRECISION = {"day": 1, "week": 2, "month": 3}


def _evidence(record: dict) -> list[dict]:
    """Each report's evidence link: URL, the capture's SHA-256 (else the page's), the story id."""
    return [{"story_id": int(r["story_id"]), "url": r["final_url"] or r["url"], "outlet": r["source"],
             "language": r["language"], "title": r["title"], "published": r["published"],
             "sha256": r["capture_sha256"] or r["raw_sha256"] or ""} for r in record["_reports"]]


def export_record(record: dict) -> dict:
    """One incident in ACLED / HURIDOCS terms (JSON Lines and CSV share these names)."""
    event_type, sub = ACLED_TYPES.get(record["act"], ("Strategic developments", "Other"))
    reports = _evidence(record)
    return {
        "event_id": record["id"], "event_date": record["date"],
        "time_precision": _PRECISION.get(record["date_precision"] or ""), "event_type": event_type,
        "sub_event_type": sub, "type_of_act": record["act"], "country": "Tajikistan",
        "admin1": "Gorno-Badakhshan Autonomous Region" if record["district"] else None, "admin2": record["district"],
        "location": record["place"], "victims": record["victims"], "actor1": record["perpetrators"],
        "fatalities": record["killed"], "injured": record["wounded"], "detained": record["detained"],
        "sentence_years": record["sentence_years"], "status": record["status"], "notes": one_line(record),
        "source": sorted({r["outlet"] for r in reports}), "reports": reports,
        "evidence": record["_evidence"],
    }


def _cell(value, between: str = "; ") -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return between.join(str(v) for v in value)
    return str(value)


def write_export(records: list[dict], fmt: str, out: TextIO) -> int:
    """`monitor export --incidents --format jsonl|csv|uwazi-csv`; returns the number of incidents."""
    import csv

    if fmt == "jsonl":
        for r in records:
            out.write(json.dumps(export_record(r), ensure_ascii=False) + "\n")
        return len(records)
    writer = csv.writer(out)
    if fmt == "csv":
        writer.writerow(CSV_COLUMNS)
        for r in records:
            row = export_record(r)
            reports = row["reports"]
            row.update(source_urls=[x["url"] for x in reports], capture_sha256=[x["sha256"] for x in reports],
                       story_ids=[x["story_id"] for x in reports])
            writer.writerow([_cell(row[c]) for c in CSV_COLUMNS])
        return len(records)
    writer.writerow(UWAZI_COLUMNS)
    for r in records:
        row = export_record(r)
        reports = row["reports"]
        titles = {}
        for x in reports:
            titles.setdefault(x["language"], x["title"])
        best = titles.get("en") or (reports[0]["title"] if reports else one_line(r))
        values = {"title": best, **{f"title__{lang}": titles.get(lang, "") for lang in LANGUAGES},
                  "type_of_act": r["act"], "date_of_act": r["date"], "date_precision": r["date_precision"],
                  "country": "Tajikistan", "region": row["admin1"], "district": r["district"], "locality": r["place"],
                  "victims": r["victims"], "perpetrators": r["perpetrators"], "killed": r["killed"],
                  "wounded": r["wounded"], "detained": r["detained"], "sentence_years": r["sentence_years"],
                  "status": r["status"], "summary": one_line(r), "sources": sorted({x["outlet"] for x in reports}),
                  "source_urls": [x["url"] for x in reports], "capture_sha256": [x["sha256"] for x in reports],
                  "story_ids": [x["story_id"] for x in reports],
                  "languages": list(dict.fromkeys(x["language"] for x in reports if x["language"]))}
        writer.writerow([_cell(values[c], "|") for c in UWAZI_COLUMNS])
    return len(records)

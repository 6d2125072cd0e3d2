"""A researcher's review of an incident: confirm a field (or the whole record), correct a field, merge two
incidents, split one. The web interface's incident page and `monitor incidents confirm|correct|merge|split` are
thin layers over these functions.

Every action is kept like a label: who, when (monitor.clock) and what was there before, in `incident_reviews`,
in the same transaction as the change. A field a researcher confirmed or corrected is locked
(`incidents.reviewed`): a later report joining the incident never overwrites it (`incidents.merged`). An
incident whose every stated field is confirmed or corrected, or that was confirmed as a whole, is `confirmed`; a
later report that fills a field nobody reviewed makes it `draft` again (`incidents.status_of`, in Grouper.assign).
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import date, datetime
from functools import reduce

from monitor import clock
from monitor.models import LIFE_SENTENCE, DraftRecord, Victim
from monitor.relevance.incident_vocab import _LOCALITIES, ACT_NAMES
from monitor.relevance.persons import person_key
from monitor.stories.incidents import (
    REVIEWABLE,
    anchor_of,
    from_json,
    locked_fields,
    merged,
    status_of,
    to_json,
)

FIELDS = REVIEWABLE  # the fields a researcher confirms or corrects
COUNTS = ("killed", "wounded", "detained")


class ReviewError(ValueError):
    """A review that cannot be done, in one line a researcher can act on."""


def shown(record: DraftRecord, name: str) -> str:
    """A field as the page shows it, written so that `correct` reads it back."""
    if name == "date":
        if not record.date:
            return ""
        if record.date_precision == "month":
            return record.date[:7]
        return record.date + (" week" if record.date_precision == "week" else "")
    if name == "place":
        if not record.place:
            return ""
        return record.place if record.district in ("", record.place) else f"{record.place}, {record.district}"
    if name == "victims":
        return ", ".join(v.name for v in record.victims)
    if name == "perpetrators":
        return ", ".join(record.perpetrators)
    if name == "sentence_years":
        years = record.sentence_years
        return "" if years is None else "life" if years == LIFE_SENTENCE else f"{years:g}"
    value = getattr(record, name)
    return "" if value is None else str(value)


def _localities() -> tuple[dict[str, tuple[str, str]], set[str]]:
    return ({loc.casefold(): (loc, dist) for loc, dist, _ in _LOCALITIES},
            {dist for _, dist, _ in _LOCALITIES})


def parse_value(name: str, text: str) -> dict:
    """The record's fields after a correction of `name` to `text` ('' empties it); ReviewError if unreadable."""
    text = " ".join((text or "").split())
    if name not in FIELDS:
        raise ReviewError(f"unknown field {name!r}; the fields are {', '.join(FIELDS)}")
    if name == "act":
        if text not in ACT_NAMES:
            raise ReviewError(f"unknown act {text!r}; the acts are {', '.join(ACT_NAMES)}")
        return {"act": text}
    if name == "date":
        if not text:
            return {"date": "", "date_precision": ""}
        m = re.fullmatch(r"(\d{4}-\d\d-\d\d)(?: (week|day))?|(\d{4}-\d\d)(?: month)?", text)
        try:
            if m and m.group(1):
                date.fromisoformat(m.group(1))
                return {"date": m.group(1), "date_precision": m.group(2) or "day"}
            if m:
                date.fromisoformat(m.group(3) + "-01")
                return {"date": m.group(3) + "-01", "date_precision": "month"}
        except ValueError:
            pass
        raise ReviewError(f"{text!r} is not a date: write YYYY-MM-DD, 'YYYY-MM-DD week' (the week from that day) "
                          "or YYYY-MM (the month)")
    if name == "place":
        if not text:
            return {"place": "", "district": ""}
        place, _, district = (p.strip() for p in text.partition(","))
        known, districts = _localities()
        if place.casefold() in known and not district:
            place, district = known[place.casefold()]
        elif district:
            found = {d.casefold(): d for d in districts}.get(district.casefold())
            if found is None:
                raise ReviewError(f"unknown GBAO district {district!r}; the districts are {', '.join(sorted(districts))}")
            district = found
            place = known.get(place.casefold(), (place, ""))[0]
        return {"place": place, "district": district}
    if name == "victims":
        names = [n.strip() for n in re.split(r"[,;]", text) if n.strip()]
        return {"victims": tuple(Victim(n, person_key(n)) for n in names)}
    if name == "perpetrators":
        return {"perpetrators": tuple(dict.fromkeys(
            re.sub(r"\s+", "_", p.strip().casefold()) for p in re.split(r"[,;]", text) if p.strip()))}
    if not text:
        return {name: None}
    if name == "sentence_years":
        if text.casefold() in ("life", "life sentence"):
            return {name: LIFE_SENTENCE}
        try:
            value = float(text.split()[0])
        except ValueError:
            raise ReviewError(f"{text!r} is not a sentence: write a number of years, or life") from None
        if not 0 < value < 99:
            raise ReviewError(f"{text!r} is not a sentence: write a number of years, or life")
        return {name: value}
    if not (text.isascii() and text.isdigit() and len(text) <= 7):
        raise ReviewError(f"{text!r} is not a count: write a whole number, or nothing when the text states none")
    return {name: int(text)}


def _open(store, incident_id: int) -> tuple:
    row = store.incident(incident_id)
    if row is None:
        raise ReviewError(f"there is no incident {incident_id}")
    if row["merged_into"] is not None:
        raise ReviewError(f"incident {incident_id} was merged into incident {row['merged_into']}; review that one")
    return row, from_json(row["record"]), json.loads(row["reviewed"] or "{}")


def _save(store, row, record: DraftRecord, reviewed: dict, anchor: str | None = None) -> str:
    status = status_of(record, reviewed)
    store.save_incident(int(row["id"]), act=record.act or row["act"], anchor=anchor or row["anchor"],
                        record=to_json(record), district=record.district, precision=record.date_precision,
                        status=status, reviewed=json.dumps(reviewed, sort_keys=True))
    return status


def _mark(how: str, who: str, at: str) -> dict:
    return {"how": how, "by": who, "at": at}


def confirm(store, incident_id: int, field: str = "", who: str = "web", note: str | None = None) -> str:
    """Confirm one field as the draft has it ('' or '*': the whole record). Returns the incident's status."""
    field = "" if field in ("", "*") else field
    if field and field not in FIELDS:
        raise ReviewError(f"unknown field {field!r}; the fields are {', '.join(FIELDS)}")
    at = clock.now().isoformat()
    with store.transaction():
        row, record, reviewed = _open(store, incident_id)
        before = reviewed.get(field or "*")
        reviewed[field or "*"] = _mark("confirmed", who, at)
        status = _save(store, row, record, reviewed)
        value = shown(record, field) if field else to_json(record)
        store.add_incident_review(incident_id, "confirm", field, json.dumps(before) if before else None,
                                  json.dumps(value, ensure_ascii=False), who, at, note)
    return status


def correct(store, incident_id: int, field: str, value: str, who: str = "web", note: str | None = None) -> str:
    """Set a field to the researcher's value (the draft's sentence no longer stands for it); locks the field."""
    changes = parse_value(field, value)
    at = clock.now().isoformat()
    with store.transaction():
        row, record, reviewed = _open(store, incident_id)
        previous = shown(record, field)
        evidence = tuple((k, s) for k, s in record.evidence if k != field)
        new = replace(record, **changes, evidence=evidence)
        reviewed[field] = _mark("corrected", who, at)
        status = _save(store, row, new, reviewed, anchor=new.date or None)
        if field == "victims":
            store.replace_incident_persons(incident_id, [(v.key, v.name) for v in new.victims])
        store.add_incident_review(incident_id, "correct", field, json.dumps(previous, ensure_ascii=False),
                                  json.dumps(shown(new, field), ensure_ascii=False), who, at, note)
    return status


def merge(store, survivor: int, absorbed: int, who: str = "web", note: str | None = None) -> None:
    """Two incidents are one event: `absorbed` gets merged_into = survivor and its reports move; the survivor's
    record takes what it lacked from the absorbed one (its confirmed and corrected fields stay)."""
    if survivor == absorbed:
        raise ReviewError("an incident cannot be merged into itself")
    at = clock.now().isoformat()
    with store.transaction():
        row, record, reviewed = _open(store, survivor)
        other, other_record, _ = _open(store, absorbed)
        new = merged(record, other_record, frozenset(reviewed))
        moving = [int(r["story_id"]) for r in store.incident_reports_for([absorbed])]
        store.move_incident_reports(moving, survivor)
        store.set_incident_merged(absorbed, survivor)
        store.replace_incident_persons(absorbed, [])
        store.add_incident_persons(survivor, [(v.key, v.name) for v in new.victims])
        _save(store, row, new, reviewed)
        store.add_incident_review(survivor, "merge", "", to_json(record), json.dumps(absorbed), who, at, note)
        store.add_incident_review(absorbed, "merged_into", "", other["record"], json.dumps(survivor), who, at, note)


def _rebuilt(reports: list) -> tuple[DraftRecord, str]:
    """The record the reports make on their own, filed in order, and its anchor day."""
    records = [from_json(r["record"]) for r in reports]
    record = reduce(merged, records[1:], records[0])
    first = reports[0]
    published = datetime.fromisoformat(first["published"]) if first["published"] else None
    return record, anchor_of(record, published, datetime.fromisoformat(first["fetched_at"]))


def split(store, incident_id: int, story_ids: list[int], who: str = "web", note: str | None = None) -> int:
    """The chosen reports tell of another event: they move to a new incident whose record they make; the rest
    stay, with the record remade from them (the fields a researcher confirmed or corrected kept). Returns the
    new incident's id."""
    at = clock.now().isoformat()
    with store.transaction():
        row, record, reviewed = _open(store, incident_id)
        reports = store.incident_reports_for([incident_id])
        chosen = {int(s) for s in story_ids}
        moving = [r for r in reports if int(r["story_id"]) in chosen]
        staying = [r for r in reports if int(r["story_id"]) not in chosen]
        if chosen - {int(r["story_id"]) for r in reports}:
            raise ReviewError(f"incident {incident_id} has no report from story "
                              f"{', '.join(map(str, sorted(chosen - {int(r['story_id']) for r in reports})))}")
        if not moving or not staying:
            raise ReviewError("choose some of the incident's reports to move, not none and not all")
        new_record, new_anchor = _rebuilt(moving)
        new_id = store.add_incident(new_record.act or "other", new_anchor, to_json(new_record), at,
                                    new_record.district, new_record.date_precision)
        store.move_incident_reports([int(r["story_id"]) for r in moving], new_id)
        store.replace_incident_persons(new_id, [(v.key, v.name) for v in new_record.victims])
        kept, anchor = _rebuilt(staying)
        if "*" in reviewed:
            kept = record
        else:
            kept = _overlay(kept, record, locked_fields(json.dumps(reviewed)))
        _save(store, row, kept, reviewed, anchor=kept.date or anchor)
        store.replace_incident_persons(incident_id, [(v.key, v.name) for v in kept.victims])
        moved = json.dumps({"incident": new_id, "stories": sorted(chosen)})
        store.add_incident_review(incident_id, "split", "", to_json(record), moved, who, at, note)
        store.add_incident_review(new_id, "split_from", "", None, json.dumps(incident_id), who, at, note)
    return new_id


def _overlay(record: DraftRecord, reviewed_record: DraftRecord, locked: frozenset[str]) -> DraftRecord:
    """`record` with the locked fields (and their sentences) taken from the reviewed record."""
    changes: dict = {}
    names = {"date": ("date", "date_precision"), "place": ("place", "district")}
    for field in locked & set(FIELDS):
        for name in names.get(field, (field,)):
            changes[name] = getattr(reviewed_record, name)
    evidence = dict(record.evidence)
    for field in locked & set(FIELDS):
        evidence.pop(field, None)
        if reviewed_record.sentence_for(field):
            evidence[field] = reviewed_record.sentence_for(field)
    return replace(record, **changes, evidence=tuple(evidence.items()))

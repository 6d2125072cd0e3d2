"""Many reports, one incident: a report joins the incident of the same act, at a compatible date, in the same
place, with overlapping victims (or, when neither names anyone, the same place and day).

Two detentions of different people in Khorog on the same day stay two incidents: both name their person, and
the names do not overlap. A report that recalls May 2022 has its record read from today's sentences only
(monitor.relevance.incident), so its date and act never reach back to the May 2022 incident. A detained
person's later sentence is another act, so a new incident; the person links them (`incident_persons`).

Candidates are the incidents of the same act within a window of days, found on an index (flat in the number
of incidents); the decision is the pure function `compatible`.
"""

from __future__ import annotations

import calendar
import json
import logging
from dataclasses import asdict, replace
from datetime import date, datetime, timedelta

from monitor.models import DraftRecord, Victim
from monitor.relevance.persons import same_person

log = logging.getLogger(__name__)

WINDOW = 32  # days before a report's span that a month-precision incident may be anchored
REPORT_LAG = 4  # an undated report tells of an act at most this many days before it was published


def _shift(day: date, days: int) -> date:
    """day + days, held at the calendar's ends (a feed dated 9999-12-31 must not stop the run)."""
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.max if days > 0 else date.min


def to_json(record: DraftRecord) -> str:
    return json.dumps(asdict(record), ensure_ascii=False, sort_keys=True)


def from_json(text: str) -> DraftRecord:
    data = json.loads(text)
    data["victims"] = tuple(Victim(**v) for v in data.get("victims", ()))
    data["perpetrators"] = tuple(data.get("perpetrators", ()))
    data["evidence"] = tuple(tuple(e) for e in data.get("evidence", ()))
    return DraftRecord(**data)


def anchor_of(record: DraftRecord, published: datetime | None, fetched_at: datetime) -> str:
    """The day a report is filed under: its act's date, else its publication (else fetch) day."""
    return record.date or (published or fetched_at).date().isoformat()


def span(record: DraftRecord, anchor: str) -> tuple[date, date]:
    """The days the act may have happened on, by what the report says (or when it was published)."""
    if record.date:
        start = date.fromisoformat(record.date)
        if record.date_precision == "week":
            return start, _shift(start, 6)
        if record.date_precision == "month":
            return start, start.replace(day=calendar.monthrange(start.year, start.month)[1])
        return start, start
    day = date.fromisoformat(anchor)
    return _shift(day, -REPORT_LAG), day


def compatible(new: DraftRecord, new_anchor: str, old: DraftRecord, old_anchor: str) -> bool:
    """Whether a report's record and an incident's record tell of one event (see the module's docstring)."""
    if not new.act or new.act != old.act or new.act == "other":
        return False
    (a0, a1), (b0, b1) = span(new, new_anchor), span(old, old_anchor)
    if a0 > _shift(b1, 1) or b0 > _shift(a1, 1):
        return False
    if new.district and old.district and new.district != old.district:
        return False
    if new.place and old.place and new.place != old.place and new.district not in (new.place, old.place):
        return False
    if new.victims and old.victims:
        return any(same_person(a.key, b.key) for a in new.victims for b in old.victims)
    if any(getattr(new, f) and getattr(old, f) and getattr(new, f) != getattr(old, f) for f in ("killed", "detained")):
        return False  # three students and one teacher are two detentions, whatever else they share
    if new.place and old.place and new.date_precision == old.date_precision == "day" and new.date and old.date:
        return True  # the same act at the same place on the same stated day (give or take the day a report
        # counts from); a week or a month is too wide to join reports that name nobody
    # neither place on both sides: the same stated toll is the last thing that can tie them
    return any(getattr(new, f) and getattr(new, f) == getattr(old, f) for f in ("killed", "detained"))


def locked_fields(reviewed: str | None) -> frozenset[str]:
    """The fields a researcher confirmed or corrected (`incidents.reviewed`); '*': the whole record."""
    try:
        return frozenset(json.loads(reviewed or "{}"))
    except (ValueError, TypeError):
        return frozenset()


REVIEWABLE = ("act", "date", "place", "victims", "killed", "wounded", "detained", "sentence_years", "perpetrators")


def status_of(record: DraftRecord, reviewed) -> str:
    """`confirmed` when the whole record ('*'), or every field that holds a value, was confirmed or corrected by a
    researcher (`reviewed`: the field names); `draft` as soon as one stated field is not (a later report filled
    it): the record then holds something nobody checked."""
    if "*" in reviewed:
        return "confirmed"
    stated = [f for f in REVIEWABLE if getattr(record, f) not in ("", None, ())]
    return "confirmed" if reviewed and all(f in reviewed for f in stated) else "draft"


def merged(old: DraftRecord, new: DraftRecord, locked: frozenset[str] = frozenset()) -> DraftRecord:
    """The incident's record after one more report: fields it lacked are filled (with their sentences), victims
    added by key; what it had stays (a researcher corrects, reports do not overwrite), and a field a researcher
    confirmed or corrected (`locked`) is never touched, even when it is empty."""
    if "*" in locked:
        return old
    changes: dict = {}
    evidence = dict(old.evidence)
    new_evidence = dict(new.evidence)
    for name in ("date", "place", "killed", "wounded", "detained", "sentence_years"):
        if name in locked:
            continue
        if getattr(old, name) in ("", None) and getattr(new, name) not in ("", None):
            changes[name] = getattr(new, name)
            if name == "date":
                changes["date_precision"] = new.date_precision
            if name == "place":
                changes["district"] = new.district
            if name in new_evidence:
                evidence[name] = new_evidence[name]
    victims = list(old.victims)
    for v in (() if "victims" in locked else new.victims):
        if not any(same_person(v.key, w.key) for w in victims):
            victims.append(v)
            evidence.setdefault("victims", new_evidence.get("victims", ""))
    perps = old.perpetrators if "perpetrators" in locked else tuple(dict.fromkeys(old.perpetrators + new.perpetrators))
    if perps != old.perpetrators and "perpetrators" not in evidence:
        evidence["perpetrators"] = new_evidence.get("perpetrators", "")
    return replace(old, **changes, victims=tuple(victims), perpetrators=perps, evidence=tuple(evidence.items()))


class Grouper:
    """Files each new story's record under its incident; call `assign` inside the story's transaction."""

    def __init__(self, store):
        self.store = store

    def assign(self, story_id: int, record: DraftRecord, published: datetime | None, fetched_at: datetime) -> int:
        """The incident this report belongs to (an existing one, updated, or a new one)."""
        anchor = anchor_of(record, published, fetched_at)
        found = None
        if record.act and record.act != "other":
            a0, a1 = span(record, anchor)  # an incident's anchor lies within a week of it, or a month before
            lo, near, hi = _shift(a0, -WINDOW), _shift(a0, -7), _shift(a1, REPORT_LAG + 1)
            for row in self.store.incident_candidates(record.act, lo.isoformat(), hi.isoformat(), record.district,
                                                      near.isoformat()):
                old = from_json(row["record"])
                if compatible(record, anchor, old, row["anchor"]):
                    found = (int(row["id"]), old, locked_fields(row["reviewed"]))
                    break
        kept = record
        if found is None:
            incident_id = self.store.add_incident(record.act or "other", anchor, to_json(record),
                                                  fetched_at.isoformat(), record.district, record.date_precision)
        else:
            incident_id, old, locked = found
            kept = merged(old, record, locked)
            # a field this report filled was reviewed by nobody: a confirmed incident is a draft again
            self.store.update_incident(incident_id, to_json(kept), kept.district, kept.date_precision,
                                       status_of(kept, locked))
        self.store.add_incident_report(story_id, incident_id, record.language, to_json(record))
        self.store.add_incident_persons(incident_id, [(v.key, v.name) for v in kept.victims])
        return incident_id


class MemoryIncidents:
    """The store's incident queries in memory, for `monitor eval` and the benchmark (same contract)."""

    def __init__(self) -> None:
        self.rows: dict[int, dict] = {}
        self.by_act: dict[str, list[int]] = {}
        self.reports: dict[int, int] = {}
        self.persons: set[tuple[str, int]] = set()

    def incident_candidates(self, act: str, first_day: str, last_day: str, district: str = "", near_day: str = "",
                            limit: int = 200) -> list[dict]:
        found = [self.rows[i] for i in reversed(self.by_act.get(act, ()))
                 if first_day <= self.rows[i]["anchor"] <= last_day]
        return found[:limit]

    def add_incident(self, act: str, anchor: str, record: str, created_at: str, district: str = "",
                     precision: str = "") -> int:
        incident_id = len(self.rows) + 1
        self.rows[incident_id] = {"id": incident_id, "anchor": anchor, "record": record, "reviewed": "{}"}
        self.by_act.setdefault(act, []).append(incident_id)
        return incident_id

    def update_incident(self, incident_id: int, record: str, district: str = "", precision: str = "",
                        status: str = "draft") -> None:
        self.rows[incident_id]["record"] = record

    def add_incident_report(self, story_id: int, incident_id: int, language: str, record: str) -> None:
        self.reports.setdefault(story_id, incident_id)

    def add_incident_persons(self, incident_id: int, persons) -> None:
        self.persons.update((k, incident_id) for k, _ in persons)


class IncidentDesk:
    """The pipeline's one handle on incidents: read a new story's record (before its transaction: pure CPU),
    then file it (inside). The reader is compiled at the first match, so a quiet cycle never pays for it."""

    def __init__(self, rules, store):
        self.rules, self.store = rules, store
        self._reader = None
        self.grouper = Grouper(store)

    def read(self, title: str, text: str, published: datetime | None, language: str = "") -> DraftRecord | None:
        if self._reader is None:
            from monitor.relevance.incident import IncidentReader

            self._reader = IncidentReader(self.rules)
        try:
            return self._reader.read(title, text, published, language)
        except Exception as exc:  # a reader's bug must never cost the story: it is kept without a record
            log.warning("no incident record for %r: %s: %s", title[:60], type(exc).__name__, exc)
            return None

    def file(self, story_id: int, record: DraftRecord | None, published: datetime | None,
             fetched_at: datetime) -> int | None:
        if record is None:
            return None
        try:
            return self.grouper.assign(story_id, record, published, fetched_at)
        except (ValueError, OverflowError) as exc:  # an odd date: the story is kept, without an incident
            log.warning("story %d: not filed under an incident: %s", story_id, exc)
            return None

    def file_unfiled(self, languages: dict[str, str] | None = None, batch: int = 200) -> int:
        """File every story no incident lists yet (stored before incidents existed, or by an older `rematch`),
        oldest first, `batch` stories a transaction (read before it); idempotent: a second call finds none.
        Returns how many were filed."""
        filed = 0
        ids = self.store.unfiled_story_ids()
        for at in range(0, len(ids), batch):
            read = []
            for row in self.store.stories_by_ids(ids[at:at + batch]):
                published = datetime.fromisoformat(row["published"]) if row["published"] else None
                language = (languages or {}).get(row["source"], "")
                read.append((int(row["id"]), self.read(row["title"] or "", row["text"] or "", published, language),
                             published, datetime.fromisoformat(row["fetched_at"])))
            with self.store.transaction():
                filed += sum(self.file(*one) is not None for one in read)
        return filed

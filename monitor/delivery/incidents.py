"""The incident layer of digests and alerts: the reports of one incident waiting together become one entry.

An entry is the story with the best headline (a report in `digest_language:` when there is one, else the
best score); it lists every other report of the incident as "also reported by" and carries the record in one
line ("Incident 12 · reported by 4 outlets in en, ru, tg, fa · detention · Khorog · 2026-12-05 · …"). The
other waiting reports are folded into it and taken by the same digest. An urgent alert goes out once per
incident; later reports of it wait for the digest, where they arrive as that incident's entry. It also goes
out once per headline: an aggregator's copy of an alerted report, its text too thin to be folded, waits too.
"""

from __future__ import annotations

import unicodedata
from dataclasses import replace
from datetime import datetime, timedelta

from monitor.models import DigestStory
from monitor.stories.incident_export import incident_records, one_line


def fold_incidents(store, stories: list[DigestStory], language: str | None = None
                   ) -> tuple[list[DigestStory], tuple[int, ...]]:
    """The stories as one entry per incident, and the ids of the stories folded into another's entry."""
    of = store.incidents_of_stories([s.story_id for s in stories])
    if not of:
        return stories, ()
    records = {r["id"]: r for r in _records(store, set(of.values()))}
    groups: dict[int, list[DigestStory]] = {}
    for s in stories:
        if s.story_id in of:
            groups.setdefault(of[s.story_id], []).append(s)
    keep: list[DigestStory] = []
    folded: list[int] = []
    placed: set[int] = set()
    for s in stories:
        incident = of.get(s.story_id)
        if incident is None:
            keep.append(s)
            continue
        if incident in placed:
            continue
        placed.add(incident)
        record = records.get(incident)
        group = groups[incident]
        langs = {r["story_id"]: r["language"] for r in (record["reports"] if record else [])}
        best = next((g for g in group if language and langs.get(g.story_id) == language), group[0])
        folded += [g.story_id for g in group if g is not best]
        keep.append(entry(best, record) if record else best)
    return keep, tuple(folded)


def entry(story: DigestStory, record: dict) -> DigestStory:
    """The story as its incident's entry: every other report as a further source, and the record's line."""
    seen = {story.url} | {u for _, u in story.also_reported_by}
    others = tuple((r["outlet"], r["url"]) for r in record["reports"] if r["url"] not in seen)
    titles = tuple(r["title"] or "" for r in record["_reports"] if (r["final_url"] or r["url"]) not in seen)
    also_titles = (story.also_titles + ("",) * (len(story.also_reported_by) - len(story.also_titles)))[
        :len(story.also_reported_by)] + titles
    return replace(story, also_reported_by=story.also_reported_by + others, also_titles=also_titles,
                   incident=incident_line(record))


def incident_line(record: dict) -> str:
    outlets = len({r["outlet"] for r in record["reports"]})
    langs = ", ".join(dict.fromkeys(r["language"] for r in record["reports"] if r["language"]))
    told = f"reported by {outlets} outlet{'s' if outlets != 1 else ''}" + (f" in {langs}" if langs else "")
    return f"Incident {record['id']} · {told} · {one_line(record)}"


def _records(store, ids: set[int]) -> list[dict]:
    """The records of these incidents (the store lists by day; the few ids of one digest are filtered here)."""
    return incident_records(store, ids=ids)


ECHO_DAYS = 7  # an alert's headline seen again within this many days, over a thin text, is a copy of it
ECHO_MIN_WORDS = 4  # ... when it has at least this many words ("Breaking news" is no report's own headline)
THIN_WORDS = 40  # ... and a text this short: stories/neardup.MIN_WORDS, under which no text is folded by itself


def same_report(text: str) -> str:
    """A title as two copies of one report share it: case, spacing and punctuation aside."""
    folded = unicodedata.normalize("NFKC", text or "").casefold()
    return " ".join("".join(c if c.isalnum() else " " for c in folded).split())


def first_alerts(store, stories: list[DigestStory], now: datetime) -> list[DigestStory]:
    """The urgent stories whose incident has had no alert yet (one per incident), as their incident's entry;
    a thin text under the headline of an alert of the last ECHO_DAYS is a copy of it (an aggregator's teaser,
    too short to be folded by its text) and waits for the digest too. A full report of a new event under a
    headline seen before («В Хороге задержан активист») is alerted."""
    if not stories:
        return []
    of = store.incidents_of_stories([s.story_id for s in stories])
    out: list[DigestStory] = []
    alerted: set[int] = set()
    headlines = {same_report(a.title) for a in store.urgent_alerts_since(now - timedelta(days=ECHO_DAYS))}
    for s in stories:
        headline = same_report(s.title)
        if len(headline.split()) >= ECHO_MIN_WORDS:
            if headline in headlines and len((store.story(s.story_id)["text"] or "").split()) < THIN_WORDS:
                continue
            headlines.add(headline)
        incident = of.get(s.story_id)
        if incident is None:
            out.append(s)
            continue
        if incident in alerted or store.incident_alerted(incident):
            continue
        alerted.add(incident)
        record = next(iter(_records(store, {incident})), None)
        out.append(replace(s, incident=incident_line(record)) if record else s)
    return out


# the weekly report counts incidents by act and district, the gravest acts first
GRAVITY = ("killing", "death_in_custody", "disappearance", "torture", "detention", "sentence", "extradition",
           "summons", "protest", "shutdown", "property", "other")


def weekly_counts(store, since, until) -> list[tuple[str, str, int, int, int, int]]:
    """(act, district, incidents, people killed, detained, sentenced) of the incidents of the week (by the act's
    date, else the first report's day), killings first. Named people count where the text gives no number."""
    from monitor.stories.incidents import from_json

    first, last = since.date().isoformat(), until.date().isoformat()
    table: dict[tuple[str, str], list[int]] = {}
    for row in store.incidents_since(first):
        if row["anchor"] >= last:
            continue
        rec = from_json(row["record"])
        row_counts = table.setdefault((rec.act or row["act"], rec.district or "—"), [0, 0, 0, 0])
        named = len(rec.victims) or 1
        row_counts[0] += 1
        row_counts[1] += rec.killed or (named if rec.act in ("killing", "death_in_custody") else 0)
        row_counts[2] += rec.detained or (named if rec.act == "detention" else 0)
        row_counts[3] += named if rec.act == "sentence" else 0
    order = {a: i for i, a in enumerate(GRAVITY)}
    return [(act, district, *counts) for (act, district), counts in
            sorted(table.items(), key=lambda kv: (order.get(kv[0][0], 99), -kv[1][0], kv[0][1]))]


def weekly_lines(rows: list[tuple[str, str, int, int, int, int]]) -> list[str]:
    """The weekly report's incident section as plain lines."""
    if not rows:
        return []
    out = ["", "Incidents by act and district (killed / detained / sentenced):"]
    out += [f"  {act.replace('_', ' '):18} {district:12} {n:>3} incident{'s' if n != 1 else ''}  "
            f"{killed} / {detained} / {sentenced}" for act, district, n, killed, detained, sentenced in rows]
    return out

"""The incident pages: `/incidents` (the newest incidents) and `/incidents/<id>` (the draft record, each field
with the sentence it was read from, its reports, its history), and the researcher's review as plain forms:
confirm or correct a field, confirm the whole record, merge another incident into this one, split reports off.

The forms are POSTs with the CSRF token of the label forms; `monitor serve --read-only` has no such route and
shows no form. The writes are `monitor.stories.incident_review`'s, whose reviewer is "web" (what the label
forms record as their source).
"""

from __future__ import annotations

import json
from datetime import datetime
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from monitor.delivery.notifier import fmt_time, safe_url
from monitor.stories.incident_export import incident_records, one_line
from monitor.stories.incident_review import FIELDS, ReviewError, confirm, correct, merge, shown, split
from monitor.stories.incidents import from_json
from monitor.web import security

REVIEWER = "web"  # the labels' source for a verdict given in the web interface
LANGUAGES = {"en": "English", "ru": "Russian", "tg": "Tajik", "fa": "Persian"}
LABELS = {"act": "act", "date": "date of the act", "place": "place", "victims": "victims", "killed": "killed",
          "wounded": "wounded", "detained": "detained", "sentence_years": "sentence (years)",
          "perpetrators": "perpetrators"}
LIST_LIMIT = 300  # the newest incidents a list shows
ACTIONS = {"confirm": "confirmed", "correct": "corrected", "merge": "merged", "split": "split"}


def listing(ctx, request: Request) -> Response:
    store = ctx.store()
    status = request.query_params.get("status", "")
    status = status if status in ("draft", "confirmed") else ""
    rows = store.recent_incidents(LIST_LIMIT, status)
    items = []
    for row in rows:
        record = from_json(row["record"])
        items.append({"id": row["id"], "status": row["status"], "line": one_line(_line_record(record, row)),
                      "reports": row["reports"]})
    return ctx.render(request, "incidents.html", items=items, wanted=status, limit=LIST_LIMIT)


def _line_record(record, row) -> dict:
    return {"act": record.act or row["act"], "place": record.place, "district": record.district,
            "date": record.date, "date_precision": record.date_precision,
            "victims": [v.name for v in record.victims], "killed": record.killed, "wounded": record.wounded,
            "detained": record.detained, "sentence_years": shown(record, "sentence_years") or None}


def page(ctx, request: Request, error: str | None = None, status: int = 200) -> Response:
    incident_id = request.path_params["incident_id"]
    store = ctx.store()
    row = store.incident(incident_id)
    if row is None:
        return ctx.render(request, "error.html", status=404, message=f"There is no incident {incident_id}.")
    record = from_json(row["record"])
    reviewed = json.loads(row["reviewed"] or "{}")
    fields = []
    for name in FIELDS:
        mark = reviewed.get(name) or reviewed.get("*")
        cases = []
        if name == "victims":
            for v in record.victims:
                others = [i for i in store.incidents_of_person(v.key) if i != incident_id]
                cases.append({"name": v.name, "others": others})
        fields.append({"name": name, "label": LABELS[name], "value": shown(record, name),
                       "sentence": record.sentence_for(name), "mark": mark, "when": _when(mark), "cases": cases})
    (data,) = incident_records(store, ids={incident_id}) or [None]
    reports = []
    for r in (data or {}).get("_reports", []):
        reports.append({"story_id": r["story_id"], "title": r["title"] or "(no title)", "outlet": r["source"],
                        "language": LANGUAGES.get(r["language"], r["language"] or ""),
                        "url": safe_url(r["final_url"] or r["url"]), "raw_url": r["final_url"] or r["url"],
                        "published": fmt_time(_dt(r["published"])) if r["published"] else None})
    history = [_history(h) for h in store.incident_reviews(incident_id)]
    return ctx.render(request, "incident.html", status=status, incident=row, fields=fields, reports=reports,
                      history=history, line=one_line(_line_record(record, row)), error=error,
                      done=_done(request, incident_id),
                      outlets=len({r["outlet"] for r in reports}),
                      languages=list(dict.fromkeys(r["language"] for r in reports if r["language"])))


def review(ctx, request: Request, data: dict[str, list[str]]) -> Response:
    """One POST for every review action; an action that cannot be done shows the page again with why."""
    incident_id = request.path_params["incident_id"]
    store = ctx.store()
    one = {k: (v[0] if v else "") for k, v in data.items()}
    action, note = one.get("action", ""), (one.get("note") or "").strip()[:1000] or None
    target = incident_id
    try:
        if action == "confirm":
            confirm(store, incident_id, one.get("field", ""), REVIEWER, note)
        elif action == "correct":
            correct(store, incident_id, one.get("field", ""), one.get("value", "")[:1000], REVIEWER, note)
        elif action == "merge":
            other = one.get("other", "").strip().lstrip("#")
            if not (other.isascii() and other.isdigit() and len(other) <= 18):
                raise ReviewError("write the number of the incident to merge into this one")
            merge(store, incident_id, int(other), REVIEWER, note)
        elif action == "split":
            stories = [int(s) for s in data.get("story", []) if s.isascii() and s.isdigit() and len(s) <= 18]
            target = split(store, incident_id, stories, REVIEWER, note)
        else:
            raise ReviewError(f"unknown action {action!r}")
    except ReviewError as exc:
        return page(ctx, request, error=str(exc), status=400)
    seal = security.seal(request, f"{action} {target}")
    return RedirectResponse(f"/incidents/{target}?{urlencode({'done': action, 'seal': seal})}", status_code=303)


def _done(request: Request, incident_id: int) -> str | None:
    """The action a page confirms, when this visitor's POST sealed it (a link cannot claim one)."""
    action = request.query_params.get("done", "")
    return ACTIONS.get(action) if security.sealed(request, f"{action} {incident_id}") else None


def _dt(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def _when(mark: dict | None) -> str:
    return fmt_time(_dt(mark.get("at"))) if mark else ""


def _history(row) -> dict:
    def value(text):
        try:
            return json.loads(text) if text else None
        except ValueError:
            return text

    previous, now = value(row["previous"]), value(row["value"])
    action, field = row["action"], row["field"]
    if action == "correct":
        what = f"corrected {LABELS.get(field, field)}: “{previous or '(empty)'}” → “{now or '(empty)'}”"
    elif action == "confirm":
        what = f"confirmed {LABELS.get(field, field)}: “{now}”" if field else "confirmed the whole record"
    elif action == "merge":
        what = f"merged incident {now} into this one"
    elif action == "merged_into":
        what = f"merged into incident {now}"
    elif action == "split":
        what = f"split stories {', '.join(map(str, now['stories']))} off into incident {now['incident']}"
    elif action == "split_from":
        what = f"split off from incident {now}"
    else:
        what = action
    link = None
    if action in ("merge", "merged_into", "split_from"):
        link = int(now)
    elif action == "split":
        link = int(now["incident"])
    return {"at": fmt_time(_dt(row["at"])), "who": row["who"], "what": what, "note": row["note"], "link": link}

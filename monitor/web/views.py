"""The pages: the story list with search, filters and trends; one story; the feeds' health; triage.

Each view runs in a worker thread with that thread's own connection; values go to Jinja2 templates with
autoescape on, so every string from the web is escaped where it is shown.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from monitor import clock
from monitor.delivery.status import _ago
from monitor.delivery.notifier import fmt_time, safe_url, segments
from monitor.relevance.rules import DEFAULT_ENDINGS
from monitor.store.common import FIRST_YEAR, LAST_YEAR, MAX_ID
from monitor.store.web import StoryFilter
from monitor.web import evidence, labels, security
from monitor.delivery import charts
from monitor.web.search import build_query

PAGE = 50
LANGUAGES = {"en": "English", "ru": "Russian", "tg": "Tajik", "fa": "Persian", "und": "unknown"}
CONTEXT_CHARS = 90
MAX_CONTEXTS = 40


def _date(value: str | None) -> tuple[datetime | None, str | None]:
    if not value:
        return None, None
    try:
        when = datetime.strptime(value.strip(), "%Y-%m-%d").replace(tzinfo=timezone.utc)
    except ValueError:
        return None, f"{value!r} is not a date; write it as YYYY-MM-DD"
    if not FIRST_YEAR <= when.year <= LAST_YEAR:
        return None, f"{value!r} is out of range; write a date from {FIRST_YEAR}-01-01 to {LAST_YEAR}-12-31"
    return when, None


def _story_item(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"], "title": row["title"] or "(no title)", "source": row["source"],
        "url": safe_url(row["final_url"] or row["url"]), "when": fmt_time(_dt(row["day"])),
        "topics": json.loads(row["topics"]), "score": row["score"], "urgent": bool(row["urgent"]),
        "snippet": segments(row["snippet"], tuple(tuple(s) for s in json.loads(row["highlights"]))),
        "sources": row["sources"], "language": LANGUAGES.get(row["language"] or "", row["language"] or ""),
    }


def _dt(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def filters(ctx, store, p) -> tuple[StoryFilter, str, Any, list[str], bool]:
    """The list's filters from the query string (the page, its exports and its Atom feed share them):
    (filter, search text, parsed query, errors, whether anything filters)."""
    errors = []
    since, err = _date(p.get("since"))
    errors += [err] if err else []
    until, err = _date(p.get("until"))
    errors += [err] if err else []
    q = (p.get("q") or "").strip()[:300]
    endings = ctx.config.rules.endings if ctx.config.rules else DEFAULT_ENDINGS
    query = build_query(q, ctx.config.aliases, endings) if q else None
    if q and not ctx.index.available:
        errors.append("full-text search is not available: this SQLite has no FTS5")
    ctx.index.catch_up(store, budget_s=0.3, busy_ms=100, wait_s=1.0)
    searched = query if query and ctx.index.available else None
    flt = StoryFilter(match=searched and searched.fts, exclude=searched and searched.exclude,
                      topic=p.get("topic") or None,
                      language=p.get("language") or None, source=p.get("source") or None, since=since,
                      until=until + timedelta(days=1) if until else None,
                      label=p.get("label") if p.get("label") in ("relevant", "irrelevant", "none") else None)
    if q and query and not (query.fts or query.exclude):
        errors.append("the search has no letters or digits to look for")
    filtered = bool(q or flt.topic or flt.language or flt.source or flt.label or since or until)
    return flt, q, query, errors, filtered


def home(ctx, request: Request) -> Response:
    p = request.query_params
    store = ctx.store()
    flt, q, query, errors, filtered = filters(ctx, store, p)
    try:
        page = max(1, min(int(p.get("page") or 1), 10_000))
    except ValueError:
        page = 1
    rows, total = [], 0  # a search or a date that cannot be read lists nothing: all would look like its result
    try:
        if not errors:
            rows = store.list_stories(flt, limit=PAGE + 1, offset=(page - 1) * PAGE)
            total = store.count_stories(flt) if (page > 1 or len(rows) > PAGE) else len(rows)
    except sqlite3.OperationalError as exc:
        rows, total = [], 0
        errors.append(f"the search could not run: {exc}")
    stories = [_story_item(r) for r in rows[:PAGE]]
    marked = labels.for_page(store, [s["id"] for s in stories])
    for s in stories:
        s["label"] = marked.get(s["id"])
    params = {k: v for k, v in p.items() if k != "page" and v}
    more = urlencode({**params, "page": page + 1}) if len(rows) > PAGE else None
    back = urlencode({**params, "page": page - 1}) if page > 1 else None
    trend, per_source, facets, topics = warm(ctx, store, ttl=300)
    indexed, archived = ctx.cached("backlog", 5, store.search_backlog)
    return ctx.render(
        request, "home.html", stories=stories, total=total, page=page, more=more, back=back, q=q, query=query,
        params=p, errors=errors, chart=charts.svg(charts.titled(trend, ctx.titles)), trend=trend, per_source=per_source[:20],
        topics=sorted(set(topics) | {name for name, _ in trend.series}), sources=facets["sources"],
        languages=[(code, LANGUAGES.get(code, code)) for code in facets["languages"]], filtered=filtered,
        indexing=(indexed, archived) if indexed < archived else None,
        counts={} if errors else _counts(store, flt),
        back_query=urlencode({k: v for k, v in p.items() if k not in AFTER_POST}),
        result_query=urlencode({k: v for k, v in p.items() if k not in AFTER_POST and k != "page" and v}),
        triaged=_triaged(request),
    )


def _counts(store, flt: StoryFilter) -> dict[str, dict[str, int]]:
    """How many stories each filter choice would leave; empty when the index cannot say (no FTS5, busy)."""
    try:
        return store.facet_counts(flt)
    except sqlite3.OperationalError:
        return {}


def _triaged(request: Request) -> str | None:
    """The line bulk triage leaves on the page it returns to, when this visitor's POST sealed it."""
    count, verdict = request.query_params.get("triaged", ""), request.query_params.get("verdict", "")
    line = _marked(count, verdict) if count.isdigit() and verdict in labels.LABELS else ""
    return line if line and security.sealed(request, line) else None


def _marked(count: str, verdict: str) -> str:
    return f"Marked {count} stor{'y' if count == '1' else 'ies'} “{labels.LABELS[verdict]}”."


MAX_BULK = 200  # stories one bulk-triage post may label (a page shows 50)
AFTER_POST = ("triaged", "verdict", "seal")  # what a triage's redirect adds to the list's own parameters
TOO_MANY = (f"At most {MAX_BULK} stories can be marked at once, and more were ticked; nothing was marked. "
            "Go back and tick fewer.")


def bulk_label(ctx, request: Request, data: dict[str, list[str]]) -> Response:
    """Label every ticked story of the list at once (no JavaScript: checkboxes, a verdict, one button)."""
    from urllib.parse import parse_qsl

    verdict = (data.get("label") or [""])[0]
    if verdict not in labels.LABELS:
        return PlainTextResponse(f"unknown label {verdict!r}: use relevant or irrelevant", status_code=400)
    ids = sorted({int(v) for v in data.get("story", []) if v.isascii() and v.isdigit() and int(v) <= MAX_ID})
    if len(ids) > MAX_BULK:
        return PlainTextResponse(TOO_MANY, status_code=400)
    store = ctx.store()
    known = store.story_ids_exist(ids)
    try:
        for story_id in ids:
            if story_id in known:
                labels.add_label(store, story_id, verdict)
    except labels.LabelsUnavailable as exc:
        return PlainTextResponse(str(exc), status_code=501)
    back = [(k, v) for k, v in parse_qsl((data.get("back") or [""])[0])[:20] if k not in AFTER_POST]
    seal = security.seal(request, _marked(str(len(known)), verdict))
    query = urlencode(back + [("triaged", str(len(known))), ("verdict", verdict), ("seal", seal)])
    return RedirectResponse(f"/?{query}", status_code=303)


def warm(ctx, store, ttl: float):
    """The home page's slow parts (trend, counts per source, filter choices), cached for `ttl` seconds; the
    indexer thread refreshes them every minute, so a visitor practically never waits for them."""
    now = clock.now()
    topics = [t.name for t in ctx.config.rules.topics] if ctx.config.rules else []
    trend = ctx.cached("trend", ttl, lambda: charts.weekly_trend(store, now, topics=topics, indexed=True))
    per_source = ctx.cached("sources", ttl, lambda: store.source_counts(now - timedelta(days=365), indexed=True))
    facets = ctx.cached("facets", ttl, store.facet_values)
    return trend, per_source, facets, topics


def _contexts(ctx, title: str, text: str) -> tuple[list[dict], str | None]:
    """One entry per matched concept (an alias, else the term): how often and where it matched, the words it
    was found as, and its places in context, shown on demand; and the matcher's explanation."""
    if ctx.matcher is None:
        return [], None
    an = ctx.matcher.analyse(title, text)
    doc, concepts = an.doc, {}
    for occ in an.occurrences:
        term = ctx.matcher.terms[occ.term]
        entry = concepts.setdefault(term.label, {"concept": term.label, "count": 0, "zones": {}, "words": {},
                                                 "terms": {}, "contexts": []})
        entry["count"] += 1
        entry["zones"][occ.zone] = None
        entry["words"][doc.text[occ.start:occ.end]] = None
        entry["terms"][term.text] = None
        if len(entry["contexts"]) < MAX_CONTEXTS // 4 and occ.zone != "title":  # the title is the page's heading
            lo, hi = max(0, occ.start - CONTEXT_CHARS), min(len(doc.text), occ.end + CONTEXT_CHARS)
            entry["contexts"].append({
                "before": ("…" if lo else "") + " ".join(doc.text[lo:occ.start].split()) + " ",
                "match": doc.text[occ.start:occ.end],
                "after": " " + " ".join(doc.text[occ.end:hi].split()) + ("…" if hi < len(doc.text) else ""),
                "zone": occ.zone})
    from monitor.relevance.explanation import format_analysis

    return list(concepts.values()), format_analysis(ctx.matcher, an)


def story(ctx, request: Request) -> Response:
    story_id = request.path_params["story_id"]
    store = ctx.store()
    row = store.story(story_id)
    if row is None:
        return ctx.render(request, "error.html", status=404, message=f"There is no story {story_id} in this archive.")
    sources = []
    for src in store.story_sources(story_id):
        sources.append({"source": src["source"], "title": src["title"], "url": safe_url(src["url"]),
                        "raw_url": src["url"], "final_url": src["final_url"], "seen_at": fmt_time(_dt(src["seen_at"])),
                        "published": fmt_time(_dt(src["published"])) if src["published"] else None,
                        "sha256": src["raw_sha256"], "update": bool(src["is_update"])})
    contexts, explanation = _contexts(ctx, row["title"], row["text"])
    sent = f"sent in digest {row['digest_id']}" if row["digest_id"] is not None else "waiting for the next digest"
    return ctx.render(
        request, "story.html", story=row, title=row["title"] or "(no title)", url=safe_url(row["final_url"]),
        first_url=safe_url(row["url"]), published=fmt_time(_dt(row["published"])) if row["published"] else None,
        fetched=fmt_time(_dt(row["fetched_at"])), topics=json.loads(row["topics"]), terms=json.loads(row["terms"]),
        sources=sources, contexts=contexts, explanation=explanation, rules_error=ctx.config.rules_error,
        sent=sent, language=LANGUAGES.get(store.story_language(story_id) or "", ""),
        downloads=evidence.downloads(store, story_id, row["raw_html_gz"] is not None),
        versions=evidence.versions(store, story_id),
        labels_on=labels.available(store), current=labels.LABELS.get(labels.current(store, story_id) or ""),
        labelled=_labelled(request), text=row["text"],
        incident=store.incident_of_story(story_id),
    )


def raw_page(ctx, request: Request) -> Response:
    row = ctx.store().story(request.path_params["story_id"])
    if row is None or row["raw_html_gz"] is None:
        return PlainTextResponse("no raw page was kept for this story (settings: keep_raw_html)", status_code=404)
    return Response(row["raw_html_gz"], media_type="application/gzip", headers={
        "content-disposition": f'attachment; filename="story-{row["id"]}-{row["raw_sha256"][:12]}.html.gz"'})


def capture(ctx, request: Request) -> Response:
    found = evidence.capture_bytes(ctx.store(), request.path_params["story_id"], request.path_params["capture_id"])
    if found is None:
        return PlainTextResponse("no such capture in the evidence archive", status_code=404)
    data, name = found
    return Response(data, media_type="application/warc", headers={
        "content-disposition": f'attachment; filename="{name}"'})


def label(ctx, request: Request, data: dict[str, str]) -> Response:
    story_id = request.path_params["story_id"]
    store = ctx.store()
    if store.story(story_id) is None:
        return ctx.render(request, "error.html", status=404, message=f"There is no story {story_id} in this archive.")
    try:
        labels.add_label(store, story_id, data.get("label", ""), (data.get("note") or "").strip()[:1000] or None)
    except ValueError as exc:
        return PlainTextResponse(str(exc), status_code=400)
    except labels.LabelsUnavailable as exc:
        return PlainTextResponse(str(exc), status_code=501)
    seal = security.seal(request, f"labelled {story_id} {data['label']}")
    return RedirectResponse(f"/story/{story_id}?{urlencode({'labelled': data['label'], 'seal': seal})}", status_code=303)


def _labelled(request: Request) -> str | None:
    """The verdict a story page thanks for, when this visitor's POST sealed it."""
    verdict = request.query_params.get("labelled", "")
    line = f"labelled {request.path_params['story_id']} {verdict}"
    return labels.LABELS.get(verdict) if security.sealed(request, line) else None


def feeds(ctx, request: Request) -> Response:
    store = ctx.store()
    now = clock.now()
    states = {s.name: s for s in store.all_feed_states()}
    configured = ctx.config.feeds.feeds if ctx.config.feeds else []
    names = [f.name for f in configured] + sorted(set(states) - {f.name for f in configured})
    failing_after = ctx.config.feeds.settings.failing_after if ctx.config.feeds else 86400
    year = store.source_counts(now - timedelta(days=365), indexed=True)
    counts = {name: (first, further) for name, first, further in year}
    spec = {f.name: f for f in configured}
    rows = []
    for name in names:
        s = states.get(name)
        f = spec.get(name)
        rows.append({
            "name": name, "url": f.url if f else None, "kind": f.kind if f else "", "enabled": f.enabled if f else None,
            "language": LANGUAGES.get(f.language or "", f.language or "") if f else "",
            "last_success": f"{fmt_time(s.last_success)} ({_ago(s.last_success, now)})" if s and s.last_success
            else "never",
            "error": s.last_error if s else None,
            "failing_since": f"{fmt_time(s.error_since)} ({_ago(s.error_since, now)})" if s and s.error_since
            else None,
            "dead": bool(s and s.error_since and (now - s.error_since).total_seconds() >= failing_after),
            "seen": s.items_seen if s else 0, "matches": s.matches if s else 0,
            "avg_ms": f"{s.avg_fetch_ms:.0f} ms" if s and s.polls else "-",
            "year": counts.get(name, (0, 0)), "polled": s is not None,
        })
    return ctx.render(request, "feeds.html", feeds=rows)

"""The weekly report: counts per topic and source, the top stories, new sources, and the trend chart.

`monitor report --week` prints it; `settings: weekly_report: "mon 08:00"` queues it through the outbox
(exactly once per week, like a digest: the check and the queueing are one transaction) for every channel:
email gets plain text plus HTML with the chart as an inline PNG (mail clients block SVG), Telegram a short
HTML summary, stdout or the digest file the plain text.
"""

from __future__ import annotations

import html
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from monitor import clock
from monitor.delivery.notifier import channel_label, fmt_time, one_line, safe_url
from monitor.delivery import charts
from monitor.config.schedule import GRACE, Weekly, last_slot

log = logging.getLogger("monitor.report")
KIND = "weekly"


@dataclass(frozen=True)
class WeeklyReport:
    since: datetime
    until: datetime
    total: int
    topics: list[tuple[str, int]]
    sources: list[tuple[str, int, int]]  # (outlet, first reported, also carried)
    top: list[dict]
    new_sources: list[tuple[str, str, int]]  # (outlet, first seen, stories this week)
    trend: charts.Trend
    weeks: list[tuple[str, int]]  # (Monday, stories) for the last 12 weeks
    # (act, district, incidents, killed, detained, sentenced), killings first (delivery/incidents.py)
    incidents: list[tuple[str, str, int, int, int, int]] = field(default_factory=list)
    changes: tuple = ()  # models.PageChange: pages edited or removed by their publishers in the period

    @property
    def partial_week(self) -> bool:
        """The last of `weeks` is still running at `until`: its count is a count so far."""
        return bool(self.weeks) and self.until < _day(self.weeks[-1][0]) + timedelta(weeks=1)

    @property
    def period(self) -> str:
        last = self.until - timedelta(seconds=1)
        return f"{self.since:%Y-%m-%d} – {last:%Y-%m-%d}"

    @property
    def subject(self) -> str:
        word = "story" if self.total == 1 else "stories"
        tops = ", ".join(t for t, _ in self.topics[:3])
        return one_line(f"Pamir monitor weekly report {self.period}: {self.total} {word}"
                        + (f" ({tops})" if tops else ""), 200)


CANDIDATES = 5000  # stories of one week ranked for the top list (a busy week has a few hundred)


def build_report(store, since: datetime, until: datetime, topics: list[str] | None = None,
                 top: int = 10, *, rules=None) -> WeeklyReport:
    """`rules` (a relevance RuleSet: topics with titles, urgent and urgent_rank) names topics by their titles
    and ranks the top stories by severity: the urgent topics in their `urgent_rank` order (killings first),
    then everything else; the score only orders stories of equal severity."""
    topic_rules = list(getattr(rules, "topics", ()) or ())
    titles = {t.name: t.title or t.name for t in topic_rules}
    severity = {t.name: t.urgent_rank for t in topic_rules if t.urgent}
    if topics is None and topic_rules:
        topics = [t.name for t in topic_rules]
    rows = store.top_stories(since, until, limit=CANDIDATES)
    stories = [{"id": r["id"], "title": r["title"] or "(no title)", "source": r["source"],
                "url": r["final_url"] or r["url"], "topics": json.loads(r["topics"]), "score": r["score"],
                "day": r["day"], "sources": r["sources"]} for r in rows]
    stories.sort(key=lambda s: (min((severity.get(t, 1000) for t in s["topics"]), default=1000),
                                -s["score"], -s["sources"], s["id"]))
    for s in stories[:top]:
        s["topics"] = [titles.get(t, t) for t in s["topics"]]
    trend = charts.weekly_trend(store, until - timedelta(seconds=1), topics=topics)
    trend = charts.titled(trend, titles)
    return WeeklyReport(
        since=since, until=until, total=store.count_stories(_period(since, until), cap=1_000_000),
        topics=[(titles.get(t, t), n) for t, n in store.topic_counts(since, until)],
        sources=store.source_counts(since, until), top=stories[:top],
        new_sources=store.new_sources(since, until), trend=trend, weeks=_last_weeks(store, until),
        changes=tuple(store.changes_between(since, until)), incidents=_incident_counts(store, since, until),
    )


def _day(monday: str) -> datetime:
    d = datetime.fromisoformat(monday)
    return d if d.tzinfo else d.replace(tzinfo=timezone.utc)


def _incident_counts(store, since: datetime, until: datetime) -> list[tuple[str, str, int, int, int, int]]:
    from monitor.delivery.incidents import weekly_counts

    return weekly_counts(store, since, until)


def _last_weeks(store, until: datetime, n: int = 12) -> list[tuple[str, int]]:
    first = charts.monday((until - timedelta(seconds=1)).date()) - timedelta(weeks=n - 1)
    start = datetime(first.year, first.month, first.day, tzinfo=timezone.utc)
    counts = store.weekly_counts(start, until)
    days = [(first + timedelta(weeks=i)).isoformat() for i in range(n)]
    return [(d, counts.get(d, 0)) for d in days]


def _period(since: datetime, until: datetime):
    from monitor.store.web import StoryFilter

    return StoryFilter(since=since, until=until)


def week_of(since: datetime | None, now: datetime | None = None) -> tuple[datetime, datetime]:
    """--since DATE: the seven days from DATE; without it the seven days up to now."""
    if since is not None:
        return since, since + timedelta(days=7)
    now = now or clock.now()
    return now - timedelta(days=7), now


# --- renderings ---------------------------------------------------------------------------------

def render_text(r: WeeklyReport) -> str:
    from monitor.delivery.incidents import weekly_lines

    out = [f"Weekly report — Pamir news monitor — {r.period} (UTC)", "",
           f"{r.total} stor{'y' if r.total == 1 else 'ies'} this week"]
    out += weekly_lines(r.incidents) + ["", "Stories per topic:"]
    out += [f"  {one_line(t, 60):30} {n}" for t, n in r.topics] or ["  (none)"]
    out += ["", "Stories per source (first reported / also carried):"]
    out += [f"  {one_line(s, 60):30} {a} / {b}" for s, a, b in r.sources] or ["  (none)"]
    out += ["", "Top stories:"]
    for i, s in enumerate(r.top, 1):
        more = f", +{s['sources']} source{'s' if s['sources'] > 1 else ''}" if s["sources"] else ""
        out += [f"  {i}. {one_line(s['title'], 200)}",
                f"     {one_line(s['source'], 60)} · {fmt_time(_dt(s['day']))} · {', '.join(s['topics'])} · "
                f"score {s['score']:g}{more}", f"     {one_line(s['url'], 500)}"]
    if not r.top:
        out.append("  (none)")
    out += ["", "New sources this week:"]
    out += [f"  {one_line(s, 60)} (first seen {fmt_time(_dt(first))}, {n} stor{'y' if n == 1 else 'ies'})"
            for s, first, n in r.new_sources] or ["  (none)"]
    out += ["", "Pages changed or removed this week:"]
    out += [f"  {one_line(c.title, 200) or '(no title)'} [story {c.story_id}]\n     {one_line(c.source, 60)}: "
            f"{one_line(c.note, 200)}\n     {one_line(c.url, 500)}" for c in r.changes] or ["  (none)"]
    if r.weeks:
        out += ["", f"Stories per week since {r.weeks[0][0]}: " + " ".join(str(n) for _, n in r.weeks)
                + (f" (this week so far, to {r.until - timedelta(seconds=1):%Y-%m-%d})" if r.partial_week else "")]
    return "\n".join(out) + "\n"


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def render_html(r: WeeklyReport, chart_cid: str | None) -> str:
    e = lambda s: html.escape(str(s), quote=True)  # noqa: E731
    td = 'style="padding:2px 10px 2px 0"'
    body = [f'<h1 style="font-size:20px">Weekly report: {e(r.total)} stor{"y" if r.total == 1 else "ies"}</h1>',
            f'<div style="color:#555;font-size:13px">Pamir news monitor · {e(r.period)} (UTC)</div>']
    if chart_cid:
        body.append(f'<p><img src="cid:{e(chart_cid)}" width="760" alt="Stories per week and topic, last 12 months" '
                    'style="max-width:100%;border:1px solid #ddd"></p>')
    if r.incidents:  # delivery/incidents.py: incidents by act and district, killings first
        body.append('<h2 style="font-size:17px">Incidents by act and district</h2><table>')
        body.append(f"<tr><th {td}>act</th><th {td}>district</th><th {td}>incidents</th><th {td}>killed</th>"
                    f"<th {td}>detained</th><th {td}>sentenced</th></tr>")
        body += [f"<tr>{''.join(f'<td {td}>{e(v)}</td>' for v in (a.replace('_', ' '), d, n, k, de, se))}</tr>"
                 for a, d, n, k, de, se in r.incidents]
        body.append("</table>")
    body.append('<h2 style="font-size:17px">Stories per topic</h2><table>')
    body += [f"<tr><td {td}>{e(t)}</td><td {td}>{n}</td></tr>" for t, n in r.topics] or ["<tr><td>none</td></tr>"]
    body.append('</table><h2 style="font-size:17px">Top stories</h2><ol>')
    for s in r.top:
        href = safe_url(s["url"])
        title = f'<a href="{e(href)}">{e(one_line(s["title"], 300))}</a>' if href else e(one_line(s["title"], 300))
        more = f" · +{s['sources']} sources" if s["sources"] else ""
        meta = f"{e(s['source'])} · {e(fmt_time(_dt(s['day'])))} · {e(', '.join(s['topics']))}{e(more)}"
        body.append(f'<li dir="auto" style="margin-bottom:6px">{title}<br>'
                    f'<span style="color:#555;font-size:13px">{meta}</span></li>')
    body.append('</ol><h2 style="font-size:17px">Stories per source</h2><table>')
    body.append(f"<tr><th {td}>source</th><th {td}>first reported</th><th {td}>also carried</th></tr>")
    body += [f"<tr><td {td}>{e(s)}</td><td {td}>{a}</td><td {td}>{b}</td></tr>" for s, a, b in r.sources]
    body.append('</table><h2 style="font-size:17px">New sources</h2><ul>')
    body += [f"<li>{e(s)} — first seen {e(fmt_time(_dt(first)))}, {n} this week</li>" for s, first, n in r.new_sources]
    body.append("</ul>" if r.new_sources else "<li>none</li></ul>")
    body.append('<h2 style="font-size:17px">Pages changed or removed this week</h2><ul>')
    for c in r.changes:
        href = safe_url(c.url)
        title = e(one_line(c.title, 300) or "(no title)")
        body.append(f'<li dir="auto">{f"<a href={chr(34)}{e(href)}{chr(34)}>{title}</a>" if href else title} — '
                    f'{e(one_line(c.source, 80))}: <b>{e(one_line(c.note, 200))}</b> (story {c.story_id})</li>')
    body.append("</ul>" if r.changes else "<li>none</li></ul>")
    return ('<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>' + e(r.subject) + '</title></head>\n'
            '<body style="font-family:Arial,Helvetica,sans-serif;max-width:780px">\n' + "\n".join(body)
            + "\n</body></html>\n")


def render_email(r: WeeklyReport, config, now: datetime) -> str:
    """multipart/alternative: text, and HTML + the PNG chart as multipart/related (cid: reference)."""
    from monitor.delivery.email import SubjectHeader

    msg = EmailMessage(policy=policy.SMTP)
    msg["Subject"] = SubjectHeader(r.subject)
    msg["From"] = config.sender
    msg["To"] = config.recipients[0] if len(config.recipients) == 1 else "undisclosed-recipients:;"
    msg["Date"] = format_datetime(now)
    domain = config.envelope_from.rpartition("@")[2] or "pamir-monitor.invalid"
    msg["Message-ID"] = make_msgid(idstring=KIND, domain=domain)
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Monitor-Kind"] = KIND
    cid = make_msgid(idstring="trend", domain=domain)
    msg.set_content(render_text(r), charset="utf-8", cte="base64")
    msg.add_alternative(render_html(r, cid[1:-1]), subtype="html", charset="utf-8", cte="base64")
    msg.get_payload()[1].add_related(charts.png(r.trend), maintype="image", subtype="png", cid=cid,
                                     filename="trend.png")
    text = msg.as_string()
    text.encode("ascii")
    return text


def render_telegram(r: WeeklyReport, limit: int = 4000) -> list[str]:
    e = lambda s: html.escape(str(s), quote=False)  # noqa: E731
    lines = [f"<b>Pamir monitor weekly report</b> — {e(r.period)}", f"{r.total} stories"]
    if r.incidents:  # killings first
        lines += ["", "<b>Incidents</b> (killed / detained / sentenced)"] + [
            f"{e(a.replace('_', ' '))}, {e(d)}: {n} ({k} / {de} / {se})" for a, d, n, k, de, se in r.incidents]
    lines += ["", "<b>Per topic</b>"] + [f"{e(one_line(t, 60))}: {n}" for t, n in r.topics]
    lines += ["", "<b>Top stories</b>"]
    for s in r.top[:7]:
        href = safe_url(s["url"])
        title = e(one_line(s["title"], 200))
        link = f'<a href="{e(href).replace(chr(34), "&quot;")}">{title}</a>' if href else title
        lines.append(f"• {link} <i>({e(one_line(s['source'], 60))})</i>")
    if r.changes:
        lines += ["", "<b>Pages changed or removed</b>"] + [
            f"• {e(one_line(c.title, 150) or '(no title)')}: {e(one_line(c.note, 120))}" for c in r.changes[:10]]
    if r.new_sources:
        lines += ["", "<b>New sources</b>: " + e(", ".join(one_line(s, 60) for s, _, _ in r.new_sources[:15]))]
    text = "\n".join(lines)
    while len(text.encode("utf-16-le")) // 2 > limit and len(lines) > 4:  # drop from the end, whole lines
        lines.pop()
        text = "\n".join(lines)
    return [text]


def messages_for(r: WeeklyReport, notifiers, now: datetime) -> dict[str, list[str]]:
    from monitor.delivery.email import EmailNotifier
    from monitor.delivery.stdout import StdoutNotifier
    from monitor.delivery.telegram import TelegramNotifier

    out: dict[str, list[str]] = {}
    for routed in notifiers:
        if not getattr(routed, "wants_reports", lambda: True)():
            continue  # a reader of urgent alerts only
        n = getattr(routed, "inner", routed)  # a routed channel (recipients:) renders as the channel it wraps
        try:
            if isinstance(n, EmailNotifier):
                out[n.channel] = [render_email(r, n.config, now)]
            elif isinstance(n, TelegramNotifier):
                out[n.channel] = render_telegram(r)
            elif isinstance(n, StdoutNotifier):
                out[n.channel] = [render_text(r) + "\n"]
            else:
                log.warning("%s: this channel cannot take the weekly report", channel_label(n.channel))
        except Exception:  # one channel's renderer must not cost the others their report
            log.exception("%s: could not render the weekly report", channel_label(n.channel))
    return out


async def send_weekly_if_due(store, notifiers, spec: Weekly, topics: list[str] | None = None,
                             now: datetime | None = None, *, rules=None) -> int | None:
    """Queue and send the report of the week before the last `spec` slot, unless already queued.

    A slot missed by more than a day (the machine was off) is skipped rather than sent late.
    """
    from monitor.delivery import outbox

    now = now or clock.now()
    slot = last_slot(spec, now)
    last = store.last_digest_of_kind(KIND)
    if now - slot > GRACE or (last is not None and last >= slot):
        return None
    report = build_report(store, slot - timedelta(days=7), slot, topics, rules=rules)
    messages = messages_for(report, notifiers, now)
    if not messages:
        return None
    digest_id = store.queue_report(KIND, messages, not_since=slot)
    if digest_id is not None:
        log.info("queued the weekly report %s (%d stories) as digest %d", report.period, report.total, digest_id)
        await outbox.deliver_due(store, notifiers)
    return digest_id

"""Urgent means the current event: does an urgent topic hold on what the article reports now?

A detention story that recalls "dozens were killed in Khorog in 2022" fires the violence topic, rightly, for
the digest; it must not be sent at once as an alert. So after the pass, an urgent topic is decided again on
the occurrences in current sentences only: the title, the lead, and any sentence carrying the article's own
date, "today" or "yesterday" — never a sentence that names an earlier year than the article's (or, undated,
than this year) or says "years ago". The alert
quotes the sentence that holds the urgent evidence.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from datetime import datetime
from typing import TYPE_CHECKING

from monitor import clock
from monitor.relevance.rules import fold

if TYPE_CHECKING:
    from monitor.relevance.document import Analysis, Document, Occurrence, Pass, TopicReport

_SENTENCE_END = re.compile(r"[.!?؟…]+[\"'»”)\]]*(?=\s)|\n\s*")
_YEAR = re.compile(r"(?<!\d)(19[5-9]\d|20\d\d)(?!\d)")
_BACKGROUND = re.compile(
    r"\b(years ago|a year ago|last year|anniversary|год назад|года назад|лет назад|годом ранее|в прошлом году|"
    r"годовщин\w*|сол пеш|соли гузашта|солгард\w*|سال پیش|سال گذشته|سالگرد)\b")
_NOW = re.compile(
    r"\b(today|yesterday|tonight|this morning|this week|on (monday|tuesday|wednesday|thursday|friday|saturday|"
    r"sunday)|сегодня|вчера|накануне|этой ночью|на этой неделе|имруз|дируз|шаби гузашта|ин хафта|امروز|دیروز|"
    r"دیشب|این هفته)\b")
_MONTHS = {  # folded month names by number: English, Russian (genitive stems), Tajik, Persian (Gregorian)
    1: ("january", "jan", "январ", "январи", "ژانویه"), 2: ("february", "feb", "феврал", "феврали", "فوریه"),
    3: ("march", "mar", "март", "марта", "марти", "مارس"), 4: ("april", "apr", "апрел", "апрели", "آوریل"),
    5: ("may", "мая", "май", "майи", "مه", "می"), 6: ("june", "jun", "июн", "июни", "ژوئن"),
    7: ("july", "jul", "июл", "июли", "ژوئیه"), 8: ("august", "aug", "август", "августа", "августи", "اوت"),
    9: ("september", "sep", "sept", "сентябр", "сентябри", "سپتامبر"),
    10: ("october", "oct", "октябр", "октябри", "اکتبر"), 11: ("november", "nov", "ноябр", "ноябри", "نوامبر"),
    12: ("december", "dec", "декабр", "декабри", "دسامبر"),
}


def sentences(doc: "Document") -> list[tuple[int, int]]:
    """[start, end) of each sentence in doc.text (title and paragraphs end sentences too)."""
    out, start = [], 0
    for m in _SENTENCE_END.finditer(doc.text):
        if m.end() > start:
            out.append((start, m.end()))
            start = m.end()
    if start < len(doc.text):
        out.append((start, len(doc.text)))
    return out


def _squeeze(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + "…"


def _repeated_title_end(doc: "Document") -> int:
    """Where the title ends when the extracted text starts by repeating it (h1 inside the article), else the
    body's start: a quote should not begin with the headline and the byline glued to the first sentence."""
    title = doc.text[:doc.body_start].strip()
    if title and doc.text.startswith(title, doc.body_start):
        return doc.body_start + len(title)
    return doc.body_start


def sentence_around(doc: "Document", o: "Occurrence", limit: int = 300) -> str:
    spans = sentences(doc)
    i = max(bisect_right([s for s, _ in spans], o.start) - 1, 0)
    if not spans:
        return ""
    start, end = spans[i]
    cut = _repeated_title_end(doc)
    if start < cut <= o.start:
        start = cut
    return _squeeze(doc.text[start:end], limit)


def _mentions_date(folded: str, when: datetime) -> bool:
    words = folded.split()
    days = {str(d) for d in (when.day - 1, when.day, when.day + 1) if d > 0}
    for i, w in enumerate(words):
        if w.strip(".,") in days:
            near = words[max(i - 2, 0):i] + words[i + 1:i + 3]
            if any(n.strip(".,").startswith(m) for n in near for m in _MONTHS[when.month] if len(m) > 2
                   or n.strip(".,") == m):
                return True
    return False


def current_sentences(doc: "Document", published: datetime | None, lead_chars: int) -> list[tuple[int, int]]:
    """The sentences that report the current event (see the module's docstring)."""
    spans = sentences(doc)
    texts = [fold(doc.text[s:e]) for s, e in spans]
    # an undated article is read now: a year before this one is background too
    ref = (published or clock.now()).year
    out = []
    for (s, e), t in zip(spans, texts):
        if _BACKGROUND.search(t) or any(int(y) < ref for y in _YEAR.findall(t)):
            continue
        if s < lead_chars or _NOW.search(t) or (published is not None and _mentions_date(t, published)):
            out.append((s, e))
    return out


def urgent_evidence(matcher: "Pass", an: "Analysis", rep: "TopicReport", published: datetime | None
                    ) -> str | None:
    """The sentence that makes an urgent topic hold on current sentences alone, or None (background only)."""
    doc = an.doc
    spans = matcher._spans(doc)
    lead_word = min(doc.lead_end, len(spans)) - 1
    lead_chars = spans[lead_word][1] if lead_word >= 0 else 0
    now = current_sentences(doc, published, lead_chars)
    if not now:
        return None
    starts = [s for s, _ in now]

    def is_current(o: "Occurrence") -> bool:
        i = bisect_right(starts, o.start) - 1
        return i >= 0 and o.start < now[i][1]

    live = matcher.by_term([o for o in an.occurrences if is_current(o)])
    again = matcher._topic(doc, rep.topic, live)
    if not again.fired:
        return None
    # quote the body's sentence with the event word (the title is shown anyway), else the title
    topic = rep.topic
    event = {matcher.tid(t) for t in (topic.near[0].one_of if topic.near else topic.any or topic.terms())}
    candidates = [o for o in again.occurrences if o.term in event] or again.occurrences
    cut = _repeated_title_end(doc)
    anchor = min(candidates, key=lambda o: (o.start < cut, o.start))
    return sentence_around(doc, anchor)

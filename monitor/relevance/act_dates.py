"""When did the act happen? Read from a sentence, counted from the report's publication date.

"on Saturday", «в пятницу», «рӯзи шанбе», «روز شنبه» → the last such day on or before publication (day);
"yesterday" / «вчера» / «дирӯз» / «دیروز» → the day before; "9 March", «9 марта», «9 марти» and Solar Hijri
«۱۶ آذر» → that day (the year of publication unless that would be after it); "last week" → the week; "in
May" / «в мае» → the month. No such words: no date (never simply the publication date). Weekday words
that are also names are read only in their phrase: Tajik «Душанбе» is the capital unless «рӯзи душанбе».
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from monitor.relevance.current import _MONTHS
from monitor.relevance.rules import fold

_WEEKDAYS = {  # folded word → weekday (Monday 0); Tajik and Persian only after рӯзи / روز (see docstring)
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5, "sunday": 6,
    "в понедельник": 0, "во вторник": 1, "в среду": 2, "в четверг": 3, "в пятницу": 4, "в субботу": 5,
    "в воскресенье": 6, "рузи душанбе": 0, "рузи сешанбе": 1, "рузи чоршанбе": 2, "рузи панчшанбе": 3,
    "рузи чумъа": 4, "рузи чума": 4, "рузи шанбе": 5, "рузи якшанбе": 6, "روز دوشنبه": 0, "روز سه شنبه": 1,
    "روز سهشنبه": 1, "روز چهارشنبه": 2, "روز پنجشنبه": 3, "روز پنج شنبه": 3, "روز جمعه": 4, "روز شنبه": 5,
    "روز یکشنبه": 6,
}
_RELATIVE = {  # folded phrase → (days back, precision)
    "yesterday": (1, "day"), "last night": (1, "day"), "вчера": (1, "day"), "накануне": (1, "day"),
    "прошлой ночью": (1, "day"), "дируз": (1, "day"), "шаби гузашта": (1, "day"), "دیروز": (1, "day"),
    "دیشب": (1, "day"), "today": (0, "day"), "this morning": (0, "day"), "сегодня": (0, "day"),
    "этой ночью": (0, "day"), "имруз": (0, "day"), "امروز": (0, "day"), "last week": (7, "week"),
    "на прошлой неделе": (7, "week"), "хафтаи гузашта": (7, "week"), "هفته گذشته": (7, "week"),
    "this week": (0, "week"), "на этой неделе": (0, "week"), "ин хафта": (0, "week"), "این هفته": (0, "week"),
}
_MONTH_OF = {name: n for n, names in _MONTHS.items() for name in names if len(name) > 2} | {"мае": 5}
_MONTH_RE = "|".join(sorted(map(re.escape, _MONTH_OF), key=len, reverse=True))
_M = r"(" + _MONTH_RE + r")(?:(?<=[а-я])[а-я]*)?(?![\w])"  # a Russian or Tajik stem takes its ending
_DAY_MONTH = re.compile(r"(?<!\d)(\d{1,2})\s+" + _M + r"(?:\s+(\d{4}))?")
_MONTH_DAY = re.compile(r"(?<![\w])" + _M + r"\s+(\d{1,2})(?!\d)(?:,?\s+(\d{4}))?")
_IN_MONTH = re.compile(r"(?<![\w])(?:in|в|дар мохи|дар)\s+" + _M + r"(?:\s+(\d{4}))?")
_JALALI = ("فروردین", "اردیبهشت", "خرداد", "تیر", "مرداد", "شهریور", "مهر", "آبان", "آذر", "دی", "بهمن", "اسفند")
_JALALI_FOLDED = {fold(m): m for m in _JALALI}
_JALALI_RE = re.compile(r"(?<!\d)(\d{1,2})\s+(" + "|".join(_JALALI_FOLDED) + r")(?:\s+(\d{4}))?")
_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")
_PHRASES = sorted(list(_WEEKDAYS) + list(_RELATIVE), key=len, reverse=True)
_PHRASE_RE = re.compile(r"(?<![\w])(" + "|".join(map(re.escape, _PHRASES)) + r")(?![\w])")


def act_date(sentence: str, published: datetime | None) -> tuple[str, str] | None:
    """(ISO date, precision) the sentence gives for its event, relative to `published`; None if it gives none."""
    if published is None:
        return None
    pub = published.date()
    text = fold(sentence).translate(_DIGITS)
    for reader in (_explicit, _jalali, _phrase, _month):
        found = reader(text, pub)
        if found is not None:
            day, precision = found
            if day > pub:
                return None
            return day.isoformat(), precision
    return None


def _year_for(month: int, day: int, year: str | None, pub: date) -> date | None:
    try:
        if year:
            return date(int(year), month, day)
        when = date(pub.year, month, day)
        return when if when <= pub else date(pub.year - 1, month, day)
    except ValueError:
        return None


def _explicit(text: str, pub: date) -> tuple[date, str] | None:
    m = _DAY_MONTH.search(text)
    if m:
        when = _year_for(_MONTH_OF[m.group(2)], int(m.group(1)), m.group(3), pub)
        if when:
            return when, "day"
    m = _MONTH_DAY.search(text)
    if m:
        when = _year_for(_MONTH_OF[m.group(1)], int(m.group(2)), m.group(3), pub)
        if when:
            return when, "day"
    return None


def _jalali(text: str, pub: date) -> tuple[date, str] | None:
    m = _JALALI_RE.search(text)
    if not m:
        return None
    from monitor.sources.dates import parse_date_text

    years = [m.group(3)] if m.group(3) else [str(pub.year - 621), str(pub.year - 622)]
    for year in years:  # the Solar Hijri year of the publication, else the one before
        when = parse_date_text(f"{m.group(1)} {_JALALI_FOLDED[m.group(2)]} {year}")
        if when is not None and (m.group(3) or when.date() <= pub):
            return when.date(), "day"
    return None


def _phrase(text: str, pub: date) -> tuple[date, str] | None:
    m = _PHRASE_RE.search(text)
    if not m:
        return None
    word = m.group(1)
    if word in _WEEKDAYS:
        back = (pub.weekday() - _WEEKDAYS[word]) % 7
        return pub - timedelta(days=back), "day"
    back, precision = _RELATIVE[word]
    when = pub - timedelta(days=back)
    if precision == "week":
        when -= timedelta(days=when.weekday())
    return when, precision


def _month(text: str, pub: date) -> tuple[date, str] | None:
    m = _IN_MONTH.search(text)
    if not m:
        return None
    month = _MONTH_OF[m.group(1)]
    year = int(m.group(2)) if m.group(2) else pub.year if month <= pub.month else pub.year - 1
    return date(year, month, 1), "month"

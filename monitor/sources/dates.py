"""Dates as feeds from the wild write them, when feedparser gives up.

feedparser reads RFC 822 and W3C dates in English; Russian feeds write `Пн, 24 сен 2018 19:42:00 +0300` or
`24.09.2018 19:42`, Tajik ones `24 сентябри 2018`, Persian ones `۲ خرداد ۱۴۰۱` (the Solar Hijri calendar) or
`۲۴ سپتامبر ۲۰۱۸`. dateparser reads Russian and Persian (Gregorian month names, Persian digits); it has no
Tajik at all, so the Tajik month and weekday names are mapped here to English ones first (the one hand-made
table in this module); Solar Hijri dates go through dateparser's Jalali calendar (needs `convertdate`).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from monitor import clock

# dateparser 1.2–1.5 has no 'tg' locale: Tajik month names (Russian-derived, with the izofat -и of
# "24 сентябри 2018") and weekday names. Tajik letters are folded first (ӣ→и, ҷ→ч, ҳ→х, қ→к, ғ→г, ӯ→у).
_TG_MONTHS = {"январ": "January", "феврал": "February", "март": "March", "апрел": "April", "май": "May",
              "июн": "June", "июл": "July", "август": "August", "сентябр": "September", "октябр": "October",
              "ноябр": "November", "декабр": "December"}
_TG_WEEKDAYS = ("душанбе", "сешанбе", "чоршанбе", "панчшанбе", "чумъа", "чума", "шанбе", "якшанбе")
_TG_WORDS = ("соли", "сол", "соати", "с.")
_TG_FOLD = str.maketrans("ӣҷҳқғӯӢҶҲҚҒӮ", "ичхкгуИЧХКГУ")
_TG_MONTH = re.compile(r"(?<![^\W\d_])(" + "|".join(_TG_MONTHS) + r")(?:и|ь|я|е)?(?![^\W\d_])", re.IGNORECASE)
_TG_NOISE = re.compile(r"(?<![^\W\d_])(?:" + "|".join(map(re.escape, _TG_WEEKDAYS + _TG_WORDS)) + r")(?![^\W\d_])",
                       re.IGNORECASE)
_JALALI_MONTHS = ("فروردین", "اردیبهشت", "خرداد", "تیر", "مرداد", "شهریور", "مهر", "آبان", "آذر", "دی", "بهمن",
                  "اسفند")
_PERSIAN_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")
_JALALI_YEAR = re.compile(r"(?<!\d)1[34]\d\d(?!\d)")
_SETTINGS = {"TIMEZONE": "UTC", "TO_TIMEZONE": "UTC", "RETURN_AS_TIMEZONE_AWARE": True, "DATE_ORDER": "DMY",
             "PREFER_DATES_FROM": "past", "PARSERS": ["custom-formats", "absolute-time"],
             "REQUIRE_PARTS": ["day", "month", "year"]}
_EARLIEST = datetime(1990, 1, 1, tzinfo=timezone.utc)


def parse_date_text(text: str) -> datetime | None:
    """An aware UTC datetime from a date as written in ru/tg/fa/en feeds and pages; None when it is not a
    plausible date (not after 1990, or more than two days ahead)."""
    text = " ".join((text or "").split())
    if not text or len(text) > 120 or not any(c.isdigit() for c in text):
        return None
    latin = text.translate(_PERSIAN_DIGITS)
    if any(month in text for month in _JALALI_MONTHS) or (_JALALI_YEAR.search(latin) and not re.search(r"(?:19|20)\d\d", latin)):
        return _plausible(_jalali(text))
    import dateparser  # ~0.1 s to import: only feeds whose dates feedparser could not read pay for it

    folded = text.translate(_TG_FOLD)
    if _TG_MONTH.search(folded):
        folded = _TG_NOISE.sub(" ", _TG_MONTH.sub(lambda m: _TG_MONTHS[m.group(1).lower()], folded))
        text = " ".join(folded.replace(",", " ").split())
    try:
        when = dateparser.parse(text, languages=["ru", "fa", "en"], settings=_SETTINGS)
    except (ValueError, OverflowError, TypeError):
        return None
    return _plausible(when)


def _jalali(text: str) -> datetime | None:
    try:
        from dateparser.calendars.jalali import JalaliCalendar

        data = JalaliCalendar(text).get_date()
    except Exception:  # ImportError without convertdate; the calendar raises on odd input
        return None
    return data.date_obj if data is not None else None


def _plausible(when: datetime | None) -> datetime | None:
    if when is None:
        return None
    when = when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)
    if when < _EARLIEST or when > clock.now() + timedelta(days=2):
        return None
    return when

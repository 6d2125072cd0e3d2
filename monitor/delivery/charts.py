"""The trend chart: weekly stories per topic, as SVG for the web page and as PNG for mail.

Both drawings come from one `Trend` and one layout, so the page and the report show the same picture.
SVG is written by hand (a few dozen elements, presentation attributes only: the page's strict CSP allows
no inline style, and no script is needed). Mail clients block SVG, so mail gets a PNG drawn with Pillow.
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from monitor import clock

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f",
           "#bcbd22")
W, H = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 44, 200, 14, 34
LEGEND_X = W - RIGHT + 27  # where a legend entry's text starts; it must end before the edge, LEGEND_ROOM on
LEGEND_ROOM = W - LEGEND_X - 4


@dataclass(frozen=True)
class Trend:
    weeks: tuple[date, ...]  # Mondays, oldest first
    series: tuple[tuple[str, tuple[int, ...]], ...]  # (topic, count per week), busiest topic first
    partial: bool = False  # the last week is still running: drawn dashed and labelled, not read as a drop

    @property
    def peak(self) -> int:
        return max((max(c) for _, c in self.series if c), default=0)

    @property
    def total(self) -> int:
        return sum(sum(c) for _, c in self.series)


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def weekly_trend(store, now: datetime | None = None, weeks: int = 52, topics: list[str] | None = None,
                 *, indexed: bool = False) -> Trend:
    """Stories per topic per week for the last `weeks` weeks (this week included), zeros filled in.

    `indexed`: count from the web interface's slim topic index instead of the stories themselves.
    """
    now = now or clock.now()
    first = monday(now.astimezone(timezone.utc).date()) - timedelta(weeks=weeks - 1)
    days = tuple(first + timedelta(weeks=i) for i in range(weeks))
    index = {d.isoformat(): i for i, d in enumerate(days)}
    counts: dict[str, list[int]] = {t: [0] * weeks for t in topics or []}
    since = datetime(first.year, first.month, first.day, tzinfo=timezone.utc)
    for week, topic, n in store.weekly_topic_counts(since, indexed=indexed):
        if week in index:
            counts.setdefault(topic, [0] * weeks)[index[week]] += n
    series = sorted(((t, tuple(c)) for t, c in counts.items()), key=lambda s: (-sum(s[1]), s[0]))
    week_end = datetime(days[-1].year, days[-1].month, days[-1].day, tzinfo=timezone.utc) + timedelta(weeks=1)
    return Trend(days, tuple(series), partial=now + timedelta(seconds=1) < week_end)


_MANTISSAS = (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8)


def titled(trend: Trend, titles: dict[str, str]) -> Trend:
    """The same trend with each topic named by its title (keywords.yaml), as a reader knows it."""
    return Trend(trend.weeks, tuple((titles.get(t) or t, c) for t, c in trend.series), trend.partial)


def _legend(name: str, total: int, width_of: Callable[[str], float]) -> str:
    """'Killings and deaths in cu… (13)': the name cut until the entry, count included, fits beside the plot
    (`width_of` in chart units); the full name is in the line's tooltip and the report's text."""
    text, cut = f"{name} ({total})", len(name)
    while width_of(text) > LEGEND_ROOM and cut > 1:
        cut -= 1
        text = f"{name[:cut].rstrip()}… ({total})"
    return text


_WIDE, _NARROW = frozenset("MWmwШЩЖЮМФЫшщжюмфы@%—"), frozenset("iljtfrI.,:;'!|() ")


def _estimated_width(text: str) -> float:
    """A browser's sans-serif at 11 px, measured generously per kind of letter: the page's font is not known here."""
    em = sum(0.95 if c in _WIDE else 0.35 if c in _NARROW else 0.72 if c.isupper() else 0.6 for c in text)
    return 11 * em


def _nice_max(peak: int) -> int:
    """The top of the y-axis: four equal whole-number steps, the smallest that reach `peak` (9 → 12, not 20)."""
    need = -(-max(peak, 1) // 4)  # the smallest step that reaches the peak in four
    scale = 1
    while True:
        for m in _MANTISSAS:
            step = m * scale
            if step == int(step) and step >= need:
                return int(step) * 4
        scale *= 10


def _layout(trend: Trend) -> tuple[int, list[tuple[str, str, list[tuple[float, float]]]], list[tuple[float, str]]]:
    """(y max, per topic (name, colour, points), month ticks (x, label)) in chart coordinates."""
    ymax = _nice_max(max(trend.peak, 1))
    n = max(len(trend.weeks) - 1, 1)
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    x = lambda i: LEFT + plot_w * i / n  # noqa: E731
    y = lambda v: TOP + plot_h * (1 - v / ymax)  # noqa: E731
    lines = [(name, PALETTE[k % len(PALETTE)], [(x(i), y(v)) for i, v in enumerate(counts)])
             for k, (name, counts) in enumerate(trend.series[: len(PALETTE)])]
    ticks, last_month = [], None
    for i, d in enumerate(trend.weeks):
        if d.month != last_month and d.day <= 7:
            ticks.append((x(i), d.strftime("%b %Y" if d.month == 1 or not ticks else "%b")))
        last_month = d.month
    return ymax, lines, ticks


def svg(trend: Trend, title: str = "Stories per week and topic, last 12 months") -> str:
    """An accessible inline SVG (role=img, a <title>); every label escaped."""
    e = lambda s: html.escape(str(s), quote=True)  # noqa: E731
    ymax, lines, ticks = _layout(trend)
    plot_h, bottom = H - TOP - BOTTOM, H - BOTTOM
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="100%" role="img" '
           f'aria-labelledby="trend-title" class="trend" font-family="sans-serif" font-size="11">',
           f'<title id="trend-title">{e(title)}</title>']
    for k in range(5):
        yv = TOP + plot_h * k / 4
        out.append(f'<line x1="{LEFT}" y1="{yv:.1f}" x2="{W - RIGHT}" y2="{yv:.1f}" stroke="#e3e3e3"/>')
        out.append(f'<text x="{LEFT - 6}" y="{yv + 4:.1f}" text-anchor="end" fill="#555">{ymax * (4 - k) // 4}</text>')
    for xv, label in ticks:
        out.append(f'<line x1="{xv:.1f}" y1="{bottom}" x2="{xv:.1f}" y2="{bottom + 4}" stroke="#888"/>')
        out.append(f'<text x="{xv:.1f}" y="{bottom + 16}" text-anchor="middle" fill="#555">{e(label)}</text>')
    out.append(f'<line x1="{LEFT}" y1="{bottom}" x2="{W - RIGHT}" y2="{bottom}" stroke="#888"/>')
    for k, (name, colour, points) in enumerate(lines):
        full = points[:-1] if trend.partial and len(points) > 1 else points
        pts = " ".join(f"{px:.1f},{py:.1f}" for px, py in full)
        total = sum(dict(trend.series)[name])
        out.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="2">'
                   f'<title>{e(name)}: {total} stories</title></polyline>')
        if full is not points:  # the running week: dashed, so a half-counted week does not read as a drop
            (x1, y1), (x2, y2) = points[-2], points[-1]
            out.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{colour}" '
                       f'stroke-width="2" stroke-dasharray="4 3"><title>{e(name)}: this week so far</title></line>')
        ly = TOP + 8 + 16 * k
        out.append(f'<rect x="{W - RIGHT + 12}" y="{ly - 8}" width="10" height="10" fill="{colour}"/>')
        out.append(f'<text x="{LEGEND_X}" y="{ly + 1}" fill="#222">{e(_legend(name, total, _estimated_width))}</text>')
    if trend.partial and lines:
        out.append(f'<text x="{W - RIGHT:.1f}" y="{TOP - 2}" text-anchor="end" fill="#777">'
                   'last week: so far</text>')
    if not lines or trend.total == 0:
        out.append(f'<text x="{(LEFT + W - RIGHT) / 2}" y="{TOP + plot_h / 2}" text-anchor="middle" fill="#777">'
                   'no stories in this period</text>')
    out.append("</svg>")
    return "\n".join(out)


# Pillow's own font has Latin letters only: a topic titled in Russian or Tajik came out as empty boxes
FONTS = ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
         "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf", "/usr/share/fonts/TTF/DejaVuSans.ttf")


def _font(size: int):
    """A system font with Cyrillic (DejaVu Sans, Liberation Sans), else Pillow's own."""
    from PIL import ImageFont

    for name in FONTS:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


def png(trend: Trend, scale: int = 2) -> bytes:
    """The same chart as a PNG (drawn at `scale`× for sharp text on high-density screens)."""
    from PIL import Image, ImageDraw

    ymax, lines, ticks = _layout(trend)
    img = Image.new("RGB", (W * scale, H * scale), "white")
    draw = ImageDraw.Draw(img)
    font = _font(11 * scale)
    s = lambda v: v * scale  # noqa: E731
    plot_h, bottom = H - TOP - BOTTOM, H - BOTTOM
    for k in range(5):
        yv = TOP + plot_h * k / 4
        draw.line([(s(LEFT), s(yv)), (s(W - RIGHT), s(yv))], fill="#e3e3e3", width=scale)
        draw.text((s(LEFT - 6), s(yv)), str(ymax * (4 - k) // 4), fill="#555555", font=font, anchor="rm")
    draw.line([(s(LEFT), s(bottom)), (s(W - RIGHT), s(bottom))], fill="#888888", width=scale)
    for xv, label in ticks:
        draw.line([(s(xv), s(bottom)), (s(xv), s(bottom + 4))], fill="#888888", width=scale)
        draw.text((s(xv), s(bottom + 16)), label, fill="#555555", font=font, anchor="mm")
    for k, (name, colour, points) in enumerate(lines):
        full = points[:-1] if trend.partial and len(points) > 1 else points
        draw.line([(s(px), s(py)) for px, py in full], fill=colour, width=2 * scale, joint="curve")
        if full is not points:  # the running week, dashed
            _dashed(draw, [(s(px), s(py)) for px, py in points[-2:]], colour, 2 * scale, 4 * scale)
        ly = TOP + 8 + 16 * k
        draw.rectangle([s(W - RIGHT + 12), s(ly - 8), s(W - RIGHT + 22), s(ly + 2)], fill=colour)
        total = sum(dict(trend.series)[name])
        entry = _legend(name, total, lambda text: font.getlength(text) / scale)
        draw.text((s(LEGEND_X), s(ly - 3)), entry, fill="#222222", font=font, anchor="lm")
    if trend.partial and lines:
        draw.text((s(W - RIGHT), s(TOP + 2)), "last week: so far", fill="#777777", font=font, anchor="rm")
    if not lines or trend.total == 0:
        draw.text((s((LEFT + W - RIGHT) / 2), s(TOP + plot_h / 2)), "no stories in this period", fill="#777777",
                  font=font, anchor="mm")
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=True)
    return buf.getvalue()


def _dashed(draw, ends, colour: str, width: int, dash: int) -> None:
    """Pillow draws no dashed lines: short pieces along the segment."""
    (x1, y1), (x2, y2) = ends
    length = max(((x2 - x1) ** 2 + (y2 - y1) ** 2) ** 0.5, 1.0)
    pieces = max(int(length // dash), 1)
    for i in range(0, pieces, 2):
        a, b = i / pieces, min((i + 1) / pieces, 1.0)
        draw.line([(x1 + (x2 - x1) * a, y1 + (y2 - y1) * a), (x1 + (x2 - x1) * b, y1 + (y2 - y1) * b)],
                  fill=colour, width=width)

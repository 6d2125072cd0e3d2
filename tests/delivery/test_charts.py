"""The trend chart with the shipped topics' long titles and counts in the thousands: every word drawn is inside
the picture (measured with Pillow's own text boxes), and `report --chart` writes what the file's name says."""

from __future__ import annotations

import io
import os
import re
from datetime import date, timedelta

import pytest
from PIL import Image, ImageDraw, ImageFont

from monitor.delivery import charts
from monitor.relevance.keywords import load_rules
from monitor.store import Store
from tests.conftest import PROJECT, run_cli

TITLES = [t for t in load_rules(PROJECT / "keywords.yaml").titles.values()] + ["Ш" * 40, "W" * 40]
WEEKS = tuple(date(2026, 1, 5) + timedelta(weeks=i) for i in range(52))  # fixed: no test reads the clock
TREND = charts.Trend(WEEKS, tuple((title, tuple((i * 37 + k) % 1300 for i in range(52)))
                                  for k, title in enumerate(TITLES)), partial=True)


def test_every_text_of_the_png_is_inside_the_image(monkeypatch):
    boxes: list[tuple[str, tuple[float, float, float, float]]] = []
    draw_text = ImageDraw.ImageDraw.text

    def recorded(self, xy, text, *args, **kwargs):
        boxes.append((text, self.textbbox(xy, text, font=kwargs.get("font"), anchor=kwargs.get("anchor"))))
        return draw_text(self, xy, text, *args, **kwargs)

    monkeypatch.setattr(ImageDraw.ImageDraw, "text", recorded)
    width, height = Image.open(io.BytesIO(charts.png(TREND))).size
    legend = [text for text, _ in boxes if text.endswith(")")]
    assert len(legend) == len(TITLES), legend
    assert any(text.startswith("Killings") for text in legend)
    for text, (left, top, right, bottom) in boxes:
        assert 0 <= left and right <= width and 0 <= top and bottom <= height, (text, (left, top, right, bottom))


def test_the_svg_legend_fits_at_a_browsers_width_of_its_letters():
    font = ImageFont.load_default(size=11)
    legend = re.findall(rf'<text x="{charts.LEGEND_X}" y="[\d.]+" fill="#222">([^<]+)</text>', charts.svg(TREND))
    assert len(legend) == len(TITLES)
    for text in legend:
        assert re.search(r"\(\d+\)$", text), text  # the count is never cut off
        assert charts.LEGEND_X + font.getlength(text) <= charts.W, text


@pytest.mark.parametrize("name", ["trend.svg", "trend.SVG", "trend.png"])
def test_report_writes_the_chart_the_file_name_asks_for(tmp_path, name, clean_env):
    Store(tmp_path / "monitor.db").close()
    chart = tmp_path / name
    result = run_cli("report", "--chart", str(chart), "--state", str(tmp_path / "monitor.db"))
    assert result.returncode == 0, result.stderr
    data = chart.read_bytes()
    if name.lower().endswith(".svg"):
        assert data.startswith(b'<svg xmlns="http://www.w3.org/2000/svg"') and data.rstrip().endswith(b"</svg>")
    else:
        assert data.startswith(b"\x89PNG\r\n\x1a\n")


def test_report_refuses_a_chart_it_cannot_write_in_one_line(tmp_path, clean_env):
    result = run_cli("report", "--chart", str(tmp_path / "trend.jpg"), "--state", str(tmp_path / "monitor.db"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith(f"expected a file ending in .png or .svg, got "
                                                           f"'{tmp_path / 'trend.jpg'}'")
    assert not (tmp_path / "trend.jpg").exists()


def test_a_topic_titled_in_russian_is_drawn_in_letters_not_empty_boxes(monkeypatch):
    if not any(os.path.exists(path) for path in charts.FONTS if path.startswith("/")):
        pytest.skip("no system font with Cyrillic letters here (fonts-dejavu-core)")
    fonts: list = []
    draw_text = ImageDraw.ImageDraw.text

    def recorded(self, xy, text, *args, **kwargs):
        fonts.append(kwargs.get("font"))
        return draw_text(self, xy, text, *args, **kwargs)

    monkeypatch.setattr(ImageDraw.ImageDraw, "text", recorded)
    charts.png(charts.Trend(WEEKS[:4], (("Задержания в ГБАО", (1, 2, 3, 4)),), partial=False))

    def drawn(letter: str) -> bytes:
        img = Image.new("L", (64, 64))
        ImageDraw.Draw(img).text((8, 8), letter, font=fonts[-1], fill=255)
        return img.tobytes()

    assert drawn("Ж") != drawn("\U0010fffd"), "Cyrillic is drawn as the empty box of a letter the font lacks"

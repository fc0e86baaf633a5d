"""The digest's participation chart: a small labelled bar chart, drawn with Pillow as a PNG.

Weeks on the x axis, participation (0-100%) on the y axis. A week without a figure (fewer
than 3 people, or paused) is drawn as a gap: a dashed outline marked "n/a", and the note under
the chart says why. Pure: values in, PNG bytes out.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 720, 360
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 56, 20, 44, 70
BACKGROUND = (255, 255, 255)
INK = (40, 40, 40)
GRID = (225, 225, 225)
BAR = (46, 112, 194)
GAP = (170, 170, 170)
GAP_NOTE = "n/a: not enough responses yet, or paused"


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (OSError, TypeError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def participation_chart(
    labels: Sequence[str], values: Sequence[float | None], *, title: str
) -> bytes:
    """A PNG of one bar per week; `values` are rates between 0 and 1, None for a gap."""
    if len(labels) != len(values):
        raise ValueError("one label per value")
    if not values:
        raise ValueError("nothing to draw")
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    small, regular = _font(12), _font(15)
    left, right = MARGIN_LEFT, WIDTH - MARGIN_RIGHT
    top, bottom = MARGIN_TOP, HEIGHT - MARGIN_BOTTOM
    draw.text((left, 12), title, fill=INK, font=regular)

    for percent in (0, 25, 50, 75, 100):  # horizontal grid with its labels
        y = bottom - (bottom - top) * percent / 100
        draw.line([(left, y), (right, y)], fill=GRID if percent else INK, width=1)
        draw.text((left - 8, y), f"{percent}%", fill=INK, font=small, anchor="rm")

    slot = (right - left) / len(values)
    bar_width = slot * 0.6
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        x0 = left + slot * index + (slot - bar_width) / 2
        x1 = x0 + bar_width
        centre = (x0 + x1) / 2
        if value is None:
            _dashed_box(draw, x0, bottom - (bottom - top) * 0.2, x1, bottom)
            draw.text((centre, bottom - 6), "n/a", fill=GAP, font=small, anchor="mb")
        else:
            share = min(max(value, 0.0), 1.0)
            y = bottom - (bottom - top) * share
            if share > 0:
                draw.rectangle([(x0, y), (x1, bottom)], fill=BAR)
            draw.text((centre, y - 4), f"{round(share * 100)}%", fill=INK, font=small, anchor="mb")
        draw.text((centre, bottom + 8), label, fill=INK, font=small, anchor="mt")

    if any(value is None for value in values):
        draw.text((left, HEIGHT - 24), GAP_NOTE, fill=GAP, font=small)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _dashed_box(draw: ImageDraw.ImageDraw, x0: float, y0: float, x1: float, y1: float) -> None:
    dash = 5.0
    for a, b, horizontal in (
        ((x0, y0), (x1, y0), True),
        ((x0, y1), (x1, y1), True),
        ((x0, y0), (x0, y1), False),
        ((x1, y0), (x1, y1), False),
    ):
        start, end = (a[0], b[0]) if horizontal else (a[1], b[1])
        position = start
        while position < end:
            stop = min(position + dash, end)
            if horizontal:
                draw.line([(position, a[1]), (stop, a[1])], fill=GAP, width=1)
            else:
                draw.line([(a[0], position), (a[0], stop)], fill=GAP, width=1)
            position += dash * 2

"""Printable A4 pages at 150 dots per inch (posters, honour rolls): the page size and centred
lines of text in the CJK font."""

from __future__ import annotations

from PIL import ImageDraw

from core.fonts import cjk_font

#: A4 at 150 dots per inch: sharp when printed, small enough to send over a weak signal.
A4 = (1240, 1754)
MARGIN = 90
GREY = "#5b6670"


def centred_line(draw: ImageDraw.ImageDraw, y: int, text: str, size: int, fill="#1d2329") -> int:
    """Draw one centred line (shrinking it to fit the width); answer the y below it."""
    font = cjk_font(size)
    while draw.textlength(text, font=font) > A4[0] - 2 * MARGIN and size > 20:
        size -= 4
        font = cjk_font(size)
    width = draw.textlength(text, font=font)
    draw.text(((A4[0] - width) / 2, y), text, font=font, fill=fill)
    return y + int(size * 1.45)

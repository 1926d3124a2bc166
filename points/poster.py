"""The printable A4 check-in poster of an event: title, time, place and a large QR code."""

from __future__ import annotations

import io
from datetime import datetime

from PIL import Image, ImageDraw

from core.fonts import cjk_font
from core.qr.render import render_png
from core.clock import SHANGHAI
from points.models import Event

#: A4 at 150 dots per inch: sharp when printed, small enough to send over a weak signal.
A4 = (1240, 1754)
MARGIN = 90


def _when(start: datetime, end: datetime) -> str:
    start, end = start.astimezone(SHANGHAI), end.astimezone(SHANGHAI)
    same_day = start.date() == end.date()
    return f"{start:%Y-%m-%d %H:%M} – {end:%H:%M}" if same_day else f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M}"


def _centred(draw: ImageDraw.ImageDraw, y: int, text: str, size: int, fill="#1d2329") -> int:
    """Draw one centred line (shrinking it to fit the width); answer the y below it."""
    font = cjk_font(size)
    while draw.textlength(text, font=font) > A4[0] - 2 * MARGIN and size > 20:
        size -= 4
        font = cjk_font(size)
    width = draw.textlength(text, font=font)
    draw.text(((A4[0] - width) / 2, y), text, font=font, fill=fill)
    return y + int(size * 1.45)


def render_poster(event: Event, checkin_url: str) -> bytes:
    """Draw the poster as a PNG."""
    page = Image.new("RGB", A4, "white")
    draw = ImageDraw.Draw(page)
    draw.rectangle((0, 0, A4[0], 150), fill="#b3261e")
    _centred(draw, 40, "平安积分 · 扫码签到", 64, fill="white")
    y = _centred(draw, 210, event.title, 76)
    y = _centred(draw, y + 10, f"{event.activity.name} · {event.org_unit.name}", 44, fill="#5b6670")
    y = _centred(draw, y, _when(event.starts_at, event.ends_at), 44, fill="#5b6670")
    code = Image.open(io.BytesIO(render_png(checkin_url, box_size=12))).convert("RGB")
    side = min(A4[0] - 2 * MARGIN, A4[1] - y - 330)
    code = code.resize((side, side), Image.Resampling.NEAREST)
    page.paste(code, ((A4[0] - side) // 2, y + 30))
    y += side + 60
    y = _centred(draw, y, "请用手机相机或微信扫一扫，登录后签到", 46)
    _centred(draw, y, "Scan with your phone camera to check in", 34, fill="#5b6670")
    output = io.BytesIO()
    page.save(output, "PNG", optimize=True)
    return output.getvalue()

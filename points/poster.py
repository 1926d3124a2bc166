"""Printable A4 posters with a large QR code: an event's check-in poster, and a patrol route's
checkpoint posters (one page each, in one PDF)."""

from __future__ import annotations

import io
from datetime import datetime

from PIL import Image, ImageDraw

from core.clock import SHANGHAI
from core.printing import A4, GREY, MARGIN, centred_line
from core.qr.render import render_png
from points.models import Event

#: One line of text: what it says, its size in pixels and its colour.
Line = tuple[str, int, str]


def _when(start: datetime, end: datetime) -> str:
    start, end = start.astimezone(SHANGHAI), end.astimezone(SHANGHAI)
    same_day = start.date() == end.date()
    return (
        f"{start:%Y-%m-%d %H:%M} – {end:%H:%M}"
        if same_day
        else f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M}"
    )


def _page(banner: str, above: list[Line], url: str, below: list[Line]) -> Image.Image:
    """An A4 page: a red banner, lines above a QR code as large as fits, lines under it."""
    page = Image.new("RGB", A4, "white")
    draw = ImageDraw.Draw(page)
    draw.rectangle((0, 0, A4[0], 150), fill="#b3261e")
    centred_line(draw, 40, banner, 64, fill="white")
    y = 210
    for text, size, fill in above:
        y = centred_line(draw, y, text, size, fill)
    code = Image.open(io.BytesIO(render_png(url, box_size=12))).convert("RGB")
    side = min(A4[0] - 2 * MARGIN, A4[1] - y - 330)
    code = code.resize((side, side), Image.Resampling.NEAREST)
    page.paste(code, ((A4[0] - side) // 2, y + 30))
    y += side + 60
    for text, size, fill in below:
        y = centred_line(draw, y, text, size, fill)
    return page


def render_poster(event: Event, checkin_url: str) -> bytes:
    """Draw an event's check-in poster as a PNG."""
    page = _page(
        "平安积分 · 扫码签到",
        [
            (event.title, 76, "#1d2329"),
            (f"{event.activity.name} · {event.org_unit.name}", 44, GREY),
            (_when(event.starts_at, event.ends_at), 44, GREY),
        ],
        checkin_url,
        [
            ("请用手机相机或微信扫一扫，登录后签到", 46, "#1d2329"),
            ("Scan with your phone camera to check in", 34, GREY),
        ],
    )
    output = io.BytesIO()
    page.save(output, "PNG", optimize=True)
    return output.getvalue()


def render_checkpoint_posters(route, checkpoint_urls: list[str]) -> bytes:
    """Draw one poster per checkpoint of a patrol route — its place in the order, its name, the window
    and its QR code — as one PDF of black-and-white A4 pages (crisp codes on any printer, a small file)."""
    window = f"{route.window_start:%H:%M} – {route.window_end:%H:%M}"
    count = len(route.checkpoints)
    pages = [
        _page(
            "平安巡逻 · 巡逻打卡点",
            [
                (route.name, 60, GREY),
                (f"第 {checkpoint.position} 个打卡点（共 {count} 个）", 48, "#1d2329"),
                (checkpoint.name, 84, "#1d2329"),
            ],
            url,
            [
                (f"巡逻时段 {window}　请按顺序扫码打卡", 44, "#1d2329"),
                (f"Checkpoint {checkpoint.position} of {count}: scan in order, {window}", 32, GREY),
            ],
        )
        .convert("L")
        .point(lambda level: 255 if level > 160 else 0, mode="1")
        for checkpoint, url in zip(route.checkpoints, checkpoint_urls, strict=True)
    ]
    output = io.BytesIO()
    pages[0].save(
        output,
        "PDF",
        resolution=150,
        save_all=True,
        append_images=pages[1:],
        title=f"{route.name} 巡逻打卡点",
    )
    return output.getvalue()

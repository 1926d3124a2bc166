"""The printable public notice (积分公示): A4 pages with the CJK font, a QR code to the notice's page.

Drawn like the event posters and the honour roll (Pillow, 150 dots per inch), as a PDF of as many
pages as the entries need: the heading, the window and how to object on the first page, the QR
code beside them, then the entries in a table, page numbers at the foot.
"""

from __future__ import annotations

import io
from datetime import timedelta

from PIL import Image, ImageDraw

from core.clock import SHANGHAI
from core.fonts import cjk_font
from core.printing import A4, MARGIN, centred_line
from core.qr.render import render_png

ROW_HEIGHT = 46
#: Table columns: (heading, left edge, right-aligned).
COLUMNS = (
    ("姓名", MARGIN, False),
    ("网格", MARGIN + 170, False),
    ("积分项目", MARGIN + 470, False),
    ("数量", MARGIN + 840, True),
    ("积分", A4[0] - MARGIN, True),
)
QR_SIDE = 300
INK, GREY, RED = "#1d2329", "#5b6670", "#b3261e"


def _fit(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> str:
    """Cut text that would not fit ``width`` pixels, with an ellipsis."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def _table_head(draw: ImageDraw.ImageDraw, y: int) -> int:
    font = cjk_font(30)
    for heading, x, right in COLUMNS:
        draw.text(
            (x - (draw.textlength(heading, font=font) if right else 0), y), heading, font=font, fill=GREY
        )
    draw.line((MARGIN, y + 42, A4[0] - MARGIN, y + 42), fill=GREY, width=2)
    return y + 56


def _row(draw: ImageDraw.ImageDraw, y: int, cells: list[str]) -> None:
    font = cjk_font(28)
    widths = (160, 290, 330, 0, 0)
    for (_heading, x, right), text, width in zip(COLUMNS, cells, widths):
        if right:
            draw.text((x - draw.textlength(text, font=font), y), text, font=font, fill=INK)
        else:
            draw.text((x, y), _fit(draw, text, font, width), font=font, fill=INK)


def _first_page(notice: dict, page_url: str, working_days: int) -> tuple[Image.Image, int]:
    """The first page's heading, window, how to object and QR code; answer it and the y below."""
    page = Image.new("RGB", A4, "white")
    draw = ImageDraw.Draw(page)
    draw.rectangle((0, 0, A4[0], 150), fill=RED)
    centred_line(draw, 40, "平安积分 · 积分公示", 64, fill="white")
    y = centred_line(draw, 190, notice["org_unit"].name, 64)
    y = centred_line(
        draw, y, f"{notice['month'][:4]} 年 {int(notice['month'][5:])} 月积分明细", 44, fill=GREY
    )
    opens, closes = notice["opens_at"].astimezone(SHANGHAI), notice["closes_at"].astimezone(SHANGHAI)
    code = Image.open(io.BytesIO(render_png(page_url, box_size=8))).convert("RGB")
    code = code.resize((QR_SIDE, QR_SIDE), Image.Resampling.NEAREST)
    page.paste(code, (A4[0] - MARGIN - QR_SIDE, y + 20))
    font, text_width = cjk_font(32), A4[0] - 2 * MARGIN - QR_SIDE - 30
    last_day = (closes - timedelta(days=1)).date()
    lines = [
        f"公示期：{opens:%Y年%m月%d日}至{last_day:%Y年%m月%d日}（{working_days}个工作日）",
        "居民对以下积分如有异议，请在公示期内",
        "扫描右侧二维码，登录后在公示页面提出，",
        "或向村（社区）干部反映。异议人信息保密。",
        f"本期共 {notice['total']} 条记录。",
    ]
    line_y = y + 30
    for line in lines:
        draw.text((MARGIN, line_y), _fit(draw, line, font, text_width), font=font, fill=INK)
        line_y += 52
    return page, max(line_y, y + 20 + QR_SIDE) + 40


def render_notice_pdf(notice: dict, entries: list[dict], page_url: str, working_days: int) -> bytes:
    """Draw the notice (``points.notices.shown_notice`` with every entry) as an A4 PDF."""
    page, y = _first_page(notice, page_url, working_days)
    pages = [page]
    draw = ImageDraw.Draw(page)
    y = _table_head(draw, y)
    bottom = A4[1] - MARGIN - 60
    for entry in entries:
        if y + ROW_HEIGHT > bottom:
            page = Image.new("RGB", A4, "white")
            pages.append(page)
            draw = ImageDraw.Draw(page)
            y = _table_head(draw, MARGIN)
        grid = entry["org_unit"].name if entry["org_unit"] else "—"
        quantity = f"{entry['quantity'].normalize():f}"
        _row(draw, y, [entry["display_name"], grid, entry["activity"].name, quantity, str(entry["points"])])
        y += ROW_HEIGHT
    if not entries:
        centred_line(draw, y + 40, "本月没有需要公示的积分记录", 40, fill=GREY)
    for number, each in enumerate(pages, 1):
        centred_line(
            ImageDraw.Draw(each), A4[1] - MARGIN - 20, f"第 {number} 页 / 共 {len(pages)} 页", 26, fill=GREY
        )
    output = io.BytesIO()
    pages[0].save(output, "PDF", resolution=150, save_all=True, append_images=pages[1:])
    return output.getvalue()

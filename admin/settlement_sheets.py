"""A settlement as the sheet a supermarket signs: an XLSX workbook and an A4 PDF (CJK font), with
the same lines, total and signature lines as the console page."""

from __future__ import annotations

import io
from decimal import Decimal

from flask_babel import format_datetime
from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Font
from PIL import Image, ImageDraw

from admin.reports import _cell
from core.fonts import cjk_font
from points.poster import A4, MARGIN, _centred
from rewards.settlements import Line, SettlementView, format_yuan

#: Lines on one A4 page (on the last, which also holds the total and the signatures: fewer), and
#: the height of each.
LINES_PER_PAGE = 24
LINES_ON_LAST_PAGE = 16
LINE_HEIGHT = 46
TEXT = "#1d2329"
GREY = "#5b6670"


def status_text(view: SettlementView) -> str:
    """Draft, or confirmed with when and by whom."""
    if view.status != "confirmed":
        return _("Draft: not confirmed yet")
    return _("Confirmed %(when)s by %(who)s", when=format_datetime(view.confirmed_at, "short"),
             who=view.confirmed_by or "—")


def line_label(line: Line) -> str:
    """The reward's name, and the month it belongs to for a late fulfilment."""
    if line.adjusts_month:
        return _("%(reward)s (recorded late, of %(month)s)", reward=line.reward_name, month=line.adjusts_month)
    return line.reward_name


def file_name(view: SettlementView, fmt: str) -> str:
    """The download's name: ASCII, so every browser keeps it."""
    return f"settlement-{view.supermarket.id}-{view.month}.{fmt}"


def _columns() -> list[str]:
    return [_("Reward"), _("Units"), _("Unit cost (yuan)"), _("Amount (yuan)")]


def _signatures() -> list[str]:
    return [_("Supermarket (signature and seal): ____________   Date: __________"),
            _("County office (signature): ____________   Date: __________")]


def settlement_xlsx(view: SettlementView) -> bytes:
    """The settlement as one worksheet: heading, lines in yuan, total, signature lines."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = view.month
    sheet.append([_cell(_("Settlement of %(shop)s, %(month)s", shop=view.supermarket.name, month=view.month))])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append([_cell(status_text(view))])
    sheet.append([])
    sheet.append(_columns())
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    for line in view.lines:
        sheet.append([_cell(line_label(line)), line.quantity, Decimal(line.unit_cost_fen) / 100,
                      Decimal(line.amount_fen) / 100])
    sheet.append([_("Total"), sum(line.quantity for line in view.lines), None, Decimal(view.total_fen) / 100])
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    for row in sheet.iter_rows(min_row=5, min_col=3, max_col=4):
        for cell in row:
            cell.number_format = "0.00"
    sheet.append([])
    for signature in _signatures():
        sheet.append([signature])
    sheet.column_dimensions["A"].width = 40
    for column in "BCD":
        sheet.column_dimensions[column].width = 16
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


def _right(draw: ImageDraw.ImageDraw, x: int, y: int, text: str, size: int, fill: str = TEXT) -> None:
    font = cjk_font(size)
    draw.text((x - draw.textlength(text, font=font), y), text, font=font, fill=fill)


def _left(draw: ImageDraw.ImageDraw, x: int, y: int, text: str, size: int, width: int, fill: str = TEXT) -> None:
    """Draw text from ``x``, shortened with an ellipsis to fit ``width``."""
    font = cjk_font(size)
    while draw.textlength(text, font=font) > width and len(text) > 1:
        text = text[:-2] + "…"
    draw.text((x, y), text, font=font, fill=fill)


def _page(view: SettlementView, number: int, pages: int) -> tuple[Image.Image, ImageDraw.ImageDraw, int]:
    """A new A4 page with the heading; answer it, its pen and the y below the heading."""
    page = Image.new("RGB", A4, "white")
    draw = ImageDraw.Draw(page)
    draw.rectangle((0, 0, A4[0], 150), fill="#b3261e")
    _centred(draw, 40, _("Safety supermarket settlement"), 60, fill="white")
    y = _centred(draw, 190, view.supermarket.name, 56)
    y = _centred(draw, y, f"{view.month} · {status_text(view)}", 32, fill=GREY)
    if pages > 1:
        y = _centred(draw, y, _("Page %(page)d of %(pages)d", page=number, pages=pages), 28, fill=GREY)
    y += 20
    right = A4[0] - MARGIN
    for x, text, align in ((MARGIN, _columns()[0], "left"), (right - 560, _columns()[1], "right"),
                           (right - 280, _columns()[2], "right"), (right, _columns()[3], "right")):
        if align == "left":
            _left(draw, x, y, text, 28, 440, fill=GREY)
        else:
            _right(draw, x, y, text, 28, fill=GREY)
    y += LINE_HEIGHT
    draw.line((MARGIN, y - 6, right, y - 6), fill="#d9dee3", width=2)
    return page, draw, y


def settlement_pdf(view: SettlementView) -> bytes:
    """The settlement on A4 pages (as many as its lines need), the total and signature lines last."""
    chunks = [view.lines[start:start + LINES_PER_PAGE] for start in range(0, len(view.lines), LINES_PER_PAGE)] \
        or [[]]
    if len(chunks[-1]) > LINES_ON_LAST_PAGE:
        chunks[-1:] = [chunks[-1][:LINES_ON_LAST_PAGE], chunks[-1][LINES_ON_LAST_PAGE:]]
    pages = []
    right = A4[0] - MARGIN
    for number, chunk in enumerate(chunks, start=1):
        page, draw, y = _page(view, number, len(chunks))
        if not view.lines:
            _centred(draw, y + 40, _("Nothing was handed over this month."), 36, fill=GREY)
            y += 120
        for line in chunk:
            _left(draw, MARGIN, y, line_label(line), 30, 440)
            _right(draw, right - 560, y, str(line.quantity), 30)
            _right(draw, right - 280, y, format_yuan(line.unit_cost_fen), 30)
            _right(draw, right, y, format_yuan(line.amount_fen), 30)
            y += LINE_HEIGHT
        if number == len(chunks):
            draw.line((MARGIN, y + 4, right, y + 4), fill=TEXT, width=2)
            y += 20
            _left(draw, MARGIN, y, _("Total"), 36, 440)
            _right(draw, right, y, _("%(yuan)s yuan", yuan=format_yuan(view.total_fen)), 36)
            y += 140
            for signature in _signatures():
                _left(draw, MARGIN, y, signature, 32, A4[0] - 2 * MARGIN)
                y += 110
        pages.append(page)
    output = io.BytesIO()
    pages[0].save(output, "PDF", resolution=150, save_all=True, append_images=pages[1:])
    return output.getvalue()

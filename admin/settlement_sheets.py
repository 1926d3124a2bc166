"""A settlement as the sheet a supermarket signs: an XLSX workbook and an A4 PDF of text in the CJK
font, with the same lines, total and signature lines as the console page."""

from __future__ import annotations

import io
from decimal import Decimal

from flask_babel import format_datetime
from flask_babel import gettext as _
from fpdf import FPDF, FontFace, XPos, YPos
from openpyxl import Workbook
from openpyxl.styles import Font

from admin.reports import _cell
from core.fonts import cjk_font_path
from rewards.settlements import Line, SettlementView, format_yuan

TEXT = "#1d2329"
GREY = "#5b6670"


def status_text(view: SettlementView) -> str:
    """Draft, or confirmed with when and by whom."""
    if view.status != "confirmed":
        return _("Draft: not confirmed yet")
    return _(
        "Confirmed %(when)s by %(who)s",
        when=format_datetime(view.confirmed_at, "short"),
        who=view.confirmed_by or "—",
    )


def line_label(line: Line) -> str:
    """The reward's name, and the month it belongs to for a late fulfilment."""
    if line.adjusts_month:
        return _(
            "%(reward)s (recorded late, of %(month)s)", reward=line.reward_name, month=line.adjusts_month
        )
    return line.reward_name


def file_name(view: SettlementView, fmt: str) -> str:
    """The download's name: ASCII, so every browser keeps it."""
    return f"settlement-{view.supermarket.id}-{view.month}.{fmt}"


def _columns() -> list[str]:
    return [_("Reward"), _("Units"), _("Unit cost (yuan)"), _("Amount (yuan)")]


def _signatures() -> list[str]:
    return [
        _("Supermarket (signature and seal): ____________   Date: __________"),
        _("County office (signature): ____________   Date: __________"),
    ]


def settlement_xlsx(view: SettlementView) -> bytes:
    """The settlement as one worksheet: heading, lines in yuan, total, signature lines."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = view.month
    sheet.append(
        [_cell(_("Settlement of %(shop)s, %(month)s", shop=view.supermarket.name, month=view.month))]
    )
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append([_cell(status_text(view))])
    sheet.append([])
    sheet.append(_columns())
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    for line in view.lines:
        sheet.append(
            [
                _cell(line_label(line)),
                line.quantity,
                Decimal(line.unit_cost_fen) / 100,
                Decimal(line.amount_fen) / 100,
            ]
        )
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


#: A4 in millimetres, the margins, and each column's width (reward, units, unit cost, amount).
MARGIN_MM = 18
COLUMN_WIDTHS = (78, 22, 37, 37)
#: Points: the heading, the sub-heading, the lines and the signature lines.
TITLE_SIZE, HEADING_SIZE, TEXT_SIZE = 18, 12, 11


def settlement_pdf(view: SettlementView) -> bytes:
    """The settlement on A4 pages as text in the CJK font (the table runs on as many pages as its
    lines need, its heading repeated), the total and signature lines last."""
    pdf = FPDF(format="A4")
    pdf.set_margins(MARGIN_MM, MARGIN_MM)
    pdf.set_auto_page_break(True, MARGIN_MM)
    pdf.set_title(_("Settlement of %(shop)s, %(month)s", shop=view.supermarket.name, month=view.month))
    path = cjk_font_path()
    pdf.add_font(
        "cjk", fname=str(path), **({"collection_font_number": 0} if path.suffix.lower() == ".ttc" else {})
    )
    pdf.set_text_color(TEXT)
    pdf.add_page()
    pdf.set_font("cjk", size=TITLE_SIZE)
    pdf.cell(0, 10, _("Safety supermarket settlement"), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(size=HEADING_SIZE)
    pdf.cell(0, 8, view.supermarket.name, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(GREY)
    pdf.cell(0, 7, f"{view.month} · {status_text(view)}", align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(TEXT)
    pdf.ln(4)
    pdf.set_font(size=TEXT_SIZE)
    with pdf.table(
        col_widths=COLUMN_WIDTHS,
        width=sum(COLUMN_WIDTHS),
        line_height=7,
        text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT"),
        headings_style=FontFace(emphasis="", color=GREY),
        borders_layout="HORIZONTAL_LINES",
    ) as table:
        table.row(_columns())
        for line in view.lines:
            table.row(
                [
                    line_label(line),
                    str(line.quantity),
                    format_yuan(line.unit_cost_fen),
                    format_yuan(line.amount_fen),
                ]
            )
        table.row(
            [
                _("Total"),
                str(sum(line.quantity for line in view.lines)),
                "",
                _("%(yuan)s yuan", yuan=format_yuan(view.total_fen)),
            ]
        )
    if not view.lines:
        pdf.ln(3)
        pdf.set_text_color(GREY)
        pdf.cell(0, 7, _("Nothing was handed over this month."), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_text_color(TEXT)
    pdf.ln(14)
    for signature in _signatures():
        pdf.cell(0, 7, signature, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(10)
    return bytes(pdf.output())

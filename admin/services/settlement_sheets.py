"""A settlement as the sheet a supermarket signs: an XLSX workbook and an A4 PDF of text in the CJK
font, with the same lines, total and signature lines as the console page."""

from __future__ import annotations

import io
from decimal import Decimal
from html import escape

from flask_babel import format_datetime
from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Font
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from admin.services.spreadsheets import safe_cell
from core.fonts import pdf_font
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
        [safe_cell(_("Settlement of %(shop)s, %(month)s", shop=view.supermarket.name, month=view.month))]
    )
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append([safe_cell(status_text(view))])
    sheet.append([])
    sheet.append(_columns())
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    for line in view.lines:
        sheet.append(
            [
                safe_cell(line_label(line)),
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


#: The margins and each column's width in millimetres (reward, units, unit cost, amount).
MARGIN_MM = 18
COLUMN_WIDTHS_MM = (78, 22, 37, 37)
#: Points: the heading, the sub-heading, the lines and the signature lines.
TITLE_SIZE, HEADING_SIZE, TEXT_SIZE = 18, 12, 11


def settlement_pdf(view: SettlementView) -> bytes:
    """The settlement on A4 pages as text in the CJK font (the table runs on as many pages as its
    lines need, its heading repeated), the total and signature lines last."""
    font = pdf_font()
    centred = ParagraphStyle("centred", fontName=font, fontSize=HEADING_SIZE, leading=16, alignment=TA_CENTER)
    title = ParagraphStyle("title", parent=centred, fontSize=TITLE_SIZE, leading=24)
    grey = ParagraphStyle("grey", parent=centred, fontSize=TEXT_SIZE, textColor=GREY)
    text = ParagraphStyle("text", fontName=font, fontSize=TEXT_SIZE, leading=15, textColor=TEXT)
    rows = [_columns()]
    rows += [
        [
            Paragraph(escape(line_label(line)), text),
            str(line.quantity),
            format_yuan(line.unit_cost_fen),
            format_yuan(line.amount_fen),
        ]
        for line in view.lines
    ]
    rows.append(
        [
            _("Total"),
            str(sum(line.quantity for line in view.lines)),
            "",
            _("%(yuan)s yuan", yuan=format_yuan(view.total_fen)),
        ]
    )
    table = Table(rows, colWidths=[width * mm for width in COLUMN_WIDTHS_MM], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), font, TEXT_SIZE),
                ("TEXTCOLOR", (0, 0), (-1, 0), GREY),
                ("TEXTCOLOR", (0, 1), (-1, -1), TEXT),
                ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.4, GREY),
            ]
        )
    )
    story = [
        Paragraph(escape(_("Safety supermarket settlement")), title),
        Paragraph(escape(view.supermarket.name), centred),
        Paragraph(escape(f"{view.month} · {status_text(view)}"), grey),
        Spacer(0, 4 * mm),
        table,
    ]
    if not view.lines:
        story += [Spacer(0, 3 * mm), Paragraph(escape(_("Nothing was handed over this month.")), text)]
    story.append(Spacer(0, 14 * mm))
    for signature in _signatures():
        story += [Paragraph(escape(signature), text), Spacer(0, 10 * mm)]
    output = io.BytesIO()
    document = SimpleDocTemplate(
        output,
        pagesize=A4,
        leftMargin=MARGIN_MM * mm,
        rightMargin=MARGIN_MM * mm,
        topMargin=MARGIN_MM * mm,
        bottomMargin=MARGIN_MM * mm,
        title=_("Settlement of %(shop)s, %(month)s", shop=view.supermarket.name, month=view.month),
    )
    document.build(story)
    return output.getvalue()

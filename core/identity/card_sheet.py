"""Printable member cards: A4 sheets of 10 cards (name, grid, number, QR code) as a vector PDF.

Drawn with ReportLab in the server's CJK font (``core.fonts``; embedded as a subset, so a
sheet stays small), the QR code as vector squares so it prints sharp at card size. Each card is
the size of a bank card (85.6 × 54 mm), two across and five down, with thin cut lines.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import sqlalchemy as sa
from flask import Response
from flask_babel import gettext as _
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from core.config import public_base_url
from core.errors import AppError
from core.extensions import db
from core.fonts import PDF_FONT, pdf_font
from core.identity.access import can, require
from core.identity.cards import card_url, group_digits
from core.identity.models import Member, MemberCard, OrgUnit
from core.identity.services import get_org_unit
from core.qr.render import qr_modules

CARD_WIDTH, CARD_HEIGHT = 85.6 * mm, 54 * mm
COLUMNS, ROWS = 2, 5
PER_PAGE = COLUMNS * ROWS
GAP = 8 * mm
#: The most cards one sheet holds (100 pages): a bigger grid is printed in parts.
MAX_CARDS = 1000
_DARK_RUN = re.compile(rb"\x01+")


@dataclass(frozen=True)
class PrintedCard:
    """What one card shows."""

    name: str
    grid: str
    number: str
    url: str


def cards_to_print(
    actor: Member, org_unit_id: int | None = None, member_ids: list[int] | None = None
) -> list[PrintedCard]:
    """The live cards of the members of a unit's subtree, or of listed members (organisers and admins
    in scope who outrank each member), in grid and name order. Members without a card are left out."""
    if (org_unit_id is None) == (not member_ids):
        raise AppError(422, errors={"org_unit_id": ["give an org unit or a list of members, one of them"]})
    statement = (
        sa.select(Member, MemberCard)
        .join(MemberCard, sa.and_(MemberCard.member_id == Member.id, MemberCard.revoked_at.is_(None)))
        .outerjoin(OrgUnit, OrgUnit.id == Member.org_unit_id)
    )
    if org_unit_id is not None:
        unit = get_org_unit(org_unit_id)
        require(actor, "member.manage", unit)
        statement = statement.where(OrgUnit.path.startswith(unit.path))
    else:
        statement = statement.where(Member.id.in_(member_ids))
    rows = db.session.execute(
        statement.order_by(OrgUnit.path, Member.name, Member.id).limit(MAX_CARDS + 1)
    ).all()
    if len(rows) > MAX_CARDS:
        raise AppError(422, errors={"org_unit_id": [f"more than {MAX_CARDS} cards: print a smaller unit"]})
    base = public_base_url()
    printed = []
    for member, card in rows:
        if org_unit_id is None:
            require(actor, "member.manage", member)  # each member asked for by name
        elif not can(actor, "member.manage", member):
            continue  # in the unit, but above the actor: someone above prints theirs
        printed.append(
            PrintedCard(
                member.name,
                member.org_unit.name if member.org_unit else "",
                card.number,
                card_url(card, base),
            )
        )
    return printed


def _draw_qr(canvas: Canvas, text: str, x: float, y: float, side: float) -> None:
    """Draw a QR code as black squares in a ``side``-wide square whose lower left corner is (x, y)."""
    modules = qr_modules(text)
    count = len(modules) + 8  # with the quiet zone of 4 modules each side
    step = side / count
    canvas.setFillColorRGB(0, 0, 0)
    path = canvas.beginPath()
    for row_index, row in enumerate(modules):
        top = y + side - (row_index + 4 + 1) * step
        for run in _DARK_RUN.finditer(row):
            path.rect(x + (run.start() + 4) * step, top, (run.end() - run.start()) * step, step)
    canvas.drawPath(path, stroke=0, fill=1)


def _draw_card(canvas: Canvas, card: PrintedCard, x: float, y: float) -> None:
    """Draw one card with its lower left corner at (x, y)."""
    canvas.setStrokeColorRGB(0.75, 0.75, 0.75)
    canvas.setDash(2, 2)
    canvas.rect(x, y, CARD_WIDTH, CARD_HEIGHT, stroke=1, fill=0)
    canvas.setDash()
    canvas.setFillColorRGB(0.70, 0.15, 0.12)
    canvas.rect(x, y + CARD_HEIGHT - 9 * mm, CARD_WIDTH, 9 * mm, stroke=0, fill=1)
    canvas.setFillColorRGB(1, 1, 1)
    canvas.setFont(PDF_FONT, 11)
    canvas.drawString(x + 4 * mm, y + CARD_HEIGHT - 6.3 * mm, _("Ping'an Points · member card"))
    side = 34 * mm
    _draw_qr(canvas, card.url, x + CARD_WIDTH - side - 2 * mm, y + 3 * mm, side)
    canvas.setFillColorRGB(0.11, 0.14, 0.16)
    canvas.setFont(PDF_FONT, 16)
    canvas.drawString(x + 4 * mm, y + CARD_HEIGHT - 18 * mm, card.name[:8])
    canvas.setFont(PDF_FONT, 8.5)
    canvas.drawString(x + 4 * mm, y + CARD_HEIGHT - 24 * mm, card.grid[:12])
    canvas.setFont(PDF_FONT, 10.5)
    canvas.drawString(x + 4 * mm, y + 10 * mm, group_digits(card.number))
    canvas.setFont(PDF_FONT, 6.5)
    canvas.setFillColorRGB(0.36, 0.40, 0.44)
    canvas.drawString(x + 4 * mm, y + 5 * mm, _("Redeem at a safety supermarket with this card and its PIN"))


def render_card_sheet(cards: list[PrintedCard]) -> bytes:
    """Draw the cards, 10 to an A4 page, as a PDF (one empty page when there are none)."""
    pdf_font()
    output = io.BytesIO()
    canvas = Canvas(output, pagesize=A4, pageCompression=1)
    canvas.setTitle(_("Ping'an Points member cards"))
    width, height = A4
    left = (width - COLUMNS * CARD_WIDTH - (COLUMNS - 1) * GAP) / 2
    bottom = (height - ROWS * CARD_HEIGHT) / 2
    for start in range(0, max(len(cards), 1), PER_PAGE):
        for index, card in enumerate(cards[start : start + PER_PAGE]):
            column, row = index % COLUMNS, index // COLUMNS
            _draw_card(
                canvas, card, left + column * (CARD_WIDTH + GAP), bottom + (ROWS - 1 - row) * CARD_HEIGHT
            )
        canvas.showPage()
    canvas.save()
    return output.getvalue()


def card_sheet_response(cards: list[PrintedCard]) -> Response:
    """The cards' sheet as a PDF download, never kept by a cache."""
    return Response(
        render_card_sheet(cards),
        mimetype="application/pdf",
        headers={
            "Content-Disposition": 'attachment; filename="member-cards.pdf"',
            "Cache-Control": "private, no-store",
        },
    )

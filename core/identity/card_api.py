"""Endpoints of member cards, PINs and pay codes (the counter for residents without a smartphone)."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate

from core.config import public_base_url
from core.identity import cards
from core.identity.auth import current_member
from core.identity.card_sheet import MAX_CARDS, card_sheet_response, cards_to_print
from core.identity.services import get_member

blp = Blueprint(
    "cards", __name__, url_prefix="/api/v1", description="Member cards, PINs and pay codes for the counter"
)


class CardSchema(ma.Schema):
    """A member card: its number and the exact text of its QR code."""

    card_number = fields.String(metadata={"description": "12 digits, the last a Luhn check digit"})
    card_url = fields.String(metadata={"description": "the text of the card's QR code"})
    issued_at = fields.DateTime()
    pin_set = fields.Boolean(metadata={"description": "whether the member has set a PIN"})


class SetPinSchema(ma.Schema):
    """A new 6-digit PIN; the member setting their own also gives their password."""

    pin = fields.String(required=True, validate=validate.Length(max=20))
    password = fields.String(load_default=None, validate=validate.Length(max=200))


class CardSheetQuerySchema(ma.Schema):
    """Whose cards to print: everyone with a card in an org unit's subtree, or listed members."""

    org_unit_id = fields.Integer(load_default=None)
    member_id = fields.List(
        fields.Integer(), load_default=None, validate=validate.Length(min=1, max=MAX_CARDS)
    )


class PayCodeSchema(ma.Schema):
    """A pay code: its digits, the text of its QR code, and when it stops working."""

    code = fields.String(metadata={"description": "18 digits, for typing when the camera fails"})
    payload = fields.String(metadata={"description": "the text of the QR code"})
    expires_at = fields.DateTime()


def _card_answer(card, member_id: int) -> dict:
    return {
        "card_number": card.number,
        "card_url": cards.card_url(card, public_base_url()),
        "issued_at": card.issued_at,
        "pin_set": cards.has_pin(member_id),
    }


@blp.route("/members/<id:member_id>/card")
class MemberCardItem(MethodView):
    @blp.response(200, CardSchema)
    def get(self, member_id):
        """The member's card (the member, or an organiser or admin in scope); 404 when none is issued."""
        card = cards.read_card(current_member(), get_member(member_id))
        return _card_answer(card, member_id)

    @blp.response(201, CardSchema)
    def post(self, member_id):
        """Issue a new card (the member, or an organiser or admin in scope); the old card stops working."""
        card = cards.issue_card(current_member(), get_member(member_id))
        return _card_answer(card, member_id)


@blp.route("/members/<id:member_id>/pin")
class MemberPinItem(MethodView):
    @blp.arguments(SetPinSchema)
    @blp.response(204)
    def put(self, body, member_id):
        """Set the 6-digit PIN: an organiser or admin in scope with the resident present, or the member
        with their ``password``. It lifts the lock wrong PINs put on the card."""
        cards.set_pin(current_member(), get_member(member_id), body["pin"], body["password"])


@blp.route("/members/cards.pdf")
class CardSheet(MethodView):
    @blp.arguments(CardSheetQuerySchema, location="query")
    @blp.response(200, content_type="application/pdf")
    def get(self, query):
        """Printable cards, 10 to an A4 page: everyone with a card in ``org_unit_id``'s subtree, or the
        listed ``member_id``s (organisers and admins in scope)."""
        printed = cards_to_print(current_member(), query["org_unit_id"], query["member_id"])
        return card_sheet_response(printed)


@blp.route("/me/pay-code")
class MyPayCode(MethodView):
    @blp.response(200, PayCodeSchema)
    def get(self):
        """A new pay code (付款码): valid 60 seconds, used once. Show it at the counter."""
        code, digits = cards.issue_pay_code(current_member())
        return (
            {
                "code": digits,
                "payload": cards.pay_code_payload(code, public_base_url()),
                "expires_at": code.expires_at,
            },
            200,
            {"Cache-Control": "no-store"},
        )

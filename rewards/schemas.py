"""Schemas of the rewards package."""

from __future__ import annotations

import marshmallow as ma
from flask_smorest.fields import Upload
from marshmallow import fields, validate

from core.api import PageQuerySchema
from core.config import public_base_url
from core.identity.auth import current_member
from core.identity.schemas import RefSchema, name_field
from rewards.models import VOUCHER_STATUSES
from rewards.services import reward_image_url, sees_costs
from rewards.vouchers import MAX_QUANTITY, owner_display_name, shows_code_to, voucher_payload

MAX_POINTS_COST = 1_000_000
#: 100,000 yuan: more than any safety supermarket's goods cost.
MAX_UNIT_COST_FEN = 10_000_000
MAX_ITEMS = 50


def _unit_cost(reward) -> int | None:
    """The reward's unit cost, for a signed-in member who manages rewards or settlements only."""
    return reward.unit_cost_fen if sees_costs(current_member(required=False)) else None


class RewardSchema(ma.Schema):
    """A reward of the catalogue, as the signed-in member may see it."""

    id = fields.Integer()
    name = fields.String()
    name_en = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    points_cost = fields.Integer()
    per_member_limit = fields.Integer(allow_none=True)
    unit_cost_fen = fields.Function(
        _unit_cost,
        allow_none=True,
        metadata={
            "type": "integer",
            "description": "What the county pays the supermarket for one unit handed over, in fen; "
            "null except for administrators and clerks",
        },
    )
    active = fields.Boolean()
    created_at = fields.DateTime()
    image_url = fields.Function(
        reward_image_url,
        allow_none=True,
        metadata={"description": "The picture (changes when it does), or null"},
    )


class UploadRewardImageSchema(ma.Schema):
    """A reward's picture: the ``image`` part of a multipart/form-data body (JPEG or PNG, up to 5 MB)."""

    image = Upload(required=True)


class CreateRewardSchema(ma.Schema):
    """Add a reward: its points price and how many units one member may take a month."""

    name = name_field(100, required=True)
    name_en = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=100))
    description = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))
    points_cost = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=1, max=MAX_POINTS_COST)
    )
    per_member_limit = fields.Integer(
        required=True, allow_none=True, strict=True, validate=validate.Range(min=1, max=10_000)
    )
    unit_cost_fen = fields.Integer(
        strict=True,
        validate=validate.Range(min=0, max=MAX_UNIT_COST_FEN),
        metadata={"description": "In fen (分); default 0 until set"},
    )
    active = fields.Boolean(load_default=True)


class UpdateRewardSchema(ma.Schema):
    """Edit or retire a reward (vouchers already reserved keep their price)."""

    name = name_field(100)
    name_en = fields.String(allow_none=True, validate=validate.Length(max=100))
    description = fields.String(allow_none=True, validate=validate.Length(max=2000))
    points_cost = fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_POINTS_COST))
    per_member_limit = fields.Integer(
        allow_none=True, strict=True, validate=validate.Range(min=1, max=10_000)
    )
    unit_cost_fen = fields.Integer(
        strict=True,
        validate=validate.Range(min=0, max=MAX_UNIT_COST_FEN),
        metadata={"description": "In fen (分): in force from now on"},
    )
    active = fields.Boolean()


class RewardQuerySchema(PageQuerySchema):
    """Include retired rewards?"""

    include_inactive = fields.Boolean(load_default=False)


class CatalogueItemSchema(RewardSchema):
    """A reward offered at a supermarket, with its price and the units still available."""

    class Meta:
        exclude = ("id", "active", "created_at", "unit_cost_fen")

    reward_id = fields.Integer()
    available = fields.Integer()
    image_url = fields.String(allow_none=True)


class StockSchema(ma.Schema):
    """Units of a reward at a supermarket."""

    supermarket_id = fields.Integer()
    reward = fields.Nested(RefSchema)
    on_hand = fields.Integer()
    reserved = fields.Integer()
    available = fields.Integer()


class CorrectStockSchema(ma.Schema):
    """A stocktake: the counted units on hand, and why the count changed."""

    quantity = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=1_000_000))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class ReceiveStockSchema(ma.Schema):
    """Units received (added to those on hand)."""

    quantity = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=1_000_000))
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))


class StockMovementSchema(ma.Schema):
    """One change of stock, with the counts after it, who and why."""

    id = fields.Integer()
    supermarket_id = fields.Integer()
    reward_id = fields.Integer()
    kind = fields.String()
    on_hand_change = fields.Integer()
    reserved_change = fields.Integer()
    on_hand_after = fields.Integer()
    reserved_after = fields.Integer()
    voucher_id = fields.Integer(allow_none=True)
    actor_id = fields.Integer(allow_none=True)
    reason = fields.String(allow_none=True)
    created_at = fields.DateTime()


class StockHistoryQuerySchema(PageQuerySchema):
    """Filter a supermarket's stock history by reward."""

    reward_id = fields.Integer(load_default=None)


class VoucherItemSchema(ma.Schema):
    """A line of a voucher."""

    reward_id = fields.Integer()
    name = fields.String(attribute="reward.name")
    quantity = fields.Integer()
    points_each = fields.Integer()


def _shown(voucher) -> bool:
    """Whether the signed-in member may see the voucher's code (its owner only)."""
    return shows_code_to(current_member(), voucher)


class VoucherSchema(ma.Schema):
    """A voucher; to its owner also ``payload`` (exactly the text its QR code holds) and ``short_code``."""

    id = fields.Integer()
    short_code = fields.Function(
        lambda voucher: voucher.short_code if _shown(voucher) else None,
        allow_none=True,
        metadata={"type": "string", "description": "null except for the owner"},
    )
    payload = fields.Function(
        lambda voucher: voucher_payload(voucher, public_base_url()) if _shown(voucher) else None,
        allow_none=True,
        metadata={"type": "string", "description": "null except for the owner"},
    )
    points = fields.Integer()
    status = fields.String()
    supermarket = fields.Nested(RefSchema)
    items = fields.List(fields.Nested(VoucherItemSchema))
    created_at = fields.DateTime()
    expires_at = fields.DateTime()
    fulfilled_at = fields.DateTime(allow_none=True)
    cancelled_at = fields.DateTime(allow_none=True)


class VoucherLineSchema(ma.Schema):
    """One reward and how many units of it."""

    reward_id = fields.Integer(required=True, strict=True)
    quantity = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_QUANTITY))


class ReserveVoucherSchema(ma.Schema):
    """Reserve rewards at one supermarket (lines of the same reward are merged)."""

    supermarket_id = fields.Integer(required=True, strict=True)
    items = fields.List(
        fields.Nested(VoucherLineSchema), required=True, validate=validate.Length(min=1, max=MAX_ITEMS)
    )


class VoucherQuerySchema(PageQuerySchema):
    """Filter one's vouchers by status."""

    status = fields.String(load_default=None, validate=validate.OneOf(VOUCHER_STATUSES))


class VoucherCodeSchema(ma.Schema):
    """The resident's code: ``payload`` (exactly what the QR code holds) or the 8-character ``short_code``."""

    payload = fields.String(load_default=None, validate=validate.Length(max=1000))
    short_code = fields.String(load_default=None, validate=validate.Length(max=20))

    @ma.validates_schema
    def one_of_them(self, data, **_kwargs):
        """Refuse neither or both."""
        if (data.get("payload") is None) == (data.get("short_code") is None):
            raise ma.ValidationError("give the payload or the short code, one of them", "payload")


class CounterMemberSchema(ma.Schema):
    """The resident as the counter sees them."""

    display_name = fields.String()


def counter_member(voucher) -> dict:
    """The voucher's owner as the counter sees them."""
    return {"display_name": owner_display_name(voucher)}


class ScannedVoucherSchema(ma.Schema):
    """What the clerk must see before handing rewards over."""

    id = fields.Integer()
    short_code = fields.String()
    status = fields.String()
    points = fields.Integer()
    supermarket = fields.Nested(RefSchema)
    member = fields.Function(
        counter_member, metadata={"type": "object", "description": "display_name: the resident's masked name"}
    )
    items = fields.List(fields.Nested(VoucherItemSchema))
    created_at = fields.DateTime()
    expires_at = fields.DateTime()


class SettlementLineSchema(ma.Schema):
    """Units of one reward at one unit cost; ``adjusts_month``: late fulfilments of that earlier month."""

    reward = fields.Nested(RefSchema)
    quantity = fields.Integer()
    unit_cost_fen = fields.Integer()
    amount_fen = fields.Integer()
    adjusts_month = fields.String(allow_none=True)


class SettlementSchema(ma.Schema):
    """A supermarket's month: what it handed over, priced at the unit costs in force, and its status."""

    supermarket = fields.Nested(RefSchema)
    month = fields.String()
    status = fields.String(metadata={"description": "draft, or confirmed (frozen)"})
    lines = fields.List(fields.Nested(SettlementLineSchema))
    total_fen = fields.Integer()
    confirmed_at = fields.DateTime(allow_none=True)
    confirmed_by = fields.String(allow_none=True)

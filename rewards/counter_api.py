"""Endpoints of the counter: sales by card or pay code, and the counter without signal."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate

from core.api import PageQuerySchema, page_schema
from core.idempotency import idempotent
from core.identity.auth import current_member
from core.identity.schemas import RefSchema
from rewards import counter, offline
from rewards.schemas import (
    MAX_ITEMS,
    CatalogueItemSchema,
    CounterMemberSchema,
    VoucherItemSchema,
    VoucherLineSchema,
    VoucherSchema,
    counter_member,
)

blp = Blueprint(
    "counter",
    __name__,
    url_prefix="/api/v1",
    description="Counter sales by card or pay code, and the counter without signal",
)

CODE_LENGTH = validate.Length(min=1, max=1000)


class HolderCodeSchema(ma.Schema):
    """The resident at the counter: ``card`` (its number or the text of its QR code) or ``pay_code``
    (its 18 digits or the text of its QR code)."""

    supermarket_id = fields.Integer(required=True, strict=True)
    card = fields.String(load_default=None, validate=CODE_LENGTH)
    pay_code = fields.String(load_default=None, validate=CODE_LENGTH)

    @ma.validates_schema
    def one_of_them(self, data, **_kwargs):
        """Refuse neither or both."""
        if (data.get("card") is None) == (data.get("pay_code") is None):
            raise ma.ValidationError("give a card or a pay code, one of them", "card")


class CounterSaleSchema(HolderCodeSchema):
    """A sale: the goods, and the resident's card with their PIN, or their pay code."""

    items = fields.List(
        fields.Nested(VoucherLineSchema), required=True, validate=validate.Length(min=1, max=MAX_ITEMS)
    )
    pin = fields.String(load_default=None, validate=validate.Length(max=20))


class HolderSchema(ma.Schema):
    """Who the card or pay code names, as the clerk may see them before the sale."""

    member = fields.Nested(CounterMemberSchema)
    available = fields.Integer(metadata={"description": "points the resident can spend"})
    via = fields.String(metadata={"description": "card or pay_code"})
    pin_required = fields.Boolean()
    pin_set = fields.Boolean()


class SoldVoucherSchema(VoucherSchema):
    """The voucher of a counter sale (status fulfilled), with the resident's masked name."""

    member = fields.Function(
        counter_member, metadata={"type": "object", "description": "display_name: the resident's masked name"}
    )


class BundleVoucherSchema(ma.Schema):
    """A voucher reserved at the shop, as the counter keeps it to fulfil without signal."""

    id = fields.Integer()
    short_code_sha256 = fields.String(metadata={"description": "SHA-256 (hex) of the 8-character short code"})
    points = fields.Integer()
    expires_at = fields.DateTime()
    member = fields.Nested(CounterMemberSchema)
    items = fields.List(fields.Nested(VoucherItemSchema))


class BundleKeySchema(ma.Schema):
    """A public key that verifies voucher codes."""

    kid = fields.Integer()
    public_key = fields.String(metadata={"description": "base64 of the raw 32-byte Ed25519 public key"})


class OfflineBundleSchema(ma.Schema):
    """What a counter keeps to fulfil vouchers without signal."""

    generated_at = fields.DateTime()
    supermarket = fields.Nested(RefSchema)
    keys = fields.List(fields.Nested(BundleKeySchema))
    vouchers = fields.List(fields.Nested(BundleVoucherSchema))
    catalogue = fields.List(fields.Nested(CatalogueItemSchema))


class OfflineScanSchema(ma.Schema):
    """One voucher fulfilled without signal."""

    scan_id = fields.UUID(
        required=True, metadata={"description": "drawn by the device; the same on every retry"}
    )
    voucher_id = fields.Integer(required=True, strict=True)
    code = fields.String(
        required=True,
        validate=CODE_LENGTH,
        metadata={"description": "the payload (the QR code's text) or the short code"},
    )
    scanned_at = fields.AwareDateTime(required=True)


class OfflineFulfilmentsSchema(ma.Schema):
    """Scans a counter made without signal (at most 500 a request)."""

    fulfilments = fields.List(
        fields.Nested(OfflineScanSchema), required=True, validate=validate.Length(max=offline.MAX_BATCH)
    )


class OfflineResultSchema(ma.Schema):
    """What became of one scan."""

    scan_id = fields.String()
    result = fields.String(metadata={"description": "fulfilled, conflict or rejected"})
    reason = fields.String(
        allow_none=True, metadata={"description": "an error code, for a conflict or rejection"}
    )


class OfflineResultsSchema(ma.Schema):
    """The results, in the order the scans were sent."""

    results = fields.List(fields.Nested(OfflineResultSchema))


class ConflictQuerySchema(PageQuerySchema):
    """Open conflicts, or the resolved ones."""

    resolved = fields.Boolean(load_default=False)


class OfflineConflictSchema(ma.Schema):
    """An offline scan that could not simply be fulfilled: for an admin to settle."""

    id = fields.Integer()
    scan_id = fields.String()
    voucher_id = fields.Integer(allow_none=True)
    supermarket_id = fields.Integer()
    clerk_id = fields.Integer()
    scanned_at = fields.DateTime()
    received_at = fields.DateTime()
    reason = fields.String()
    resolved_at = fields.DateTime(allow_none=True)
    resolved_by_id = fields.Integer(allow_none=True)
    resolution = fields.String(allow_none=True)


class ResolveConflictSchema(ma.Schema):
    """What was done about a conflict."""

    note = fields.String(required=True, validate=validate.Length(min=1, max=1000))


@blp.route("/counter/holders")
class CounterHolder(MethodView):
    @blp.arguments(HolderCodeSchema)
    @blp.response(200, HolderSchema)
    def post(self, body):
        """Who a card or pay code names: the masked name and balance to show before the sale. Changes nothing."""
        return counter.look_up_holder(
            current_member(), body["supermarket_id"], body["card"], body["pay_code"]
        )


@blp.route("/counter/sales")
class CounterSales(MethodView):
    @blp.arguments(CounterSaleSchema)
    @idempotent
    @blp.response(201, SoldVoucherSchema)
    def post(self, body):
        """Sell at the counter (its clerks, admins in scope): points spent, units handed out, a fulfilled
        voucher kept — in one transaction, with every voucher rule. A card needs the holder's ``pin``."""
        return counter.sell_at_counter(
            current_member(),
            body["supermarket_id"],
            body["items"],
            card=body["card"],
            pin=body["pin"],
            pay_code=body["pay_code"],
        )


@blp.route("/supermarkets/<id:supermarket_id>/offline-bundle")
class OfflineBundle(MethodView):
    @blp.response(200, OfflineBundleSchema)
    def get(self, supermarket_id):
        """What the counter keeps to fulfil vouchers without signal: keys, reserved vouchers, catalogue."""
        return (
            offline.offline_bundle(current_member(), supermarket_id),
            200,
            {"Cache-Control": "private, no-store"},
        )


@blp.route("/supermarkets/<id:supermarket_id>/offline-fulfilments")
class OfflineFulfilments(MethodView):
    @blp.arguments(OfflineFulfilmentsSchema)
    @blp.response(200, OfflineResultsSchema)
    def post(self, body, supermarket_id):
        """Send the vouchers fulfilled without signal; each ``scan_id`` is settled once (a retry answers
        the same result)."""
        scans = [{**scan, "scan_id": str(scan["scan_id"])} for scan in body["fulfilments"]]
        return {"results": offline.record_offline_fulfilments(current_member(), supermarket_id, scans)}


@blp.route("/supermarkets/<id:supermarket_id>/offline-conflicts")
class OfflineConflicts(MethodView):
    @blp.arguments(ConflictQuerySchema, location="query")
    @blp.response(200, page_schema(OfflineConflictSchema))
    def get(self, query, supermarket_id):
        """Offline scans of this supermarket that ended in a conflict (admins in scope)."""
        return offline.list_offline_conflicts(
            current_member(),
            supermarket_id,
            resolved=query["resolved"],
            page=query["page"],
            page_size=query["page_size"],
        )


@blp.route("/offline-conflicts/<id:conflict_id>/resolve")
class ResolveOfflineConflict(MethodView):
    @blp.arguments(ResolveConflictSchema)
    @blp.response(200, OfflineConflictSchema)
    def post(self, body, conflict_id):
        """Mark a conflict settled, saying what was done (admins in scope; audited)."""
        return offline.resolve_offline_conflict(current_member(), conflict_id, body["note"])

"""JSON endpoints of the rewards package: rewards, stock, catalogue and vouchers."""

from __future__ import annotations

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint

from core.api import PageQuerySchema, accepts_uploads, page_schema
from core.config import public_base_url
from core.idempotency import idempotent
from core.identity.auth import current_member
from core.images import MAX_UPLOAD_BYTES
from core.qr.render import render_png, render_svg
from rewards import images, services, settlements, stock, vouchers
from rewards.schemas import (
    CatalogueItemSchema,
    CorrectStockSchema,
    CreateRewardSchema,
    ReceiveStockSchema,
    ReserveVoucherSchema,
    RewardQuerySchema,
    RewardSchema,
    ScannedVoucherSchema,
    SettlementSchema,
    StockHistoryQuerySchema,
    StockMovementSchema,
    StockSchema,
    UpdateRewardSchema,
    UploadRewardImageSchema,
    VoucherCodeSchema,
    VoucherQuerySchema,
    VoucherSchema,
)

blp = Blueprint("rewards", __name__, url_prefix="/api/v1", description="Rewards and vouchers")


@blp.route("/rewards")
class Rewards(MethodView):
    @blp.arguments(RewardQuerySchema, location="query")
    @blp.response(200, page_schema(RewardSchema))
    def get(self, query):
        """List the rewards of the catalogue."""
        current_member()
        return services.list_rewards(query["include_inactive"], query["page"], query["page_size"])

    @blp.arguments(CreateRewardSchema)
    @blp.response(201, RewardSchema)
    def post(self, body):
        """Add a reward to the catalogue (admins), with its unit cost in fen if known."""
        return services.create_reward(current_member(), body)


@blp.route("/rewards/<id:reward_id>")
class RewardItem(MethodView):
    @blp.response(200, RewardSchema)
    def get(self, reward_id):
        """Show one reward."""
        current_member()
        return services.get_reward(reward_id)

    @blp.arguments(UpdateRewardSchema)
    @blp.response(200, RewardSchema)
    def patch(self, body, reward_id):
        """Edit or retire a reward (admins); reserved vouchers keep their price, goods handed over
        the unit cost in force then."""
        return services.update_reward(current_member(), reward_id, body)


#: A picture's URL names its digest, so the bytes behind that URL never change.
IMAGE_CACHE_CONTROL = "private, max-age=31536000, immutable"


@blp.url_value_preprocessor
def allow_image_uploads(endpoint, _values):
    """Raise the body limit to 5 MB for a reward's picture before anything reads the body."""
    if endpoint == "rewards.RewardImageItem" and request.method == "PUT":
        request.max_content_length = MAX_UPLOAD_BYTES


@blp.route("/rewards/<id:reward_id>/image")
class RewardImageItem(MethodView):
    @blp.response(200, content_type="image/jpeg")
    @blp.alt_response(304, description="Not modified: the picture named by If-None-Match")
    def get(self, reward_id):
        """The reward's picture (JPEG or PNG, at most 640 px), with a strong ETag."""
        current_member()
        image = images.read_reward_image(reward_id)
        # An old ?v= may still be in a page: answer today's picture, but let no one keep it long.
        cache_control = IMAGE_CACHE_CONTROL if request.args.get("v") == image.digest else "private, no-cache"
        headers = {"Cache-Control": cache_control, "ETag": f'"{image.digest}"'}
        if request.if_none_match.contains(image.digest):
            return Response(status=304, headers=headers)  # the bytes are never loaded
        return Response(image.content, mimetype=image.mimetype, headers=headers)

    @accepts_uploads
    @blp.arguments(UploadRewardImageSchema, location="files")
    @blp.response(200, RewardSchema)
    def put(self, files, reward_id):
        """Add or replace the picture (admins): multipart/form-data field ``image``, JPEG or PNG up to 5 MB."""
        return images.set_reward_image(current_member(), reward_id, files["image"])

    @blp.response(204)
    def delete(self, reward_id):
        """Remove the picture (admins)."""
        images.delete_reward_image(current_member(), reward_id)


@blp.route("/supermarkets/<id:supermarket_id>/catalogue")
class Catalogue(MethodView):
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, page_schema(CatalogueItemSchema))
    def get(self, query, supermarket_id):
        """The rewards a supermarket offers, with price and available units."""
        current_member()
        return services.catalogue_page(supermarket_id, query["page"], query["page_size"])


@blp.route("/supermarkets/<id:supermarket_id>/settlements/<month>")
class SettlementItem(MethodView):
    @blp.response(200, SettlementSchema)
    def get(self, supermarket_id, month):
        """A supermarket's month (YYYY-MM): lines per reward and unit cost, total, draft or confirmed
        (its clerks, admins in scope)."""
        return settlements.read_settlement(current_member(), supermarket_id, month)


@blp.route("/supermarkets/<id:supermarket_id>/settlements/<month>/confirm")
class ConfirmSettlement(MethodView):
    @idempotent
    @blp.response(200, SettlementSchema)
    def post(self, supermarket_id, month):
        """Confirm a finished month (admins in scope): its lines and total are frozen; fulfilments
        recorded later go into the next month as adjustments."""
        return settlements.confirm_settlement(current_member(), supermarket_id, month)


@blp.route("/supermarkets/<id:supermarket_id>/stock")
class StockHistory(MethodView):
    @blp.arguments(StockHistoryQuerySchema, location="query")
    @blp.response(200, page_schema(StockMovementSchema))
    def get(self, query, supermarket_id):
        """The supermarket's stock history, newest first (its clerks, admins in scope)."""
        return stock.stock_history(
            current_member(), supermarket_id, query["reward_id"], query["page"], query["page_size"]
        )


@blp.route("/supermarkets/<id:supermarket_id>/stock/<id:reward_id>")
class StockItem(MethodView):
    @blp.arguments(CorrectStockSchema)
    @blp.response(200, StockSchema)
    def put(self, body, supermarket_id, reward_id):
        """Set the units on hand to a stocktake's count, with a reason (never below what is reserved)."""
        return stock.correct_stock(
            current_member(), supermarket_id, reward_id, body["quantity"], body["reason"]
        )


@blp.route("/supermarkets/<id:supermarket_id>/stock/<id:reward_id>/receipts")
class StockReceipts(MethodView):
    @blp.arguments(ReceiveStockSchema)
    @idempotent
    @blp.response(201, StockSchema)
    def post(self, body, supermarket_id, reward_id):
        """Add units received (the supermarket's clerks, admins in scope)."""
        return stock.receive_stock(
            current_member(), supermarket_id, reward_id, body["quantity"], body["reason"]
        )


@blp.route("/vouchers")
class Vouchers(MethodView):
    @blp.arguments(VoucherQuerySchema, location="query")
    @blp.response(200, page_schema(VoucherSchema))
    def get(self, query):
        """List one's own vouchers, newest first."""
        return vouchers.list_vouchers(current_member(), query["status"], query["page"], query["page_size"])

    @blp.arguments(ReserveVoucherSchema)
    @idempotent
    @blp.response(201, VoucherSchema)
    def post(self, body):
        """Reserve rewards at one supermarket: points are held and stock reserved until the counter."""
        return vouchers.reserve_voucher(current_member(), body["supermarket_id"], body["items"])


@blp.route("/vouchers/scan")
class ScanVoucher(MethodView):
    @blp.arguments(VoucherCodeSchema)
    @blp.response(200, ScannedVoucherSchema)
    def post(self, body):
        """Read a resident's code at the counter: what to hand over. Changes nothing."""
        return vouchers.scan_voucher(current_member(), body["payload"], body["short_code"])


@blp.route("/vouchers/<id:voucher_id>")
class VoucherItem(MethodView):
    @blp.response(200, VoucherSchema)
    def get(self, voucher_id):
        """Show a voucher (its owner, or a clerk of its supermarket — without its code)."""
        return vouchers.get_voucher(current_member(), voucher_id)


@blp.route("/vouchers/<id:voucher_id>/fulfil")
class FulfilVoucher(MethodView):
    @blp.arguments(VoucherCodeSchema)
    @idempotent
    @blp.response(200, VoucherSchema)
    def post(self, body, voucher_id):
        """Hand the rewards over against the resident's code; the held points are spent, once."""
        return vouchers.fulfil_voucher(current_member(), voucher_id, body["payload"], body["short_code"])


@blp.route("/vouchers/<id:voucher_id>/cancel")
class CancelVoucher(MethodView):
    @idempotent
    @blp.response(200, VoucherSchema)
    def post(self, voucher_id):
        """Cancel a reserved voucher (its owner, or a clerk of its supermarket); points and stock go back."""
        return vouchers.cancel_voucher(current_member(), voucher_id)


@blp.route("/vouchers/<id:voucher_id>/qr.svg")
class VoucherCodeSvg(MethodView):
    @blp.response(200, content_type="image/svg+xml")
    def get(self, voucher_id):
        """The voucher's QR code as SVG (its owner only)."""
        voucher = vouchers.get_own_voucher(current_member(), voucher_id)
        return Response(
            render_svg(vouchers.voucher_payload(voucher, public_base_url())),
            mimetype="image/svg+xml",
            headers={"Cache-Control": "private, no-store"},
        )


@blp.route("/vouchers/<id:voucher_id>/qr.png")
class VoucherCodePng(MethodView):
    @blp.response(200, content_type="image/png")
    def get(self, voucher_id):
        """The voucher's QR code as PNG (its owner only)."""
        voucher = vouchers.get_own_voucher(current_member(), voucher_id)
        return Response(
            render_png(vouchers.voucher_payload(voucher, public_base_url())),
            mimetype="image/png",
            headers={"Cache-Control": "private, no-store"},
        )

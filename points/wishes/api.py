"""JSON endpoints of micro-wishes: post, list, read, vet, publish, take, release, done, confirm, cancel."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from core.api import page_schema
from core.idempotency import idempotent
from core.identity.auth import current_member
from points.wishes import services
from points.wishes.schemas import (
    CancelWishSchema,
    ConfirmWishSchema,
    CreateWishSchema,
    DoneWishSchema,
    PublishWishSchema,
    VetWishSchema,
    WishQuerySchema,
    WishSchema,
)

blp = Blueprint(
    "wishes", __name__, url_prefix="/api/v1", description="Micro-wishes (微心愿): the 四单制 task flow"
)


@blp.route("/wishes")
class Wishes(MethodView):
    @blp.arguments(WishQuerySchema, location="query")
    @blp.response(200, page_schema(WishSchema))
    def get(self, query):
        """List the wishes I may see, nearest first: open ones in my county, my own, and for staff
        every wish in their scope."""
        return services.list_wishes(
            current_member(),
            status=query["status"],
            org_unit_id=query["org_unit_id"],
            mine=query["mine"],
            page=query["page"],
            page_size=query["page_size"],
        )

    @blp.arguments(CreateWishSchema)
    @idempotent
    @blp.response(201, WishSchema)
    def post(self, body):
        """Post a wish from my grid (居民点单); a grid worker vets it next."""
        return services.post_wish(current_member(), **body)


@blp.route("/wishes/<id:wish_id>")
class WishItem(MethodView):
    @blp.response(200, WishSchema)
    def get(self, wish_id):
        """Show one wish, with what I may do to it now."""
        return services.read_wish(current_member(), wish_id)


@blp.route("/wishes/<id:wish_id>/vet")
class VetWish(MethodView):
    @blp.arguments(VetWishSchema)
    @idempotent
    @blp.response(200, WishSchema)
    def post(self, body, wish_id):
        """Accept or decline a submitted wish (grid workers, organisers, admins in scope; never one's own)."""
        return services.vet_wish(current_member(), wish_id, body["decision"], body["reason"])


@blp.route("/wishes/<id:wish_id>/publish")
class PublishWish(MethodView):
    @blp.arguments(PublishWishSchema)
    @idempotent
    @blp.response(200, WishSchema)
    def post(self, body, wish_id):
        """Publish a vetted wish with points (1–500) and a due date (organisers, admins in scope)."""
        return services.publish_wish(current_member(), wish_id, body["points"], body["due_at"])


@blp.route("/wishes/<id:wish_id>/take")
class TakeWish(MethodView):
    @idempotent
    @blp.response(200, WishSchema)
    def post(self, wish_id):
        """Take an open wish (any member of its county but its requester); a second taker hears ``already_taken``."""
        return services.take_wish(current_member(), wish_id)


@blp.route("/wishes/<id:wish_id>/release")
class ReleaseWish(MethodView):
    @idempotent
    @blp.response(200, WishSchema)
    def post(self, wish_id):
        """Give a taken wish back (its taker): it is open again."""
        return services.release_wish(current_member(), wish_id)


@blp.route("/wishes/<id:wish_id>/done")
class DoneWish(MethodView):
    @blp.arguments(DoneWishSchema)
    @idempotent
    @blp.response(200, WishSchema)
    def post(self, body, wish_id):
        """Say a taken wish is done, with a note or a photo (its taker)."""
        return services.mark_done(current_member(), wish_id, body["note"], body["photo_id"])


@blp.route("/wishes/<id:wish_id>/confirm")
class ConfirmWish(MethodView):
    @blp.arguments(ConfirmWishSchema)
    @idempotent
    @blp.response(200, WishSchema)
    def post(self, body, wish_id):
        """Confirm a done wish with a rating (its requester; an organiser in scope 3 days after it was
        done): it is completed and the taker is paid, with the ``contribution`` that paid them."""
        return services.confirm_wish(current_member(), wish_id, body["rating"])


@blp.route("/wishes/<id:wish_id>/cancel")
class CancelWish(MethodView):
    @blp.arguments(CancelWishSchema)
    @idempotent
    @blp.response(200, WishSchema)
    def post(self, body, wish_id):
        """Cancel a wish with a reason (organisers, admins in scope before it is completed; its requester
        until it is taken); nobody is paid."""
        return services.cancel_wish(current_member(), wish_id, body["reason"])

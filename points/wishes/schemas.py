"""Schemas of micro-wishes: what the API reads and what it answers."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from core.api import PageQuerySchema
from core.identity.auth import current_member
from core.identity.schemas import RefSchema, name_field, not_blank
from points.schemas import ContributionSchema
from points.wishes import services
from points.wishes.models import WISH_STATUSES

MAX_POINTS = 500


def _taker(wish) -> dict | None:
    """The taker as the signed-in reader sees them: named for those who see names, else nothing."""
    name = services.taker_name(current_member(), wish)
    return {"id": wish.taker_id, "name": name} if name else None


class WishSchema(ma.Schema):
    """A wish as the signed-in reader may see it (what depends on them: ``points.wishes.services``)."""

    id = fields.Integer()
    title = fields.String()
    description = fields.String()
    status = fields.String(metadata={"enum": list(WISH_STATUSES)})
    org_unit = fields.Nested(RefSchema)
    requester = fields.Function(
        lambda wish: {"id": wish.requester_id, "name": services.requester_name(current_member(), wish)},
        metadata={
            "description": "the name is masked unless the reader is the "
            "requester, the taker or staff who vet there"
        },
    )
    contact_phone = fields.Function(
        lambda wish: services.contact_phone(current_member(), wish),
        allow_none=True,
        metadata={
            "type": "string",
            "description": "the requester's phone, for the taker and staff who vet there",
        },
    )
    photo_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    vetted_at = fields.DateTime(allow_none=True)
    vet_reason = fields.String(allow_none=True)
    points = fields.Integer(allow_none=True)
    due_at = fields.DateTime(allow_none=True)
    published_at = fields.DateTime(allow_none=True)
    taker = fields.Function(_taker, allow_none=True)
    taken_at = fields.DateTime(allow_none=True)
    done_at = fields.DateTime(allow_none=True)
    done_note = fields.String(allow_none=True)
    done_photo_id = fields.Integer(allow_none=True)
    rating = fields.Integer(allow_none=True)
    confirmed_at = fields.DateTime(allow_none=True)
    cancelled_at = fields.DateTime(allow_none=True)
    cancel_reason = fields.String(allow_none=True)
    contribution = fields.Nested(
        ContributionSchema,
        allow_none=True,
        metadata={"description": "the approved contribution that paid the taker"},
    )
    actions = fields.Function(
        lambda wish: services.available_actions(current_member(), wish),
        metadata={
            "type": "array",
            "items": {"type": "string", "enum": list(services.CHECKS)},
            "description": "what the reader may do to the wish now",
        },
    )


class WishQuerySchema(PageQuerySchema):
    """Filter the wishes one may see: by step, by area (a subtree), or only one's own."""

    status = fields.String(load_default=None, validate=validate.OneOf(WISH_STATUSES))
    org_unit_id = fields.Integer(load_default=None)
    mine = fields.String(
        load_default=None,
        validate=validate.OneOf(("requested", "taken")),
        metadata={"description": "only the wishes I posted (requested) or took (taken)"},
    )


class CreateWishSchema(ma.Schema):
    """Post a wish from one's grid, with an optional photo from ``POST /photos``."""

    title = name_field(100, required=True)
    description = fields.String(required=True, validate=[validate.Length(min=1, max=1000), not_blank])
    photo_id = fields.Integer(load_default=None, allow_none=True)


class VetWishSchema(ma.Schema):
    """Accept or decline a submitted wish; declining needs a reason."""

    decision = fields.String(required=True, validate=validate.OneOf(("accept", "decline")))
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))


class PublishWishSchema(ma.Schema):
    """Publish a vetted wish with the points its taker earns and when it must be done by."""

    points = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_POINTS))
    due_at = fields.AwareDateTime(required=True)


class DoneWishSchema(ma.Schema):
    """Say what was done: a note, a photo from ``POST /photos``, or both."""

    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1000))
    photo_id = fields.Integer(load_default=None, allow_none=True)


class ConfirmWishSchema(ma.Schema):
    """Confirm a done wish with a rating of the help from 1 to 5."""

    rating = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=5))


class CancelWishSchema(ma.Schema):
    """Why the wish is cancelled."""

    reason = fields.String(required=True, validate=[validate.Length(min=1, max=500), not_blank])

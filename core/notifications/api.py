"""Notification endpoints: ``GET /me/notifications`` and ``POST /me/notifications/read``."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate

from core.api import MAX_ID, MAX_PAGE_SIZE, PageQuerySchema, page_schema
from core.identity.auth import current_member
from core.notifications import list_notifications, mark_read

blp = Blueprint("notifications", __name__, url_prefix="/api/v1", description="In-app notifications")


class NotificationSchema(ma.Schema):
    """One notification, its text in the reader's language."""

    id = fields.Integer()
    kind = fields.String()
    text = fields.String()
    created_at = fields.DateTime()
    read = fields.Boolean()
    url = fields.String(allow_none=True, metadata={"description": "the page it leads to, if any"})


class NotificationPageSchema(page_schema(NotificationSchema)):
    """A page of notifications, newest first, with how many are unread in all."""

    unread = fields.Integer()


class MarkReadSchema(ma.Schema):
    """Which notifications to mark read: ``ids``, or ``all: true``."""

    ids = fields.List(
        fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_ID)),
        validate=validate.Length(min=1, max=MAX_PAGE_SIZE),
    )
    all = fields.Boolean(load_default=False, truthy={True}, falsy={False})

    @ma.validates_schema
    def one_of_them(self, data, **_kwargs):
        """Refuse a body that names both, or neither."""
        if bool(data.get("ids")) == bool(data["all"]):
            raise ma.ValidationError("give ids, or all: true", "ids")


@blp.route("/me/notifications")
class MyNotifications(MethodView):
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, NotificationPageSchema)
    def get(self, query):
        """My notifications, newest first, with the unread count."""
        return list_notifications(current_member(), query["page"], query["page_size"])


@blp.route("/me/notifications/read")
class ReadNotifications(MethodView):
    @blp.arguments(MarkReadSchema)
    @blp.response(204)
    def post(self, body):
        """Mark some of my notifications read (``ids``), or all of them (``all: true``)."""
        mark_read(current_member(), body.get("ids"), body["all"])

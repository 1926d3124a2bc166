"""JSON endpoints of the monthly public notice (积分公示) and its objections."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from core.api import PageQuerySchema, page_schema
from core.idempotency import idempotent
from core.identity.auth import current_member
from points import notices
from points.schemas import (
    LodgeObjectionSchema,
    NoticeDetailSchema,
    NoticeEntriesQuerySchema,
    NoticeSchema,
    ObjectionQuerySchema,
    ObjectionSchema,
    PublishNoticeSchema,
    ReasonSchema,
    ReverseSchema,
)

blp = Blueprint("notices", __name__, url_prefix="/api/v1", description="Public notice and objections")


@blp.route("/notices")
class Notices(MethodView):
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, page_schema(NoticeSchema))
    def get(self, query):
        """Notices I may read: of the areas I live in, and in my scope, newest first."""
        return notices.list_notices(current_member(), query["page"], query["page_size"])

    @blp.arguments(PublishNoticeSchema)
    @idempotent
    @blp.response(201, NoticeSchema)
    def post(self, body):
        """Publish a finished month's notice for an org unit in scope (organisers, admins); open
        for 5 working days. 409 ``duplicate`` for the same unit and month."""
        return notices.publish_notice(current_member(), body["org_unit_id"], body["month"])


@blp.route("/notices/<id:notice_id>")
class NoticeItem(MethodView):
    @blp.arguments(NoticeEntriesQuerySchema, location="query")
    @blp.response(200, NoticeDetailSchema)
    def get(self, query, notice_id):
        """A notice with a page of its entries: every approved, unreversed contribution of the month
        in the subtree, names masked (members of the subtree, staff in scope)."""
        notice = notices.read_notice(current_member(), notice_id)
        return notices.shown_notice(notice, query["page"], query["page_size"])


@blp.route("/notices/<id:notice_id>/objections")
class NoticeObjections(MethodView):
    @blp.arguments(LodgeObjectionSchema)
    @idempotent
    @blp.response(201, ObjectionSchema)
    def post(self, body, notice_id):
        """Object to an entry while the notice is open (members of its subtree; 5 a day).
        422 ``outside_window`` once it has closed; 429 past the daily limit."""
        actor = current_member()
        objection = notices.lodge_objection(actor, notice_id, body["contribution_id"], body["reason"])
        return notices.objection_fields(actor, objection)


@blp.route("/objections")
class Objections(MethodView):
    @blp.arguments(ObjectionQuerySchema, location="query")
    @blp.response(200, page_schema(ObjectionSchema))
    def get(self, query):
        """Objections I may decide (organisers, admins in scope), or else my own."""
        return notices.list_objections(
            current_member(), query["status"], query["notice_id"], query["page"], query["page_size"]
        )


@blp.route("/objections/<id:objection_id>/uphold")
class UpholdObjection(MethodView):
    @blp.arguments(ReverseSchema)
    @idempotent
    @blp.response(200, ObjectionSchema)
    def post(self, body, objection_id):
        """Uphold an objection: the contribution is reversed, with the objection as the reason
        (organisers, admins in scope; never the objector, the contributor or its approver)."""
        actor = current_member()
        objection = notices.decide_objection(actor, objection_id, "uphold", body["reason"], body["force"])
        return notices.objection_fields(actor, objection)


@blp.route("/objections/<id:objection_id>/dismiss")
class DismissObjection(MethodView):
    @blp.arguments(ReasonSchema)
    @idempotent
    @blp.response(200, ObjectionSchema)
    def post(self, body, objection_id):
        """Dismiss an objection with a reason: the contribution stands."""
        actor = current_member()
        objection = notices.decide_objection(actor, objection_id, "dismiss", body["reason"])
        return notices.objection_fields(actor, objection)

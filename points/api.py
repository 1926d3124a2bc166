"""JSON endpoints of the points package: activities, contributions, ledgers."""

from __future__ import annotations

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint

from core.api import PageQuerySchema, accepts_uploads, page_schema
from core.config import public_base_url
from core.idempotency import idempotent
from core.identity.auth import current_member
from core.qr.render import render_svg
from points import activities, contributions, events, gamification, photos
from points.poster import render_poster
from points.schemas import (
    ActivityQuerySchema,
    ActivitySchema,
    CheckinRequestSchema,
    CheckinSchema,
    ContributionQuerySchema,
    ContributionSchema,
    CreateActivitySchema,
    CreateContributionSchema,
    CreateEventSchema,
    DailyCheckinSchema,
    EventSchema,
    LedgerEntrySchema,
    PhotoSchema,
    ReasonSchema,
    ReverseSchema,
    UpdateActivitySchema,
    UploadPhotoSchema,
)

blp = Blueprint("points", __name__, url_prefix="/api/v1", description="Earning points")


@blp.route("/activities")
class Activities(MethodView):
    @blp.arguments(ActivityQuerySchema, location="query")
    @blp.response(200, page_schema(ActivitySchema))
    def get(self, query):
        """List what earns points."""
        current_member()
        return activities.list_activities(query["include_retired"], query["page"], query["page_size"])

    @blp.arguments(CreateActivitySchema)
    @blp.response(201, ActivitySchema)
    def post(self, body):
        """Define an activity (organisers and admins, in their scope)."""
        return activities.create_activity(current_member(), body)


@blp.route("/activities/<code>")
class ActivityItem(MethodView):
    @blp.response(200, ActivitySchema)
    def get(self, code):
        """Show one activity."""
        current_member()
        return activities.get_activity(code, "code")

    @blp.arguments(UpdateActivitySchema)
    @blp.response(200, ActivitySchema)
    def patch(self, body, code):
        """Edit or retire an activity; past awards keep their points."""
        actor = current_member()
        return activities.update_activity(actor, activities.get_activity(code, "code"), body)


@blp.route("/contributions")
class Contributions(MethodView):
    @blp.arguments(ContributionQuerySchema, location="query")
    @blp.response(200, page_schema(ContributionSchema))
    def get(self, query):
        """List contributions: one's own, or those in one's review scope (filter by status)."""
        return contributions.list_contributions(
            current_member(),
            member_id=query["member_id"],
            status=query["status"],
            page=query["page"],
            page_size=query["page_size"],
        )

    @blp.arguments(CreateContributionSchema)
    @idempotent
    @blp.response(201, ContributionSchema)
    def post(self, body):
        """Record a contribution for someone in scope (approved), or claim one's own (pending)."""
        return contributions.record_contribution(current_member(), **body)


@blp.route("/contributions/<id:contribution_id>")
class ContributionItem(MethodView):
    @blp.response(200, ContributionSchema)
    def get(self, contribution_id):
        """Show one contribution (one's own, or one in one's review scope)."""
        return contributions.read_contribution(current_member(), contribution_id)


@blp.route("/contributions/<id:contribution_id>/approve")
class ApproveContribution(MethodView):
    @idempotent
    @blp.response(200, ContributionSchema)
    def post(self, contribution_id):
        """Approve someone else's pending claim and award its points."""
        return contributions.approve_contribution(current_member(), contribution_id)


@blp.route("/contributions/<id:contribution_id>/reject")
class RejectContribution(MethodView):
    @blp.arguments(ReasonSchema)
    @idempotent
    @blp.response(200, ContributionSchema)
    def post(self, body, contribution_id):
        """Reject someone else's pending claim, with a reason."""
        return contributions.reject_contribution(current_member(), contribution_id, body["reason"])


@blp.route("/contributions/<id:contribution_id>/reverse")
class ReverseContribution(MethodView):
    @blp.arguments(ReverseSchema)
    @idempotent
    @blp.response(200, ContributionSchema)
    def post(self, body, contribution_id):
        """Reverse an approved contribution with a compensating entry and a reason."""
        return contributions.reverse_contribution(
            current_member(), contribution_id, body["reason"], body["force"]
        )


@blp.route("/members/<id:member_id>/ledger")
class MemberLedger(MethodView):
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, page_schema(LedgerEntrySchema))
    def get(self, query, member_id):
        """A member's ledger entries, newest first, each with the available balance after it."""
        return contributions.member_ledger(current_member(), member_id, query["page"], query["page_size"])


@blp.route("/events")
class Events(MethodView):
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, page_schema(EventSchema))
    def get(self, query):
        """List the events in one's scope (organisers and admins)."""
        return events.list_events(current_member(), query["page"], query["page_size"])

    @blp.arguments(CreateEventSchema)
    @blp.response(201, EventSchema)
    def post(self, body):
        """Schedule an event with a check-in QR code (organisers and admins in scope)."""
        return events.create_event(current_member(), **body)


@blp.route("/events/<id:event_id>")
class EventItem(MethodView):
    @blp.response(200, EventSchema)
    def get(self, event_id):
        """Show one event with its check-in code's text."""
        return events.read_event(current_member(), event_id)


@blp.route("/events/<id:event_id>/qr.svg")
class EventCode(MethodView):
    @blp.response(200, content_type="image/svg+xml")
    def get(self, event_id):
        """The event's check-in QR code as SVG."""
        event = events.read_event(current_member(), event_id)
        return Response(render_svg(events.checkin_url(event, public_base_url())), mimetype="image/svg+xml")


@blp.route("/events/<id:event_id>/poster.png")
class EventPoster(MethodView):
    @blp.response(200, content_type="image/png")
    def get(self, event_id):
        """The event's printable A4 check-in poster (PNG, Chinese text)."""
        event = events.read_event(current_member(), event_id)
        png = render_poster(event, events.checkin_url(event, public_base_url()))
        return Response(
            png,
            mimetype="image/png",
            headers={"Content-Disposition": f'inline; filename="event-{event.id}-poster.png"'},
        )


@blp.route("/events/<id:event_id>/close")
class CloseEvent(MethodView):
    @idempotent
    @blp.response(200, EventSchema)
    def post(self, event_id):
        """Close an event; members still checked in get their hours."""
        return events.close_event(current_member(), event_id)


@blp.route("/checkins")
class Checkins(MethodView):
    @blp.arguments(CheckinRequestSchema)
    @idempotent
    @blp.response(201, CheckinSchema)
    def post(self, body):
        """Check in with the scanned code: once, inside the event's window."""
        return events.check_in(current_member(), body["payload"])


@blp.route("/checkins/<id:checkin_id>/checkout")
class Checkout(MethodView):
    @idempotent
    @blp.response(200, CheckinSchema)
    def post(self, checkin_id):
        """Check out; hourly activities award the whole half hours spent."""
        return events.check_out(current_member(), checkin_id)


# --- evidence photos ---------------------------------------------------------------------------

PHOTO_CACHE_CONTROL = "private, max-age=86400"  # a stored photo never changes; only its viewer may keep it


photos.allow_photo_uploads(blp, "points.Photos")


@blp.route("/photos")
class Photos(MethodView):
    @accepts_uploads
    @blp.arguments(UploadPhotoSchema, location="files")
    @blp.response(201, PhotoSchema)
    def post(self, files):
        """Upload a JPEG or PNG photo as evidence (multipart/form-data field ``photo``, up to 20 MB)."""
        return photos.store_photo(current_member(), files["photo"])


@blp.route("/photos/<id:photo_id>")
class PhotoItem(MethodView):
    @blp.response(200, content_type="image/jpeg")
    def get(self, photo_id):
        """The photo as JPEG (its uploader, or staff who may review the claim it is attached to)."""
        photo = photos.read_photo(current_member(), photo_id)
        return Response(
            photo.content, mimetype=photo.mimetype, headers={"Cache-Control": PHOTO_CACHE_CONTROL}
        )


# --- the daily 报平安 check-in -----------------------------------------------------------------


@blp.route("/me/checkins")
class DailyCheckins(MethodView):
    @idempotent
    @blp.response(201, DailyCheckinSchema)
    def post(self):
        """Check in for today (报平安): once a day, small points, more on a streak."""
        return gamification.check_in_daily(current_member())

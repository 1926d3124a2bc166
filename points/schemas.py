"""Schemas of the points package."""

from __future__ import annotations

from datetime import date

import marshmallow as ma
from flask_smorest.fields import Upload
from marshmallow import fields, validate

from core.api import MAX_ID, PageQuerySchema
from core.clock import PERIODS
from core.config import public_base_url
from core.identity.schemas import RefSchema, name_field
from points.events import checkin_url
from points.models import CATEGORIES, CONTRIBUTION_STATUSES, OBJECTION_STATUSES, UNITS

CODE = validate.Regexp(r"^[a-z][a-z0-9_]{1,39}$", error="lower-case letters, digits and _, 2–40 long")


def aware(value):
    """Refuse a time without an offset: times are ISO 8601 with offset."""
    if value.tzinfo is None:
        raise ma.ValidationError("give the time with its offset, e.g. 2026-11-22T09:30:00+08:00")


class ActivitySchema(ma.Schema):
    """An activity (积分规则)."""

    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    name_en = fields.String(allow_none=True)
    category = fields.String()
    points = fields.Integer()
    unit = fields.String()
    daily_cap = fields.Integer(allow_none=True)
    needs_review = fields.Boolean()
    starts_at = fields.DateTime(allow_none=True)
    ends_at = fields.DateTime(allow_none=True)
    org_unit = fields.Nested(RefSchema, allow_none=True)
    active = fields.Boolean()


class CreateActivitySchema(ma.Schema):
    """Define an activity; its scope defaults to the creator's."""

    code = fields.String(required=True, validate=CODE)
    name = name_field(100, required=True)
    name_en = fields.String(load_default=None, validate=validate.Length(max=100))
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    points = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=10_000))
    unit = fields.String(required=True, validate=validate.OneOf(UNITS))
    daily_cap = fields.Integer(
        required=True, allow_none=True, strict=True, validate=validate.Range(min=0, max=1_000_000)
    )
    needs_review = fields.Boolean(required=True)
    starts_at = fields.AwareDateTime(load_default=None, allow_none=True)
    ends_at = fields.AwareDateTime(load_default=None, allow_none=True)
    org_unit_id = fields.Integer(load_default=None, allow_none=True)

    @ma.validates_schema
    def window_in_order(self, data, **_kwargs):
        """Refuse a window that ends before it starts."""
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            raise ma.ValidationError("must be after starts_at", "ends_at")


class UpdateActivitySchema(ma.Schema):
    """Edit or retire an activity (points already recorded keep their value)."""

    name = name_field(100)
    name_en = fields.String(allow_none=True, validate=validate.Length(max=100))
    points = fields.Integer(strict=True, validate=validate.Range(min=0, max=10_000))
    daily_cap = fields.Integer(allow_none=True, strict=True, validate=validate.Range(min=0))
    needs_review = fields.Boolean()
    starts_at = fields.AwareDateTime(allow_none=True)
    ends_at = fields.AwareDateTime(allow_none=True)
    active = fields.Boolean()


class ActivityQuerySchema(PageQuerySchema):
    """Include retired activities?"""

    include_retired = fields.Boolean(load_default=False)


class ContributionSchema(ma.Schema):
    """A contribution and where it stands."""

    id = fields.Integer()
    member = fields.Nested(RefSchema)
    activity_code = fields.String(attribute="activity.code")
    activity_name = fields.String(attribute="activity.name")
    quantity = fields.Decimal(as_string=True)
    points = fields.Integer()
    status = fields.String()
    occurred_at = fields.DateTime()
    note = fields.String(allow_none=True)
    photo_id = fields.Integer(allow_none=True)
    recorded_by = fields.Nested(RefSchema)
    reviewed_at = fields.DateTime(allow_none=True)
    review_reason = fields.String(allow_none=True)
    reversed_at = fields.DateTime(allow_none=True)
    reverse_reason = fields.String(allow_none=True)
    created_at = fields.DateTime()


class CreateContributionSchema(ma.Schema):
    """Record a contribution for someone in scope, or claim one's own."""

    member_id = fields.Integer(required=True, strict=True)
    activity_code = fields.String(required=True, validate=validate.Length(max=40))
    quantity = fields.Decimal(
        required=True,
        validate=validate.Range(min=0, max=1000),
        metadata={
            "minimum": 0,
            "maximum": 1000,
            "description": "whole items, or hours in steps of 0.5 (never rounded)",
        },
    )
    occurred_at = fields.AwareDateTime(required=True)
    note = fields.String(load_default=None, validate=validate.Length(max=1000))
    photo_id = fields.Integer(load_default=None, allow_none=True)


class ReasonSchema(ma.Schema):
    """Why (kept with the contribution and in the audit log)."""

    reason = fields.String(required=True, validate=[validate.Length(min=1, max=500)])


class ReverseSchema(ReasonSchema):
    """Reverse an approved contribution; ``force`` (admins) writes off what is not available."""

    force = fields.Boolean(load_default=False)


class ContributionQuerySchema(PageQuerySchema):
    """Filter contributions by member and status."""

    member_id = fields.Integer(load_default=None)
    status = fields.String(load_default=None, validate=validate.OneOf(CONTRIBUTION_STATUSES))


class LedgerEntrySchema(ma.Schema):
    """One ledger transaction as the member sees it, with the available balance after it."""

    id = fields.Integer()
    kind = fields.String()
    points = fields.Integer(attribute="available_change")
    balance_after = fields.Integer(attribute="available_after")
    held_after = fields.Integer()
    occurred_at = fields.DateTime()
    created_at = fields.DateTime()
    contribution_id = fields.Integer(allow_none=True)
    reference = fields.String(allow_none=True)
    memo = fields.String(allow_none=True)


class EventSchema(ma.Schema):
    """An event with its check-in code's text."""

    id = fields.Integer()
    title = fields.String()
    activity_code = fields.String(attribute="activity.code")
    org_unit = fields.Nested(RefSchema)
    starts_at = fields.DateTime()
    ends_at = fields.DateTime()
    closed_at = fields.DateTime(allow_none=True)
    checkin_url = fields.Function(
        lambda event: checkin_url(event, public_base_url()),
        metadata={"type": "string", "description": "exactly the text the check-in QR code holds"},
    )


class CreateEventSchema(ma.Schema):
    """Schedule an event."""

    title = name_field(100, required=True)
    activity_code = fields.String(required=True, validate=validate.Length(max=40))
    org_unit_id = fields.Integer(required=True, strict=True)
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)


class CheckinRequestSchema(ma.Schema):
    """What the scanned code holds."""

    payload = fields.String(required=True, validate=validate.Length(min=1, max=1000))


class CheckinSchema(ma.Schema):
    """A check-in, with the contribution it earned (``each`` activities at once, ``hour`` at check-out)."""

    id = fields.Integer()
    event_id = fields.Integer()
    event_title = fields.String(attribute="event.title")
    checked_in_at = fields.DateTime()
    checked_out_at = fields.DateTime(allow_none=True)
    contribution = fields.Nested(ContributionSchema, allow_none=True)


class UploadPhotoSchema(ma.Schema):
    """A photo as evidence: the ``photo`` part of a multipart/form-data body (JPEG or PNG, up to 20 MB)."""

    photo = Upload(required=True)


class PhotoSchema(ma.Schema):
    """A stored evidence photo (always a JPEG of at most 1280 px)."""

    id = fields.Integer()
    width = fields.Integer()
    height = fields.Integer()


class DailyCheckinSchema(ma.Schema):
    """A daily 报平安 check-in: the Asia/Shanghai day, the streak it makes and the points it earned."""

    id = fields.Integer()
    day = fields.Date()
    streak = fields.Integer()
    points = fields.Integer()
    checked_in_at = fields.DateTime()


# --- leaderboards ----------------------------------------------------------------------------

#: Boards exist for this century only: older dates would meet local mean time in the zone database.
EARLIEST_BOARD_DATE, LATEST_BOARD_DATE = date(2000, 1, 1), date(2099, 12, 31)


class BoardQueryFields(ma.Schema):
    """``period`` (default month) and ``at`` (a date in it, default today) of a board."""

    period = fields.String(load_default="month", validate=validate.OneOf(PERIODS))
    at = fields.Date(
        load_default=None,
        validate=validate.Range(
            min=EARLIEST_BOARD_DATE, max=LATEST_BOARD_DATE, error="give a date from 2000 to 2099"
        ),
    )


class MemberBoardQuerySchema(BoardQueryFields):
    """Which member board: an org unit's subtree, a period, and how many from the top."""

    org_unit_id = fields.Integer(required=True)
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=100))


class OrgUnitBoardQuerySchema(BoardQueryFields):
    """Which org-unit board: the children of ``parent_id`` (the roots when missing), by a metric."""

    parent_id = fields.Integer(load_default=None, allow_none=True)
    metric = fields.String(load_default="total", validate=validate.OneOf(("total", "per_capita")))


class HonourRollQuerySchema(ma.Schema):
    """Which honour roll: an org unit and a closed month."""

    org_unit_id = fields.Integer(required=True)
    month = fields.String(
        required=True,
        validate=validate.Regexp(r"^20\d\d-(0[1-9]|1[0-2])$", error="give the month as YYYY-MM"),
    )


class BoardPeriodSchema(ma.Schema):
    """A board's period: its kind, key and bounds (Asia/Shanghai, end exclusive; none for all time)."""

    name = fields.String()
    key = fields.String()
    start = fields.DateTime(allow_none=True)
    end = fields.DateTime(allow_none=True)


class HonourRollEntrySchema(ma.Schema):
    """One member on a board: shared rank, masked (or anonymous) name, grid, points."""

    rank = fields.Integer()
    display_name = fields.String()
    org_unit = fields.Nested(RefSchema, allow_none=True)
    points = fields.Integer()


class BoardEntrySchema(HonourRollEntrySchema):
    """One member on a live board; ``is_me`` marks the viewer."""

    is_me = fields.Boolean()


class BoardMeSchema(ma.Schema):
    """The viewer's place: rank (null when unranked), points, how many ranked, to pass the next."""

    rank = fields.Integer(allow_none=True)
    points = fields.Integer()
    total = fields.Integer()
    to_next = fields.Integer(allow_none=True)
    above = fields.Nested(BoardEntrySchema, allow_none=True)
    below = fields.Nested(BoardEntrySchema, allow_none=True)


class MemberBoardSchema(ma.Schema):
    """A member board: the top entries and "me" (null for staff)."""

    period = fields.Nested(BoardPeriodSchema)
    org_unit = fields.Nested(RefSchema, allow_none=True)
    entries = fields.List(fields.Nested(BoardEntrySchema))
    me = fields.Nested(BoardMeSchema, allow_none=True)


class OrgUnitBoardEntrySchema(ma.Schema):
    """One org unit on a board: points of its eligible members, residents, points per resident."""

    rank = fields.Integer()
    org_unit = fields.Nested(RefSchema)
    points = fields.Integer()
    residents = fields.Integer()
    per_capita = fields.Float()


class OrgUnitBoardSchema(ma.Schema):
    """The children of an org unit ranked by ``metric``, empty ones included."""

    period = fields.Nested(BoardPeriodSchema)
    metric = fields.String()
    parent = fields.Nested(RefSchema, allow_none=True)
    entries = fields.List(fields.Nested(OrgUnitBoardEntrySchema))


class HonourRollSchema(ma.Schema):
    """A closed month's published honour roll (光荣榜) of one org unit."""

    month = fields.String()
    org_unit = fields.Nested(RefSchema)
    closed_at = fields.DateTime()
    ranked = fields.Integer()
    entries = fields.List(fields.Nested(HonourRollEntrySchema))


# --- the public notice and objections -----------------------------------------------------------


def id_field(**kwargs) -> fields.Integer:
    """An id in a body: a whole number the databases can hold."""
    return fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_ID), **kwargs)


class PublishNoticeSchema(ma.Schema):
    """Publish a finished month's notice for an org unit."""

    org_unit_id = id_field(required=True)
    month = fields.String(
        required=True,
        validate=validate.Regexp(r"^20\d\d-(0[1-9]|1[0-2])$", error="give the month as YYYY-MM"),
    )


class NoticeSchema(ma.Schema):
    """A published notice: its unit, month, window and status; ``entries_count`` as published."""

    id = fields.Integer()
    org_unit = fields.Nested(RefSchema)
    month = fields.String()
    opens_at = fields.DateTime()
    closes_at = fields.DateTime(metadata={"description": "the end of the 5th working day after publication"})
    status = fields.Method("notice_status", metadata={"description": "open, closed"})
    entries_count = fields.Integer()

    def notice_status(self, notice) -> str:
        """``open`` until ``closes_at``."""
        from points.notices import notice_status

        return notice["status"] if isinstance(notice, dict) else notice_status(notice)


class ActivityRefSchema(ma.Schema):
    """An activity's code and name."""

    code = fields.String()
    name = fields.String()


class NoticeEntrySchema(ma.Schema):
    """One entry of a notice: the contribution, the masked name, grid, activity, quantity, points."""

    contribution_id = fields.Integer()
    display_name = fields.String()
    org_unit = fields.Nested(RefSchema, allow_none=True)
    activity = fields.Nested(ActivityRefSchema)
    quantity = fields.Decimal(as_string=True)
    points = fields.Integer()
    occurred_at = fields.DateTime()


class NoticeDetailSchema(NoticeSchema):
    """A notice with a page of its entries that still stand (approved, not taken back)."""

    entries = fields.List(fields.Nested(NoticeEntrySchema))
    page = fields.Integer()
    page_size = fields.Integer()
    total = fields.Integer(metadata={"description": "entries that still stand"})


class NoticeEntriesQuerySchema(PageQuerySchema):
    """A page of a notice's entries (up to 100)."""

    page_size = fields.Integer(load_default=100, validate=validate.Range(min=1, max=100))


class LodgeObjectionSchema(ma.Schema):
    """Object to one entry of an open notice."""

    contribution_id = id_field(required=True)
    reason = fields.String(required=True, validate=[validate.Length(min=1, max=500)])


class ObjectionSchema(ma.Schema):
    """An objection; ``objector`` only to themself and to those who may decide it."""

    id = fields.Integer()
    notice_id = fields.Integer()
    contribution_id = fields.Integer()
    status = fields.String(metadata={"description": "pending, upheld, dismissed"})
    reason = fields.String()
    created_at = fields.DateTime()
    decided_at = fields.DateTime(allow_none=True)
    decision_reason = fields.String(allow_none=True)
    objector = fields.Nested(RefSchema, allow_none=True)


class ObjectionQuerySchema(PageQuerySchema):
    """Filter objections by status and notice."""

    status = fields.String(load_default=None, validate=validate.OneOf(OBJECTION_STATUSES))
    notice_id = fields.Integer(load_default=None, validate=validate.Range(min=1, max=MAX_ID))


class BudgetSchema(ma.Schema):
    """An org unit's points budget for a year, with what its subtree was awarded and what remains."""

    org_unit = fields.Nested(RefSchema)
    year = fields.Integer()
    points = fields.Integer()
    awarded = fields.Integer(
        metadata={"description": "Awarded in the year (by occurred_at), net of reversals"}
    )
    remaining = fields.Integer(metadata={"description": "Points that may still be awarded (never below 0)"})
    updated_at = fields.DateTime()


class SetBudgetSchema(ma.Schema):
    """The points an org unit's subtree may be awarded in the year."""

    points = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=2_000_000_000))

"""Schemas of patrols: routes with their checkpoints' codes, scans, and rounds."""

from __future__ import annotations

from datetime import datetime

import marshmallow as ma
from marshmallow import fields, validate

from core.api import PageQuerySchema, page_schema
from core.config import public_base_url
from core.identity.schemas import RefSchema, name_field
from points.patrols.services import (
    MAX_CHECKPOINTS,
    MAX_MINUTES_BETWEEN,
    MIN_CHECKPOINTS,
    checkpoint_url,
    round_state,
)
from points.schemas import ContributionSchema

LOCAL_TIME = validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$", error="give the time as HH:MM (00:00–23:59)")


class LocalTime(fields.String):
    """A time of day as ``HH:MM`` (Asia/Shanghai), loaded as a ``datetime.time``."""

    def __init__(self, **kwargs):
        super().__init__(metadata={"pattern": LOCAL_TIME.regex.pattern, "example": "22:00"}, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else f"{value:%H:%M}"

    def _deserialize(self, value, attr, data, **kwargs):
        text = LOCAL_TIME(super()._deserialize(value, attr, data, **kwargs))
        return datetime.strptime(text, "%H:%M").time()


class CheckpointSchema(ma.Schema):
    """A checkpoint, its place in the order and the exact text of its printed code."""

    id = fields.Integer()
    position = fields.Integer()
    name = fields.String()
    checkpoint_url = fields.Function(
        lambda checkpoint: checkpoint_url(checkpoint, public_base_url()),
        metadata={"type": "string", "description": "exactly the text the checkpoint's QR code holds"},
    )


class PatrolRouteSchema(ma.Schema):
    """A patrol route with its checkpoints in order."""

    id = fields.Integer()
    name = fields.String()
    org_unit = fields.Nested(RefSchema)
    activity_code = fields.String(attribute="activity.code")
    window_start = LocalTime()
    window_end = LocalTime()
    min_minutes_between = fields.Integer()
    created_at = fields.DateTime()
    checkpoints = fields.List(fields.Nested(CheckpointSchema))


class NewCheckpointSchema(ma.Schema):
    """One checkpoint of a new route."""

    name = name_field(100, required=True)


class CreatePatrolRouteSchema(ma.Schema):
    """Draw a route: its checkpoints in order, the window (may cross midnight) and the least gap between scans."""

    name = name_field(100, required=True)
    org_unit_id = fields.Integer(required=True, strict=True)
    activity_code = fields.String(required=True, validate=validate.Length(max=40))
    checkpoints = fields.List(
        fields.Nested(NewCheckpointSchema),
        required=True,
        validate=validate.Length(min=MIN_CHECKPOINTS, max=MAX_CHECKPOINTS),
    )
    window_start = LocalTime(required=True)
    window_end = LocalTime(required=True)
    min_minutes_between = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=0, max=MAX_MINUTES_BETWEEN)
    )


class ScanRequestSchema(ma.Schema):
    """What the scanned checkpoint code holds."""

    payload = fields.String(required=True, validate=validate.Length(min=1, max=1000))


class PatrolSchema(ma.Schema):
    """A member's round of a route on one night."""

    id = fields.Integer()
    route = fields.Nested(RefSchema)
    night = fields.Date()
    scanned = fields.Integer()
    of = fields.Function(lambda patrol: len(patrol.route.checkpoints))
    status = fields.String(metadata={"enum": ["in_progress", "completed"]})
    started_at = fields.DateTime()
    last_scan_at = fields.DateTime()
    completed_at = fields.DateTime(allow_none=True)
    points_refused = fields.String(
        allow_none=True,
        metadata={"description": "why a completed round earned nothing, e.g. daily_cap_reached"},
    )


class ScanSchema(ma.Schema):
    """The round after a scan, and on completion the contribution it earned."""

    patrol = fields.Nested(PatrolSchema)
    contribution = fields.Nested(ContributionSchema, allow_none=True)


class RoundSchema(PatrolSchema):
    """A round as organisers see it: who walked it, and ``incomplete`` once its window closed unfinished."""

    member = fields.Nested(RefSchema)
    state = fields.Function(round_state, metadata={"enum": ["in_progress", "completed", "incomplete"]})
    contribution = fields.Nested(ContributionSchema, allow_none=True)


class RoundQuerySchema(PageQuerySchema):
    """Which night: the Asia/Shanghai date its window opened (default: the current night)."""

    night = fields.Date(load_default=None)


class RoundPageSchema(page_schema(RoundSchema)):
    """The rounds of one night, and which night it is."""

    night = fields.Date()

"""Events with check-in QR codes: create, check in once inside the window, check out, close.

The code holds ``checkin_url``: an upper-case URL ``HTTPS://HOST/E/<TOKEN>`` whose token
is an Ed25519-signed payload naming the event, so a phone's own camera opens it and
nobody can forge a code for another event.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from core.api import paginate
from core.audit import record_audit
from core.database import begin_writing, utcnow
from core.errors import AppError
from core.extensions import db
from core.identity.access import require, scope_condition
from core.identity.models import Member, OrgUnit
from core.identity.services import get_org_unit
from core.qr.signing import InvalidCode, PayloadKind, code_url, sign_payload, verify_payload
from core.refusals import add_unique, require_found
from points import activities, contributions
from points.models import Checkin, Contribution, Event

EVENT_CHECKIN = PayloadKind("event_checkin", tag=1, fields=(("event_id", "I"),))
ROUTE_LETTER = "E"
HALF_HOUR = timedelta(minutes=30)


def checkin_url(event: Event, base_url: str) -> str:
    """Return the exact text of the event's check-in code."""
    return code_url(base_url, ROUTE_LETTER, sign_payload(EVENT_CHECKIN, event_id=event.id))


def get_event(event_id: int) -> Event:
    """Return an event or refuse with 404."""
    return require_found(db.session.get(Event, event_id), "event_id", "event")


def create_event(
    actor: Member, title: str, activity_code: str, org_unit_id: int, starts_at: datetime, ends_at: datetime
) -> Event:
    """Schedule an event in the actor's scope."""
    unit = get_org_unit(org_unit_id)
    activity = activities.get_activity(activity_code)
    if ends_at <= starts_at:
        raise AppError(422, errors={"ends_at": ["must be after starts_at"]})
    require(actor, "event.manage", unit)
    if not activity.active:
        raise AppError(422, errors={"activity_code": ["this activity is retired"]})
    activities.check_recordable(activity)
    begin_writing(db.session)
    event = Event(
        title=title,
        activity=activity,
        org_unit=unit,
        starts_at=starts_at,
        ends_at=ends_at,
        created_by_id=actor.id,
    )
    db.session.add(event)
    record_audit(
        actor,
        "event.create",
        event,
        after={"title": title, "activity": activity_code, "org_unit_id": org_unit_id},
    )
    db.session.commit()
    return event


def read_event(actor: Member, event_id: int) -> Event:
    """Return an event to staff who manage events in its org unit."""
    event = get_event(event_id)
    require(actor, "event.manage", event.org_unit)
    return event


def list_events(actor: Member, page: int, page_size: int) -> dict:
    """List the events in the actor's scope, newest first."""
    statement = (
        sa.select(Event)
        .join(OrgUnit, OrgUnit.id == Event.org_unit_id)
        .where(scope_condition(actor, "event.manage"))
    )
    return paginate(statement.order_by(Event.starts_at.desc()), page, page_size)


def upcoming_events(member: Member, now: datetime | None = None, limit: int = 5) -> list[Event]:
    """Open events around a member (in their grid or any unit above it) not yet over, soonest first."""
    if member.org_unit is None:
        return []
    around = [int(unit_id) for unit_id in member.org_unit.path.strip("/").split("/") if unit_id]
    statement = (
        sa.select(Event)
        .where(Event.org_unit_id.in_(around), Event.closed_at.is_(None), Event.ends_at > (now or utcnow()))
        .order_by(Event.starts_at, Event.id)
        .limit(limit)
    )
    return list(db.session.scalars(statement))


def list_checkins(actor: Member, event_id: int, page: int, page_size: int) -> dict:
    """List who checked in to an event, in the order they came (staff who manage its org unit)."""
    event = read_event(actor, event_id)
    statement = (
        sa.select(Checkin).where(Checkin.event_id == event.id).order_by(Checkin.checked_in_at, Checkin.id)
    )
    return paginate(statement, page, page_size)


def event_from_code(text: str) -> Event:
    """Verify a scanned check-in code and return its event (``invalid_code`` otherwise)."""
    event = db.session.get(Event, verify_payload(text, EVENT_CHECKIN)["event_id"])
    if event is None:
        raise InvalidCode("unknown")
    return event


def check_in(member: Member, payload: str, now: datetime | None = None) -> Checkin:
    """Check a member in once inside the event's window; ``each`` activities award at once."""
    now = now or utcnow()
    event = event_from_code(payload)
    begin_writing(db.session)
    event = db.session.get(Event, event.id)
    if event.closed_at is not None or not event.starts_at <= now <= event.ends_at:
        raise AppError(
            422,
            "outside_window",
            _l("Check-in is open only while the event runs."),
            {"payload": [f"open {event.starts_at.isoformat()} – {event.ends_at.isoformat()}"]},
        )
    already = AppError(409, "already_checked_in", _l("You have already checked in to this event."))
    if db.session.scalar(
        sa.select(Checkin.id).where(Checkin.event_id == event.id, Checkin.member_id == member.id)
    ):
        raise already
    checkin = Checkin(event=event, member=member, checked_in_at=now)
    add_unique(checkin, already)
    if event.activity.unit == "each":
        checkin.contribution = _award(member, event, Decimal(1), now)
    record_audit(
        member,
        "event.check_in",
        checkin,
        after={"event_id": event.id, "status": checkin.contribution.status if checkin.contribution else None},
    )
    db.session.commit()
    return checkin


def _award(member: Member, event: Event, quantity: Decimal, occurred_at: datetime) -> Contribution | None:
    """Record an event's contribution, approved in the name of the event's creator (the code vouches
    for presence); the creator's own stays a pending claim for someone else (``settle_contribution``)."""
    return contributions.settle_vouched(
        event.activity,
        event.created_by_id,
        utcnow(),
        member=member,
        quantity=quantity,
        occurred_at=occurred_at,
        note=event.title,
    )


def half_hours_between(start: datetime, end: datetime) -> Decimal:
    """The hours between two times, in whole half hours (rounded down)."""
    halves = int((end - start) / HALF_HOUR)
    return (Decimal(halves) / 2).quantize(Decimal("0.1"), rounding=ROUND_FLOOR)


def _check_out(checkin: Checkin, at: datetime) -> None:
    event = checkin.event
    checkin.checked_out_at = min(max(at, checkin.checked_in_at), event.ends_at)
    hours = half_hours_between(checkin.checked_in_at, checkin.checked_out_at)
    if event.activity.unit == "hour" and hours > 0:
        checkin.contribution = _award(checkin.member, event, hours, checkin.checked_in_at)


def check_out(actor: Member, checkin_id: int, now: datetime | None = None) -> Checkin:
    """Check out (the member, or an organiser of the event); hours are awarded for hourly activities."""
    begin_writing(db.session)
    checkin = require_found(db.session.get(Checkin, checkin_id), "checkin_id", "check-in")
    if checkin.member_id != actor.id:
        require(actor, "event.manage", checkin.event.org_unit)
    if checkin.checked_out_at is not None:
        raise AppError(409, "invalid_state", _l("Already checked out."))
    _check_out(checkin, now or utcnow())
    record_audit(actor, "event.check_out", checkin)
    db.session.commit()
    return checkin


def close_event(actor: Member, event_id: int, now: datetime | None = None) -> Event:
    """Close an event: everyone still checked in is checked out and awarded their hours."""
    begin_writing(db.session)
    event = get_event(event_id)
    require(actor, "event.manage", event.org_unit)
    if event.closed_at is not None:
        raise AppError(409, "invalid_state", _l("This event is already closed."))
    now = now or utcnow()
    open_checkins = db.session.scalars(
        sa.select(Checkin)
        .where(Checkin.event_id == event.id, Checkin.checked_out_at.is_(None))
        .order_by(Checkin.member_id)
    )
    for checkin in open_checkins:
        try:
            with db.session.begin_nested():
                _check_out(checkin, now)
        except AppError:  # e.g. that member's daily cap: they keep the check-in, without points
            checkin.checked_out_at = min(now, event.ends_at)
    event.closed_at = now
    record_audit(actor, "event.close", event)
    db.session.commit()
    return event

"""Patrol services: routes with signed checkpoint codes, scans in order inside the window, rounds per night.

Each checkpoint's printed code holds ``checkpoint_url``: an upper-case ``HTTPS://HOST/K/<TOKEN>``
whose token is an Ed25519-signed payload naming the checkpoint (``core.qr``), so a phone's own
camera opens it and nobody can forge a code for another checkpoint.

A route's window is a pair of Asia/Shanghai times, from ``window_start`` (inclusive) to
``window_end`` (exclusive); when the end is not later than the start, the window crosses
midnight. A round belongs to the *night* its window opened on (a scan at 01:00 in a 22:00–02:00
window belongs to the night before), and a member walks at most one round of a route a night.
A scan is checked in this order: the code (``invalid_code``), the window (``outside_window``),
the order (``already_checked_in``, ``wrong_order``), then the pace (``too_fast``).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from core.api import paginate
from core.audit import record_audit
from core.clock import SHANGHAI
from core.database import begin_writing, utcnow
from core.errors import AppError
from core.extensions import db
from core.identity.access import require, scope_condition
from core.identity.models import Member, OrgUnit
from core.identity.services import get_org_unit
from core.qr.signing import InvalidCode, PayloadKind, code_url, sign_payload, verify_payload
from points import activities, contributions
from points.events import half_hours_between
from points.patrols.models import PatrolCheckpoint, PatrolRound, PatrolRoute, PatrolScan

CHECKPOINT = PayloadKind("patrol_checkpoint", tag=6, fields=(("checkpoint_id", "I"),))
ROUTE_LETTER = "K"
MIN_CHECKPOINTS, MAX_CHECKPOINTS = 2, 30
MAX_MINUTES_BETWEEN = 720
DAY = timedelta(days=1)


def checkpoint_url(checkpoint: PatrolCheckpoint, base_url: str) -> str:
    """Return the exact text of the checkpoint's printed code."""
    return code_url(base_url, ROUTE_LETTER, sign_payload(CHECKPOINT, checkpoint_id=checkpoint.id))


# --- the window ----------------------------------------------------------------------------------


def window_of(route: PatrolRoute, night: date) -> tuple[datetime, datetime]:
    """The start (inclusive) and end (exclusive) of the route's window on a night, Asia/Shanghai."""
    start = datetime.combine(night, route.window_start, tzinfo=SHANGHAI)
    end_day = night if route.window_end > route.window_start else night + DAY
    return start, datetime.combine(end_day, route.window_end, tzinfo=SHANGHAI)


def night_of(route: PatrolRoute, moment: datetime) -> date | None:
    """The night whose window holds ``moment``, or None outside every window."""
    today = moment.astimezone(SHANGHAI).date()
    for night in (today, today - DAY):
        start, end = window_of(route, night)
        if start <= moment < end:
            return night
    return None


def current_night(route: PatrolRoute, now: datetime | None = None) -> date:
    """The latest night whose window has opened (tonight once it opens, else last night)."""
    now = now or utcnow()
    night = now.astimezone(SHANGHAI).date()
    return night if window_of(route, night)[0] <= now else night - DAY


def round_state(patrol: PatrolRound, now: datetime | None = None) -> str:
    """``completed``; ``in_progress`` while its night's window is open; else ``incomplete`` (earns nothing)."""
    if patrol.status == "completed":
        return "completed"
    return "in_progress" if (now or utcnow()) < window_of(patrol.route, patrol.night)[1] else "incomplete"


# --- routes --------------------------------------------------------------------------------------


def _window_minutes(start: time, end: time) -> int:
    minutes = (end.hour * 60 + end.minute) - (start.hour * 60 + start.minute)
    return minutes if minutes > 0 else minutes + 24 * 60


def create_route(
    actor: Member,
    name: str,
    org_unit_id: int,
    activity_code: str,
    checkpoints: list[str],
    window_start: time,
    window_end: time,
    min_minutes_between: int,
) -> PatrolRoute:
    """Draw a route of ordered checkpoints in the actor's scope, paying ``activity_code`` for a round."""
    unit = get_org_unit(org_unit_id)
    activity = activities.get_activity(activity_code)
    require(actor, "patrol.manage", unit)
    names = [checkpoint.strip() for checkpoint in checkpoints]
    if not MIN_CHECKPOINTS <= len(names) <= MAX_CHECKPOINTS or not all(names):
        raise AppError(
            422, errors={"checkpoints": [f"name {MIN_CHECKPOINTS} to {MAX_CHECKPOINTS} checkpoints"]}
        )
    if window_start == window_end:
        raise AppError(422, errors={"window_end": ["must differ from window_start"]})
    if (len(names) - 1) * min_minutes_between >= _window_minutes(window_start, window_end):
        raise AppError(
            422,
            errors={
                "min_minutes_between": [
                    f"{len(names)} checkpoints {min_minutes_between} minutes apart do not fit in the window"
                ]
            },
        )
    if not activity.active:
        raise AppError(422, errors={"activity_code": ["this activity is retired"]})
    activities.check_recordable(activity)
    if activity.org_unit is not None and not activity.org_unit.contains(unit):
        raise AppError(422, errors={"activity_code": ["this activity does not apply where the route lies"]})
    begin_writing(db.session)
    route = PatrolRoute(
        name=name,
        org_unit=unit,
        activity=activity,
        window_start=window_start,
        window_end=window_end,
        min_minutes_between=min_minutes_between,
        created_by_id=actor.id,
    )
    route.checkpoints = [
        PatrolCheckpoint(position=index, name=checkpoint_name)
        for index, checkpoint_name in enumerate(names, start=1)
    ]
    db.session.add(route)
    record_audit(
        actor,
        "patrol.route_create",
        route,
        after={
            "name": name,
            "org_unit_id": unit.id,
            "activity": activity.code,
            "checkpoints": names,
            "window": f"{window_start:%H:%M}-{window_end:%H:%M}",
            "min_minutes_between": min_minutes_between,
        },
    )
    db.session.commit()
    return route


def get_route(route_id: int) -> PatrolRoute:
    """Return a route or refuse with 404."""
    route = db.session.get(PatrolRoute, route_id)
    if route is None:
        raise AppError(404, errors={"route_id": ["no such patrol route"]})
    return route


def read_route(actor: Member, route_id: int) -> PatrolRoute:
    """Return a route to staff who manage patrols where it lies."""
    route = get_route(route_id)
    require(actor, "patrol.manage", route.org_unit)
    return route


def list_routes(actor: Member, page: int, page_size: int) -> dict:
    """List the routes in the actor's scope, newest first."""
    statement = (
        sa.select(PatrolRoute)
        .join(OrgUnit, OrgUnit.id == PatrolRoute.org_unit_id)
        .where(scope_condition(actor, "patrol.manage"))
        .order_by(PatrolRoute.id.desc())
    )
    return paginate(statement, page, page_size)


def list_rounds(actor: Member, route_id: int, night: date | None, page: int, page_size: int) -> dict:
    """A route's rounds on one night (default: the current one), in the order they started."""
    route = read_route(actor, route_id)
    night = night or current_night(route)
    statement = (
        sa.select(PatrolRound)
        .where(PatrolRound.route_id == route.id, PatrolRound.night == night)
        .options(  # each round shows who walked it and what it earned: loaded with the page
            sa.orm.joinedload(PatrolRound.member).lazyload(Member.grants),
            sa.orm.joinedload(PatrolRound.contribution),
        )
        .order_by(PatrolRound.started_at, PatrolRound.id)
    )
    listing = paginate(statement, page, page_size)
    listing["night"] = night
    return listing


def night_summary(route: PatrolRoute, night: date, now: datetime | None = None) -> dict[str, int]:
    """How many rounds of the night are completed, in progress and incomplete."""
    counts = {"completed": 0, "in_progress": 0, "incomplete": 0}
    rows = db.session.execute(
        sa.select(PatrolRound.status, sa.func.count())
        .where(PatrolRound.route_id == route.id, PatrolRound.night == night)
        .group_by(PatrolRound.status)
    )
    unfinished = 0
    for status, count in rows:
        if status == "completed":
            counts["completed"] = count
        else:
            unfinished += count
    window_open = (now or utcnow()) < window_of(route, night)[1]
    counts["in_progress" if window_open else "incomplete"] = unfinished
    return counts


# --- scanning ------------------------------------------------------------------------------------


def checkpoint_from_code(text: str) -> PatrolCheckpoint:
    """Verify a scanned checkpoint code and return its checkpoint (``invalid_code`` otherwise)."""
    checkpoint = db.session.get(PatrolCheckpoint, verify_payload(text, CHECKPOINT)["checkpoint_id"])
    if checkpoint is None:
        raise InvalidCode("unknown")
    return checkpoint


def round_of(member: Member, route: PatrolRoute, night: date, lock: bool = False) -> PatrolRound | None:
    """The member's round of the route on a night, if they started one (locked for this transaction)."""
    statement = sa.select(PatrolRound).where(
        PatrolRound.route_id == route.id, PatrolRound.night == night, PatrolRound.member_id == member.id
    )
    if lock:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    return db.session.scalar(statement)


def _already(message) -> AppError:
    return AppError(409, "already_checked_in", message)


def _wrong_order(expected: PatrolCheckpoint) -> AppError:
    return AppError(
        409,
        "wrong_order",
        _l(
            "Scan the checkpoints in order: the next one is no. %(position)d, %(name)s.",
            position=expected.position,
            name=expected.name,
        ),
        {"payload": [f"expected checkpoint {expected.position}"]},
    )


def scan_checkpoint(member: Member, payload: str, now: datetime | None = None) -> PatrolRound:
    """Record a scan of a checkpoint: the first starts the night's round, the last completes it and
    earns the route's activity (approved in the name of the route's creator)."""
    now = now or utcnow()
    checkpoint = checkpoint_from_code(payload)
    route = checkpoint.route
    night = night_of(route, now)
    if night is None:
        raise AppError(
            422,
            "outside_window",
            _l(
                "This route is patrolled only from %(start)s to %(end)s.",
                start=f"{route.window_start:%H:%M}",
                end=f"{route.window_end:%H:%M}",
            ),
            {"payload": [f"window {route.window_start:%H:%M}-{route.window_end:%H:%M} Asia/Shanghai"]},
        )
    begin_writing(db.session)
    patrol = round_of(member, route, night, lock=True)
    if checkpoint.position == 1:
        if patrol is not None:
            raise _already(_l("You have already started this route tonight."))
        patrol = _start_round(member, route, night, now)
    else:
        _check_next(patrol, route, checkpoint, now)
        patrol.scanned, patrol.last_scan_at = patrol.scanned + 1, now
    db.session.add(PatrolScan(round_id=patrol.id, checkpoint_id=checkpoint.id, scanned_at=now))
    if patrol.scanned == len(route.checkpoints):
        _complete(patrol, route, member, now)
    record_audit(
        member,
        "patrol.scan",
        patrol,
        after={"route_id": route.id, "checkpoint": checkpoint.position, "status": patrol.status},
    )
    db.session.commit()
    return patrol


def _start_round(member: Member, route: PatrolRoute, night: date, now: datetime) -> PatrolRound:
    patrol = PatrolRound(
        route=route,
        member_id=member.id,
        night=night,
        started_at=now,
        last_scan_at=now,
        scanned=1,
        status="in_progress",
    )
    db.session.add(patrol)
    try:
        db.session.flush()
    except IntegrityError:  # a second scan of the first checkpoint at the same moment
        db.session.rollback()
        raise _already(_l("You have already started this route tonight.")) from None
    return patrol


def _check_next(
    patrol: PatrolRound | None, route: PatrolRoute, checkpoint: PatrolCheckpoint, now: datetime
) -> None:
    """Refuse a scan that is not the next checkpoint of the member's round, or comes too soon."""
    if patrol is None:
        raise _wrong_order(route.checkpoints[0])
    if patrol.status == "completed" or checkpoint.position <= patrol.scanned:
        raise _already(_l("You have already scanned this checkpoint tonight."))
    if checkpoint.position != patrol.scanned + 1:
        raise _wrong_order(route.checkpoints[patrol.scanned])
    ready_at = patrol.last_scan_at + timedelta(minutes=route.min_minutes_between)
    if now < ready_at:
        raise AppError(
            422,
            "too_fast",
            _l(
                "Too fast: checkpoints are at least %(minutes)d minutes apart.",
                minutes=route.min_minutes_between,
            ),
            {"payload": [f"scan again from {ready_at.astimezone(SHANGHAI):%H:%M:%S}"]},
        )


def _complete(patrol: PatrolRound, route: PatrolRoute, member: Member, now: datetime) -> None:
    """Close a complete round and award the route's activity once; a refusal (a daily cap, an activity
    retired or not for the member's grid, an hourly round under half an hour) leaves it unpaid, saying why."""
    patrol.status, patrol.completed_at = "completed", now
    activity = route.activity
    quantity = Decimal(1) if activity.unit == "each" else half_hours_between(patrol.started_at, now)
    if quantity <= 0:
        patrol.points_refused = "too_short"
        return
    try:
        with db.session.begin_nested():
            patrol.contribution = contributions.settle_vouched(
                activity,
                route.created_by_id,
                now,
                member=member,
                quantity=quantity,
                occurred_at=patrol.started_at,
                note=route.name,
            )
    except AppError as error:
        patrol.points_refused = error.code if error.code != "validation_error" else "not_applicable"

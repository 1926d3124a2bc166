"""Activities: what earns points (define, edit, retire, list) and how many points a quantity is worth.

One public call that writes is one transaction: it checks the actor's rights, then begins
writing (``begin_writing``), audits and commits.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from core.audit import change_audited, record_audit
from core.database import begin_writing
from core.errors import AppError
from core.extensions import db
from core.identity.access import require, scope_condition, scope_units
from core.identity.models import Member, OrgUnit
from core.identity.services import get_org_unit
from points.models import (
    FLOW_ONLY_ACTIVITIES,
    Activity,
)

HALF = Decimal("0.5")


def get_activity(code: str, field: str = "activity_code") -> Activity:
    """Return an activity by code or refuse with 404."""
    activity = db.session.scalar(sa.select(Activity).where(Activity.code == code))
    if activity is None:
        raise AppError(404, errors={field: ["no such activity"]})
    return activity


def create_activity(actor: Member, fields: dict) -> Activity:
    """Define what earns points, in the actor's scope (default: the actor's own scope)."""
    org_unit_id = fields.pop("org_unit_id", None)
    if org_unit_id is None:
        units = scope_units(actor, "activity.manage")
        if units == []:
            raise AppError(403)
        if units is None:
            unit = None
        elif len(units) == 1:
            unit = units[0]
        else:
            raise AppError(422, errors={"org_unit_id": ["say which of your org units it applies to"]})
    else:
        unit = get_org_unit(org_unit_id)
    require(actor, "activity.manage", unit)
    if db.session.scalar(sa.select(Activity.id).where(Activity.code == fields["code"])):
        raise AppError(409, "duplicate", _l("An activity with this code exists."), {"code": ["already used"]})
    begin_writing(db.session)
    activity = Activity(org_unit=unit, created_by_id=actor.id, **fields)
    db.session.add(activity)
    record_audit(
        actor, "activity.create", activity, after={**fields, "org_unit_id": unit.id if unit else None}
    )
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise AppError(
            409, "duplicate", _l("An activity with this code exists."), {"code": ["already used"]}
        ) from None
    return activity


def update_activity(actor: Member, activity: Activity, changes: dict) -> Activity:
    """Edit or retire an activity; points already recorded keep their value."""
    require(actor, "activity.manage", activity.org_unit)
    begin_writing(db.session)
    change_audited(actor, "activity.update", activity, changes)
    db.session.commit()
    return activity


def list_activities(include_retired: bool, page: int, page_size: int) -> dict:
    """List the activities (every member may see what earns points)."""
    from core.api import paginate

    statement = sa.select(Activity).order_by(Activity.code)
    if not include_retired:
        statement = statement.where(Activity.active.is_(True))
    return paginate(statement, page, page_size)


def list_managed_activities(actor: Member, include_retired: bool, page: int, page_size: int) -> dict:
    """List the activities of the actor's subtree, and the tree-wide ones (editable by global admins)."""
    from core.api import paginate

    statement = (
        sa.select(Activity)
        .outerjoin(OrgUnit, OrgUnit.id == Activity.org_unit_id)
        .where(sa.or_(Activity.org_unit_id.is_(None), scope_condition(actor, "activity.manage")))
        .order_by(Activity.active.desc(), Activity.code)
    )
    if not include_retired:
        statement = statement.where(Activity.active.is_(True))
    return paginate(statement, page, page_size)


def points_for(activity: Activity, quantity: Decimal) -> int:
    """Points for a quantity: per item, or per hour in half hours, rounded down."""
    quantity = Decimal(str(quantity))
    if quantity <= 0:
        raise AppError(422, errors={"quantity": ["must be more than 0"]})
    if activity.unit == "each" and quantity != quantity.to_integral_value():
        raise AppError(422, errors={"quantity": ["count whole items"]})
    if activity.unit == "hour" and (quantity / HALF) != (quantity / HALF).to_integral_value():
        raise AppError(422, errors={"quantity": ["hours go in steps of half an hour"]})
    return int((Decimal(activity.points) * quantity).to_integral_value(rounding=ROUND_FLOOR))


def check_recordable(activity: Activity) -> None:
    """Refuse an activity that is earned only through its own flow (a wish) where one is chosen by hand."""
    if activity.code in FLOW_ONLY_ACTIVITIES:
        raise AppError(422, errors={"activity_code": ["earned only through its own flow (a completed wish)"]})


def check_activity_applies(activity: Activity, member: Member, occurred_at: datetime) -> None:
    if not activity.active:
        raise AppError(422, errors={"activity_code": ["this activity is retired"]})
    too_early = activity.starts_at is not None and occurred_at < activity.starts_at
    too_late = activity.ends_at is not None and occurred_at > activity.ends_at
    if too_early or too_late:
        raise AppError(422, errors={"occurred_at": ["outside the activity's active window"]})
    if activity.org_unit is not None and not activity.org_unit.contains(member.org_unit):
        raise AppError(422, errors={"activity_code": ["this activity does not apply to the member's grid"]})

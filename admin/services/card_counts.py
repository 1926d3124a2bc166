"""What the member cards page reads: each grid's active members and live cards, and the active
members of a unit's subtree to issue missing cards to."""

from __future__ import annotations

import sqlalchemy as sa

from core.extensions import db
from core.identity import services
from core.identity.models import Member, MemberCard, OrgUnit


def grid_card_counts(actor) -> list[dict]:
    """The grids where the actor manages members, with how many active members and live cards each has."""
    units = services.list_units_in_scope(actor, "member.manage")
    rows = dict(
        db.session.execute(
            sa.select(Member.org_unit_id, sa.func.count(Member.id))
            .where(Member.status == "active")
            .group_by(Member.org_unit_id)
        ).all()
    )
    carded = dict(
        db.session.execute(
            sa.select(Member.org_unit_id, sa.func.count(Member.id))
            .join(MemberCard, sa.and_(MemberCard.member_id == Member.id, MemberCard.revoked_at.is_(None)))
            .group_by(Member.org_unit_id)
        ).all()
    )
    return [
        {"unit": unit, "members": rows.get(unit.id, 0), "cards": carded.get(unit.id, 0)}
        for unit in units
        if unit.kind == "grid"
    ]


def active_members_below(unit: OrgUnit) -> list[Member]:
    """The active members of a unit and every unit below it."""
    return list(
        db.session.scalars(
            sa.select(Member)
            .join(OrgUnit, OrgUnit.id == Member.org_unit_id)
            .where(OrgUnit.path.startswith(unit.path), Member.status == "active")
        )
    )

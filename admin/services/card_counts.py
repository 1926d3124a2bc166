"""What the member cards page reads: each grid's active members and live cards, and the active
members of a unit's subtree to issue missing cards to."""

from __future__ import annotations

import sqlalchemy as sa

from core.extensions import db
from core.identity import services
from core.identity.models import Member, MemberCard, OrgUnit


def grid_card_counts(actor) -> list[dict]:
    """The grids where the actor manages members, with how many active members each has and how many
    of them hold a live card (a suspended member's card is not one an active member holds)."""
    units = services.list_units_in_scope(actor, "member.manage")
    counts = {
        unit_id: {"members": members, "cards": carded}
        for unit_id, members, carded in db.session.execute(
            sa.select(Member.org_unit_id, sa.func.count(Member.id), sa.func.count(MemberCard.id))
            .outerjoin(
                MemberCard, sa.and_(MemberCard.member_id == Member.id, MemberCard.revoked_at.is_(None))
            )
            .where(Member.status == "active")
            .group_by(Member.org_unit_id)
        )
    }
    return [
        {"unit": unit, **counts.get(unit.id, {"members": 0, "cards": 0})}
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

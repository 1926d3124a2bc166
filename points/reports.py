"""Figures of the monthly report (平安动态) for one org unit: points by child unit and the top
members, both from ``points.ledger.earned_points`` (each point counted in the Asia/Shanghai month
of its ``occurred_at``, as the leaderboards count it). Points by category come from
``points.stats.earned_by_category``, the dashboard's own query.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from core.extensions import db
from core.identity.models import Member, OrgUnit, on_boards
from points.ledger import earned_points


def _earned_in(unit: OrgUnit, start: datetime, end: datetime) -> tuple[sa.Subquery, sa.Select]:
    """Points earned in a subtree in a period, and the statement that sums them (with the grids)."""
    earned = earned_points(start, end)
    statement = (
        sa.select(sa.func.sum(earned.c.points))
        .select_from(earned)
        .join(Member, Member.id == earned.c.member_id)
        .join(OrgUnit, OrgUnit.id == Member.org_unit_id)
        .where(OrgUnit.path.startswith(unit.path))
    )
    return earned, statement


def points_by_child_unit(unit: OrgUnit, start: datetime, end: datetime) -> list[tuple[OrgUnit, int, int]]:
    """Each child unit (a grid: the unit itself) → (members who earned, points earned), in name order."""
    earned, statement = _earned_in(unit, start, end)
    per_grid = db.session.execute(
        statement.with_only_columns(
            OrgUnit.path, sa.func.count(sa.distinct(earned.c.member_id)), sa.func.sum(earned.c.points)
        ).group_by(OrgUnit.path)
    )
    children = list(
        db.session.scalars(sa.select(OrgUnit).where(OrgUnit.parent_id == unit.id).order_by(OrgUnit.name))
    ) or [unit]
    totals = {child.id: [0, 0] for child in children}
    for path, members, total in per_grid:
        child = next(child for child in children if path.startswith(child.path))
        totals[child.id][0] += int(members)
        totals[child.id][1] += int(total)
    return [(child, *totals[child.id]) for child in children]


def top_earners(unit: OrgUnit, start: datetime, end: datetime, limit: int = 10) -> list[tuple[Member, int]]:
    """The members who earned most in the subtree, among those the boards show (``on_boards``)."""
    earned, statement = _earned_in(unit, start, end)
    points = sa.func.sum(earned.c.points)
    reached = sa.func.max(earned.c.occurred_at)
    rows = db.session.execute(
        statement.with_only_columns(Member, points)
        .where(on_boards())
        .group_by(Member.id)
        .having(points > 0)
        .order_by(points.desc(), reached, Member.id)
        .limit(limit)
    )
    return [(member, int(total)) for member, total in rows]

"""Figures of the monthly report (平安动态) for one org unit: points by child unit and the top
members — derived from the ledger, each point counted in the Asia/Shanghai month of its
``occurred_at`` (as the leaderboards count it); opening balances count nowhere here. Points by
category come from ``points.stats.earned_by_category``, the dashboard's own query.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from core.extensions import db
from core.identity.models import STAFF_ROLES, Member, OrgUnit, RoleGrant
from points.models import LedgerPosting, LedgerTransaction

EARNING_KINDS = ("award", "reversal")


def _earned_in(unit: OrgUnit, start: datetime, end: datetime) -> tuple[sa.ColumnElement, sa.Select]:
    """Points earned (awards less their reversals) and the statement that sums them for a subtree."""
    points = -sa.func.sum(LedgerPosting.amount)
    statement = (sa.select(points)
                 .join(LedgerTransaction, LedgerTransaction.id == LedgerPosting.transaction_id)
                 .join(Member, Member.id == LedgerTransaction.member_id)
                 .join(OrgUnit, OrgUnit.id == Member.org_unit_id)
                 .where(LedgerPosting.account == "issued", LedgerTransaction.kind.in_(EARNING_KINDS),
                        LedgerTransaction.occurred_at >= start, LedgerTransaction.occurred_at < end,
                        OrgUnit.path.startswith(unit.path)))
    return points, statement


def points_by_child_unit(unit: OrgUnit, start: datetime, end: datetime) -> list[tuple[OrgUnit, int, int]]:
    """Each child unit (a grid: the unit itself) → (members who earned, points earned), in name order."""
    points, statement = _earned_in(unit, start, end)
    per_grid = db.session.execute(statement.with_only_columns(
        OrgUnit.path, sa.func.count(sa.distinct(LedgerTransaction.member_id)), points).group_by(OrgUnit.path))
    children = list(db.session.scalars(sa.select(OrgUnit).where(OrgUnit.parent_id == unit.id)
                                       .order_by(OrgUnit.name))) or [unit]
    totals = {child.id: [0, 0] for child in children}
    for path, members, total in per_grid:
        child = next(child for child in children if path.startswith(child.path))
        totals[child.id][0] += int(members)
        totals[child.id][1] += int(total)
    return [(child, *totals[child.id]) for child in children]


def top_earners(unit: OrgUnit, start: datetime, end: datetime, limit: int = 10) -> list[tuple[Member, int]]:
    """The members who earned most in the subtree, as boards show them: no staff, hidden or suspended."""
    points, statement = _earned_in(unit, start, end)
    staff = sa.select(RoleGrant.member_id).where(RoleGrant.role.in_(STAFF_ROLES), RoleGrant.revoked_at.is_(None))
    reached = sa.func.max(LedgerTransaction.occurred_at)
    rows = db.session.execute(
        statement.with_only_columns(Member, points)
        .where(Member.hidden.is_(False), Member.status == "active", Member.id.not_in(staff))
        .group_by(Member.id).having(points > 0).order_by(points.desc(), reached, Member.id).limit(limit))
    return [(member, int(total)) for member, total in rows]

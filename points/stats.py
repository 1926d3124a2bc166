"""Figures for the organisers' dashboard: points issued, redeemed and held, active members and
contributions by category, for one Asia/Shanghai month inside the actor's subtree.

Everything is derived from the ledger and contribution rows (never a cached county-wide total),
filtered by the org units the actor reaches, so a town's organiser sees only their town.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa

from core.clock import bounds_of
from core.extensions import db
from core.identity.access import scope_condition
from core.identity.models import Member, OrgUnit
from points import ledger
from points.gamification import CHECKIN_CATEGORY
from points.models import Activity, Contribution, LedgerPosting, LedgerTransaction, MemberBalance

#: Transactions that move points in or out of members' ``held`` accounts.
HELD_KINDS = ("hold", "release", "spend")


@dataclass
class MonthFigures:
    """One month of a subtree's points: what was issued, redeemed, held at its end, who earned."""

    start: datetime
    end: datetime
    issued: int = 0
    redeemed: int = 0
    held: int = 0
    active_members: int = 0
    #: (category, awards less reversals, points issued), most points first.
    by_category: list[tuple[str, int, int]] = field(default_factory=list)


def _members_in(condition) -> sa.Select:
    """The ids of members whose grid lies in the units ``condition`` selects."""
    return sa.select(Member.id).join(OrgUnit, OrgUnit.id == Member.org_unit_id).where(condition)


def _scoped(column, condition):
    """Limit ``column`` (a member id) to the subtree; no filter at all for everywhere."""
    if isinstance(condition, sa.sql.elements.True_):
        return condition
    return column.in_(_members_in(condition))


def _in_period(kinds: tuple[str, ...], start: datetime | None, end: datetime):
    """Ledger transactions of some kinds in a period, found through the (kind, occurred_at) index."""
    conditions = [LedgerTransaction.kind.in_(kinds), LedgerTransaction.occurred_at < end]
    if start is not None:
        conditions.append(LedgerTransaction.occurred_at >= start)
    return sa.and_(*conditions)


def earned_by_category(condition, start: datetime, end: datetime) -> list[tuple[str, int, int]]:
    """Points earned in a period, by category: (category, awards less their reversals, points).

    Read by the dashboard and the monthly report alike, from ``ledger.earned_points`` (each point
    in the Asia/Shanghai period of its ``occurred_at``, as the leaderboards count it), for the
    members whose grid ``condition`` (on ``OrgUnit``) selects — ``sa.true()`` for everyone. Daily
    check-ins, which have no activity, count as ``daily_checkin``. A category whose awards were
    all reversed is left out. Most points first.
    """
    earned = ledger.earned_points(start, end)
    category = sa.case(
        (Activity.category.is_not(None), Activity.category),
        (earned.c.reference.startswith(CHECKIN_CATEGORY + ":"), CHECKIN_CATEGORY),
        else_="other",
    )
    rows = db.session.execute(
        sa.select(
            category,
            sa.func.sum(sa.case((earned.c.kind == "award", 1), else_=-1)),
            sa.func.sum(earned.c.points),
        )
        .select_from(earned)
        .outerjoin(Activity, Activity.id == earned.c.activity_id)
        .where(_scoped(earned.c.member_id, condition))
        .group_by(category)
    )
    totals = [(name, int(count or 0), int(issued or 0)) for name, count, issued in rows]
    return sorted((row for row in totals if row[1] or row[2]), key=lambda row: (-row[2], row[0]))


def _account_change(
    condition, kinds: tuple[str, ...], account: str, start: datetime | None, end: datetime
) -> int:
    """The change of one account through the subtree's transactions of some kinds in a period."""
    return int(
        db.session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(LedgerPosting.amount), 0))
            .join(LedgerTransaction, LedgerTransaction.id == LedgerPosting.transaction_id)
            .where(
                _in_period(kinds, start, end),
                LedgerPosting.account == account,
                _scoped(LedgerTransaction.member_id, condition),
            )
        )
        or 0
    )


def _held_at(condition, moment: datetime, now: datetime) -> int:
    """Points the subtree's open vouchers held at ``moment``: the cached balances now, less what
    was held, released and spent since (a handful of rows, not the whole history)."""
    held_now = int(
        db.session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(MemberBalance.held), 0)).where(
                _scoped(MemberBalance.member_id, condition)
            )
        )
        or 0
    )
    if moment >= now:
        return held_now
    return held_now - _account_change(condition, HELD_KINDS, "held", moment, now + timedelta(seconds=1))


def month_figures(
    actor: Member, moment: datetime, now: datetime, action: str = "member.manage"
) -> MonthFigures:
    """Figures of the month containing ``moment``, in the actor's subtree for ``action`` (403 if none).

    Points count in the month they were earned (``occurred_at``, as on the leaderboards): issued
    is awards less their reversals, redeemed is points spent at the counter, held is what open
    vouchers held at the month's end (or now); active members earned points in the month.
    """
    condition = scope_condition(actor, action)
    start, end = bounds_of("month", moment)
    until = min(end, now)
    figures = MonthFigures(start=start, end=end)
    figures.by_category = earned_by_category(condition, start, until)
    figures.issued = sum(points for _category, _count, points in figures.by_category)
    figures.redeemed = _account_change(condition, ("spend",), "redeemed", start, until)
    figures.held = _held_at(condition, until, now)
    earned = ledger.earned_points(start, until)
    figures.active_members = int(
        db.session.scalar(
            sa.select(sa.func.count(sa.distinct(earned.c.member_id))).where(
                earned.c.kind == "award", _scoped(earned.c.member_id, condition)
            )
        )
        or 0
    )
    return figures


def count_pending_claims(actor: Member, action: str = "claim.review") -> int:
    """Claims waiting for review from members in the actor's subtree."""
    return int(
        db.session.scalar(
            sa.select(sa.func.count(Contribution.id)).where(
                Contribution.status == "pending",
                _scoped(Contribution.member_id, scope_condition(actor, action)),
            )
        )
        or 0
    )

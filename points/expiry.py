"""Points expiry, where a deployment wants it (``POINTS_EXPIRE_MONTHS``; off by default).

Points not spent within that many calendar months of being earned lapse to the ``expired``
account, oldest first, when ``flask points expire`` runs (daily, from cron).

Lots: each award and each opening balance is a lot of points dated by its ``occurred_at``; an
award that was reversed is no lot. Whatever takes points from the available balance — a voucher
reserved (given back if it is cancelled or expires), a sale at the counter, a reversal, an
earlier expiry — takes them from the oldest lots first. The points a member has available are
therefore always their newest, and of ``available`` points the ones older than a cutoff number

    max(0, available − points of the lots earned since the cutoff).

That is what expires, in one ``expiry`` transaction per member (``available → expired``), never
more than is available and never held points (held points are not available). The transaction
issues nothing, so lifetime earned, boards and badges never change; the member's history shows
it as "expired", with the date before which the points were earned (its memo) and when.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import aliased

from core.audit import record_audit
from core.clock import months_before, shanghai_date
from core.database import begin_writing, utcnow
from core.extensions import db
from core.notifications import notify
from points import ledger
from points.alerts import MY_POINTS
from points.models import LedgerTransaction, MemberBalance

LOT_KINDS = ("award", "opening")


#: Members are told this many days before their points expire.
WARN_DAYS = 30


def expiry_months() -> int | None:
    """Months after which points expire here (None: they never do)."""
    return current_app.config.get("POINTS_EXPIRE_MONTHS")


def _expirable(cutoff: datetime, member_id: int | None = None):
    """(member id, points older than ``cutoff`` still available) for members who have any."""
    reversed_ = aliased(LedgerTransaction)
    recent = (
        sa.select(
            LedgerTransaction.member_id, sa.func.sum(LedgerTransaction.available_change).label("points")
        )
        .where(
            LedgerTransaction.kind.in_(LOT_KINDS),
            LedgerTransaction.occurred_at >= cutoff,
            ~sa.exists().where(reversed_.reverses_id == LedgerTransaction.id),
        )
        .group_by(LedgerTransaction.member_id)
    )
    if member_id is not None:
        recent = recent.where(LedgerTransaction.member_id == member_id)
    recent = recent.subquery()
    older = MemberBalance.available - sa.func.coalesce(recent.c.points, 0)
    statement = (
        sa.select(MemberBalance.member_id, older)
        .outerjoin(recent, recent.c.member_id == MemberBalance.member_id)
        .where(older > 0)
    )
    if member_id is not None:
        statement = statement.where(MemberBalance.member_id == member_id)
    return statement.order_by(MemberBalance.member_id)


def cutoff_at(now: datetime) -> datetime:
    """The moment before which points earned have expired by ``now``."""
    return months_before(now, expiry_months())


@dataclass(frozen=True)
class Expired:
    """What one run of expiry did."""

    members: int
    points: int
    earned_before: date | None


def expire_points(now: datetime | None = None) -> Expired:
    """Let every member's points earned before the cutoff lapse, oldest first (nothing when expiry is off).

    Each member is their own short transaction, counted again under their balance's lock, so a
    run never holds many locks, races nothing, and a second run right after expires nothing.
    """
    if expiry_months() is None:
        return Expired(0, 0, None)
    now = now or utcnow()
    cutoff = cutoff_at(now)
    members = points = 0
    for member_id, _older in db.session.execute(_expirable(cutoff)).all():
        db.session.rollback()
        begin_writing(db.session)
        ledger.lock_balances(member_id)
        row = db.session.execute(_expirable(cutoff, member_id)).first()
        if row is None:
            db.session.rollback()
            continue
        transaction = ledger.expire(
            member_id, int(row[1]), memo=shanghai_date(cutoff).isoformat(), occurred_at=now
        )
        record_audit(
            None,
            "points.expire",
            transaction,
            after={
                "member_id": member_id,
                "points": int(row[1]),
                "earned_before": shanghai_date(cutoff).isoformat(),
            },
        )
        db.session.commit()
        members, points = members + 1, points + int(row[1])
    return Expired(members, points, shanghai_date(cutoff))


@dataclass(frozen=True)
class Expiring:
    """Points of one member that will expire by a day unless spent first."""

    member_id: int
    points: int
    by: date


def points_expiring(
    within_days: int = 30, *, beyond_days: int = 0, now: datetime | None = None
) -> list[Expiring]:
    """Members whose points expire after ``beyond_days`` and by ``within_days`` days from now, and
    how many (none when expiry is off). Earning more never changes which points expire; spending
    takes the oldest first, so the figure only falls. Run daily with ``beyond_days=within_days - 1``,
    it names each member's points once, on the day they come within reach."""
    if expiry_months() is None:
        return []
    now = now or utcnow()
    by = now + timedelta(days=within_days)
    due = dict(db.session.execute(_expirable(cutoff_at(by))).all())
    already = dict(db.session.execute(_expirable(cutoff_at(now + timedelta(days=beyond_days)))).all())
    return [
        Expiring(member_id, int(points) - int(already.get(member_id, 0)), shanghai_date(by))
        for member_id, points in due.items()
        if int(points) > int(already.get(member_id, 0))
    ]


def warn_expiring(now: datetime | None = None) -> int:
    """Tell each member whose points come within 30 days of expiring today how many and by when,
    once (run daily, as ``flask points expire`` does); answer how many were told."""
    now = now or utcnow()
    due = points_expiring(WARN_DAYS, beyond_days=WARN_DAYS - 1, now=now)
    begin_writing(db.session)
    told = sum(
        notify(
            item.member_id,
            "points_expiring",
            f"points_expiring:{item.by.isoformat()}",
            link=MY_POINTS,
            points=item.points,
            expires_on=item.by.isoformat(),
        )
        for item in due
    )
    db.session.commit()
    return told

"""The honour roll (光荣榜): a closed month's ranks per org unit, written once and never changed."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from core.clock import last_month, parse_month, period_bounds
from core.database import begin_writing, utcnow
from core.errors import AppError
from core.extensions import db
from core.identity.models import Member, OrgUnit
from core.identity.services import get_org_unit, mask_name
from points.leaderboards.boards import Board, shared_ranks
from points.models import HonourRoll, HonourRollEntry


def close_month(month: str | None = None, *, top: int = 20, now: datetime | None = None) -> int:
    """Publish the month's top ``top`` of every org unit; units already closed stay as they were.

    Answers how many units were closed now. A month that has not ended yet is refused.
    """
    month = month or last_month(now)
    first = parse_month(month)
    _start, end = period_bounds("month", first)
    if end > (now or utcnow()):
        raise AppError(422, errors={"month": [f"{month} has not ended yet"]})
    begin_writing(db.session)
    closed = set(db.session.scalars(sa.select(HonourRoll.org_unit_id).where(HonourRoll.month == month)))
    count = 0
    for unit in db.session.scalars(sa.select(OrgUnit).order_by(OrgUnit.path)):
        if unit.id in closed:
            continue
        scope = Board(unit, month)
        rows = scope.top(top)
        members = {
            member.id: member
            for member in db.session.scalars(
                sa.select(Member).where(Member.id.in_([row.member_id for row in rows]))
            )
        }
        roll = HonourRoll(month=month, org_unit_id=unit.id, ranked=scope.count(), closed_at=utcnow())
        for position, (row, rank) in enumerate(zip(rows, shared_ranks([r.score for r in rows])), 1):
            member = members[row.member_id]
            grid = member.org_unit
            roll.entries.append(
                HonourRollEntry(
                    position=position,
                    rank=rank,
                    member_id=member.id,
                    display_name=mask_name(member.name),
                    anonymous=member.anonymous,
                    grid_id=grid.id if grid else None,
                    grid_name=grid.name if grid else None,
                    points=row.score,
                )
            )
        db.session.add(roll)
        count += 1
    db.session.commit()
    return count


def honour_roll(org_unit_id: int, month: str) -> dict:
    """Show a closed month's published honour roll of one org unit (404 until it is closed)."""
    unit = get_org_unit(org_unit_id)
    parse_month(month)
    roll = db.session.scalar(
        sa.select(HonourRoll).where(HonourRoll.month == month, HonourRoll.org_unit_id == unit.id)
    )
    if roll is None:
        raise AppError(
            404,
            message=_l("This month's honour roll has not been published yet."),
            errors={"month": [f"{month} is not closed for this org unit"]},
        )
    return {
        "month": month,
        "org_unit": {"id": unit.id, "name": unit.name},
        "closed_at": roll.closed_at,
        "ranked": roll.ranked,
        "entries": [
            {
                "rank": entry.rank,
                "display_name": _l("Anonymous") if entry.anonymous else entry.display_name,
                "org_unit": {"id": entry.grid_id, "name": entry.grid_name} if entry.grid_id else None,
                "points": entry.points,
            }
            for entry in roll.entries
        ],
    }


def closed_months(org_unit_id: int) -> list[str]:
    """List the months whose honour roll is published for an org unit, newest first."""
    return list(
        db.session.scalars(
            sa.select(HonourRoll.month)
            .where(HonourRoll.org_unit_id == org_unit_id)
            .order_by(HonourRoll.month.desc())
        )
    )

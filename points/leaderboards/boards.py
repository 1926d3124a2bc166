"""Member boards (top N plus "me") and org-unit boards (total and per resident)."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from core.clock import period_bounds, period_key, shanghai_today
from core.extensions import db
from core.identity.models import Member, OrgUnit, on_boards
from core.identity.services import get_org_unit
from points.leaderboards.totals import SCOPES, Scope, display_name
from points.models import SCOPE_DEPTHS, LeaderboardTotal


def board_period(period: str, at: date | None) -> tuple[str, dict]:
    """Return the period's key and its {start, end} for the day ``at`` (default today)."""
    day = at or shanghai_today()
    start, end = period_bounds(period, day)
    return period_key(period, day), {"start": start, "end": end}


def shared_ranks(values: list, first_rank: int = 1) -> list[int]:
    """Rank values already in board order: equal values share a rank (1, 2, 2, 4)."""
    ranks = []
    for position, value in enumerate(values):
        ranks.append(ranks[-1] if position and value == values[position - 1] else first_rank + position)
    return ranks


def board_entries(rows: list[LeaderboardTotal], ranks: list[int], viewer_id: int | None = None) -> list[dict]:
    """Dress totals rows as public board entries: masked name, grid, points (one query)."""
    people = {
        member_id: (name, anonymous, grid_id, grid_name)
        for member_id, name, anonymous, grid_id, grid_name in db.session.execute(
            sa.select(Member.id, Member.name, Member.anonymous, OrgUnit.id, OrgUnit.name)
            .outerjoin(OrgUnit, Member.org_unit_id == OrgUnit.id)
            .where(Member.id.in_([row.member_id for row in rows]))
        )
    }
    entries = []
    for row, rank in zip(rows, ranks):
        name, anonymous, grid_id, grid_name = people[row.member_id]
        entries.append(
            {
                "rank": rank,
                "display_name": display_name(name, anonymous),
                "org_unit": {"id": grid_id, "name": grid_name} if grid_id else None,
                "points": row.score,
                "is_me": row.member_id == viewer_id,
            }
        )
    return entries


def _me(viewer: Member, scope: Scope) -> dict | None:
    """The viewer's place on the board: rank, points, how many ranked, to pass the next, neighbours."""
    if viewer.is_staff:
        return None
    row = db.session.get(LeaderboardTotal, (viewer.id, scope.key))
    in_scope = row is not None and (scope.unit is None or getattr(row, scope.column.key) == scope.unit.id)
    me = {
        "rank": None,
        "points": row.score if in_scope else 0,
        "total": scope.total(),
        "to_next": None,
        "above": None,
        "below": None,
    }
    if not scope.contains(row):
        return me
    me["rank"] = scope.count_above(row.score) + 1

    above, below = scope.above(row), scope.below(row)
    # No score lies between a neighbour's and mine: their rank follows from one tie group's size.
    ranks = [
        me["rank"] if above is None or above.score == row.score else me["rank"] - scope.count_at(above.score),
        me["rank"] if below is None or below.score == row.score else me["rank"] + scope.count_at(row.score),
    ]
    neighbours = [(other, rank) for other, rank in zip((above, below), ranks) if other is not None]
    dressed = iter(
        board_entries([other for other, _rank in neighbours], [rank for _other, rank in neighbours])
    )
    me["above"] = next(dressed) if above is not None else None
    me["below"] = next(dressed) if below is not None else None
    if above is not None and me["rank"] > 1:
        me["to_next"] = above.score - row.score + 1
    return me


def member_board(
    viewer: Member, org_unit_id: int | None, period: str = "month", at: date | None = None, limit: int = 50
) -> dict:
    """Rank the members of an org unit's subtree by points earned in a period; add "me"."""
    unit = get_org_unit(org_unit_id) if org_unit_id is not None else None
    key, bounds = board_period(period, at)
    scope = Scope(unit, key)
    rows = scope.top(limit)
    return {
        "period": {"name": period, "key": key, **bounds},
        "org_unit": {"id": unit.id, "name": unit.name} if unit else None,
        "entries": board_entries(rows, shared_ranks([row.score for row in rows]), viewer.id),
        "me": _me(viewer, scope),
    }


def org_unit_board(
    parent_id: int | None, period: str = "month", at: date | None = None, metric: str = "total"
) -> dict:
    """Rank the children of an org unit (the roots when None) by points, total or per resident."""
    parent = get_org_unit(parent_id, "parent_id") if parent_id is not None else None
    key, bounds = board_period(period, at)
    children = list(
        db.session.scalars(
            sa.select(OrgUnit)
            .where(OrgUnit.parent_id == parent.id if parent else OrgUnit.parent_id.is_(None))
            .order_by(OrgUnit.id)
        )
    )
    depth = parent.depth + 1 if parent else 0
    points, residents = {}, {}
    if children and depth < SCOPE_DEPTHS:
        column = getattr(LeaderboardTotal, SCOPES[depth])
        points = dict(
            db.session.execute(
                sa.select(column, sa.func.sum(LeaderboardTotal.score))
                .where(
                    LeaderboardTotal.period_key == key,
                    LeaderboardTotal.eligible == sa.true(),
                    column.in_([child.id for child in children]),
                )
                .group_by(column)
            ).all()
        )
        child, below = sa.orm.aliased(OrgUnit), sa.orm.aliased(OrgUnit)
        residents = dict(
            db.session.execute(
                sa.select(child.id, sa.func.count(Member.id))
                .join(below, below.path.startswith(child.path))
                .join(Member, Member.org_unit_id == below.id)
                .where(child.id.in_([unit.id for unit in children]), on_boards())
                .group_by(child.id)
            ).all()
        )
    entries = []
    for unit in children:
        total, people = int(points.get(unit.id) or 0), int(residents.get(unit.id) or 0)
        entries.append(
            {
                "org_unit": {"id": unit.id, "name": unit.name},
                "points": total,
                "residents": people,
                "per_capita": round(total / people, 2) if people else 0.0,
            }
        )
    field = "points" if metric == "total" else "per_capita"
    entries.sort(key=lambda entry: (-entry[field], entry["org_unit"]["id"]))
    for entry, rank in zip(entries, shared_ranks([entry[field] for entry in entries])):
        entry["rank"] = rank
    return {
        "period": {"name": period, "key": key, **bounds},
        "metric": metric,
        "parent": {"id": parent.id, "name": parent.name} if parent else None,
        "entries": entries,
    }


def board_areas(member: Member) -> list[OrgUnit]:
    """The areas a member can switch between: their county down to their grid (the roots for staff)."""
    if member.org_unit is None:
        return list(
            db.session.scalars(sa.select(OrgUnit).where(OrgUnit.parent_id.is_(None)).order_by(OrgUnit.id))
        )
    ids = [int(part) for part in member.org_unit.path.strip("/").split("/")]
    units = {unit.id: unit for unit in db.session.scalars(sa.select(OrgUnit).where(OrgUnit.id.in_(ids)))}
    return [units[unit_id] for unit_id in ids if unit_id in units]

"""Member boards (top N plus "me") and org-unit boards (total and per resident)."""

from __future__ import annotations

import bisect
import threading
import time as clock
from datetime import date

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from core.clock import period_bounds, period_key, shanghai_today
from core.extensions import db
from core.identity.models import Member, OrgUnit, on_boards
from core.identity.services import get_org_unit, mask_name
from points.leaderboards.totals import ORDER, SCOPES
from points.models import SCOPE_DEPTHS, LeaderboardTotal

# --- reading boards ------------------------------------------------------------------------


def display_name(name: str, anonymous: bool):
    """The name a public board shows: masked, or 匿名 for a member who chose anonymity."""
    return _l("Anonymous") if anonymous else mask_name(name)


class Board:
    """One board: the members of an org unit's subtree (or everyone) in one period."""

    def __init__(self, unit: OrgUnit | None, key: str):
        self.unit, self.key = unit, key
        self.column = (
            LeaderboardTotal.scope0_id if unit is None else getattr(LeaderboardTotal, SCOPES[unit.depth])
        )

    def where(self, *conditions) -> list:
        """The conditions of this board's ranked rows, plus ``conditions``."""
        scope = [self.column == self.unit.id] if self.unit is not None else []
        return [
            LeaderboardTotal.period_key == self.key,
            LeaderboardTotal.eligible == sa.true(),
            *scope,
            LeaderboardTotal.score > 0,
            *conditions,
        ]

    def contains(self, row: LeaderboardTotal | None) -> bool:
        """Tell whether a totals row is ranked on this board."""
        return (
            row is not None
            and row.eligible
            and row.score > 0
            and (self.unit is None or getattr(row, self.column.key) == self.unit.id)
        )

    def first(self, *conditions, order=ORDER) -> LeaderboardTotal | None:
        """The first ranked row meeting ``conditions`` in ``order``."""
        return db.session.scalar(
            sa.select(LeaderboardTotal).where(*self.where(*conditions)).order_by(*order).limit(1)
        )

    def top(self, limit: int) -> list[LeaderboardTotal]:
        """The first ``limit`` rows in board order."""
        return list(
            db.session.scalars(sa.select(LeaderboardTotal).where(*self.where()).order_by(*ORDER).limit(limit))
        )

    def count(self, *conditions, limit: int | None = None) -> int | None:
        """Count ranked rows meeting ``conditions``; None when there are more than ``limit``."""
        inner = sa.select(sa.literal(1)).where(*self.where(*conditions))
        if limit is not None:
            inner = inner.limit(limit + 1)
        found = db.session.scalar(sa.select(sa.func.count()).select_from(inner.subquery()))
        return None if limit is not None and found > limit else found

    def _counted(self, condition, low: int, high: int | None) -> int:
        """Count ranked rows with ``low < score <= high`` (``condition``): in the index while few,
        else from the histogram — straight away when a fresh histogram already says there are many."""
        limit = _setting("LEADERBOARD_EXACT_COUNT")
        known = HISTOGRAMS.between(self, low, high, fresh_only=True)
        if known is None or known <= 2 * limit:
            exact = self.count(condition, limit=limit)
            if exact is not None:
                return exact
        return HISTOGRAMS.between(self, low, high)

    def count_above(self, score: int) -> int:
        """How many ranked members have more than ``score`` points."""
        return self._counted(LeaderboardTotal.score > score, score, None)

    def count_at(self, score: int) -> int:
        """How many ranked members have exactly ``score`` points."""
        return self._counted(LeaderboardTotal.score == score, score - 1, score)

    def total(self) -> int:
        """How many members are ranked on this board."""
        return self._counted(sa.true(), 0, None)

    def histogram(self) -> list[tuple[int, int]]:
        """Scores and how many ranked members hold each, lowest first."""
        return [
            (score, members)
            for score, members in db.session.execute(
                sa.select(LeaderboardTotal.score, sa.func.count())
                .where(*self.where())
                .group_by(LeaderboardTotal.score)
                .order_by(LeaderboardTotal.score)
            )
        ]

    def above(self, row: LeaderboardTotal) -> LeaderboardTotal | None:
        """The member just above ``row`` in board order."""
        return self.first(
            LeaderboardTotal.score == row.score,
            _tie_key() > _tie_key(row),
            order=(LeaderboardTotal.reach_key, LeaderboardTotal.member_id),
        ) or self.first(
            LeaderboardTotal.score > row.score,
            order=(LeaderboardTotal.score, LeaderboardTotal.reach_key, LeaderboardTotal.member_id),
        )

    def below(self, row: LeaderboardTotal) -> LeaderboardTotal | None:
        """The member just below ``row`` in board order."""
        return self.first(
            LeaderboardTotal.score == row.score, _tie_key() < _tie_key(row), order=ORDER[1:]
        ) or self.first(LeaderboardTotal.score < row.score)


def _tie_key(row: LeaderboardTotal | None = None):
    """(reach_key, member_id) of a row, or of the table's columns when no row is given."""
    if row is None:
        return sa.tuple_(LeaderboardTotal.reach_key, LeaderboardTotal.member_id)
    return sa.tuple_(sa.literal(row.reach_key, sa.BigInteger), sa.literal(row.member_id))


def _setting(name: str) -> int:
    """A leaderboard setting from the app's config (declared in ``core.config.SETTINGS``)."""
    return int(current_app.config[name])


class HistogramCache:
    """Per-worker score histograms of large boards, refreshed every few seconds."""

    def __init__(self):
        self._lock = threading.Lock()
        self._boards: dict[tuple, tuple[float, list[int], list[int]]] = {}

    def clear(self) -> None:
        """Forget every histogram (tests; after a rebuild)."""
        with self._lock:
            self._boards.clear()

    def between(self, scope: Board, low: int, high: int | None, fresh_only: bool = False) -> int | None:
        """How many ranked members of ``scope`` have ``low < points <= high`` (no ``high``: any above).

        With ``fresh_only``, answer None rather than build a missing or stale histogram.
        """
        key = (str(db.session.get_bind().url), scope.key, scope.unit.id if scope.unit else None)
        with self._lock:
            cached = self._boards.get(key)
        if cached is None or cached[0] < clock.monotonic():
            if fresh_only:
                return None
            histogram = scope.histogram()
            scores = [score for score, _members in histogram]
            above = [0] * (len(histogram) + 1)
            for index in range(len(histogram) - 1, -1, -1):
                above[index] = above[index + 1] + histogram[index][1]
            cached = (clock.monotonic() + _setting("LEADERBOARD_HISTOGRAM_SECONDS"), scores, above)
            with self._lock:
                self._boards[key] = cached
        _expires, scores, above = cached
        count = above[bisect.bisect_right(scores, low)]
        return count if high is None else count - above[bisect.bisect_right(scores, high)]


HISTOGRAMS = HistogramCache()


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


def _me(viewer: Member, scope: Board) -> dict | None:
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
    scope = Board(unit, key)
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

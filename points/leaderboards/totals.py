"""Leaderboards: per-member period totals kept in the award's transaction, boards, honour rolls.

The read model is ``LeaderboardTotal``: one row per member and period (week, month,
quarter, year, all time), each point counted in the period of its ``occurred_at`` in
Asia/Shanghai; a reversal counts in the periods of the award it reverses. ``record_earning``
(a ledger subscriber, see app.py) upserts only its own member's rows, all five in one
statement (no shared row, so awards never wait on each other). Each row carries the member's
org-unit ids by depth (``scope0_id``…) and an ``eligible`` flag (not staff, hidden or
suspended); the identity services call ``refresh_members`` and ``refresh_subtree`` (through
the hooks app.py registers) whenever a member, a role grant or an org unit's place changes,
so every board is one index range.

"How many are above me" is counted in the index while that is cheap (up to
``LEADERBOARD_EXACT_COUNT`` rows); deeper down a county-wide board it is read from a
score histogram of the scope that each worker refreshes every
``LEADERBOARD_HISTOGRAM_SECONDS`` (totals for org units are "refreshed within seconds").
"""

from __future__ import annotations

import bisect
import threading
import time as clock
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from core.clock import PERIODS, period_keys
from core.database import UTCDateTime
from core.extensions import db
from core.identity.models import Member, OrgUnit, on_boards
from core.identity.services import mask_name
from points.ledger import Posted, earned_points
from points.models import SCOPE_DEPTHS, LeaderboardTotal

METRICS = ("total", "per_capita")
SCOPES = tuple(f"scope{depth}_id" for depth in range(SCOPE_DEPTHS))
#: Board order: most points first; among equals, who reached the score first (then the higher id).
ORDER = (LeaderboardTotal.score.desc(), LeaderboardTotal.reach_key.desc(), LeaderboardTotal.member_id.desc())
CHUNK = 5000


# --- the read model: facts about members, the ledger's subscriber, identity changes --------


def reach_key(moment: datetime) -> int:
    """The sort key of the time a score was reached: earlier times are larger keys."""
    return -(int(moment.timestamp()) * 1_000_000 + moment.microsecond)


def scopes_of(path: str | None) -> dict[str, int | None]:
    """Turn an org-unit path "/1/4/9/" into the scope columns of a totals row."""
    ids = [int(part) for part in (path or "").strip("/").split("/") if part]
    return {column: (ids[depth] if depth < len(ids) else None) for depth, column in enumerate(SCOPES)}


def member_facts(member_ids) -> dict[int, dict]:
    """Answer each member's ``eligible`` flag and scope columns, read from identity's tables."""
    facts = {}
    member_ids = list(member_ids)
    for start in range(0, len(member_ids), CHUNK):
        chunk = member_ids[start : start + CHUNK]
        for member_id, eligible, path in db.session.execute(
            sa.select(Member.id, on_boards(), OrgUnit.path)
            .outerjoin(OrgUnit, Member.org_unit_id == OrgUnit.id)
            .where(Member.id.in_(chunk))
        ):
            facts[member_id] = {"eligible": bool(eligible), **scopes_of(path)}
    return facts


# Built once from the table's own column names; every value is a bound parameter.
_FACTS = ", ".join(["eligible", *SCOPES])
_UPSERT = (
    f"INSERT INTO leaderboard_total (member_id, period_key, score, reached_at, reach_key, {_FACTS}) {{rows}} "  # nosec B608
    "ON CONFLICT (member_id, period_key) DO UPDATE SET score = leaderboard_total.score + excluded.score, "
    "reached_at = excluded.reached_at, reach_key = excluded.reach_key"
)
_TYPES = (sa.bindparam("reached_at", type_=UTCDateTime),)
#: The five periods' rows at once, with the member's facts copied from their all-time row
#: (nothing is inserted when the member has none yet: their first earning).
_EARN_KNOWN = sa.text(
    _UPSERT.format(
        rows=(
            "SELECT :member_id, period.key, :score, :reached_at, :reach_key, "  # nosec B608: names from SCOPES
            + ", ".join(f"known.{column}" for column in ["eligible", *SCOPES])
            + " FROM leaderboard_total AS known, ("
            + " UNION ALL ".join(f"SELECT :key{index} AS key" for index in range(len(PERIODS)))
            + ") AS period WHERE known.member_id = :member_id AND known.period_key = 'all'"
        )
    )
).bindparams(*_TYPES)
#: One period's row with the facts given (a member's first earning), for executemany.
_EARN_NEW = sa.text(
    _UPSERT.format(
        rows=(
            "VALUES (:member_id, :key, :score, :reached_at, :reach_key, "
            + ", ".join(f":{column}" for column in ["eligible", *SCOPES])
            + ")"
        )
    )
).bindparams(*_TYPES)


def record_earning(posted: Posted) -> None:
    """Add an award's points (or take a reversal's back) to the member's totals of its periods.

    A ledger subscriber: called inside the posting's transaction, under the member's balance lock.
    """
    if posted.earned == 0:
        return
    keys = period_keys(posted.occurred_at)
    values = {
        "member_id": posted.member_id,
        "score": posted.earned,
        "reached_at": posted.created_at,
        "reach_key": reach_key(posted.created_at),
    }
    written = db.session.execute(
        _EARN_KNOWN, {**values, **{f"key{index}": key for index, key in enumerate(keys)}}
    )
    if written.rowcount == 0:
        facts = member_facts([posted.member_id])[posted.member_id]
        db.session.execute(_EARN_NEW, [{**values, **facts, "key": key} for key in keys])


def refresh_members(member_ids) -> None:
    """Bring the eligibility and scopes on these members' totals rows up to date."""
    table = LeaderboardTotal.__table__
    for member_id, facts in member_facts(member_ids).items():
        db.session.execute(sa.update(table).where(table.c.member_id == member_id).values(**facts))


def refresh_subtree(unit_ids) -> None:
    """Re-derive the scope columns of every member below units that moved in the tree."""
    table = LeaderboardTotal.__table__
    for unit_id in unit_ids:
        # Read the path from the database: a move rewrites paths in bulk, behind the session's back.
        root_path = db.session.scalar(sa.select(OrgUnit.path).where(OrgUnit.id == unit_id))
        if root_path is None:
            continue
        for unit_id_below, path in db.session.execute(
            sa.select(OrgUnit.id, OrgUnit.path).where(OrgUnit.path.startswith(root_path))
        ):
            db.session.execute(
                sa.update(table)
                .where(table.c.member_id.in_(sa.select(Member.id).where(Member.org_unit_id == unit_id_below)))
                .values(**scopes_of(path))
            )


def earned_rows():
    """Yield (member id, occurred_at, created_at, points) for every award (+) and reversal (−)."""
    earned = earned_points()
    return db.session.execute(
        sa.select(
            earned.c.member_id, earned.c.occurred_at, earned.c.created_at, earned.c.points
        ).execution_options(yield_per=10000)
    )


def expected_totals() -> dict[tuple[int, str], dict]:
    """Derive every totals row from the ledger (what the read model should hold)."""
    totals: dict[tuple[int, str], list] = {}
    for member_id, occurred_at, created_at, points in earned_rows():
        for key in period_keys(occurred_at):
            row = totals.setdefault((member_id, key), [0, created_at])
            row[0] += points
            row[1] = max(row[1], created_at)
    facts = member_facts(sorted({member_id for member_id, _key in totals}))
    return {
        (member_id, key): {
            "member_id": member_id,
            "period_key": key,
            "score": score,
            "reached_at": reached_at,
            "reach_key": reach_key(reached_at),
            **facts[member_id],
        }
        for (member_id, key), (score, reached_at) in totals.items()
    }


def rebuild_totals() -> dict:
    """Rebuild the read model from the ledger; answer how many rows there are and how many changed."""
    from core.database import begin_writing

    begin_writing(db.session)
    wanted = expected_totals()
    table = LeaderboardTotal.__table__
    have = {
        (row["member_id"], row["period_key"]): dict(row)
        for row in db.session.execute(sa.select(table)).mappings()
    }
    wrong = [key for key, row in have.items() if wanted.get(key) != row]
    missing = [row for key, row in wanted.items() if have.get(key) != row]
    for start in range(0, len(wrong), CHUNK):
        db.session.execute(
            sa.delete(table).where(
                sa.tuple_(table.c.member_id, table.c.period_key).in_(wrong[start : start + CHUNK])
            )
        )
    for start in range(0, len(missing), CHUNK):
        db.session.execute(sa.insert(table), missing[start : start + CHUNK])
    db.session.commit()
    return {
        "rows": len(wanted),
        "changed": len(set(wrong) | {(r["member_id"], r["period_key"]) for r in missing}),
    }


# --- reading boards ------------------------------------------------------------------------


def display_name(name: str, anonymous: bool):
    """The name a public board shows: masked, or 匿名 for a member who chose anonymity."""
    return _l("Anonymous") if anonymous else mask_name(name)


class Scope:
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

    def between(self, scope: Scope, low: int, high: int | None, fresh_only: bool = False) -> int | None:
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

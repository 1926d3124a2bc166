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

from datetime import datetime

import sqlalchemy as sa

from core.clock import PERIODS, period_keys
from core.database import UTCDateTime
from core.extensions import db
from core.identity.models import Member, OrgUnit, on_boards
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

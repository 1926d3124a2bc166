"""Budgets: the most points an org unit's subtree may be awarded in a calendar year, and their use.

A budget counts the awards whose ``occurred_at`` falls in its Asia/Shanghai year and whose org
unit (the member's grid when the points were earned, kept on the ledger transaction) lies in its
unit's subtree, net of their reversals. ``charge_budgets`` is a ledger subscriber (app.py registers
it first), so every award is covered whatever path posts it — contributions, event check-ins, the
daily check-in and any later one — and an award that would pass the budget of any unit on its
path is refused whole with 409 ``budget_exhausted``.

Awards in different grids never queue on one county-wide row: a budget is leased out in
**allotments**, one row per (budget, grid). An award adds its points to its own grid's allotment
with one guarded ``UPDATE … WHERE granted - used >= points``, which locks that row alone. Only when
the allotment runs short does the award lock the budget's own row to lease more: what it lacks
plus ``BUDGET_LEASE_POINTS`` (never more than 1/64 of what is still free, so the last of a budget
is handed out in ever smaller pieces). When the budget has too little left unleased, the award
takes every grid's spare allotment back (``granted = used``) and decides on the exact remainder.
So the total used never passes the budget (each allotment's ``used <= granted`` is a check
constraint, and the granted sum to the budget's ``allotted``), and far from the limit an award
touches the budget's row once in ``BUDGET_LEASE_POINTS`` of its grid's points.

Locks, always in this order: the member's balance (the ledger), then budgets by id; within a
budget either one allotment (a guarded update that, failing, locks nothing) or the budget's row
first and then allotments. Creating a budget, or an org unit moving in the tree, counts the
awards already made from the ledger while the ledger takes no new posting (PostgreSQL: a SHARE
lock on ``ledger_transaction``; SQLite writes one at a time anyway), so nothing slips between
the count and the first lease.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from core.audit import record_audit
from core.clock import period_bounds, shanghai_date
from core.database import begin_writing, utcnow
from core.errors import AppError
from core.extensions import db
from core.identity.access import require, scope_condition
from core.identity.models import Member, OrgUnit
from core.identity.services import get_org_unit
from points.ledger import Posted, earned_points
from points.models import Budget, BudgetAllotment

FIRST_YEAR, LAST_YEAR = 2000, 2100
#: No lease takes more than this share of what a budget has not leased out yet.
LEASE_SHARE = 64
#: Share of a budget used at which the console warns.
WARN_AT = 0.8

_allotment = BudgetAllotment.__table__
_budget = Budget.__table__

#: The budgets of a year on an org unit's path (the unit itself and every unit above it), by id.
_owner, _earner = aliased(OrgUnit), aliased(OrgUnit)
_ON_PATH = (
    sa.select(_budget.c.id)
    .join(_owner, _owner.id == _budget.c.org_unit_id)
    .join(_earner, _earner.id == sa.bindparam("unit_id"))
    .where(_budget.c.year == sa.bindparam("year"), _earner.path.startswith(_owner.path))
    .order_by(_budget.c.id)
)
#: Use (or, with negative points, give back) part of a grid's allotment, if it has enough spare.
_USE = (
    sa.update(_allotment)
    .where(
        _allotment.c.budget_id == sa.bindparam("budget"),
        _allotment.c.org_unit_id == sa.bindparam("unit"),
        _allotment.c.granted - _allotment.c.used >= sa.bindparam("points"),
    )
    .values(used=_allotment.c.used + sa.bindparam("points"))
)
_LOCK_BUDGET = (
    sa.select(_budget.c.points, _budget.c.allotted)
    .where(_budget.c.id == sa.bindparam("budget"))
    .with_for_update()
)
_NEW_ALLOTMENT = sa.text(
    "INSERT INTO budget_allotment (budget_id, org_unit_id, granted, used) "
    "VALUES (:budget, :unit, 0, 0) ON CONFLICT (budget_id, org_unit_id) DO NOTHING"
)
_LOCK_ALLOTMENT = (
    sa.select(_allotment.c.granted, _allotment.c.used)
    .where(_allotment.c.budget_id == sa.bindparam("budget"), _allotment.c.org_unit_id == sa.bindparam("unit"))
    .with_for_update()
)


# --- the award path ------------------------------------------------------------------------------


def charge_budgets(posted: Posted) -> None:
    """Count an award (or give a reversal's points back) in every budget on its org unit's path;
    refuse an award that would pass one. A ledger subscriber, inside the posting's transaction."""
    if posted.earned == 0 or posted.org_unit_id is None:
        return
    year = shanghai_date(posted.occurred_at).year
    for budget_id in db.session.scalars(_ON_PATH, {"year": year, "unit_id": posted.org_unit_id}).all():
        values = {"budget": budget_id, "unit": posted.org_unit_id, "points": posted.earned}
        if posted.earned < 0:
            _give_back(values)
        elif db.session.execute(_USE, values).rowcount == 0:
            _lease(budget_id, posted.org_unit_id, posted.earned)


def _give_back(values: dict) -> None:
    """Give a reversal's points back to its grid's allotment (none there: they were never counted
    here). A budget lowered below what it had leased out (its row locked first) takes the spare
    back at once, so no later award slips through on points the budget no longer has."""
    points, allotted = db.session.execute(_LOCK_BUDGET, values).one()
    db.session.execute(_USE, values)
    if allotted > points:
        _take_back_spare(values["budget"])


def _lease(budget_id: int, unit_id: int, points: int) -> None:
    """Lease what a grid's allotment lacks for an award, from the budget (its row locked); near the
    limit, first take every grid's spare allotment back. Refuse an award that would pass the budget."""
    budget_points, allotted = db.session.execute(_LOCK_BUDGET, {"budget": budget_id}).one()
    keys = {"budget": budget_id, "unit": unit_id}
    db.session.execute(_NEW_ALLOTMENT, keys)
    granted, used = db.session.execute(_LOCK_ALLOTMENT, keys).one()
    lease = 0
    if granted - used < points:  # (another award of the grid may have leased while this one waited)
        need, free = points - (granted - used), budget_points - allotted
        if need > free:
            allotted = _take_back_spare(budget_id)
            need, free = points, budget_points - allotted
        if need > free:
            raise budget_exhausted(budget_id, points, free)
        lease = need + min(current_app.config["BUDGET_LEASE_POINTS"], (free - need) // LEASE_SHARE)
        db.session.execute(
            sa.update(_budget).where(_budget.c.id == budget_id).values(allotted=allotted + lease)
        )
    db.session.execute(
        sa.update(_allotment)
        .where(_allotment.c.budget_id == budget_id, _allotment.c.org_unit_id == unit_id)
        .values(granted=_allotment.c.granted + lease, used=_allotment.c.used + points)
    )


def _take_back_spare(budget_id: int) -> int:
    """Take every grid's spare allotment of a locked budget back; answer what stays leased (all used)."""
    db.session.execute(
        sa.update(_allotment)
        .where(_allotment.c.budget_id == budget_id, _allotment.c.granted > _allotment.c.used)
        .values(granted=_allotment.c.used)
    )
    allotted = int(
        db.session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(_allotment.c.granted), 0)).where(
                _allotment.c.budget_id == budget_id
            )
        )
    )
    db.session.execute(sa.update(_budget).where(_budget.c.id == budget_id).values(allotted=allotted))
    return allotted


def budget_exhausted(budget_id: int, asked: int, left: int) -> AppError:
    """The refusal of an award that would pass a budget, naming the unit, the year and what is left."""
    name, year, points = db.session.execute(
        sa.select(OrgUnit.name, _budget.c.year, _budget.c.points)
        .join(OrgUnit, OrgUnit.id == _budget.c.org_unit_id)
        .where(_budget.c.id == budget_id)
    ).one()
    return AppError(
        409,
        "budget_exhausted",
        _l("The points budget of %(unit)s for %(year)s is used up.", unit=name, year=year),
        {"points": [f"{name} {year}: {max(left, 0)} of {points} points left, {asked} asked"]},
    )


# --- counting from the ledger ------------------------------------------------------------------


def awarded_by_unit(unit: OrgUnit, year: int) -> dict[int, int]:
    """Points awarded in a year (net of reversals) in each org unit of a subtree, read from the ledger."""
    earned = earned_points(*period_bounds("year", date(year, 1, 1)))
    rows = db.session.execute(
        sa.select(earned.c.org_unit_id, sa.func.sum(earned.c.points))
        .join(OrgUnit, OrgUnit.id == earned.c.org_unit_id)
        .where(OrgUnit.path.startswith(unit.path))
        .group_by(earned.c.org_unit_id)
    )
    return {unit_id: int(points) for unit_id, points in rows if points}


def _hold_the_ledger() -> None:
    """Keep new postings out until this transaction ends (PostgreSQL; SQLite has one writer anyway)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.text("LOCK TABLE ledger_transaction IN SHARE MODE"))


def _count_from_ledger(budget: Budget) -> None:
    """Give a budget one allotment per org unit, exactly what awards there already used."""
    db.session.execute(sa.delete(_allotment).where(_allotment.c.budget_id == budget.id))
    used = awarded_by_unit(budget.org_unit, budget.year)
    if used:
        db.session.execute(
            sa.insert(_allotment),
            [
                {"budget_id": budget.id, "org_unit_id": unit_id, "granted": points, "used": points}
                for unit_id, points in used.items()
            ],
        )
    budget.allotted = sum(used.values())


def recount_budgets(unit_ids: list[int]) -> None:
    """Count again, from the ledger, the budgets whose subtree gained or lost org units that moved.

    Registered in app.py for identity's ``units_moved``, in the move's transaction.
    """
    moved = db.session.scalars(
        sa.select(OrgUnit)
        .where(OrgUnit.id.in_(unit_ids))  # paths as moved
        .execution_options(populate_existing=True)
    ).all()
    if not moved:
        return
    owner, earner = aliased(OrgUnit), aliased(OrgUnit)
    counted_inside = (
        sa.select(_allotment.c.budget_id)
        .join(earner, earner.id == _allotment.c.org_unit_id)
        .where(sa.or_(*[earner.path.startswith(unit.path) for unit in moved]))
    )
    above_now = sa.or_(*[sa.literal(unit.path).startswith(owner.path) for unit in moved])
    moved_too = sa.or_(*[owner.path.startswith(unit.path) for unit in moved])
    affected = db.session.scalars(
        sa.select(Budget)
        .join(owner, owner.id == Budget.org_unit_id)
        .where(sa.or_(Budget.id.in_(counted_inside), above_now), ~moved_too)
        .order_by(Budget.id)
        .with_for_update(of=Budget)
    ).all()
    if affected:
        _hold_the_ledger()
    for budget in affected:
        _count_from_ledger(budget)


# --- reading and setting -------------------------------------------------------------------------


@dataclass
class BudgetUse:
    """A budget as the API and the console show it."""

    org_unit: OrgUnit
    year: int
    points: int
    awarded: int
    updated_at: object

    @property
    def remaining(self) -> int:
        """Points that may still be awarded (none once the budget is used up or lowered below its use)."""
        return max(self.points - self.awarded, 0)

    @property
    def share(self) -> float:
        """The share of the budget used (0 for a budget of no points that nothing used)."""
        return self.awarded / self.points if self.points else float(self.awarded > 0)

    @property
    def warning(self) -> bool:
        """Whether the console should warn: 80 % or more used."""
        return self.share >= WARN_AT


def _check_year(year: int) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise AppError(422, errors={"year": [f"a year from {FIRST_YEAR} to {LAST_YEAR}"]})


def _awarded(budget_id: int) -> int:
    return int(
        db.session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(_allotment.c.used), 0)).where(
                _allotment.c.budget_id == budget_id
            )
        )
    )


def _use_of(budget: Budget) -> BudgetUse:
    return BudgetUse(budget.org_unit, budget.year, budget.points, _awarded(budget.id), budget.updated_at)


def read_budget(actor: Member, org_unit_id: int, year: int) -> BudgetUse:
    """An org unit's budget for a year with what is awarded and remains (organisers and admins in scope)."""
    _check_year(year)
    unit = get_org_unit(org_unit_id)
    require(actor, "budget.read", unit)
    budget = db.session.scalar(sa.select(Budget).where(Budget.org_unit_id == unit.id, Budget.year == year))
    if budget is None:
        raise AppError(404, errors={"year": [f"no budget set for {unit.name} in {year}"]})
    return _use_of(budget)


def set_budget(actor: Member, org_unit_id: int, year: int, points: int) -> BudgetUse:
    """Set (or change) an org unit's budget for a year (admins in scope); a new budget starts with
    the awards its subtree already had that year."""
    _check_year(year)
    unit = get_org_unit(org_unit_id)
    require(actor, "budget.manage", unit)
    for attempt in (1, 2):  # two first settings at once: the loser finds the winner's row and changes it
        try:
            return _set_budget(actor, unit, year, points)
        except IntegrityError:
            db.session.rollback()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _set_budget(actor: Member, unit: OrgUnit, year: int, points: int) -> BudgetUse:
    begin_writing(db.session)
    budget = db.session.scalar(
        sa.select(Budget)
        .where(Budget.org_unit_id == unit.id, Budget.year == year)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    before = None if budget is None else {"points": budget.points}
    if budget is None:
        _hold_the_ledger()
        budget = Budget(org_unit=unit, year=year, points=points, allotted=0)
        db.session.add(budget)
        db.session.flush()
        _count_from_ledger(budget)
    else:
        _take_back_spare(budget.id)  # no grid keeps a lease the new figure may not cover
        db.session.refresh(budget, ["allotted"])
        budget.points = points
    budget.updated_by_id, budget.updated_at = actor.id, utcnow()
    record_audit(
        actor,
        "budget.set",
        budget,
        before=before,
        after={"org_unit_id": unit.id, "year": year, "points": points},
    )
    db.session.commit()
    return _use_of(budget)


def list_budgets(actor: Member, year: int) -> list[BudgetUse]:
    """Every budget of a year on org units the actor may read budgets of, in tree order."""
    _check_year(year)
    used = (
        sa.select(_allotment.c.budget_id, sa.func.sum(_allotment.c.used).label("awarded"))
        .group_by(_allotment.c.budget_id)
        .subquery()
    )
    rows = db.session.execute(
        sa.select(Budget, OrgUnit, sa.func.coalesce(used.c.awarded, 0))
        .join(OrgUnit, OrgUnit.id == Budget.org_unit_id)
        .outerjoin(used, used.c.budget_id == Budget.id)
        .where(Budget.year == year, scope_condition(actor, "budget.read"))
        .order_by(OrgUnit.path)
    )
    return [
        BudgetUse(unit, budget.year, budget.points, int(awarded), budget.updated_at)
        for budget, unit, awarded in rows
    ]


def verify_budgets() -> list[str]:
    """Check every budget against the ledger; answer one line per problem (none: all is well)."""
    problems = []
    for budget in db.session.scalars(sa.select(Budget).order_by(Budget.id)):
        rows = db.session.execute(
            sa.select(_allotment.c.org_unit_id, _allotment.c.granted, _allotment.c.used).where(
                _allotment.c.budget_id == budget.id
            )
        ).all()
        label = f"budget {budget.id} ({budget.org_unit.name} {budget.year})"
        if sum(granted for _unit, granted, _used in rows) != budget.allotted:
            problems.append(
                f"{label}: allotments grant {sum(r[1] for r in rows)}, the budget says {budget.allotted}"
            )
        counted = {unit_id: used for unit_id, _granted, used in rows if used}
        expected = awarded_by_unit(budget.org_unit, budget.year)
        if counted != expected:
            problems.append(f"{label}: allotments count {counted}, the ledger says {expected}")
    return problems

"""Hypothesis: after any awards, reversals and budget changes, an award is refused exactly when it
would pass a budget on its path, and every budget's use equals a brute-force sum over the ledger."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from core.database import begin_writing
from core.errors import AppError
from core.extensions import db
from core.identity.models import Member
from points import budgets, ledger
from points.ledger import verify_ledger
from points.models import Budget, BudgetAllotment, LedgerTransaction
from tests.conftest import dispose, make_app
from tests.factories import make_member, make_unit

YEAR = 2026
MOMENT = datetime(YEAR, 6, 1, 4, tzinfo=UTC)
#: Grids 0 and 1 lie in town A, grid 2 in town B; budgets on the county, town A and grid 1.
GRID_TOWN = ("a", "a", "b")
BUDGETS = ("county", "town_a", "grid_1")
_names = itertools.count()


@pytest.fixture
def app(database_url):
    """Leases of 3 points, so that awards lease, run short and take spare allotments back all the time."""
    application = make_app(database_url, BUDGET_LEASE_POINTS=3)
    yield application
    dispose(application)


steps = st.lists(
    st.one_of(
        st.tuples(st.just("award"), st.integers(0, 2), st.integers(1, 25)),
        st.tuples(st.just("reverse"), st.integers(0, 30)),
        st.tuples(st.just("set"), st.sampled_from(BUDGETS), st.integers(0, 120)),
    ),
    min_size=1,
    max_size=25,
)


def on_path(grid: int) -> tuple[str, ...]:
    """The budgets an award in a grid counts in."""
    return (
        ("county", "town_a", "grid_1")
        if grid == 1
        else ("county", "town_a")
        if GRID_TOWN[grid] == "a"
        else ("county",)
    )


def assert_leases_hold(budget_ids) -> None:
    """Every allotment uses no more than it was granted, the grants sum to what the budget leased
    out, and a budget leases out no more than its points (or, lowered below its use, than is used)."""
    for budget in db.session.scalars(sa.select(Budget).where(Budget.id.in_(budget_ids))):
        rows = db.session.execute(
            sa.select(BudgetAllotment.granted, BudgetAllotment.used).where(
                BudgetAllotment.budget_id == budget.id
            )
        ).all()
        assert all(0 <= used <= granted for granted, used in rows), rows
        assert sum(granted for granted, _used in rows) == budget.allotted
        assert budget.allotted <= max(budget.points, sum(used for _granted, used in rows)), (
            budget.points,
            rows,
        )


@settings(max_examples=30, deadline=None)
@given(initial=st.tuples(st.integers(0, 120), st.integers(0, 80), st.integers(0, 40)), steps=steps)
def test_awards_are_refused_exactly_when_they_would_pass_a_budget(app, initial, steps):
    with app.app_context():
        tag = next(_names)
        county = make_unit(f"县{tag}", "county")
        towns = {"a": make_unit("甲镇", "town", county), "b": make_unit("乙镇", "town", county)}
        grids = [make_unit(f"网格{index}", "grid", towns[town]) for index, town in enumerate(GRID_TOWN)]
        units = {"county": county, "town_a": towns["a"], "grid_1": grids[1]}
        members = [make_member("居民", grid).id for grid in grids]
        admin = make_member("管理", role="admin", on=None)
        limits = dict(zip(BUDGETS, initial))
        for name, points in limits.items():
            budgets.set_budget(admin, units[name].id, YEAR, points)
        used = dict.fromkeys(BUDGETS, 0)
        budget_ids = db.session.scalars(
            sa.select(Budget.id).where(Budget.org_unit_id.in_([unit.id for unit in units.values()]))
        ).all()
        awards: list[tuple[int, int, int]] = []  # (transaction id, grid, points) not reversed yet
        for step in steps:
            if step[0] == "award":
                _kind, grid, points = step
                expected = all(used[name] + points <= limits[name] for name in on_path(grid))
                begin_writing(db.session)
                try:
                    transaction = ledger.award(members[grid], points, occurred_at=MOMENT, actor_id=None)
                    db.session.commit()
                    outcome = True
                except AppError as error:
                    db.session.rollback()
                    assert error.code == "budget_exhausted"
                    outcome = False
                assert outcome == expected, (step, used, limits)
                if outcome:
                    awards.append((transaction.id, grid, points))
                    for name in on_path(grid):
                        used[name] += points
            elif step[0] == "reverse" and awards:
                transaction_id, grid, points = awards.pop(step[1] % len(awards))
                begin_writing(db.session)
                ledger.reverse_award(
                    db.session.get(LedgerTransaction, transaction_id), actor_id=None, reason="x"
                )
                db.session.commit()
                for name in on_path(grid):
                    used[name] -= points
            elif step[0] == "set":
                _kind, name, points = step
                budgets.set_budget(db.session.get(Member, admin.id), units[name].id, YEAR, points)
                limits[name] = points
            db.session.expire_all()
            assert_leases_hold(budget_ids)
        for name, unit in units.items():
            use = budgets.read_budget(db.session.get(Member, admin.id), unit.id, YEAR)
            brute_force = sum(budgets.awarded_by_unit(unit, YEAR).values())
            assert use.awarded == used[name] == brute_force
            assert use.remaining == max(limits[name] - used[name], 0)
        assert budgets.verify_budgets() == []
        assert verify_ledger() == []

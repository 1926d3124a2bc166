"""Budgets under real threads: concurrent awards never pass a budget, and awards in different grids
do not queue on the county's row (they lock only their own grid's allotment)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import sqlalchemy as sa

from core.clock import shanghai_today
from core.database import utcnow
from core.extensions import db
from core.identity.models import Member, OrgUnit
from points import budgets, contributions
from points.ledger import register_subscriber, verify_ledger
from points.models import MemberBalance
from tests.factories import make_activity, make_member, make_unit
from tests.points.test_ledger_concurrency import run_at_once

YEAR = shanghai_today().year
GRIDS_PER_TOWN = 4
MEMBERS_PER_GRID = 5


def build_county() -> dict:
    """A county, two towns of four grids, five residents a grid, an admin and a 5-point activity."""
    county = make_unit("平安县", "county")
    towns = [make_unit(name, "town", county) for name in ("城关镇", "河口镇")]
    grids = [
        make_unit(f"{town.name}{index}网格", "grid", town)
        for town in towns
        for index in range(GRIDS_PER_TOWN)
    ]
    members = {
        grid.id: [make_member(f"居民{index}", grid).id for index in range(MEMBERS_PER_GRID)] for grid in grids
    }
    make_activity("patrol_each", points=5, needs_review=False)
    admin = make_member("县管理员", role="admin", on=None)
    return {
        "county": county.id,
        "towns": [town.id for town in towns],
        "grids": [grid.id for grid in grids],
        "members": members,
        "admin": admin.id,
    }


def award_job(admin_id: int, member_id: int):
    """A job that records one approved 5-point patrol for a member."""
    occurred_at = utcnow() - timedelta(hours=1)

    def award():
        contributions.record_contribution(
            db.session.get(Member, admin_id), member_id, "patrol_each", 1, occurred_at
        )

    return award


def test_concurrent_awards_never_pass_a_budget(app):
    """40 awards of 5 points at once in eight grids, under a county budget of 100 and a town budget of
    40 (leases of 15 points, so grids run short and take spare allotments back while racing)."""
    app.config["BUDGET_LEASE_POINTS"] = 15
    with app.app_context():
        county = build_county()
        admin = db.session.get(Member, county["admin"])
        budgets.set_budget(admin, county["county"], YEAR, 100)
        budgets.set_budget(admin, county["towns"][0], YEAR, 40)
    jobs = [
        award_job(county["admin"], member_id)
        for grid in county["grids"]
        for member_id in county["members"][grid]
    ]
    outcomes = run_at_once(app, jobs)
    assert outcomes == Counter({"ok": 20, "budget_exhausted": 20}), outcomes
    with app.app_context():
        admin = db.session.get(Member, county["admin"])
        assert budgets.read_budget(admin, county["county"], YEAR).awarded == 100
        assert budgets.read_budget(admin, county["towns"][0], YEAR).awarded <= 40
        town_a = db.session.get(OrgUnit, county["towns"][0])
        assert budgets.read_budget(admin, town_a.id, YEAR).awarded == sum(
            budgets.awarded_by_unit(town_a, YEAR).values()
        )
        paid = db.session.scalar(sa.select(sa.func.sum(MemberBalance.available)))
        assert paid == 100
        assert budgets.verify_budgets() == [] and verify_ledger() == []


def test_awards_in_different_grids_touch_only_their_own_allotment_once_leased(app):
    """Once each grid holds a lease, 80 concurrent awards in eight grids never lock or write the
    county's budget row: each locks its own grid's allotment row alone."""
    with app.app_context():
        county = build_county()
        budgets.set_budget(db.session.get(Member, county["admin"]), county["county"], YEAR, 1_000_000)
        for grid in county["grids"]:  # the first award of each grid takes its lease
            award_job(county["admin"], county["members"][grid][0])()
    touched, lock = Counter(), threading.Lock()

    def count(_connection, _cursor, statement, _parameters, _context, _executemany):
        text = " ".join(statement.split()).lower()
        kind = (
            "county row"
            if text.startswith("update budget ")
            or (text.startswith("select") and "from budget " in text and "allotted" in text)
            else "allotment"
            if text.startswith("update budget_allotment")
            else None
        )
        if kind:
            with lock:
                touched[kind] += 1

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        jobs = [
            award_job(county["admin"], member_id)
            for _ in range(2)
            for grid in county["grids"]
            for member_id in county["members"][grid]
        ]
        outcomes = run_at_once(app, jobs)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert outcomes == Counter({"ok": 80})
    assert touched == Counter({"allotment": 80}), touched
    with app.app_context():
        admin = db.session.get(Member, county["admin"])
        assert budgets.read_budget(admin, county["county"], YEAR).awarded == 5 * 88
        assert budgets.verify_budgets() == []


def test_an_award_held_open_in_one_grid_stops_neither_other_grids_nor_the_budget_check(postgres_app):
    """PostgreSQL, real row locks: while an award in grid 1 holds its transaction open, an award in
    grid 2 under the same county budget finishes; a second award in grid 1 waits for the first."""
    app = postgres_app
    with app.app_context():
        county = build_county()
        budgets.set_budget(db.session.get(Member, county["admin"]), county["county"], YEAR, 1_000_000)
        first_grid, other_grid = county["grids"][0], county["grids"][5]
        for grid in (first_grid, other_grid):
            award_job(county["admin"], county["members"][grid][0])()  # both grids hold a lease
    holder = county["members"][first_grid][1]
    held, release = threading.Event(), threading.Event()

    def hold_the_holders_award(posted):  # runs after the budget subscriber: the allotment is locked
        if posted.member_id == holder and not release.is_set():
            held.set()
            release.wait(30)

    register_subscriber(app, hold_the_holders_award)
    outcomes: dict[str, str] = {}

    def run(name, member_id):
        def target():
            with app.app_context():
                try:
                    award_job(county["admin"], member_id)()
                    outcomes[name] = "ok"
                except Exception as error:  # noqa: BLE001 - reported by the assertions
                    outcomes[name] = repr(error)
                finally:
                    db.session.remove()

        thread = threading.Thread(target=target)
        thread.start()
        return thread

    first = run("held", holder)
    try:
        assert held.wait(10), "the first award never reached its budget"
        other = run("other grid", county["members"][other_grid][1])
        other.join(10)
        assert not other.is_alive() and outcomes.get("other grid") == "ok", outcomes
        same = run("same grid", county["members"][first_grid][2])
        same.join(2)
        assert same.is_alive(), "an award in the held grid should wait for that grid's allotment"
    finally:
        release.set()
    first.join(30)
    same.join(30)
    assert outcomes == {"held": "ok", "other grid": "ok", "same grid": "ok"}
    with app.app_context():
        assert (
            budgets.read_budget(db.session.get(Member, county["admin"]), county["county"], YEAR).awarded == 25
        )
        assert budgets.verify_budgets() == []

"""One figure, one query: the dashboard, the monthly report and the boards count the points earned in
a month alike — daily check-ins, reversals and all — because all read ``points.ledger.earned_points``;
and they show the same members, those ``core.identity.models.on_boards`` selects."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from hypothesis import example, given, settings
from hypothesis import strategies as st

from admin.services.monthly_report import build_report
from core.clock import bounds_of, period_keys
from core.database import begin_writing, utcnow
from core.extensions import db
from core.identity.models import Member, OrgUnit, RoleGrant, on_boards
from points import gamification, ledger, stats
from points.leaderboards.boards import member_board, org_unit_board
from points.leaderboards.totals import rebuild_totals
from points.models import Activity, DailyCheckin, LeaderboardTotal, LedgerTransaction
from points.reports import top_earners
from tests.factories import make_activity
from tests.rewards.conftest import person

MEMBERS = ("resident", "villager", "neighbour", "grid_worker", "outsider")
CODES = ("publicity", "mediation")


def this_month(world):
    """The report of town A for this month, and the dashboard's figures of its organiser."""
    now = utcnow()
    organiser = person(world, "organiser")
    figures = stats.month_figures(organiser, now, now)
    report = build_report(organiser, world.units["town_a"], figures.start.strftime("%Y-%m"))
    return figures, {table.key: table for table in report.tables}


@settings(max_examples=12, deadline=None)
@given(
    awards=st.lists(
        st.tuples(st.sampled_from(MEMBERS), st.sampled_from(CODES), st.integers(1, 500), st.booleans()),
        max_size=8,
    ),
    checked_in=st.sets(st.sampled_from(MEMBERS)),
)
@example(
    awards=[("resident", "publicity", 5, False), ("villager", "mediation", 20, True)],
    checked_in={"resident", "neighbour", "outsider"},
)
def test_the_dashboard_and_the_monthly_report_count_the_same_points(app, world, awards, checked_in):
    with app.app_context():
        if db.session.scalar(sa.select(Activity.id).where(Activity.code == "publicity")) is None:
            make_activity("publicity", points=5, category="publicity")
            make_activity("mediation", points=20, category="mediation")
        db.session.execute(sa.delete(DailyCheckin))  # a fresh day for every example
        db.session.commit()
        now = utcnow()
        for key, code, points, reverse in awards:
            begin_writing(db.session)
            activity_id = db.session.scalar(sa.select(Activity.id).where(Activity.code == code))
            transaction = ledger.award(
                world.people[key],
                points,
                occurred_at=now - timedelta(seconds=1),
                actor_id=None,
                activity_id=activity_id,
            )
            if reverse:
                ledger.reverse_award(transaction, actor_id=None, reason="重复登记", force=True)
            db.session.commit()
        for key in checked_in:
            gamification.check_in_daily(person(world, key), now)
        figures, tables = this_month(world)
        report_categories = {row[0]: row[1:] for row in tables["categories"].rows}
        dashboard_categories = {str(row[0]): row[1:] for row in figures.by_category}
        assert len(report_categories) == len(dashboard_categories)
        assert sorted(report_categories.values()) == sorted(map(list, dashboard_categories.values()))
        issued_in_units = sum(row[2] for row in tables["units"].rows)
        assert figures.issued == sum(row[2] for row in figures.by_category) == issued_in_units
        check_ins = sum(
            transaction.available_change
            for transaction in db.session.scalars(
                sa.select(LedgerTransaction).where(
                    LedgerTransaction.reference.startswith("daily_checkin:"),
                    LedgerTransaction.member_id.in_(
                        [world.people[key] for key in MEMBERS if key != "outsider"]
                    ),
                )
            )
        )
        assert ("每日报平安" in report_categories) == bool(check_ins)
        if check_ins:
            assert report_categories["每日报平安"][1] == check_ins


def test_points_earned_in_a_month_is_one_pinned_answer(ctx, world):
    """Points earned this month are awards less their reversals (a forced one too) with daily
    check-ins; opening balances, spends and last month's awards count nowhere. The ledger's query,
    the dashboard, the report and the month's board all give the same pinned figures."""
    resident, villager = world.people["resident"], world.people["villager"]
    now = utcnow()
    start, end = bounds_of("month", now)
    begin_writing(db.session)
    ledger.open_new_balances({villager: 100}, actor_id=None, memo="纸质台账结转")
    ledger.award(resident, 5, occurred_at=now - timedelta(seconds=1), actor_id=None)
    taken_back = ledger.award(resident, 20, occurred_at=now - timedelta(seconds=1), actor_id=None)
    ledger.hold(resident, 15, reference="voucher:1", actor_id=None)
    ledger.spend(resident, 15, reference="voucher:1", actor_id=None)
    ledger.reverse_award(taken_back, actor_id=None, reason="重复登记", force=True)  # 10 written off
    ledger.award(villager, 7, occurred_at=start - timedelta(days=1), actor_id=None)  # last month
    ledger.award(villager, 12, occurred_at=now - timedelta(seconds=1), actor_id=None)
    db.session.commit()
    gamification.check_in_daily(person(world, "villager"), now)  # 1 point

    earned = ledger.earned_points(start, end)
    per_member = dict(
        db.session.execute(
            sa.select(earned.c.member_id, sa.func.sum(earned.c.points)).group_by(earned.c.member_id)
        ).all()
    )
    assert per_member == {resident: 5, villager: 13}
    figures, tables = this_month(world)
    assert figures.issued == 18 and figures.active_members == 2
    assert sum(row[2] for row in tables["units"].rows) == 18
    assert [row[3] for row in tables["top"].rows] == [13, 5]
    month = period_keys(now)[1]
    assert (
        dict(
            db.session.execute(
                sa.select(LeaderboardTotal.member_id, LeaderboardTotal.score).where(
                    LeaderboardTotal.period_key == month
                )
            ).all()
        )
        == per_member
    )
    assert rebuild_totals()["changed"] == 0


def test_who_appears_on_boards_is_one_pinned_answer(ctx, world):
    """Active, not hidden, no live staff grant: the same members on the totals' flag, the member
    board, the org-unit boards' resident counts and the report's top members."""
    people = world.people
    person(world, "villager").status = "suspended"
    person(world, "neighbour").hidden = True
    db.session.add(
        RoleGrant(
            member_id=people["outsider"],
            role="organiser",
            org_unit_id=world.units["town_b"],
            revoked_at=utcnow(),
        )
    )  # a revoked staff grant no longer keeps anyone off
    db.session.commit()
    shown = {people[key] for key in ("resident", "outsider", "grid_worker", "grid_worker_b")}
    assert set(db.session.scalars(sa.select(Member.id).where(on_boards()))) == shown

    now = utcnow()
    begin_writing(db.session)
    for member_id in people.values():
        ledger.award(member_id, 10, occurred_at=now - timedelta(seconds=1), actor_id=None)
    db.session.commit()
    month = period_keys(now)[1]
    assert (
        set(
            db.session.scalars(
                sa.select(LeaderboardTotal.member_id).where(
                    LeaderboardTotal.period_key == month, LeaderboardTotal.eligible == sa.true()
                )
            )
        )
        == shown
    )
    viewer = person(world, "resident")
    assert len(member_board(viewer, world.units["county"])["entries"]) == len(shown)
    towns = {
        entry["org_unit"]["id"]: (entry["residents"], entry["points"])
        for entry in org_unit_board(world.units["county"])["entries"]
    }
    assert towns == {world.units["town_a"]: (2, 20), world.units["town_b"]: (2, 20)}
    county = db.session.get(OrgUnit, world.units["county"])
    start, end = bounds_of("month", now)
    assert {member.id for member, _points in top_earners(county, start, end)} == shown

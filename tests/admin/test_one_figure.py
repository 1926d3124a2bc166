"""One figure, one query: the dashboard and the monthly report count the points earned in a month
alike — daily check-ins, reversals and all — because both read ``points.stats.earned_by_category``."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from hypothesis import example, given, settings
from hypothesis import strategies as st

from admin.reports import build_report
from core.database import begin_writing, utcnow
from core.extensions import db
from points import gamification, ledger, stats
from points.models import Activity, DailyCheckin, LedgerTransaction
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
@given(awards=st.lists(st.tuples(st.sampled_from(MEMBERS), st.sampled_from(CODES), st.integers(1, 500),
                                 st.booleans()), max_size=8),
       checked_in=st.sets(st.sampled_from(MEMBERS)))
@example(awards=[("resident", "publicity", 5, False), ("villager", "mediation", 20, True)],
         checked_in={"resident", "neighbour", "outsider"})
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
            transaction = ledger.award(world.people[key], points, occurred_at=now - timedelta(seconds=1),
                                       actor_id=None, activity_id=activity_id)
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
        check_ins = sum(transaction.available_change for transaction in db.session.scalars(
            sa.select(LedgerTransaction).where(LedgerTransaction.reference.startswith("daily_checkin:"),
                                               LedgerTransaction.member_id.in_(
                                                   [world.people[key] for key in MEMBERS if key != "outsider"]))))
        assert ("每日报平安" in report_categories) == bool(check_ins)
        if check_ins:
            assert report_categories["每日报平安"][1] == check_ins

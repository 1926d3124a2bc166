"""Property: after random awards, reversals, spending and check-ins, what was awarded live equals
an independent model of the rules and a from-scratch rebuild from the ledger."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import AppError
from core.extensions import db
from core.identity.models import Member, OrgUnit
from points import contributions, gamification
from points.ledger import balance_of, verify_ledger
from points.models import Activity, MemberGameStats
from tests.factories import make_activity, make_member
from tests.points.test_gamification import snapshot, spend

SHANGHAI = ZoneInfo("Asia/Shanghai")
#: code → (category, unit, points per item or hour)
ACTIVITIES = {
    "p_each": ("patrol", "each", 3),
    "p_hour": ("patrol", "hour", 2),
    "m_each": ("mediation", "each", 5),
    "v_hour": ("volunteer_service", "hour", 2),
    "v_each": ("volunteer_service", "each", 1),
    "pub": ("publicity", "each", 4),
}

moments = st.builds(
    lambda months, day, hour: datetime(
        2025 + (5 + months) // 12, (5 + months) % 12 + 1, day, hour, 30, tzinfo=SHANGHAI
    ),
    st.integers(0, 16),
    st.integers(1, 28),
    st.sampled_from([0, 12, 23]),
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("award"), st.sampled_from(sorted(ACTIVITIES)), st.integers(1, 6), moments),
        st.tuples(st.just("award"), st.just("p_each"), st.just(1), moments),
        st.tuples(st.just("reverse"), st.integers(0, 40)),
        st.tuples(st.just("spend"), st.integers(1, 30)),
        st.tuples(st.just("checkin"), moments),
    ),
    min_size=1,
    max_size=45,
)


class Model:
    """The badge and star rules written plainly, fed the same operations."""

    def __init__(self):
        self.months: dict[int, int] = {}
        self.counts = {"patrol": 0, "mediation": 0}
        self.half_hours = 0
        self.badges: set[str] = set()
        self.lifetime = 0

    def earn(
        self,
        moment: datetime,
        points: int,
        category: str | None = None,
        unit: str = "each",
        quantity: Decimal = Decimal(1),
    ) -> None:
        local = moment.astimezone(SHANGHAI)
        month = local.year * 12 + local.month - 1
        before = self.months.get(month, 0)
        self.months[month] = before + points
        self.lifetime += points
        if before <= 0 < before + points:
            run, first, last = 1, month, month
            while self.months.get(first - 1, 0) > 0:
                first, run = first - 1, run + 1
            while self.months.get(last + 1, 0) > 0:
                last, run = last + 1, run + 1
            self.badges |= {f"active_months_{n}" for n in (3, 6, 12) if run >= n}
        step = 1 if points > 0 else -1
        if category and step > 0:
            self.badges.add(f"first_{category}")
        if category in self.counts:
            self.counts[category] += step
            name = {"patrol": "patrols", "mediation": "mediations"}[category]
            if step > 0 and self.counts[category] in (10, 50):
                self.badges.add(f"{name}_{self.counts[category]}")
        if category == "volunteer_service" and unit == "hour":
            self.half_hours += step * int(quantity * 2)


@settings(max_examples=15, deadline=None)
@given(steps=operations)
def test_live_honours_equal_the_rules_and_a_rebuild(ctx, world, steps):
    for code, (category, unit, points) in ACTIVITIES.items():
        if db.session.scalar(sa.select(Activity.id).where(Activity.code == code)) is None:
            make_activity(code, points=points, unit=unit, category=category, needs_review=False)
    grid = db.session.get(OrgUnit, world.units["grid_a"])
    member = make_member("随机", grid)
    organiser = db.session.get(Member, world.people["organiser"])
    model, approved = Model(), []
    for step in steps:
        if step[0] == "award":
            _, code, amount, moment = step
            category, unit, points = ACTIVITIES[code]
            quantity = Decimal(amount) / 2 if unit == "hour" else Decimal(amount)
            contribution = contributions.record_contribution(
                organiser, member.id, code, quantity, moment, now=moment + timedelta(hours=1)
            )
            approved.append(contribution.id)
            model.earn(moment, contribution.points, category, unit, quantity)
        elif step[0] == "reverse" and approved:
            contribution = contributions.get_contribution(approved[step[1] % len(approved)])
            if contribution.status != "approved":
                continue
            category, unit, _points = ACTIVITIES[contribution.activity.code]
            occurred_at, points, quantity = (
                contribution.occurred_at,
                contribution.points,
                contribution.quantity,
            )
            try:
                contributions.reverse_contribution(organiser, contribution.id, "property test")
            except AppError as error:
                db.session.rollback()
                assert error.code == "insufficient_points"
                continue
            model.earn(occurred_at, -points, category, unit, quantity)
        elif step[0] == "spend":
            if balance_of(member.id).available < step[1]:
                continue
            spend(member.id, step[1], "voucher:x")
            model.badges.add("first_redemption")
        elif step[0] == "checkin":
            try:
                checkin = gamification.check_in_daily(member, now=step[1])
            except AppError as error:
                db.session.rollback()
                assert error.code == "already_checked_in"
                continue
            model.earn(step[1], checkin.points, "daily_checkin")

    honours = gamification.account_of(member.id)
    assert {badge["code"] for badge in honours["badges"]} == model.badges
    assert honours["stars"] == gamification.stars_for(model.half_hours)
    assert honours["stars"]["count"] == sum(
        1 for hours in (100, 300, 600, 1000, 1500) if model.half_hours / 2 >= hours
    )
    assert balance_of(member.id).lifetime_earned == model.lifetime
    assert honours["level"]["min_points"] == max(
        start for _c, start, _zh, _en in gamification.level_ladder() if start <= model.lifetime
    )
    stats = db.session.get(MemberGameStats, member.id)
    if stats is not None:
        assert (stats.patrols, stats.mediations) == (model.counts["patrol"], model.counts["mediation"])
    live = snapshot()
    gamification.rebuild_gamification()
    assert snapshot() == live
    assert verify_ledger() == []

"""Points expiry: off unless configured; oldest lots first; never held points; boards, lifetime earned
and badges untouched; the member's history shows it; and the members to warn in advance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from hypothesis import example, given, settings
from hypothesis import strategies as st

from core.clock import months_before, shanghai_date
from core.database import begin_writing
from core.extensions import db
from core.notifications import Notification
from points import ledger
from points.expiry import expire_points, points_expiring, warn_expiring
from points.ledger import verify_ledger
from points.models import (
    LeaderboardTotal,
    LedgerTransaction,
    MemberActiveMonth,
    MemberBadge,
    MemberBalance,
    MemberGameStats,
)
from tests.conftest import dispose, make_app
from tests.factories import make_member, make_unit
from tests.support.pages import signed_in

UTC = UTC
START = datetime(2025, 1, 10, 4, tzinfo=UTC)
MONTHS = 6


@pytest.fixture
def app(database_url):
    """Points expire six months after they are earned here."""
    application = make_app(database_url, POINTS_EXPIRE_MONTHS=MONTHS)
    yield application
    dispose(application)


def days(count: float) -> timedelta:
    return timedelta(days=count)


def post(call, *args, **kwargs):
    """Post one ledger transaction in its own writer's transaction."""
    begin_writing(db.session)
    transaction = call(*args, **kwargs)
    db.session.commit()
    return transaction


def award(member_id: int, points: int, at: datetime) -> LedgerTransaction:
    return post(ledger.award, member_id, points, occurred_at=at, actor_id=None)


def balance(member_id: int) -> tuple[int, int, int]:
    db.session.expire_all()
    row = db.session.get(MemberBalance, member_id)
    return (row.available, row.held, row.lifetime_earned) if row else (0, 0, 0)


def test_nothing_expires_unless_the_deployment_says_so(database_url, runner):
    application = make_app(database_url)
    try:
        with application.app_context():
            resident = make_member("张三", make_unit("县", "county")).id
            award(resident, 50, START)
            assert expire_points(START + days(3650)).points == 0
            assert points_expiring(30, now=START + days(3650)) == []
            assert balance(resident)[0] == 50
        result = application.test_cli_runner().invoke(args=["points", "expire"])
        assert result.exit_code == 0 and "never expire" in result.output
    finally:
        dispose(application)


def test_the_oldest_points_are_spent_first_and_the_rest_expire_after_six_months(app, world):
    with app.app_context():
        resident = world.people["resident"]
        award(resident, 60, START)
        award(resident, 40, START + days(60))
        post(ledger.hold, resident, 70, reference="voucher:1", actor_id=None)
        post(ledger.spend, resident, 70, reference="voucher:1", actor_id=None)
        # 70 spent: the whole first lot and 10 of the second; 30 of the second are left.
        assert expire_points(START + days(200)).points == 0  # the first lot's leftovers: none
        done = expire_points(START + days(250))  # the second lot is now over six months old
        assert (done.members, done.points) == (1, 30)
        assert balance(resident) == (0, 0, 100)
        assert expire_points(START + days(250)).points == 0  # a second run finds nothing
        assert verify_ledger() == []


def test_held_points_never_expire_and_come_back_old_if_the_voucher_is_cancelled(app, world):
    with app.app_context():
        resident = world.people["resident"]
        award(resident, 100, START)
        post(ledger.hold, resident, 80, reference="voucher:2", actor_id=None)
        assert expire_points(START + days(200)).points == 20
        assert balance(resident) == (0, 80, 100)
        post(ledger.release, resident, 80, reference="voucher:2", actor_id=None)
        assert expire_points(START + days(201)).points == 80
        assert balance(resident) == (0, 0, 100) and verify_ledger() == []


def test_a_reversed_award_is_no_lot_and_an_opening_balance_is_one(app, world):
    with app.app_context():
        resident = world.people["resident"]
        post(ledger.open_new_balances, {resident: 30}, actor_id=None)
        old = award(resident, 50, START)
        recent = award(resident, 20, START + days(190))
        post(ledger.reverse_award, recent, actor_id=None, reason="记错")
        opened_at = db.session.scalar(
            sa.select(LedgerTransaction.occurred_at).where(LedgerTransaction.kind == "opening")
        )
        # The opening balance is today's: only the award of START is old by START + 200 days.
        assert expire_points(START + days(200)).points == 50
        assert expire_points(opened_at + days(200)).points == 30
        assert balance(resident)[0] == 0 and old.id and verify_ledger() == []


def test_expiry_leaves_lifetime_boards_and_badges_as_they_were(app, activities):
    world = activities
    with app.app_context():
        resident = world.people["resident"]
        post(
            ledger.award,
            resident,
            45,
            occurred_at=START,
            actor_id=None,
            activity_id=db.session.scalar(sa.text("SELECT id FROM activity WHERE code = 'mediation'")),
        )

        def read_models():
            db.session.expire_all()
            return [
                sorted(tuple(map(repr, row)) for row in db.session.execute(sa.select(model.__table__)))
                for model in (LeaderboardTotal, MemberBadge, MemberGameStats, MemberActiveMonth)
            ]

        before = read_models()
        assert before[1], "the award earned a badge"
        assert expire_points(START + days(365)).points == 45
        assert read_models() == before
        assert balance(resident) == (0, 0, 45)
        entry = db.session.scalars(
            sa.select(LedgerTransaction).where(LedgerTransaction.kind == "expiry")
        ).one()
        assert (entry.available_change, entry.memo) == (
            -45,
            shanghai_date(months_before(START + days(365), MONTHS)).isoformat(),
        )


def test_the_member_sees_what_expired_and_when(client, app, world):
    with app.app_context():
        resident = world.people["resident"]
        award(resident, 12, START)
        expire_points(START + days(200))
    entries = client.get(f"/api/v1/members/{resident}/ledger", headers=world.headers["resident"]).get_json()[
        "items"
    ]
    assert (entries[0]["kind"], entries[0]["points"], entries[0]["balance_after"]) == ("expiry", -12, 0)
    page = signed_in(app, world, "resident").get("/me/points").get_data(as_text=True)
    earned_before = shanghai_date(months_before(START + days(200), MONTHS)).isoformat()
    assert f"已过期 · {earned_before} 前获得的积分" in page


def test_members_are_named_before_their_points_expire(app, world):
    with app.app_context():
        resident, villager = world.people["resident"], world.people["villager"]
        award(resident, 30, START)
        award(villager, 25, START + days(20))
        now = START + days(170)  # the resident's points expire in about 11 days, the villager's in 31
        due = points_expiring(30, now=now)
        assert [(item.member_id, item.points) for item in due] == [(resident, 30)]
        assert due[0].by == (now + days(30)).astimezone(timezone(timedelta(hours=8))).date()
        assert {item.member_id for item in points_expiring(32, now=now)} == {resident, villager}
        # Run daily with beyond_days=29, each member is named once: the day their points come within 30 days.
        named = [
            item.member_id
            for day in range(0, 40)
            for item in points_expiring(30, beyond_days=29, now=START + days(140 + day))
        ]
        assert sorted(named) == sorted([resident, villager])
        post(ledger.hold, resident, 30, reference="voucher:3", actor_id=None)
        assert [item.member_id for item in points_expiring(30, now=now)] == []


def test_members_are_told_once_a_month_ahead_how_many_points_expire_and_when(app, world, client):
    with app.app_context():
        resident = world.people["resident"]
        award(resident, 30, START)
        warn_day = START + days(
            160
        )  # the points come within 30 days of expiring on this day or the one before
        told = [
            warn_expiring(START + days(150 + day)) for day in range(12)
        ]  # a daily run, twice on the same day
        told.append(warn_expiring(START + days(161)))
        assert sum(told) == 1
        rows = db.session.scalars(sa.select(Notification).where(Notification.member_id == resident)).all()
        assert [(row.kind, row.params["points"]) for row in rows] == [("points_expiring", 30)]
        assert rows[0].params["expires_on"] >= shanghai_date(warn_day).isoformat()
    texts = [
        item["text"]
        for item in client.get("/api/v1/me/notifications", headers=world.headers["resident"]).get_json()[
            "items"
        ]
    ]
    assert len(texts) == 1 and "30" in texts[0]


def test_flask_points_expire_reports_what_it_did(app, world):
    with app.app_context():
        award(world.people["resident"], 9, datetime.now(UTC) - days(400))
    result = app.test_cli_runner().invoke(args=["points", "expire"])
    assert result.exit_code == 0 and "9 points of 1 members expired" in result.output
    assert "0 members told their points expire within 30 days" in result.output
    assert "0 members have 0 points" in app.test_cli_runner().invoke(args=["points", "expiring"]).output


# --- hypothesis: a reference model of lots consumed first in, first out ---------------------------


class Lots:
    """The reference: lots in date order; whatever leaves the available balance consumes the oldest
    points not consumed yet, whatever comes back (a voucher given back) un-consumes the newest consumed."""

    def __init__(self):
        self.lots: list[list] = []  # [date, points, consumed, transaction id]

    def add(self, at, points, transaction_id):
        self.lots.append([at, points, 0, transaction_id])
        self.lots.sort(key=lambda lot: lot[0])

    def consume(self, points):
        for lot in self.lots:
            taken = min(points, lot[1] - lot[2])
            lot[2] += taken
            points -= taken
        assert points == 0

    def give_back(self, points):
        for lot in reversed(self.lots):
            given = min(points, lot[2])
            lot[2] -= given
            points -= given
        assert points == 0

    def remove(self, transaction_id):
        """A reversed award is no lot: the points consumed so far stay consumed, laid again from the
        oldest of the lots left (the reversal took the award's points from the newest)."""
        consumed = sum(lot[2] for lot in self.lots)
        self.lots = [
            [at, points, 0, tid] for at, points, _consumed, tid in self.lots if tid != transaction_id
        ]
        self.consume(consumed)

    def available(self) -> int:
        return sum(points - consumed for _at, points, consumed, _tid in self.lots)

    def older_than(self, cutoff) -> int:
        return sum(points - consumed for at, points, consumed, _tid in self.lots if at < cutoff)


operations = st.lists(
    st.one_of(
        st.tuples(st.just("award"), st.integers(1, 40), st.integers(0, 120)),  # points, days after the last
        st.tuples(st.just("hold"), st.integers(1, 60)),
        st.tuples(st.just("release")),
        st.tuples(st.just("spend")),
        st.tuples(st.just("reverse"), st.integers(-3, -1)),  # one of the three latest awards
        st.tuples(st.just("expire"), st.integers(0, 200)),  # days after the last event
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@example(steps=[("award", 10, 0), ("award", 5, 100), ("reverse", -1), ("expire", 100)])
@given(steps=operations)
def test_expiry_takes_exactly_the_oldest_points_left_and_never_more_than_is_available(app, steps):
    with app.app_context():
        member = make_member("测试", make_unit("县", "county")).id
        model, clock, holds, awards = Lots(), START, [], []
        for step in steps:
            available, held, lifetime = balance(member)
            if step[0] == "award":
                clock += days(step[2])
                transaction = award(member, step[1], clock)
                model.add(clock, step[1], transaction.id)
                awards.append(transaction)
            elif step[0] == "hold" and step[1] <= available:
                post(ledger.hold, member, step[1], reference="voucher:9", actor_id=None)
                model.consume(step[1])
                holds.append(step[1])
            elif step[0] in ("release", "spend") and holds:
                points = holds.pop()
                post(
                    ledger.release if step[0] == "release" else ledger.spend,
                    member,
                    points,
                    reference="voucher:9",
                    actor_id=None,
                )
                if step[0] == "release":
                    model.give_back(points)
            elif (
                step[0] == "reverse"
                and awards
                and awards[step[1] % len(awards)].available_change <= available
            ):
                original = awards.pop(step[1] % len(awards))
                post(ledger.reverse_award, original, actor_id=None, reason="x")
                model.remove(original.id)
            elif step[0] == "expire":
                clock += days(step[1])
                cutoff = months_before(clock, MONTHS)
                expected = model.older_than(cutoff)
                expire_points(clock)  # every member's: earlier examples' members are in the database too
                expired = available - balance(member)[0]
                assert expired == expected, (step, model.lots)
                assert 0 <= expired <= available and balance(member)[1] == held
                model.consume(expected)
            after = balance(member)
            assert after[0] == model.available()
            assert after[2] == sum(
                points for _at, points, _c, _tid in model.lots
            )  # lifetime: expiry never lowers it
        assert verify_ledger() == []

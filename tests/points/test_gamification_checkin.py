"""The daily 报平安 check-in: once per Shanghai day, a streak with a capped bonus, posted exactly once."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from core.audit import AuditEntry
from core.errors import AppError
from core.extensions import db
from core.identity.models import Member
from points.gamification import check_in_daily, checkin_points, member_badges, streak_of
from points.ledger import balance_of, verify_ledger
from points.models import DailyCheckin, LedgerTransaction
from tests.points.test_ledger_concurrency import run_at_once

SHANGHAI = ZoneInfo("Asia/Shanghai")
MIDNIGHT = datetime(2026, 3, 2, tzinfo=SHANGHAI)  # 16:00 UTC on 1 March


def check_in(world, at, who="resident"):
    """Check a member in at a given moment."""
    return check_in_daily(db.session.get(Member, world.people[who]), now=at)


def postings(member_id):
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(LedgerTransaction)
        .where(LedgerTransaction.member_id == member_id)
    )


def test_a_check_in_before_and_after_shanghai_midnight_continues_the_streak(ctx, world):
    first = check_in(world, MIDNIGHT - timedelta(minutes=1))
    second = check_in(world, MIDNIGHT + timedelta(minutes=1))
    assert (first.day.isoformat(), first.streak) == ("2026-03-01", 1)
    assert (second.day.isoformat(), second.streak) == ("2026-03-02", 2)
    assert balance_of(world.people["resident"]).available == 2


def test_a_second_check_in_the_same_shanghai_day_is_refused_and_writes_nothing(ctx, world):
    resident = world.people["resident"]
    check_in(world, MIDNIGHT + timedelta(minutes=1))
    before = (postings(resident), db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)))
    with pytest.raises(AppError) as refused:
        check_in(world, MIDNIGHT + timedelta(hours=23, minutes=58))
    db.session.rollback()
    assert (refused.value.status, refused.value.code) == (409, "already_checked_in")
    assert (
        postings(resident),
        db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)),
    ) == before
    assert balance_of(resident).lifetime_earned == 1


def test_a_missed_day_resets_the_streak(ctx, world):
    check_in(world, MIDNIGHT + timedelta(hours=8))
    check_in(world, MIDNIGHT + timedelta(days=1, hours=8))
    assert check_in(world, MIDNIGHT + timedelta(days=3, hours=8)).streak == 1


def test_the_streak_shown_lapses_after_a_whole_missed_day(ctx, world):
    resident = world.people["resident"]
    check_in(world, MIDNIGHT + timedelta(hours=8))
    assert streak_of(resident, MIDNIGHT + timedelta(hours=9)) == {"days": 1, "checked_in_today": True}
    assert streak_of(resident, MIDNIGHT + timedelta(days=1, hours=23)) == {
        "days": 1,
        "checked_in_today": False,
    }
    assert streak_of(resident, MIDNIGHT + timedelta(days=2, minutes=1)) == {
        "days": 0,
        "checked_in_today": False,
    }


def test_the_bonus_grows_by_one_each_full_week_up_to_three(ctx, world):
    points = [check_in(world, MIDNIGHT + timedelta(days=day, hours=7)).points for day in range(30)]
    assert points[:6] == [1] * 6
    assert points[6:13] == [2] * 7
    assert points[13:20] == [3] * 7
    assert points[20:] == [4] * 10
    assert balance_of(world.people["resident"]).lifetime_earned == sum(points)
    assert [checkin_points(streak) for streak in (1, 7, 14, 21, 100)] == [1, 2, 3, 4, 4]


def test_check_in_points_and_bonus_are_configurable(ctx, app, world):
    app.config.update(CHECKIN_POINTS=2, CHECKIN_STREAK_STEP=3, CHECKIN_BONUS_CAP=1)
    assert [checkin_points(streak) for streak in (1, 2, 3, 6, 30)] == [2, 2, 3, 3, 3]


def test_the_check_in_posts_an_award_through_the_ledger_with_its_reference(ctx, world):
    checkin = check_in(world, MIDNIGHT + timedelta(hours=9))
    award = db.session.get(LedgerTransaction, checkin.transaction_id)
    assert award.kind == "award" and award.available_change == 1
    assert award.reference == f"daily_checkin:{world.people['resident']}:2026-03-02"
    assert award.occurred_at == MIDNIGHT + timedelta(hours=9)
    assert verify_ledger() == []


def test_the_first_check_in_earns_its_badge_once(ctx, world):
    first = check_in(world, MIDNIGHT + timedelta(hours=9))
    check_in(world, MIDNIGHT + timedelta(days=1, hours=9))
    earned = [(badge.code, badge.awarded_at) for badge in member_badges(world.people["resident"])]
    assert earned == [
        ("first_daily_checkin", db.session.get(LedgerTransaction, first.transaction_id).created_at)
    ]


def test_post_me_checkins_answers_the_check_in_and_refuses_a_second(client, world):
    headers = world.headers["resident"]
    response = client.post("/api/v1/me/checkins", headers=headers)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["streak"] == 1 and body["points"] == 1
    assert body["day"] == datetime.now(SHANGHAI).date().isoformat()
    again = client.post("/api/v1/me/checkins", headers=headers)
    assert again.status_code == 409
    assert again.get_json()["code"] == "already_checked_in" and again.get_json()["status"] == 409
    me = client.get("/api/v1/me", headers=headers).get_json()
    assert me["streak"] == {"days": 1, "checked_in_today": True}
    assert me["balance"]["available"] == 1 and me["lifetime_earned"] == 1


def test_post_me_checkins_honours_the_idempotency_key(app, client, world):
    headers = {**world.headers["resident"], "Idempotency-Key": "tap-1"}
    first = client.post("/api/v1/me/checkins", headers=headers)
    retry = client.post("/api/v1/me/checkins", headers=headers)
    assert first.status_code == retry.status_code == 201
    assert retry.get_json() == first.get_json() and retry.headers["Idempotent-Replayed"] == "true"
    other = client.post("/api/v1/me/checkins", headers={**headers, "Idempotency-Key": "tap-2"})
    assert other.status_code == 409
    with app.app_context():
        assert postings(world.people["resident"]) == 1


def test_staff_may_check_in_and_strangers_may_not(client, world):
    assert client.post("/api/v1/me/checkins", headers=world.headers["clerk"]).status_code == 201
    refused = client.post("/api/v1/me/checkins")
    assert refused.status_code == 401 and refused.get_json()["code"] == "unauthorized"


def test_concurrent_double_taps_post_exactly_once(app, world):
    resident = world.people["resident"]

    def tap():
        check_in_daily(db.session.get(Member, resident))

    assert run_at_once(app, [tap] * 10) == Counter({"ok": 1, "already_checked_in": 9})
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(DailyCheckin)) == 1
        assert postings(resident) == 1
        assert balance_of(resident).available == 1
        assert verify_ledger() == []


def test_concurrent_double_taps_over_http_post_exactly_once(app, world):
    barrier = threading.Barrier(4)
    statuses = []

    def tap():
        client = app.test_client()
        barrier.wait()
        statuses.append(client.post("/api/v1/me/checkins", headers=world.headers["villager"]).status_code)

    threads = [threading.Thread(target=tap) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [201, 409, 409, 409]
    with app.app_context():
        assert postings(world.people["villager"]) == 1

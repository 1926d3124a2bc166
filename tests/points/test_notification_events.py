"""What members are told, and that each event is told once: points recorded for them (through the
ledger's subscribers), claims approved or rejected (with the reason), points taken back, a new
level, a badge, a voucher about to expire — retries, idempotent replays and re-runs included."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa

from core.database import utcnow
from core.extensions import db
from core.notifications import Notification
from points import contributions
from points.gamification import rebuild_gamification
from tests.factories import make_activity, make_award
from tests.rewards.conftest import give_points, make_reward, person, reserve_at_shop_a
from tests.support.contributions import (
    contribution_action,
    contribution_body,
    notification_texts,
    post_contribution,
)

HOUR_AGO = timedelta(hours=1)


def told(member_id: int, kind: str | None = None) -> list[Notification]:
    statement = sa.select(Notification).where(Notification.member_id == member_id).order_by(Notification.id)
    if kind is not None:
        statement = statement.where(Notification.kind == kind)
    return list(db.session.scalars(statement))


def test_points_recorded_by_staff_are_told_once_with_the_activity(app, client, activities):
    world = activities
    response = post_contribution(client, world, "grid_worker", "mediation", member="resident")
    assert response.status_code == 201
    assert "您获得了 20 积分：mediation。" in notification_texts(client, world, "resident")
    with app.app_context():
        [only] = told(world.people["resident"], "points_awarded")
        assert only.params["points"] == 20 and only.params["_link"] == ["points_pages.my_points", {}]


def test_an_idempotent_replay_of_the_recording_tells_nothing_new(app, client, activities):
    world = activities
    headers = {**world.headers["grid_worker"], "Idempotency-Key": "record-1"}
    body = contribution_body(world, "resident", "mediation")
    first = client.post("/api/v1/contributions", headers=headers, json=body)
    again = client.post("/api/v1/contributions", headers=headers, json=body)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    with app.app_context():
        assert len(told(world.people["resident"], "points_awarded")) == 1


def test_what_members_do_themselves_is_not_told(app, client, activities):
    world = activities
    resident = world.people["resident"]
    # A claim the activity approves by its own rule, and the daily check-in: the member saw the result.
    assert post_contribution(client, world, "resident", "daily_checkin").status_code == 201
    assert client.post("/api/v1/me/checkins", headers=world.headers["resident"]).status_code == 201
    with app.app_context():
        assert told(resident, "points_awarded") == []


def test_an_approved_claim_is_told_once_as_approved_not_twice(app, client, activities):
    world = activities
    claim = post_contribution(client, world, "resident", "mediation").get_json()
    approve = f"/api/v1/contributions/{claim['id']}/approve"
    assert client.post(approve, headers=world.headers["grid_worker"]).status_code == 200
    # A second approval (a retry without a key) is refused and tells nothing.
    assert client.post(approve, headers=world.headers["organiser"]).status_code == 409
    with app.app_context():
        kinds = [notification.kind for notification in told(world.people["resident"])]
    assert kinds.count("claim_approved") == 1 and "points_awarded" not in kinds
    assert "您的申报已通过：mediation，20 积分。" in notification_texts(client, world, "resident")


def test_a_rejected_claim_is_told_with_its_reason(app, client, activities):
    world = activities
    claim = post_contribution(client, world, "resident", "mediation").get_json()
    contribution_action(client, world, "grid_worker", claim["id"], "reject", reason="照片看不清")
    assert notification_texts(client, world, "resident") == ["您的申报未通过：mediation。原因：照片看不清"]


def test_a_reversal_is_told_with_its_reason(app, client, activities):
    world = activities
    recorded = post_contribution(client, world, "grid_worker", "mediation", member="resident").get_json()
    contribution_action(client, world, "organiser", recorded["id"], "reverse", reason="重复登记")
    assert notification_texts(client, world, "resident")[0] == "已收回 20 积分：mediation。原因：重复登记"


def test_a_new_level_is_told_once_even_when_reached_again_after_a_reversal(app, client, activities):
    world = activities
    with app.app_context():
        make_activity("big", points=100, category="other")

    first = post_contribution(client, world, "grid_worker", "big", member="resident").get_json()
    contribution_action(client, world, "organiser", first["id"], "reverse", reason="录错了")
    post_contribution(client, world, "grid_worker", "big", member="resident")
    with app.app_context():
        levels = told(world.people["resident"], "level_reached")
        assert [notification.params["level"]["zh"] for notification in levels] == ["平安卫士"]
    assert "您升级了：平安卫士。" in notification_texts(client, world, "resident")


def test_a_badge_is_told_once_and_a_rebuild_tells_nothing_again(app, client, activities):
    world = activities
    for _ in range(2):
        post_contribution(client, world, "grid_worker", "mediation", member="resident")
    with app.app_context():
        badges = told(world.people["resident"], "badge_earned")
        assert [
            (notification.params["badge"]["zh"], notification.params["badge"]["en"])
            for notification in badges
        ] == [("首次调解纠纷", "First dispute mediated")]
        rebuild_gamification()
        assert len(told(world.people["resident"], "badge_earned")) == 1
    english = notification_texts(client, world, "resident", language="en")
    assert "You earned a badge: First dispute mediated." in english


def test_a_recording_retried_after_a_failed_attempt_tells_once(app, activities):
    world = activities
    with app.app_context():
        resident, staff = person(world, "resident"), person(world, "grid_worker")
        make_award(
            staff, resident.id, activity="mediation", points=20, occurred_at=utcnow() - HOUR_AGO, commit=False
        )
        assert len(told(resident.id, "points_awarded")) == 1  # written inside the attempt's transaction
        db.session.rollback()  # the attempt failed before it committed: its notification went with it
        assert told(world.people["resident"]) == []
        contributions.record_contribution(
            person(world, "grid_worker"),
            world.people["resident"],
            "mediation",
            Decimal(1),
            utcnow() - HOUR_AGO,
        )
        assert len(told(world.people["resident"], "points_awarded")) == 1


def soap_vouchers(world, *ttls: timedelta | None) -> list:
    """The resident's vouchers for one bar of soap at shop A, one per time to live (None: the
    default); call inside an app context."""
    from rewards import stock

    give_points(world.people["resident"], 100)
    reward = make_reward("肥皂", 10)
    stock.receive_stock(person(world, "global_admin"), world.shops["a"], reward, 10)
    return [reserve_at_shop_a(world, reward, **({"ttl": ttl} if ttl else {})) for ttl in ttls]


def test_a_voucher_expiring_within_a_day_is_reminded_once_however_often_cron_runs(app, runner, world):
    with app.app_context():
        soon, later = (voucher.id for voucher in soap_vouchers(world, timedelta(hours=5), None))
    for _ in range(2):
        assert runner.invoke(args=["vouchers", "remind"]).exit_code == 0
    with app.app_context():
        reminders = told(world.people["resident"], "voucher_expiring")
        assert [notification.key for notification in reminders] == [f"voucher_expiring:{soon}"]
        assert reminders[0].params["_link"] == ["rewards_pages.my_voucher", {"voucher_id": soon}]
        assert later != soon
    assert "1 reminder(s) sent" not in runner.invoke(args=["vouchers", "remind"]).output


def test_the_voucher_reminder_leads_to_the_voucher_and_reads_its_code_and_shop(app, client, runner, world):
    with app.app_context():
        [voucher] = soap_vouchers(world, timedelta(hours=2))
        code, voucher_id = voucher.short_code, voucher.id
    assert "1 reminder(s) sent" in runner.invoke(args=["vouchers", "remind"]).output
    [item] = [
        item
        for item in client.get("/api/v1/me/notifications", headers=world.headers["resident"]).get_json()[
            "items"
        ]
        if item["kind"] == "voucher_expiring"
    ]
    assert (
        code in item["text"]
        and "城关镇平安超市" in item["text"]
        and item["url"] == f"/me/vouchers/{voucher_id}"
    )

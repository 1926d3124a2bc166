"""In-app notifications: written once per event in the caller's transaction, rendered in the
reader's language when read, listed and marked read through the API and the pages, counted in
the header and on the home page, pruned when old."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from core.database import begin_writing, utcnow
from core.extensions import db
from core.notifications import KINDS, Notification, localised, notify, render_text
from tests.support.pages import csrf_token, signed_in


def _notify(member_id: int, kind: str, key: str, **params) -> bool:
    begin_writing(db.session)
    wrote = notify(member_id, kind, key, **params)
    db.session.commit()
    return wrote


def _count(member_id: int | None = None) -> int:
    statement = sa.select(sa.func.count()).select_from(Notification)
    if member_id is not None:
        statement = statement.where(Notification.member_id == member_id)
    return db.session.scalar(statement)


def test_an_event_reported_twice_is_written_once(app, world):
    resident = world.people["resident"]
    with app.app_context():
        assert _notify(resident, "points_awarded", "award:1", points=5, activity=localised("巡逻", "Patrol"))
        assert not _notify(
            resident, "points_awarded", "award:1", points=5, activity=localised("巡逻", "Patrol")
        )
        assert _count(resident) == 1
        # The same key for another member is another event.
        assert _notify(world.people["villager"], "points_awarded", "award:1", points=5)
        assert _count() == 2


def test_a_notification_joins_the_callers_transaction_and_goes_with_its_rollback(app, world):
    with app.app_context():
        begin_writing(db.session)
        notify(
            world.people["resident"],
            "level_reached",
            "level:guardian",
            level=localised("平安卫士", "Guardian"),
        )
        db.session.rollback()
        assert _count() == 0
        # A retry of the whole transaction then writes it, once.
        assert _notify(
            world.people["resident"],
            "level_reached",
            "level:guardian",
            level=localised("平安卫士", "Guardian"),
        )
        assert _count() == 1


def test_an_unknown_kind_is_a_programming_error(app, world):
    with app.app_context(), pytest.raises(ValueError):
        notify(world.people["resident"], "no_such_kind", "x:1")


#: Parameters every kind's text reads, as its senders pass them (other packages send the wish and
#: expiry kinds with exactly these).
SAMPLES = {
    "points_awarded": {"points": 5, "activity": localised("治安巡逻", "Patrol")},
    "claim_approved": {"points": 5, "activity": localised("治安巡逻", "Patrol")},
    "claim_rejected": {"activity": localised("治安巡逻", "Patrol"), "reason": "照片看不清"},
    "contribution_reversed": {"points": 5, "activity": localised("治安巡逻", "Patrol"), "reason": "重复登记"},
    "level_reached": {"level": localised("平安卫士", "Guardian")},
    "badge_earned": {"badge": localised("首次巡逻", "First patrol")},
    "voucher_expiring": {
        "short_code": "AB12CD34",
        "supermarket": "城关镇平安超市",
        "expires_at": "2026-12-04T08:00:00+00:00",
    },
    "objection_upheld": {
        "name": "张*明",
        "activity": localised("治安巡逻", "Patrol"),
        "points": 5,
        "reason": "属实",
    },
    "objection_dismissed": {
        "name": "张*明",
        "activity": localised("治安巡逻", "Patrol"),
        "points": 5,
        "reason": "核实无误",
    },
    "entry_objection_upheld": {
        "activity": localised("治安巡逻", "Patrol"),
        "month": "2026-11",
        "points": 5,
        "reason": "当天未参加",
    },
    "entry_objection_dismissed": {
        "activity": localised("治安巡逻", "Patrol"),
        "month": "2026-11",
        "points": 5,
        "reason": "核实无误",
    },
    "wish_taken": {"title": "帮忙搬煤", "taker": "王*"},
    "wish_done": {"title": "帮忙搬煤", "taker": "王*"},
    "wish_completed": {"title": "帮忙搬煤", "points": 20},
    "points_expiring": {"points": 120, "expires_on": "2027-01-31"},
}


def test_every_kind_has_a_sample_here():
    assert set(SAMPLES) == set(KINDS)
    assert {"wish_taken", "wish_done", "wish_completed", "points_expiring"} <= set(KINDS)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_reads_in_chinese_and_in_english_with_every_parameter_filled(app, kind):
    with app.test_request_context():
        chinese = render_text(kind, SAMPLES[kind])
        with force_locale("en"):
            english = render_text(kind, SAMPLES[kind])
    for text in (chinese, english):
        assert "?" not in text and "%(" not in text, text
    assert chinese != english
    assert any("\u4e00" <= char <= "\u9fff" for char in chinese), chinese
    words = english.replace("“", "").replace("”", "").replace("\u202f", " ")
    for value in SAMPLES[kind].values():
        words = words.replace(str(value), "")
    assert words.isascii(), english  # the sentence itself is English; names and reasons are as typed
    for value in SAMPLES[kind].values():
        if isinstance(value, dict):
            assert value["zh"] in chinese and value["en"] in english


def test_times_and_dates_read_in_shanghai_time_and_the_readers_format(app):
    with app.test_request_context():
        text = render_text("voucher_expiring", SAMPLES["voucher_expiring"])
        with force_locale("en"):
            english = render_text("points_expiring", SAMPLES["points_expiring"])
    assert "16:00" in text  # 08:00 UTC
    assert "Jan 31, 2027" in english


def test_a_missing_parameter_reads_as_a_question_mark_rather_than_failing(app):
    with app.test_request_context():
        assert "?" in render_text("wish_taken", {"title": "修路灯"})


def api_list(client, world, who, query=""):
    return client.get(f"/api/v1/me/notifications{query}", headers=world.headers[who])


def test_my_notifications_are_listed_newest_first_with_the_unread_count(app, client, world):
    resident = world.people["resident"]
    with app.app_context():
        for number in range(3):
            _notify(
                resident,
                "points_awarded",
                f"award:{number}",
                points=number + 1,
                activity=localised("巡逻", "Patrol"),
                link=("points_pages.my_points", {}),
            )
        _notify(world.people["villager"], "points_awarded", "award:9", points=9)
    body = api_list(client, world, "resident").get_json()
    assert body["total"] == 3 and body["unread"] == 3
    assert [item["text"] for item in body["items"]] == [f"您获得了 {n} 积分：巡逻。" for n in (3, 2, 1)]
    assert body["items"][0]["url"] == "/me/points" and body["items"][0]["read"] is False
    english = client.get(
        "/api/v1/me/notifications?page_size=1", headers={**world.headers["resident"], "Accept-Language": "en"}
    ).get_json()
    assert english["items"][0]["text"] == "You earned 3 points: Patrol." and english["page_size"] == 1


def test_marking_read_by_ids_and_all(app, client, world):
    resident = world.people["resident"]
    with app.app_context():
        for number in range(3):
            _notify(resident, "level_reached", f"level:{number}", level=localised("卫士", "Guardian"))
    ids = [item["id"] for item in api_list(client, world, "resident").get_json()["items"]]
    headers = world.headers["resident"]
    assert (
        client.post("/api/v1/me/notifications/read", json={"ids": ids[:1]}, headers=headers).status_code
        == 204
    )
    body = api_list(client, world, "resident").get_json()
    assert body["unread"] == 2 and [item["read"] for item in body["items"]] == [True, False, False]
    assert (
        client.post("/api/v1/me/notifications/read", json={"all": True}, headers=headers).status_code == 204
    )
    assert api_list(client, world, "resident").get_json()["unread"] == 0


def test_another_members_notification_is_refused_and_nothing_is_marked(app, client, world):
    with app.app_context():
        _notify(world.people["resident"], "level_reached", "level:a", level=localised("卫士", "Guardian"))
        _notify(world.people["villager"], "level_reached", "level:a", level=localised("卫士", "Guardian"))
    mine = api_list(client, world, "resident").get_json()["items"][0]["id"]
    theirs = api_list(client, world, "villager").get_json()["items"][0]["id"]
    response = client.post(
        "/api/v1/me/notifications/read", json={"ids": [mine, theirs]}, headers=world.headers["resident"]
    )
    assert response.status_code == 404 and response.get_json()["code"] == "not_found"
    assert api_list(client, world, "resident").get_json()["unread"] == 1
    assert api_list(client, world, "villager").get_json()["unread"] == 1


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"ids": []},
        {"ids": [1], "all": True},
        {"all": False},
        {"ids": ["1"]},
        {"ids": [0]},
        {"ids": list(range(1, 102))},
        {"all": "yes"},
    ],
)
def test_a_bad_read_request_is_refused_with_422(client, world, body):
    response = client.post("/api/v1/me/notifications/read", json=body, headers=world.headers["resident"])
    assert response.status_code == 422 and response.get_json()["code"] == "validation_error"


def test_signed_out_calls_are_refused(client):
    assert client.get("/api/v1/me/notifications").status_code == 401
    assert client.post("/api/v1/me/notifications/read", json={"all": True}).status_code == 401


def test_the_header_the_home_page_and_me_show_the_unread_count_and_the_page_marks_read(app, world):
    resident = world.people["resident"]
    with app.app_context():
        for number in range(2):
            _notify(
                resident, "points_awarded", f"award:{number}", points=5, activity=localised("巡逻", "Patrol")
            )
    browser = signed_in(app, world, "resident")
    home = browser.get("/").get_data(as_text=True)
    assert 'data-unread="2"' in home and "您有 2 条未读通知。" in home
    assert "通知（2 条未读）" in browser.get("/me").get_data(as_text=True)
    page = browser.get("/me/notifications").get_data(as_text=True)
    assert page.count('data-read="no"') == 2 and "您获得了 5 积分：巡逻。" in page
    answer = browser.post("/me/notifications/read", data={"csrf_token": csrf_token(page)})
    assert answer.status_code == 303
    after = browser.get("/me/notifications").get_data(as_text=True)
    assert 'data-read="no"' not in after and "data-unread" not in after
    assert "未读通知" not in browser.get("/").get_data(as_text=True)


def test_reading_one_from_the_page_marks_only_it(app, world):
    with app.app_context():
        for number in range(2):
            _notify(
                world.people["resident"],
                "level_reached",
                f"level:{number}",
                level=localised("卫士", "Guardian"),
            )
        first = db.session.scalar(sa.select(sa.func.min(Notification.id)))
    browser = signed_in(app, world, "resident")
    page = browser.get("/me/notifications").get_data(as_text=True)
    browser.post("/me/notifications/read", data={"csrf_token": csrf_token(page), "id": str(first)})
    with app.app_context():
        assert db.session.get(Notification, first).read_at is not None
        assert _count(world.people["resident"]) == 2
        assert (
            db.session.scalar(
                sa.select(sa.func.count()).select_from(Notification).where(Notification.read_at.is_(None))
            )
            == 1
        )


@pytest.mark.parametrize("posted", ["²", "abc", str(2**70)])
def test_a_posted_id_that_is_no_notification_is_refused_and_nothing_is_marked(app, world, posted):
    with app.app_context():
        _notify(world.people["resident"], "level_reached", "level:1", level=localised("卫士", "Guardian"))
    browser = signed_in(app, world, "resident")
    page = browser.get("/me/notifications").get_data(as_text=True)
    answer = browser.post("/me/notifications/read", data={"csrf_token": csrf_token(page), "id": posted})
    assert answer.status_code == 303
    assert 'data-read="no"' in browser.get("/me/notifications").get_data(as_text=True)


def test_prune_removes_only_the_old_ones(app, world, runner):
    with app.app_context():
        _notify(world.people["resident"], "level_reached", "level:old", level=localised("卫士", "Guardian"))
        _notify(world.people["resident"], "level_reached", "level:new", level=localised("卫士", "Guardian"))
        begin_writing(db.session)
        db.session.execute(
            sa.update(Notification)
            .where(Notification.key == "level:old")
            .values(created_at=utcnow() - timedelta(days=181))
        )
        db.session.commit()
    result = runner.invoke(args=["notifications", "prune"])
    assert result.exit_code == 0 and "1 notification(s) removed" in result.output
    with app.app_context():
        assert list(db.session.scalars(sa.select(Notification.key))) == ["level:new"]
    assert "0 notification(s) removed" in runner.invoke(args=["notifications", "prune", "--days", "1"]).output


def test_notification_times_are_kept_in_utc(app, world):
    with app.app_context():
        _notify(world.people["resident"], "level_reached", "level:x", level=localised("卫士", "Guardian"))
        created = db.session.scalar(sa.select(Notification.created_at))
    assert created.tzinfo is not None and abs(created - datetime.now(UTC)) < timedelta(minutes=1)

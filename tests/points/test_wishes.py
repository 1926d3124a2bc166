"""Micro-wishes through the API: the 四单制 flow end to end, who may do each step, where wishes are
seen, due dates, and the points paid once through the ledger."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from PIL import Image

from core.database import utcnow
from core.errors import AppError
from core.extensions import db
from core.identity.models import Member
from points.ledger import verify_ledger
from points.models import Contribution
from points.wishes import services
from points.wishes.models import Wish
from tests.support.contributions import post_contribution

DUE = (utcnow() + timedelta(days=3)).isoformat()


def call(client, world, who, path, body=None):
    """POST (with a body, or none) or GET one wish endpoint as one of the world's people."""
    if body is None and not path.endswith(("/take", "/release")):
        return client.get("/api/v1" + path, headers=world.headers[who])
    return client.post("/api/v1" + path, json=body, headers=world.headers[who])


def post(client, world, who="villager", title="帮忙搬煤", **extra):
    response = call(client, world, who, "/wishes", {"title": title, "description": "三楼，十袋煤", **extra})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def open_wish(client, world, who="villager", points=30, **extra):
    """A wish posted by ``who``, vetted and published by the global administrator."""
    wish = post(client, world, who, **extra)
    assert (
        call(client, world, "global_admin", f"/wishes/{wish}/vet", {"decision": "accept"}).status_code == 200
    )
    published = call(
        client, world, "global_admin", f"/wishes/{wish}/publish", {"points": points, "due_at": DUE}
    )
    assert published.status_code == 200, published.get_json()
    return wish


def balance(client, world, who):
    return client.get("/api/v1/me", headers=world.headers[who]).get_json()["balance"]["available"]


def code(response):
    return response.status_code, (response.get_json() or {}).get("code")


def test_a_wish_goes_from_posted_to_completed_and_pays_its_taker_once(client, world, app):
    wish = post(client, world)
    shown = call(client, world, "villager", f"/wishes/{wish}").get_json()
    assert shown["status"] == "submitted" and shown["org_unit"]["id"] == world.units["grid_a"]
    vetted = call(client, world, "grid_worker", f"/wishes/{wish}/vet", {"decision": "accept"}).get_json()
    assert vetted["status"] == "vetted"
    published = call(
        client, world, "organiser", f"/wishes/{wish}/publish", {"points": 40, "due_at": DUE}
    ).get_json()
    assert (published["status"], published["points"]) == ("open", 40)
    taken = call(client, world, "neighbour", f"/wishes/{wish}/take").get_json()
    assert taken["status"] == "taken" and taken["taker"]["id"] == world.people["neighbour"]
    assert taken["actions"] == ["release", "done"]
    done = call(client, world, "neighbour", f"/wishes/{wish}/done", {"note": "搬完了，放在门口"}).get_json()
    assert done["status"] == "done" and done["done_note"] == "搬完了，放在门口"
    assert balance(client, world, "neighbour") == 0
    confirmed = call(client, world, "villager", f"/wishes/{wish}/confirm", {"rating": 5})
    assert confirmed.status_code == 200
    body = confirmed.get_json()
    assert (body["status"], body["rating"]) == ("completed", 5)
    contribution = body["contribution"]
    assert (contribution["status"], contribution["points"], contribution["activity_code"]) == (
        "approved",
        40,
        "wish",
    )
    assert contribution["member"]["id"] == world.people["neighbour"]
    assert balance(client, world, "neighbour") == 40
    again = call(client, world, "villager", f"/wishes/{wish}/confirm", {"rating": 4})
    assert code(again) == (409, "invalid_state")
    assert balance(client, world, "neighbour") == 40
    with app.app_context():
        contribution_row = db.session.get(Contribution, contribution["id"])
        assert contribution_row.reviewed_by_id == world.people["villager"] != contribution_row.member_id
        assert verify_ledger() == []


def test_nobody_vets_takes_or_confirms_their_own_wish(client, world, app):
    own = post(client, world, "grid_worker")
    assert code(call(client, world, "grid_worker", f"/wishes/{own}/vet", {"decision": "accept"})) == (
        403,
        "self_review",
    )
    assert call(client, world, "organiser", f"/wishes/{own}/vet", {"decision": "accept"}).status_code == 200
    call(client, world, "organiser", f"/wishes/{own}/publish", {"points": 10, "due_at": DUE})
    assert code(call(client, world, "grid_worker", f"/wishes/{own}/take")) == (403, "self_review")
    # An organiser who takes a wish never confirms it for their own points, even when the requester is silent.
    wish = open_wish(client, world)
    with app.app_context():
        organiser = db.session.get(Member, world.people["organiser"])
        services.take_wish(organiser, wish)
        services.mark_done(organiser, wish, "修好了", now=utcnow() - timedelta(days=4))
        with pytest.raises(AppError) as refused:
            services.confirm_wish(organiser, wish, 5)
        assert refused.value.code == "self_review"
        db.session.rollback()
        assert db.session.get(Wish, wish).status == "done"
    assert call(client, world, "admin", f"/wishes/{wish}/confirm", {"rating": 4}).status_code == 200


def test_only_staff_in_scope_vet_and_only_organisers_publish(client, world):
    wish = post(client, world)
    assert code(call(client, world, "grid_worker_b", f"/wishes/{wish}/vet", {"decision": "accept"})) == (
        403,
        "forbidden",
    )
    assert code(call(client, world, "resident", f"/wishes/{wish}/vet", {"decision": "accept"})) == (
        403,
        "forbidden",
    )
    assert code(call(client, world, "grid_worker", f"/wishes/{wish}/vet", {"decision": "decline"})) == (
        422,
        "validation_error",
    )
    assert (
        call(client, world, "grid_worker", f"/wishes/{wish}/vet", {"decision": "accept"}).status_code == 200
    )
    assert code(call(client, world, "grid_worker", f"/wishes/{wish}/vet", {"decision": "accept"})) == (
        409,
        "invalid_state",
    )
    body = {"points": 10, "due_at": DUE}
    assert code(call(client, world, "grid_worker", f"/wishes/{wish}/publish", body)) == (403, "forbidden")
    for bad in (
        {"points": 0, "due_at": DUE},
        {"points": 501, "due_at": DUE},
        {"points": "10", "due_at": DUE},
        {"points": 10, "due_at": (utcnow() - timedelta(minutes=1)).isoformat()},
        {"points": 10, "due_at": "2026-12-24T18:00:00"},
    ):
        assert code(call(client, world, "organiser", f"/wishes/{wish}/publish", bad)) == (
            422,
            "validation_error",
        ), bad
    assert call(client, world, "organiser", f"/wishes/{wish}/publish", body).get_json()["status"] == "open"


def test_a_declined_wish_goes_no_further(client, world):
    wish = post(client, world)
    declined = call(
        client,
        world,
        "grid_worker",
        f"/wishes/{wish}/vet",
        {"decision": "decline", "reason": "不属于志愿服务"},
    )
    assert (
        declined.get_json()["status"] == "declined" and declined.get_json()["vet_reason"] == "不属于志愿服务"
    )
    assert code(
        call(client, world, "organiser", f"/wishes/{wish}/publish", {"points": 5, "due_at": DUE})
    ) == (409, "invalid_state")
    assert code(call(client, world, "villager", f"/wishes/{wish}/cancel", {"reason": "x"})) == (
        409,
        "invalid_state",
    )


def test_a_second_taker_hears_already_taken(client, world):
    wish = open_wish(client, world)
    assert call(client, world, "neighbour", f"/wishes/{wish}/take").status_code == 200
    assert code(call(client, world, "resident", f"/wishes/{wish}/take")) == (409, "already_taken")
    assert code(call(client, world, "neighbour", f"/wishes/{wish}/take")) == (409, "already_taken")
    assert code(call(client, world, "resident", f"/wishes/{wish}/release")) == (403, "forbidden")
    assert code(call(client, world, "resident", f"/wishes/{wish}/done", {"note": "x"})) == (403, "forbidden")


def test_a_taker_may_give_a_wish_back_and_another_takes_it(client, world):
    wish = open_wish(client, world)
    call(client, world, "neighbour", f"/wishes/{wish}/take")
    released = call(client, world, "neighbour", f"/wishes/{wish}/release").get_json()
    assert released["status"] == "open" and released["taker"] is None
    assert code(call(client, world, "neighbour", f"/wishes/{wish}/release")) == (403, "forbidden")
    assert (
        call(client, world, "resident", f"/wishes/{wish}/take").get_json()["taker"]["id"]
        == world.people["resident"]
    )


def test_done_needs_a_note_or_a_photo_of_ones_own(client, world):
    wish = open_wish(client, world)
    call(client, world, "neighbour", f"/wishes/{wish}/take")
    assert code(call(client, world, "neighbour", f"/wishes/{wish}/done", {"note": "  "})) == (
        422,
        "validation_error",
    )
    picture = io.BytesIO()
    Image.new("RGB", (40, 30), "red").save(picture, "JPEG")
    photo = client.post(
        "/api/v1/photos",
        data={"photo": (io.BytesIO(picture.getvalue()), "done.jpg")},
        content_type="multipart/form-data",
        headers=world.headers["resident"],
    ).get_json()["id"]
    assert code(call(client, world, "neighbour", f"/wishes/{wish}/done", {"photo_id": photo})) == (
        403,
        "forbidden",
    )
    mine = client.post(
        "/api/v1/photos",
        data={"photo": (io.BytesIO(picture.getvalue()), "done.jpg")},
        content_type="multipart/form-data",
        headers=world.headers["neighbour"],
    ).get_json()["id"]
    done = call(client, world, "neighbour", f"/wishes/{wish}/done", {"photo_id": mine}).get_json()
    assert done["status"] == "done" and done["done_photo_id"] == mine
    # The requester sees the photo of the work; a member who cannot see the wish does not.
    assert client.get(f"/api/v1/photos/{mine}", headers=world.headers["villager"]).status_code == 200
    assert client.get(f"/api/v1/photos/{mine}", headers=world.headers["outsider"]).status_code == 403


def test_an_organiser_confirms_for_a_silent_requester_only_three_days_after_done(client, world, app):
    wish = open_wish(client, world)
    call(client, world, "neighbour", f"/wishes/{wish}/take")
    call(client, world, "neighbour", f"/wishes/{wish}/done", {"note": "修好了"})
    early = call(client, world, "organiser", f"/wishes/{wish}/confirm", {"rating": 5})
    assert code(early) == (403, "forbidden") and "done_at" in early.get_json()["errors"]
    assert code(call(client, world, "grid_worker", f"/wishes/{wish}/confirm", {"rating": 5})) == (
        403,
        "forbidden",
    )
    assert code(call(client, world, "neighbour", f"/wishes/{wish}/confirm", {"rating": 5})) == (
        403,
        "self_review",
    )
    with app.app_context():
        db.session.get(Wish, wish).done_at = utcnow() - timedelta(days=3, minutes=1)
        db.session.commit()
    late = call(client, world, "organiser", f"/wishes/{wish}/confirm", {"rating": 3})
    assert late.status_code == 200 and late.get_json()["contribution"]["points"] == 30
    assert balance(client, world, "neighbour") == 30


def test_cancelling_pays_nobody_requesters_until_taken_organisers_until_completed(client, world, app):
    wish = post(client, world)
    assert code(call(client, world, "resident", f"/wishes/{wish}/cancel", {"reason": "x"})) == (
        403,
        "forbidden",
    )
    assert (
        call(client, world, "villager", f"/wishes/{wish}/cancel", {"reason": "家人帮忙了"}).get_json()[
            "status"
        ]
        == "cancelled"
    )
    taken = open_wish(client, world)
    call(client, world, "neighbour", f"/wishes/{taken}/take")
    assert code(call(client, world, "villager", f"/wishes/{taken}/cancel", {"reason": "x"})) == (
        409,
        "invalid_state",
    )
    assert code(call(client, world, "grid_worker", f"/wishes/{taken}/cancel", {"reason": "x"})) == (
        403,
        "forbidden",
    )
    call(client, world, "neighbour", f"/wishes/{taken}/done", {"note": "搬完了"})
    cancelled = call(client, world, "organiser", f"/wishes/{taken}/cancel", {"reason": "重复的心愿"})
    assert (
        cancelled.get_json()["status"] == "cancelled"
        and cancelled.get_json()["cancel_reason"] == "重复的心愿"
    )
    assert code(call(client, world, "villager", f"/wishes/{taken}/confirm", {"rating": 5})) == (
        409,
        "invalid_state",
    )
    assert balance(client, world, "neighbour") == 0
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Contribution)) == 0


def test_members_see_open_wishes_of_their_county_nearest_first_and_their_own(client, world):
    far = open_wish(client, world, "outsider", title="河口镇的心愿")  # another town of the county
    near = open_wish(client, world, "neighbour", title="东街二网格的心愿")  # the resident's community
    own = post(client, world, "resident", title="我自己的心愿")  # submitted: seen only by me and staff
    listed = call(client, world, "resident", "/wishes").get_json()
    assert [item["id"] for item in listed["items"]] == [near, own, far]
    only_open = call(client, world, "resident", "/wishes?status=open").get_json()["items"]
    assert [item["id"] for item in only_open] == [near, far]
    assert [
        item["id"] for item in call(client, world, "resident", "/wishes?mine=requested").get_json()["items"]
    ] == [own]
    assert [item["id"] for item in call(client, world, "villager", "/wishes").get_json()["items"]] == [
        near,
        far,
    ]
    # An organiser of town A sees every wish of the town, whatever its step, and none of town B.
    organiser_sees = {
        item["id"] for item in call(client, world, "organiser", "/wishes?page_size=100").get_json()["items"]
    }
    assert {near, own} <= organiser_sees and far not in organiser_sees
    assert call(client, world, "organiser", f"/wishes/{own}").status_code == 200
    assert code(call(client, world, "outsider", f"/wishes/{own}")) == (403, "forbidden")
    in_town_b = call(client, world, "resident", f"/wishes?org_unit_id={world.units['town_b']}").get_json()[
        "items"
    ]
    assert [item["id"] for item in in_town_b] == [far]


def test_volunteers_see_a_masked_name_and_the_taker_the_requesters_phone(client, world):
    wish = open_wish(client, world)
    seen = call(client, world, "resident", f"/wishes/{wish}").get_json()
    assert (
        seen["requester"]["name"] == "钱*民" and seen["contact_phone"] is None and seen["actions"] == ["take"]
    )
    taken = call(client, world, "resident", f"/wishes/{wish}/take").get_json()
    assert taken["requester"]["name"] == "钱村民" and taken["contact_phone"] == world.phones["villager"]
    assert call(client, world, "villager", f"/wishes/{wish}").get_json()["taker"]["name"] == "张居民"


def test_a_wish_not_done_by_its_due_date_is_open_again_on_read_and_by_the_command(client, world, app, runner):
    first, second = open_wish(client, world), open_wish(client, world)
    for wish in (first, second):
        call(client, world, "neighbour", f"/wishes/{wish}/take")
    with app.app_context():
        for wish in (first, second):
            db.session.get(Wish, wish).due_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    shown = call(client, world, "villager", f"/wishes/{first}").get_json()
    assert shown["status"] == "open" and shown["taker"] is None
    result = runner.invoke(args=["wishes", "release-overdue"])
    assert result.exit_code == 0 and "1 overdue wish(es) open again" in result.output
    assert runner.invoke(args=["wishes", "release-overdue"]).output.startswith("0 ")
    with app.app_context():
        assert db.session.get(Wish, second).status == "open"
    assert code(call(client, world, "resident", f"/wishes/{second}/take")) == (410, "expired")
    again = call(client, world, "organiser", f"/wishes/{second}/publish", {"points": 30, "due_at": DUE})
    assert again.status_code == 200
    assert call(client, world, "resident", f"/wishes/{second}/take").status_code == 200


def test_done_after_the_due_date_is_refused_and_the_wish_is_open_again(app, world):
    with app.app_context():
        neighbour = db.session.get(Member, world.people["neighbour"])
        wish = services.post_wish(db.session.get(Member, world.people["villager"]), "修灯", "楼道灯").id
        admin = db.session.get(Member, world.people["global_admin"])
        services.vet_wish(admin, wish, "accept")
        services.publish_wish(admin, wish, 10, utcnow() + timedelta(hours=1))
        services.take_wish(neighbour, wish)
        with pytest.raises(AppError) as refused:
            services.mark_done(neighbour, wish, "修好了", now=utcnow() + timedelta(hours=2))
        assert (refused.value.status, refused.value.code) == (410, "expired")
        assert db.session.get(Wish, wish).status == "open" and db.session.get(Wish, wish).taker_id is None


def test_a_staff_account_with_no_grid_cannot_post_and_a_wish_cannot_be_claimed_by_hand(client, world):
    refused = call(client, world, "organiser", "/wishes", {"title": "x", "description": "y"})
    assert code(refused) == (422, "validation_error") and "org_unit_id" in refused.get_json()["errors"]
    claim = post_contribution(client, world, "resident", "wish", occurred_at=utcnow().isoformat())
    assert code(claim) == (422, "validation_error") and "activity_code" in claim.get_json()["errors"]


def test_the_wish_activity_pays_with_caps_and_badges_like_any_award(client, world, app):
    assert (
        client.patch(
            "/api/v1/activities/wish", json={"daily_cap": 50}, headers=world.headers["global_admin"]
        ).status_code
        == 200
    )
    wishes = [open_wish(client, world, points=30) for _ in range(2)]
    for wish in wishes:
        call(client, world, "neighbour", f"/wishes/{wish}/take")
        call(client, world, "neighbour", f"/wishes/{wish}/done", {"note": "好了"})
    assert call(client, world, "villager", f"/wishes/{wishes[0]}/confirm", {"rating": 5}).status_code == 200
    capped = call(client, world, "villager", f"/wishes/{wishes[1]}/confirm", {"rating": 5})
    assert code(capped) == (409, "daily_cap_reached")
    assert call(client, world, "villager", f"/wishes/{wishes[1]}").get_json()["status"] == "done"
    me = client.get("/api/v1/me", headers=world.headers["neighbour"]).get_json()
    assert me["lifetime_earned"] == 30 and "first_volunteer_service" in {
        badge["code"] for badge in me["badges"]
    }


def test_the_demo_has_open_wishes_to_take_and_a_patrol_route_with_posters(app, runner):
    from points.patrols.models import PatrolRoute
    from points.patrols.services import checkpoint_url
    from points.poster import render_checkpoint_posters

    for _time in range(2):  # loading the demo again adds nothing
        result = runner.invoke(args=["seed-demo"])
        assert result.exit_code == 0, result.output
    with app.app_context():
        statuses = sorted(db.session.scalars(sa.select(Wish.status)))
        assert statuses == ["open", "open", "submitted"]
        volunteer = db.session.scalar(sa.select(Member).where(Member.phone == "13800000007"))
        assert (
            services.list_wishes(volunteer, status="open")["total"] == 2
        )  # in the same county, another town
        route = db.session.scalar(sa.select(PatrolRoute))
        assert db.session.scalar(sa.select(sa.func.count(PatrolRoute.id))) == 1
        pdf = render_checkpoint_posters(
            route, [checkpoint_url(checkpoint, "http://localhost/") for checkpoint in route.checkpoints]
        )
        assert len(re.findall(rb"/Type\s*/Page\b", pdf)) == len(route.checkpoints) == 4
        assert verify_ledger() == []


def test_the_requester_hears_each_step_and_the_taker_hears_the_points_once(client, world, app):
    wish = open_wish(client, world, points=25)
    assert call(client, world, "neighbour", f"/wishes/{wish}/take").status_code == 200
    assert call(client, world, "neighbour", f"/wishes/{wish}/done", {"note": "搬完了"}).status_code == 200
    assert call(client, world, "villager", f"/wishes/{wish}/confirm", {"rating": 5}).status_code == 200

    def told(who):
        items = client.get("/api/v1/me/notifications?page_size=100", headers=world.headers[who]).get_json()[
            "items"
        ]
        return [(item["kind"], item["text"], item["url"]) for item in items]

    link = f"/wishes/{wish}"
    requester, taker = told("villager"), told("neighbour")
    assert [kind for kind, _text, _link in requester] == ["wish_done", "wish_taken"]
    assert all("帮忙搬煤" in text and where.endswith(link) for _kind, text, where in requester)
    with app.app_context():
        neighbour = db.session.get(Member, world.people["neighbour"]).name
    assert neighbour not in " ".join(text for _kind, text, _link in requester)  # the taker's name is masked
    completed = [(text, where) for kind, text, where in taker if kind == "wish_completed"]
    assert len(completed) == 1 and "25" in completed[0][0] and completed[0][1].endswith(link)
    assert "points_awarded" not in [kind for kind, _text, _where in taker]  # the points are told once

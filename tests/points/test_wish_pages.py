"""The pages of micro-wishes and patrols: a resident posts a wish from the phone, a grid worker vets,
an organiser publishes in the console, a volunteer takes and marks it done, the resident confirms with a
rating; the home page shows open wishes; a checkpoint's code opens a page that scans with one tap; the
console draws routes and shows each night's rounds. Every form is safe to send twice."""

from __future__ import annotations

import io
import random
import re
from datetime import datetime, timedelta

import sqlalchemy as sa
from PIL import Image

from core.clock import SHANGHAI
from core.extensions import db
from core.identity.models import Member
from points.patrols import services as patrols
from points.patrols.models import PatrolRound, PatrolRoute
from points.wishes.models import Wish
from tests.factories import make_activity, make_open_route
from tests.support.pages import csrf_token, signed_in

TOKEN = re.compile(r'name="form_token" value="([^"]+)"')


def form_fields(html: str) -> dict:
    """The CSRF and form tokens of the first form of a page that writes."""
    return {"csrf_token": csrf_token(html), "form_token": TOKEN.search(html).group(1)}


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (800, 600), (20, 120, 40)).save(out, "JPEG")
    return out.getvalue()


def flashes(html: str) -> list[str]:
    return re.findall(r'<p class="flash[^"]*"[^>]*>([^<]+)</p>', html)


def wish_row(app, wish_id: int) -> Wish:
    with app.app_context():
        wish = db.session.get(Wish, wish_id)
        db.session.expunge(wish)
        return wish


def test_a_wish_goes_through_every_page_from_posting_to_a_rating(app, world):
    resident = signed_in(app, world, "villager")
    page = resident.get("/wishes/new").get_data(as_text=True)
    assert 'class="card large-type"' in page and "data-shrink" in page
    data = {
        **form_fields(page),
        "title": "帮忙换灯泡",
        "description": "厨房的灯坏了，我够不着",
        "photo": (io.BytesIO(jpeg()), "IMG_1.jpg"),
    }
    posted = resident.post("/wishes/new", data=dict(data), content_type="multipart/form-data")
    again = resident.post(
        "/wishes/new",
        data={**data, "photo": (io.BytesIO(jpeg()), "IMG_1.jpg")},
        content_type="multipart/form-data",
    )
    assert (
        posted.status_code == again.status_code == 303
        and posted.headers["Location"] == again.headers["Location"]
    )
    wish_id = int(posted.headers["Location"].rsplit("/", 1)[1])
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Wish)) == 1
    assert wish_row(app, wish_id).photo_id is not None

    grid_worker = signed_in(app, world, "grid_worker")
    assert "待审核的心愿：1 个" in grid_worker.get("/").get_data(as_text=True)
    listing = grid_worker.get("/wishes/vet").get_data(as_text=True)
    assert "帮忙换灯泡" in listing
    vetted = grid_worker.post(
        f"/wishes/{wish_id}/vet?next=list", data={**form_fields(listing), "decision": "accept"}
    )
    assert vetted.status_code == 303 and vetted.headers["Location"] == "/wishes/vet"
    assert wish_row(app, wish_id).status == "vetted"

    organiser = signed_in(app, world, "organiser")
    console = organiser.get(f"/admin/wishes/{wish_id}").get_data(as_text=True)
    assert f'action="/admin/wishes/{wish_id}/publish"' in console
    due = (datetime.now(SHANGHAI) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    publish = organiser.post(
        f"/admin/wishes/{wish_id}/publish",
        data={
            **form_fields(console.split(f'action="/admin/wishes/{wish_id}/publish"', 1)[1]),
            "points": "50",
            "due_at": due,
        },
    )
    assert publish.status_code == 303
    assert (wish_row(app, wish_id).status, wish_row(app, wish_id).points) == ("open", 50)
    assert "帮忙换灯泡" in organiser.get("/admin/wishes?status=open").get_data(as_text=True)

    volunteer = signed_in(app, world, "neighbour")
    for page_path in ("/", "/earn", "/wishes"):
        assert "帮忙换灯泡" in volunteer.get(page_path).get_data(as_text=True), page_path
    shown = volunteer.get(f"/wishes/{wish_id}").get_data(as_text=True)
    assert "钱*民" in shown and "本社区" in shown and world.phones["villager"] not in shown
    taken = volunteer.post(f"/wishes/{wish_id}/take", data=form_fields(shown))
    assert taken.status_code == 303
    shown = volunteer.get(f"/wishes/{wish_id}").get_data(as_text=True)
    assert world.phones["villager"] in shown and "认领成功" in "".join(flashes(shown))
    done_form = shown.split(f'action="/wishes/{wish_id}/done"', 1)[1]
    refused = volunteer.post(
        f"/wishes/{wish_id}/done",
        data={**form_fields(done_form), "note": ""},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 422 and "请写下您做了什么，或添加一张照片。" in refused.get_data(
        as_text=True
    )
    done_form = refused.get_data(as_text=True).split(f'action="/wishes/{wish_id}/done"', 1)[1]
    done = volunteer.post(
        f"/wishes/{wish_id}/done",
        data={**form_fields(done_form), "note": "换好了，顺便擦了灯罩"},
        content_type="multipart/form-data",
    )
    assert done.status_code == 303 and wish_row(app, wish_id).status == "done"

    shown = resident.get(f"/wishes/{wish_id}").get_data(as_text=True)
    assert "换好了，顺便擦了灯罩" in shown and "刘邻居" in shown
    confirm_form = shown.split(f'action="/wishes/{wish_id}/confirm"', 1)[1]
    confirmed = resident.post(f"/wishes/{wish_id}/confirm", data={**form_fields(confirm_form), "rating": "4"})
    assert confirmed.status_code == 303
    assert (wish_row(app, wish_id).status, wish_row(app, wish_id).rating) == ("completed", 4)
    assert (
        volunteer.get("/api/v1/me", headers=world.headers["neighbour"]).get_json()["balance"]["available"]
        == 50
    )
    mine = volunteer.get("/me/wishes").get_data(as_text=True)
    assert "帮忙换灯泡" in mine and "已完成" in mine


def test_a_refused_step_keeps_what_was_typed_beside_its_form(app, world):
    admin = signed_in(app, world, "admin")
    requester = signed_in(app, world, "villager")
    page = requester.get("/wishes/new").get_data(as_text=True)
    posted = requester.post(
        "/wishes/new",
        data={**form_fields(page), "title": "", "description": "楼道灯坏了"},
        content_type="multipart/form-data",
    )
    html = posted.get_data(as_text=True)
    assert posted.status_code == 422 and "楼道灯坏了" in html and "请用几个字说明您需要什么帮助" in html
    wish_id = int(
        requester.post(
            "/wishes/new",
            data={**form_fields(html), "title": "修灯", "description": "楼道灯"},
            content_type="multipart/form-data",
        )
        .headers["Location"]
        .rsplit("/", 1)[1]
    )
    console = admin.get(f"/admin/wishes/{wish_id}").get_data(as_text=True)
    vet_form = console.split(f'action="/admin/wishes/{wish_id}/vet"', 1)[1]
    declined = admin.post(
        f"/admin/wishes/{wish_id}/vet", data={**form_fields(vet_form), "decision": "decline", "reason": ""}
    )
    assert declined.status_code == 422 and wish_row(app, wish_id).status == "submitted"
    assert 'aria-invalid="true"' in declined.get_data(as_text=True)  # beside the reason it lacks
    # The requester cancels; an organiser publishing it afterwards is told so, with the points typed kept.
    shown = requester.get(f"/wishes/{wish_id}").get_data(as_text=True)
    cancel_form = shown.split(f'action="/wishes/{wish_id}/cancel"', 1)[1]
    assert (
        requester.post(
            f"/wishes/{wish_id}/cancel", data={**form_fields(cancel_form), "reason": "已修好"}
        ).status_code
        == 303
    )
    assert f"/admin/wishes/{wish_id}/publish" not in console  # a submitted wish has no publish form yet
    admin_cancel = console.split(f'action="/admin/wishes/{wish_id}/cancel"', 1)[1]
    cancelled = admin.post(
        f"/admin/wishes/{wish_id}/cancel", data={**form_fields(admin_cancel), "reason": "重复的"}
    )
    assert cancelled.status_code == 409 and "重复的" in cancelled.get_data(as_text=True)


def test_the_console_lists_only_the_wishes_of_its_subtree(app, world):
    with app.app_context():
        from points.wishes import services

        outsider = db.session.get(Member, world.people["outsider"])
        far = services.post_wish(outsider, "河口镇的心愿", "修路灯").id
    organiser = signed_in(app, world, "organiser")
    assert "河口镇的心愿" not in organiser.get("/admin/wishes").get_data(as_text=True)
    assert organiser.get(f"/admin/wishes/{far}").status_code == 403
    assert signed_in(app, world, "grid_worker").get("/admin/wishes").status_code == 403


def test_a_checkpoint_code_opens_a_page_that_scans_with_one_tap(app, world):
    with app.app_context():
        make_activity("night_round", points=20, category="patrol")
        organiser = db.session.get(Member, world.people["organiser"])
        route = make_open_route(organiser, world.units["town_a"], "night_round", ["村委会", "小学门口"])
        first, second = (
            patrols.checkpoint_url(checkpoint, "http://localhost/") for checkpoint in route.checkpoints
        )
    path = "/" + first.split("/", 3)[3]
    assert app.test_client().get(path).status_code == 302  # signed out: the sign-in page first
    walker = signed_in(app, world, "resident")
    page = walker.get(path).get_data(as_text=True)
    assert "第 1 个（共 2 个）：村委会" in page and "在此打卡" in page
    fields = form_fields(page)
    first_tap, second_tap = walker.post(path, data=fields), walker.post(path, data=fields)
    assert first_tap.status_code == second_tap.status_code == 200
    assert first_tap.get_data(as_text=True) == second_tap.get_data(as_text=True)
    assert 'data-status="in_progress"' in first_tap.get_data(as_text=True)
    second_path = "/" + second.split("/", 3)[3].lower()
    done = walker.post(second_path, data=form_fields(walker.get(second_path).get_data(as_text=True)))
    html = done.get_data(as_text=True)
    assert 'data-status="completed"' in html and "+20 积分" in html
    with app.app_context():
        assert [(row.scanned, row.status) for row in db.session.scalars(sa.select(PatrolRound))] == [
            (2, "completed")
        ]
    again = walker.post(path, data=form_fields(walker.get(path).get_data(as_text=True)))
    assert again.status_code == 409 and 'data-code="already_checked_in"' in again.get_data(as_text=True)
    forged = walker.get(path[:-4] + "AAAA")
    assert forged.status_code == 400 and 'data-code="invalid_code"' in forged.get_data(as_text=True)


def test_the_console_draws_a_route_and_shows_who_walked_it_each_night(app, world):
    with app.app_context():
        make_activity("night_round", points=20, category="patrol")
    organiser = signed_in(app, world, "organiser")
    page = organiser.get("/admin/patrols/new").get_data(as_text=True)
    assert 'value="wish"' not in page
    data = {
        **form_fields(page),
        "name": "夜巡东线",
        "org_unit": str(world.units["town_a"]),
        "activity": "night_round",
        "checkpoints": "村委会\n\n小学门口\n水库大坝\n",
        "window_start": "22:00",
        "window_end": "02:00",
        "min_minutes_between": "10",
    }
    refused = organiser.post("/admin/patrols/new", data={**data, "checkpoints": "村委会"})
    assert refused.status_code == 422 and "村委会" in refused.get_data(as_text=True)
    drawn = organiser.post("/admin/patrols/new", data={**data, **form_fields(refused.get_data(as_text=True))})
    assert drawn.status_code == 303
    with app.app_context():
        route = db.session.scalars(sa.select(PatrolRoute)).one()
        assert [checkpoint.name for checkpoint in route.checkpoints] == ["村委会", "小学门口", "水库大坝"]
        codes = [patrols.checkpoint_url(checkpoint, "http://localhost/") for checkpoint in route.checkpoints]
        walker = db.session.get(Member, world.people["resident"])
        night = datetime(2026, 11, 20, 22, 0, tzinfo=SHANGHAI)
        for index, code in enumerate(codes):
            patrols.scan_checkpoint(walker, code, now=night + timedelta(minutes=15 * index))
        patrols.scan_checkpoint(db.session.get(Member, world.people["villager"]), codes[0], now=night)
        route_id = route.id
    shown = organiser.get(f"{drawn.headers['Location']}?night=2026-11-20").get_data(as_text=True)
    assert f"/api/v1/patrol-routes/{route_id}/posters.pdf" in shown
    assert re.search(r'data-count="completed">1<', shown) and re.search(r'data-count="incomplete">1<', shown)
    assert "张居民" in shown and "钱村民" in shown and 'data-state="incomplete"' in shown
    assert "夜巡东线" in organiser.get("/admin/patrols").get_data(as_text=True)
    assert signed_in(app, world, "grid_worker").get(f"/admin/patrols/{route_id}").status_code == 403


def test_the_wish_form_takes_a_phone_sized_photo_above_the_one_megabyte_limit(app, world):
    out = io.BytesIO()
    Image.frombytes("RGB", (1500, 1000), random.Random(5).randbytes(1500 * 1000 * 3)).save(out, "PNG")
    assert len(out.getvalue()) > 1024 * 1024
    resident = signed_in(app, world, "villager")
    data = {
        **form_fields(resident.get("/wishes/new").get_data(as_text=True)),
        "title": "帮忙修门锁",
        "description": "门锁坏了",
        "photo": (io.BytesIO(out.getvalue()), "big.png"),
    }
    posted = resident.post("/wishes/new", data=data, content_type="multipart/form-data")
    assert posted.status_code == 303
    assert wish_row(app, int(posted.headers["Location"].rsplit("/", 1)[1])).photo_id is not None

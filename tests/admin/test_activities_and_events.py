"""Activities: create, edit (past awards keep their points), retire. Events: create, poster, check-ins, close."""

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from core.database import utcnow
from points import events
from tests.rewards.conftest import person
from tests.support.contributions import hours_ago, post_contribution
from tests.support.pages import csrf_token, signed_in, submit_form

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")


def activity_form(**fields):
    return {
        "code": "hazard",
        "name": "隐患排查",
        "name_en": "",
        "category": "hazard_report",
        "points": "8",
        "unit": "each",
        "daily_cap": "",
        "needs_review": "y",
        "org_unit": "",
        "starts_at": "",
        "ends_at": "",
        **fields,
    }


def event_form(console, start: datetime, end: datetime) -> dict:
    """The new-event form's fields: a publicity event in town A from ``start`` to ``end``."""
    return {
        "title": "周末宣传",
        "activity": "publicity",
        "org_unit": str(console.units["town_a"]),
        "starts_at": local(start),
        "ends_at": local(end),
    }


def test_an_organiser_creates_an_activity_in_their_town(app, client, console):
    organiser = signed_in(app, console, "organiser")
    response = submit_form(
        organiser, "/admin/activities/new", activity_form(org_unit=str(console.units["town_a"]))
    )
    assert response.status_code == 303
    activity = client.get("/api/v1/activities/hazard", headers=console.headers["organiser"]).get_json()
    assert activity["points"] == 8 and activity["org_unit"]["id"] == console.units["town_a"]
    assert "隐患排查" in organiser.get("/admin/activities").get_data(as_text=True)


def test_a_refused_activity_form_keeps_what_was_typed(app, console):
    organiser = signed_in(app, console, "organiser")
    token = csrf_token(organiser.get("/admin/activities/new").get_data(as_text=True))
    bad = organiser.post(
        "/admin/activities/new",
        data={
            "csrf_token": token,
            **activity_form(points="0", name="夜间巡查", org_unit=str(console.units["town_a"])),
        },
    )
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert 'value="夜间巡查"' in html and 'value="hazard"' in html and 'value="0"' in html
    duplicate = organiser.post(
        "/admin/activities/new",
        data={
            "csrf_token": token,
            **activity_form(code="mediation", name="再来一次", org_unit=str(console.units["town_a"])),
        },
    )
    assert duplicate.status_code == 409
    assert 'value="再来一次"' in duplicate.get_data(as_text=True)
    outside = organiser.post(
        "/admin/activities/new",
        data={"csrf_token": token, **activity_form(org_unit=str(console.units["town_b"]))},
    )
    assert outside.status_code == 422  # town B is not among the choices


def test_editing_an_activity_keeps_the_points_of_past_awards(app, client, console):
    organiser = signed_in(app, console, "organiser")
    record = post_contribution(
        client, console, "organiser", "patrol_a", quantity=2, member="resident", occurred_at=hours_ago(3)
    )
    assert record.get_json()["points"] == 20
    edited = submit_form(
        organiser,
        "/admin/activities/patrol_a",
        activity_form(code="patrol_a", name="城关巡逻", category="patrol", points="50", unit="hour"),
    )
    assert edited.status_code == 303
    past = client.get(
        f"/api/v1/contributions/{record.get_json()['id']}", headers=console.headers["organiser"]
    )
    assert past.get_json()["points"] == 20
    ledger = client.get(
        f"/api/v1/members/{console.people['resident']}/ledger", headers=console.headers["organiser"]
    ).get_json()["items"]
    assert [(entry["points"], entry["balance_after"]) for entry in ledger] == [(20, 20)]
    again = post_contribution(client, console, "organiser", "patrol_a", member="resident")
    assert again.get_json()["points"] == 50
    audit = signed_in(app, console, "admin").get("/admin/audit?action=activity.update").get_data(as_text=True)
    assert "<dt>points</dt><dd>10 → 50</dd>" in audit


def test_retiring_an_activity_stops_new_points_and_can_be_undone(app, client, console):
    organiser = signed_in(app, console, "organiser")
    token = csrf_token(organiser.get("/admin/activities").get_data(as_text=True))
    assert organiser.post("/admin/activities/patrol_a/active", data={"csrf_token": token}).status_code == 303
    refused = post_contribution(client, console, "organiser", "patrol_a", member="resident")
    assert refused.status_code == 422
    assert "已停用" in organiser.get("/admin/activities").get_data(as_text=True)
    organiser.post("/admin/activities/patrol_a/active", data={"csrf_token": token, "active": "1"})
    assert client.get("/api/v1/activities/patrol_a", headers=console.headers["organiser"]).get_json()[
        "active"
    ]


def test_an_organiser_schedules_an_event_with_its_poster(app, client, console):
    organiser = signed_in(app, console, "organiser")
    token = csrf_token(organiser.get("/admin/events/new").get_data(as_text=True))
    start = utcnow() + timedelta(days=1)
    bad = organiser.post(
        "/admin/events/new",
        data={"csrf_token": token, **event_form(console, start, start - timedelta(hours=1))},
    )
    assert bad.status_code == 422 and 'value="周末宣传"' in bad.get_data(as_text=True)
    created = organiser.post(
        "/admin/events/new",
        data={"csrf_token": token, **event_form(console, start, start + timedelta(hours=2))},
    )
    assert created.status_code == 303
    page = organiser.get(created.headers["Location"]).get_data(as_text=True)
    poster = re.search(r'href="(/api/v1/events/\d+/poster.png)"', page).group(1)
    assert organiser.get(poster).headers["Content-Type"] == "image/png"


def test_the_event_page_lists_check_ins_and_closing_awards_hours(app, client, console):
    with app.app_context():
        event = events.read_event(person(console, "organiser"), console.events["a"])
        payload = events.checkin_url(event, "HTTP://LOCALHOST")
        events.check_in(person(console, "resident"), payload, now=utcnow() - timedelta(minutes=30))
    organiser = signed_in(app, console, "organiser")
    page = organiser.get(f"/admin/events/{console.events['a']}").get_data(as_text=True)
    assert "张居民" in page and "河口" not in page
    closed = organiser.post(
        f"/admin/events/{console.events['a']}/close", data={"csrf_token": csrf_token(page)}
    )
    assert closed.status_code == 303
    assert (
        client.get("/api/v1/me", headers=console.headers["resident"]).get_json()["balance"]["available"] == 5
    )
    again = organiser.get(f"/admin/events/{console.events['a']}").get_data(as_text=True)
    assert "关闭活动并发放时长积分" not in again
    twice = organiser.post(
        f"/admin/events/{console.events['a']}/close",
        data={"csrf_token": csrf_token(page)},
        follow_redirects=True,
    )
    assert twice.status_code == 200 and "flash-error" in twice.get_data(as_text=True)

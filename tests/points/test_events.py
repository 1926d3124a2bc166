"""Events: a check-in code per event, once per member, inside the window; hours at check-out or close."""

from datetime import UTC, datetime, timedelta

import pytest

from core.qr.render import qr_version

NOW = datetime.now(UTC)


def create_event(client, world, activity="publicity", starts=-1, ends=2, who="organiser", unit="community_a"):
    body = {
        "title": "夜间巡逻",
        "activity_code": activity,
        "org_unit_id": world.units[unit],
        "starts_at": (NOW + timedelta(hours=starts)).isoformat(),
        "ends_at": (NOW + timedelta(hours=ends)).isoformat(),
    }
    return client.post("/api/v1/events", json=body, headers=world.headers[who])


def check_in(client, world, who, payload):
    return client.post("/api/v1/checkins", json={"payload": payload}, headers=world.headers[who])


def test_an_event_has_a_signed_upper_case_checkin_url_and_a_qr_code(client, activities):
    world = activities
    response = create_event(client, world)
    assert response.status_code == 201
    url = response.get_json()["checkin_url"]
    assert url == url.upper() and "/E/" in url
    assert qr_version(url) <= 7
    svg = client.get(f"/api/v1/events/{response.get_json()['id']}/qr.svg", headers=world.headers["organiser"])
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml" and b"<path" in svg.data


def test_only_organisers_in_scope_create_events(client, activities):
    world = activities
    assert create_event(client, world, who="grid_worker").status_code == 403
    assert create_event(client, world, unit="community_b").status_code == 403
    assert create_event(client, world, starts=2, ends=1).status_code == 422


def test_checking_in_to_an_each_event_awards_at_once_and_only_once(client, activities):
    world = activities
    url = create_event(client, world).get_json()["checkin_url"]
    first = check_in(client, world, "resident", url)
    assert first.status_code == 201
    assert first.get_json()["contribution"]["points"] == 5
    assert first.get_json()["contribution"]["status"] == "approved"
    again = check_in(client, world, "resident", url.lower())
    assert again.status_code == 409 and again.get_json()["code"] == "already_checked_in"
    me = client.get("/api/v1/me", headers=world.headers["resident"]).get_json()
    assert me["balance"]["available"] == 5


@pytest.mark.parametrize("starts, ends", [(1, 2), (-3, -1)])
def test_a_scan_before_or_after_the_window_is_outside_window(client, activities, starts, ends):
    world = activities
    url = create_event(client, world, starts=starts, ends=ends).get_json()["checkin_url"]
    response = check_in(client, world, "resident", url)
    assert response.status_code == 422 and response.get_json()["code"] == "outside_window"


def test_forged_and_altered_codes_are_invalid(client, activities):
    world = activities
    url = create_event(client, world).get_json()["checkin_url"]
    token = url.rsplit("/", 1)[1]
    altered = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
    for payload in (altered, "HTTPS://EVIL.EXAMPLE/E/AAAA", "hello", token[:-3]):
        response = check_in(client, world, "resident", payload)
        assert response.status_code == 400 and response.get_json()["code"] == "invalid_code", payload
    assert client.get("/api/v1/me", headers=world.headers["resident"]).get_json()["balance"]["available"] == 0


def test_hours_are_awarded_at_check_out_in_whole_half_hours(client, activities, app):
    world = activities
    event = create_event(client, world, activity="patrol", starts=-3, ends=2).get_json()
    checkin = check_in(client, world, "resident", event["checkin_url"]).get_json()
    assert checkin["contribution"] is None
    backdate_checkins(app, 1 + 50 / 60)
    out = client.post(f"/api/v1/checkins/{checkin['id']}/checkout", headers=world.headers["resident"])
    assert out.status_code == 200
    assert out.get_json()["contribution"]["quantity"] == "1.5"
    assert out.get_json()["contribution"]["points"] == 15
    again = client.post(f"/api/v1/checkins/{checkin['id']}/checkout", headers=world.headers["resident"])
    assert again.status_code == 409


def backdate_checkins(app, hours):
    """Pretend everyone checked in ``hours`` ago (from now: the module's NOW may be minutes old in a long run)."""
    import sqlalchemy as sa

    from core.extensions import db
    from points.models import Checkin

    with app.app_context():
        db.session.execute(
            sa.update(Checkin).values(checked_in_at=datetime.now(UTC) - timedelta(hours=hours))
        )
        db.session.commit()


def test_closing_an_event_checks_everyone_out_with_their_hours(client, activities, app):
    world = activities
    event = create_event(client, world, activity="patrol", starts=-3, ends=2).get_json()
    for who in ("resident", "villager"):
        assert check_in(client, world, who, event["checkin_url"]).status_code == 201
    backdate_checkins(app, 2)
    assert (
        client.post(f"/api/v1/events/{event['id']}/close", headers=world.headers["resident"]).status_code
        == 403
    )
    closed = client.post(f"/api/v1/events/{event['id']}/close", headers=world.headers["organiser"])
    assert closed.status_code == 200 and closed.get_json()["closed_at"]
    contributions = client.get(
        "/api/v1/contributions?status=approved", headers=world.headers["organiser"]
    ).get_json()
    assert sorted((c["member"]["name"], c["points"]) for c in contributions["items"]) == [
        ("张居民", 20),
        ("钱村民", 20),
    ]
    late = check_in(client, world, "neighbour", event["checkin_url"])
    assert late.status_code == 422 and late.get_json()["code"] == "outside_window"


def test_the_landing_page_asks_to_sign_in_then_checks_in_with_one_tap(client, activities):
    import re

    world = activities
    url = create_event(client, world).get_json()["checkin_url"]
    path = "/" + url.split("/", 3)[3]
    response = client.get(path)
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    client.post(
        "/login", data={"csrf_token": token, "phone": world.phones["resident"], "password": "correct horse"}
    )
    landing = client.get(path).get_data(as_text=True)
    assert "夜间巡逻" in landing and "立即签到" in landing
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', landing).group(1)
    done = client.post(path, data={"csrf_token": token})
    assert done.status_code == 201 or done.status_code == 200
    assert "已签到" in done.get_data(as_text=True)
    assert client.post(path, data={"csrf_token": token}).status_code == 409


def test_the_printable_poster_is_an_a4_png_with_the_code(client, activities):
    import io

    from PIL import Image

    world = activities
    event = create_event(client, world).get_json()
    response = client.get(f"/api/v1/events/{event['id']}/poster.png", headers=world.headers["organiser"])
    assert response.status_code == 200 and response.mimetype == "image/png"
    image = Image.open(io.BytesIO(response.data))
    assert image.size == (1240, 1754)
    assert (
        client.get(f"/api/v1/events/{event['id']}/poster.png", headers=world.headers["resident"]).status_code
        == 403
    )


def test_without_a_chinese_font_the_poster_is_refused_clearly(client, activities, app, monkeypatch):
    from core import fonts

    world = activities
    event = create_event(client, world).get_json()
    monkeypatch.setattr(fonts, "DEFAULT_CJK_FONTS", ())
    app.config["CJK_FONT_PATH"] = "/nonexistent/font.ttc"
    response = client.get(f"/api/v1/events/{event['id']}/poster.png", headers=world.headers["organiser"])
    assert response.status_code == 503 and response.get_json()["code"] == "font_missing"


def test_a_well_signed_code_for_an_event_that_does_not_exist_is_invalid(client, activities, app):
    from core.qr.signing import code_url, sign_payload
    from points.events import EVENT_CHECKIN

    world = activities
    with app.test_request_context():
        url = code_url("https://jifen.example.cn", "E", sign_payload(EVENT_CHECKIN, event_id=999999))
    response = check_in(client, world, "resident", url)
    assert response.status_code == 400 and response.get_json()["errors"] == {"payload": ["unknown"]}

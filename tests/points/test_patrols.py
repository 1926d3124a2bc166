"""Patrols: routes of signed checkpoint codes, scanned in order inside a window that may cross midnight
(Asia/Shanghai), a complete round earning the route's activity once a night; posters; the rounds of a night."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

import pytest

from core.clock import SHANGHAI
from core.database import utcnow
from core.errors import AppError
from core.extensions import db
from core.identity.models import Member
from core.qr.render import qr_version
from points import events
from points.ledger import verify_ledger
from points.patrols import services
from points.patrols.models import PatrolRound
from tests.factories import make_activity

BASE = "http://localhost/"


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A moment of November 2026 (past: its windows have closed) in Asia/Shanghai."""
    return datetime(2026, 11, day, hour, minute, second, tzinfo=SHANGHAI)


@pytest.fixture
def rounds(app, world):
    """An activity of 20 points a round, and a way to draw routes in town A as its organiser."""
    with app.app_context():
        make_activity("night_round", points=20, category="patrol")

    def draw(
        start="22:00",
        end="02:00",
        gap=10,
        names=("村委会", "小学门口", "水库大坝"),
        activity="night_round",
        who="organiser",
    ):
        with app.app_context():
            actor = db.session.get(Member, world.people[who])
            route = services.create_route(
                actor,
                "夜巡东线",
                world.units["community_a"],
                activity,
                list(names),
                time.fromisoformat(start),
                time.fromisoformat(end),
                gap,
            )
            return route.id, [services.checkpoint_url(checkpoint, BASE) for checkpoint in route.checkpoints]

    return draw


def scan(app, world, who, code, when):
    """Scan as one of the world's people at a moment; answer the round, or the refusal's code."""
    with app.app_context():
        try:
            patrol = services.scan_checkpoint(db.session.get(Member, world.people[who]), code, now=when)
        except AppError as error:
            db.session.rollback()
            return error.code
        return {
            "scanned": patrol.scanned,
            "status": patrol.status,
            "night": patrol.night,
            "points": patrol.contribution.points if patrol.contribution else None,
            "contribution_status": patrol.contribution.status if patrol.contribution else None,
            "refused": patrol.points_refused,
        }


def route_body(world, **change) -> dict:
    """The JSON body of a walkable route of three checkpoints in community A, with ``change`` applied."""
    return {
        "name": "夜巡西线",
        "org_unit_id": world.units["community_a"],
        "activity_code": "night_round",
        "checkpoints": [{"name": "桥头"}, {"name": "祠堂"}, {"name": "卫生室"}],
        "window_start": "22:00",
        "window_end": "02:00",
        "min_minutes_between": 5,
        **change,
    }


def test_a_route_has_a_signed_upper_case_code_per_checkpoint(client, world, rounds):
    response = client.post(
        "/api/v1/patrol-routes", json=route_body(world), headers=world.headers["organiser"]
    )
    assert response.status_code == 201, response.get_json()
    route = response.get_json()
    assert (route["window_start"], route["window_end"], route["min_minutes_between"]) == ("22:00", "02:00", 5)
    assert [checkpoint["position"] for checkpoint in route["checkpoints"]] == [1, 2, 3]
    urls = [checkpoint["checkpoint_url"] for checkpoint in route["checkpoints"]]
    assert len(set(urls)) == 3 and all(url == url.upper() and "/K/" in url for url in urls)
    assert max(qr_version(url) for url in urls) <= 7
    shown = client.get(f"/api/v1/patrol-routes/{route['id']}", headers=world.headers["organiser"]).get_json()
    assert [checkpoint["checkpoint_url"] for checkpoint in shown["checkpoints"]] == urls


@pytest.mark.parametrize(
    "change, field",
    [
        ({"checkpoints": [{"name": "桥头"}]}, "checkpoints"),
        ({"checkpoints": [{"name": f"点{n}"} for n in range(31)]}, "checkpoints"),
        ({"checkpoints": [{"name": "桥头"}, {"name": " "}]}, "checkpoints"),
        ({"window_start": "24:00"}, "window_start"),
        ({"window_end": "2:00"}, "window_end"),
        ({"window_end": "22:00"}, "window_end"),
        (
            {"min_minutes_between": 130},
            "min_minutes_between",
        ),  # two gaps of 130 minutes do not fit in 4 hours
        ({"min_minutes_between": -1}, "min_minutes_between"),
        ({"activity_code": "wish"}, "activity_code"),
    ],
)
def test_a_route_that_cannot_be_walked_is_refused(client, world, rounds, change, field):
    response = client.post(
        "/api/v1/patrol-routes", json=route_body(world, **change), headers=world.headers["organiser"]
    )
    assert response.status_code == 422 and field in response.get_json()["errors"], response.get_json()


def test_only_organisers_in_scope_draw_routes_and_see_them(client, world, rounds):
    route_id, _codes = rounds()
    body = route_body(
        world,
        name="夜巡",
        org_unit_id=world.units["community_b"],
        checkpoints=[{"name": "桥头"}, {"name": "祠堂"}],
        window_start="20:00",
        window_end="23:00",
    )
    assert (
        client.post("/api/v1/patrol-routes", json=body, headers=world.headers["organiser"]).status_code == 403
    )
    assert (
        client.post("/api/v1/patrol-routes", json=body, headers=world.headers["grid_worker"]).status_code
        == 403
    )
    for who, status in (("grid_worker", 403), ("resident", 403), ("grid_worker_b", 403), ("admin", 200)):
        assert (
            client.get(f"/api/v1/patrol-routes/{route_id}", headers=world.headers[who]).status_code == status
        )


@pytest.mark.parametrize(
    "moment, night",
    [
        (at(5, 21, 59, 59), None),  # a second before the window opens
        (at(5, 22, 0, 0), date(2026, 11, 5)),
        (at(5, 23, 59, 59), date(2026, 11, 5)),
        (at(6, 0, 0, 0), date(2026, 11, 5)),  # past midnight: still the night it began
        (at(6, 1, 59, 59), date(2026, 11, 5)),
        (at(6, 2, 0, 0), None),  # the window's end is not in it
        (at(6, 12, 0, 0), None),
    ],
)
def test_a_window_across_midnight_in_shanghai(app, world, rounds, moment, night):
    route_id, codes = rounds()
    with app.app_context():
        assert services.night_of(services.get_route(route_id), moment) == night
    outcome = scan(app, world, "resident", codes[0], moment)
    if night is None:
        assert outcome == "outside_window"
    else:
        assert outcome["night"] == night and outcome["scanned"] == 1


@pytest.mark.parametrize(
    "moment, inside",
    [
        (at(5, 7, 59, 59), False),
        (at(5, 8, 0, 0), True),
        (at(5, 11, 59, 59), True),
        (at(5, 12, 0, 0), False),
        # The window is Shanghai's, not UTC's: 02:00 UTC is 10:00 in Shanghai, 23:59:59 UTC is 07:59:59 next morning.
        (datetime(2026, 11, 5, 2, 0, tzinfo=UTC), True),
        (datetime(2026, 11, 4, 23, 59, 59, tzinfo=UTC), False),
    ],
)
def test_a_window_within_one_day(app, world, rounds, moment, inside):
    route_id, codes = rounds(start="08:00", end="12:00")
    outcome = scan(app, world, "resident", codes[0], moment)
    assert (outcome != "outside_window") == inside
    if inside:
        assert outcome["night"] == moment.astimezone(SHANGHAI).date() == date(2026, 11, 5)


def test_checkpoints_are_scanned_in_order_not_too_fast_and_a_round_earns_once(app, world, rounds):
    _route_id, (first, second, third) = rounds()
    assert (
        scan(app, world, "resident", second, at(5, 22, 0)) == "wrong_order"
    )  # a round starts at checkpoint 1
    assert scan(app, world, "resident", first, at(5, 22, 0))["scanned"] == 1
    assert scan(app, world, "resident", first, at(5, 22, 1)) == "already_checked_in"
    assert scan(app, world, "resident", third, at(5, 22, 20)) == "wrong_order"
    assert scan(app, world, "resident", second, at(5, 22, 9, 59)) == "too_fast"
    assert scan(app, world, "resident", second, at(5, 22, 10))["scanned"] == 2
    assert scan(app, world, "resident", second, at(5, 22, 30)) == "already_checked_in"
    done = scan(app, world, "resident", third, at(5, 22, 20))
    assert (done["status"], done["points"], done["contribution_status"]) == ("completed", 20, "approved")
    for code in (first, second, third):
        assert scan(app, world, "resident", code, at(5, 23, 30)) == "already_checked_in"
    # Another member walks the same route the same night; the resident again the next night.
    assert scan(app, world, "villager", first, at(5, 23, 0))["scanned"] == 1
    assert scan(app, world, "resident", first, at(6, 22, 0))["night"] == date(2026, 11, 6)
    with app.app_context():
        assert verify_ledger() == []
    me = app.test_client().get("/api/v1/me", headers=world.headers["resident"]).get_json()
    assert me["balance"]["available"] == 20


def test_a_round_across_midnight_belongs_to_the_night_it_began(app, world, rounds):
    _route_id, (first, second, third) = rounds()
    assert scan(app, world, "resident", first, at(5, 23, 55))["night"] == date(2026, 11, 5)
    assert scan(app, world, "resident", second, at(6, 0, 5))["scanned"] == 2
    done = scan(app, world, "resident", third, at(6, 0, 15))
    assert (done["status"], done["night"], done["points"]) == ("completed", date(2026, 11, 5), 20)


def test_a_round_not_finished_by_the_windows_end_stays_incomplete_and_earns_nothing(
    app, client, world, rounds
):
    route_id, (first, second, third) = rounds()
    scan(app, world, "resident", first, at(6, 1, 45))
    scan(app, world, "resident", second, at(6, 1, 55))
    assert scan(app, world, "resident", third, at(6, 2, 0)) == "outside_window"
    assert scan(app, world, "resident", third, at(6, 22, 5)) == "wrong_order"  # a new night starts afresh
    with app.app_context():
        patrol = db.session.query(PatrolRound).filter_by(night=date(2026, 11, 5)).one()
        assert patrol.contribution_id is None
        assert services.round_state(patrol, at(6, 1, 59)) == "in_progress"
        assert services.round_state(patrol, at(6, 2, 0)) == "incomplete"
    listed = client.get(
        f"/api/v1/patrol-routes/{route_id}/rounds?night=2026-11-05", headers=world.headers["organiser"]
    ).get_json()
    assert listed["night"] == "2026-11-05"
    assert [
        (item["member"]["id"], item["scanned"], item["of"], item["state"]) for item in listed["items"]
    ] == [(world.people["resident"], 2, 3, "incomplete")]
    assert client.get("/api/v1/me", headers=world.headers["resident"]).get_json()["balance"]["available"] == 0


def test_forged_altered_and_other_kinds_of_codes_are_invalid(app, client, world, rounds):
    _route_id, (first, *_rest) = rounds(start="00:00", end="23:59")
    token = first.rsplit("/", 1)[1]
    altered = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
    with app.app_context():
        event = events.create_event(
            db.session.get(Member, world.people["organiser"]),
            "夜巡",
            "night_round",
            world.units["community_a"],
            utcnow(),
            utcnow() + timedelta(hours=1),
        )
        event_code = events.checkin_url(event, BASE)
    for payload in (altered, "HTTPS://EVIL.EXAMPLE/K/AAAA", "hello", event_code, token[:-3]):
        response = client.post(
            "/api/v1/patrols/scans", json={"payload": payload}, headers=world.headers["resident"]
        )
        assert (response.status_code, response.get_json()["code"]) == (400, "invalid_code"), payload


def test_the_scan_endpoint_answers_the_round_and_on_completion_its_contribution(client, world, rounds):
    now = utcnow().astimezone(SHANGHAI)
    _route_id, codes = rounds(
        start=(now - timedelta(hours=1)).strftime("%H:%M"),
        end=(now + timedelta(hours=1)).strftime("%H:%M"),
        gap=0,
        names=("桥头", "祠堂"),
    )
    first = client.post(
        "/api/v1/patrols/scans", json={"payload": codes[0]}, headers=world.headers["resident"]
    )
    assert first.status_code == 201
    body = first.get_json()
    assert body["contribution"] is None
    assert (body["patrol"]["scanned"], body["patrol"]["of"], body["patrol"]["status"]) == (
        1,
        2,
        "in_progress",
    )
    assert body["patrol"]["route"]["name"] == "夜巡东线"
    last = client.post(
        "/api/v1/patrols/scans", json={"payload": codes[1].lower()}, headers=world.headers["resident"]
    )
    assert last.get_json()["patrol"]["status"] == "completed"
    assert last.get_json()["contribution"]["points"] == 20


def test_the_routes_creator_walking_it_earns_only_a_pending_claim(app, world, rounds):
    _route_id, (first, second) = rounds(names=("桥头", "祠堂"), who="admin")
    scan(app, world, "admin", first, at(5, 22, 0))
    done = scan(app, world, "admin", second, at(5, 22, 30))
    assert (done["status"], done["contribution_status"]) == ("completed", "pending")


def test_an_hourly_activity_pays_the_rounds_whole_half_hours(app, world, rounds):
    with app.app_context():
        make_activity("hourly_round", points=10, unit="hour", category="patrol")
    _route_id, (first, second) = rounds(names=("桥头", "祠堂"), activity="hourly_round")
    scan(app, world, "resident", first, at(5, 22, 0))
    assert scan(app, world, "resident", second, at(5, 23, 40))["points"] == 15  # 1.5 hours
    scan(app, world, "villager", first, at(5, 22, 0))
    short = scan(app, world, "villager", second, at(5, 22, 20))
    assert (short["status"], short["points"], short["refused"]) == ("completed", None, "too_short")


def test_the_daily_cap_leaves_a_complete_round_unpaid_and_says_why(app, world, rounds):
    with app.app_context():
        make_activity("capped_round", points=20, daily_cap=20, category="patrol")
    _east, (east_1, east_2) = rounds(names=("桥头", "祠堂"), activity="capped_round")
    _west, (west_1, west_2) = rounds(names=("学校", "市场"), activity="capped_round")
    scan(app, world, "resident", east_1, at(5, 22, 0))
    assert scan(app, world, "resident", east_2, at(5, 22, 15))["points"] == 20
    scan(app, world, "resident", west_1, at(5, 22, 30))
    capped = scan(app, world, "resident", west_2, at(5, 22, 45))
    assert (capped["status"], capped["points"], capped["refused"]) == ("completed", None, "daily_cap_reached")
    with app.app_context():
        assert verify_ledger() == []


def test_the_posters_are_one_a4_page_per_checkpoint(client, world, rounds):
    route_id, _codes = rounds()
    response = client.get(f"/api/v1/patrol-routes/{route_id}/posters.pdf", headers=world.headers["organiser"])
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    pdf = response.data
    assert pdf.startswith(b"%PDF-") and len(pdf) < 500_000
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) == 3
    boxes = re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", pdf)
    assert len(boxes) == 3 and all(abs(float(w) - 595.3) < 1 and abs(float(h) - 841.9) < 1 for w, h in boxes)
    assert (
        client.get(
            f"/api/v1/patrol-routes/{route_id}/posters.pdf", headers=world.headers["grid_worker"]
        ).status_code
        == 403
    )


def test_the_rounds_of_a_night_say_who_completed_who_is_on_the_way_and_who_did_not_finish(
    app, client, world, rounds
):
    route_id, (first, second, third) = rounds()
    for who, steps in (("resident", 3), ("villager", 1)):
        for index, code in enumerate((first, second, third)[:steps]):
            scan(app, world, who, code, at(5, 22, 10 * index))
    with app.app_context():
        route = services.get_route(route_id)
        assert services.night_summary(route, date(2026, 11, 5), at(5, 23, 0)) == {
            "completed": 1,
            "in_progress": 1,
            "incomplete": 0,
        }
        assert services.night_summary(route, date(2026, 11, 5), at(6, 3, 0)) == {
            "completed": 1,
            "in_progress": 0,
            "incomplete": 1,
        }
    listed = client.get(
        f"/api/v1/patrol-routes/{route_id}/rounds?night=2026-11-05", headers=world.headers["organiser"]
    ).get_json()
    assert {(item["member"]["id"], item["state"]) for item in listed["items"]} == {
        (world.people["resident"], "completed"),
        (world.people["villager"], "incomplete"),
    }
    assert listed["items"][0]["contribution"]["points"] == 20

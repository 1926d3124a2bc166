"""The leaderboard endpoints and pages, the month close and its honour roll, the commands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from core.clock import SHANGHAI
from core.database import begin_writing, utcnow
from core.extensions import db
from points import ledger
from points.models import HonourRoll, HonourRollEntry
from tests.support.pages import INLINE_SCRIPT, signed_in

UTC = UTC
OCTOBER = datetime(2026, 10, 15, 4, tzinfo=UTC)


def earn(app, member_id: int, points: int, occurred_at: datetime | None = None) -> None:
    """Award points in their own transaction."""
    with app.app_context():
        begin_writing(db.session)
        ledger.award(
            member_id, points, occurred_at=occurred_at or utcnow() - timedelta(hours=1), actor_id=None
        )
        db.session.commit()


def test_the_members_board_answers_the_contract(app, client, world):
    earn(app, world.people["resident"], 20)
    earn(app, world.people["villager"], 12)

    response = client.get(
        f"/api/v1/leaderboards/members?org_unit_id={world.units['county']}&period=month",
        headers=world.headers["villager"],
    )

    assert response.status_code == 200
    body = response.get_json()
    assert set(body["period"]) >= {"start", "end"} and body["period"]["start"].endswith("+08:00")
    assert [(e["rank"], e["display_name"], e["org_unit"]["id"], e["points"]) for e in body["entries"]] == [
        (1, "张*民", world.units["grid_a"], 20),
        (2, "钱*民", world.units["grid_a"], 12),
    ]
    assert {key: body["me"][key] for key in ("rank", "points", "total", "to_next")} == {
        "rank": 2,
        "points": 12,
        "total": 2,
        "to_next": 9,
    }
    assert body["me"]["above"]["display_name"] == "张*民"
    staff = client.get(
        f"/api/v1/leaderboards/members?org_unit_id={world.units['county']}",
        headers=world.headers["organiser"],
    ).get_json()
    assert staff["me"] is None and len(staff["entries"]) == 2


def test_the_org_unit_board_answers_the_contract(app, client, world):
    earn(app, world.people["outsider"], 9)

    body = client.get(
        f"/api/v1/leaderboards/org-units?parent_id={world.units['county']}&metric=per_capita",
        headers=world.headers["resident"],
    ).get_json()

    assert [
        (e["rank"], e["org_unit"]["name"], e["points"], e["residents"], e["per_capita"])
        for e in body["entries"]
    ] == [(1, "河口镇", 9, 2, 4.5), (2, "城关镇", 0, 4, 0.0)]


@pytest.mark.parametrize(
    "query, field",
    [
        ("period=decade&org_unit_id=1", "period"),
        ("at=2026-13-01&org_unit_id=1", "at"),
        ("at=0640-06-04&org_unit_id=1", "at"),
        ("at=2100-01-01&org_unit_id=1", "at"),
        ("limit=0&org_unit_id=1", "limit"),
        ("limit=101&org_unit_id=1", "limit"),
        ("", "org_unit_id"),
    ],
)
def test_bad_board_queries_are_refused_with_the_field_named(client, world, query, field):
    response = client.get(f"/api/v1/leaderboards/members?{query}", headers=world.headers["resident"])
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "validation_error" and field in str(body["errors"])


def test_boards_need_a_signed_in_member_and_a_real_unit(client, world):
    assert client.get(f"/api/v1/leaderboards/members?org_unit_id={world.units['county']}").status_code == 401
    missing = client.get("/api/v1/leaderboards/members?org_unit_id=9999", headers=world.headers["resident"])
    assert missing.status_code == 404 and missing.get_json()["code"] == "not_found"
    bad_metric = client.get(
        "/api/v1/leaderboards/org-units?metric=average", headers=world.headers["resident"]
    )
    assert bad_metric.status_code == 422


def test_a_closed_month_keeps_its_honour_roll_while_live_boards_move_on(app, client, runner, world):
    earn(app, world.people["resident"], 30, OCTOBER)
    earn(app, world.people["villager"], 10, OCTOBER)
    url = f"/api/v1/leaderboards/honour-roll?org_unit_id={world.units['town_a']}&month=2026-10"
    assert client.get(url, headers=world.headers["resident"]).status_code == 404

    result = runner.invoke(args=["leaderboards", "close-month", "--month", "2026-10", "--top", "1"])
    assert result.exit_code == 0, result.output
    earn(
        app, world.people["villager"], 50, OCTOBER
    )  # late, backdated: the live board moves, the roll does not
    again = runner.invoke(args=["leaderboards", "close-month", "--month", "2026-10"])

    assert "for 0 org units" in again.output
    body = client.get(url, headers=world.headers["resident"]).get_json()
    assert (body["month"], body["ranked"]) == ("2026-10", 2)
    assert [(e["rank"], e["display_name"], e["points"]) for e in body["entries"]] == [(1, "张*民", 30)]
    live = client.get(
        f"/api/v1/leaderboards/members?org_unit_id={world.units['town_a']}&at=2026-10-20",
        headers=world.headers["admin"],
    ).get_json()
    assert [e["points"] for e in live["entries"]] == [60, 30]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(HonourRoll)) == 8  # every unit, once
        assert (
            db.session.scalar(sa.select(sa.func.count()).select_from(HonourRollEntry)) == 4
        )  # top 1 of the county, town, community, grid


def test_a_month_that_has_not_ended_cannot_be_closed(runner, world):
    this_month = datetime.now(SHANGHAI).strftime("%Y-%m")
    result = runner.invoke(args=["leaderboards", "close-month", "--month", this_month])
    assert result.exit_code != 0 and "has not ended yet" in result.output
    assert runner.invoke(args=["leaderboards", "close-month", "--month", "October"]).exit_code != 0


def test_rebuild_command_reports_nothing_changed(app, runner, world):
    earn(app, world.people["resident"], 5)
    result = runner.invoke(args=["leaderboards", "rebuild"])
    assert result.exit_code == 0 and "5 totals, 0 changed" in result.output


def test_the_leaderboard_page_pins_me_and_switches_period_and_area(app, world):
    earn(app, world.people["resident"], 20)
    earn(app, world.people["villager"], 12)
    browser = signed_in(app, world, "villager")

    page = browser.get("/leaderboards?period=month").get_data(as_text=True)

    assert "张*民" in page and "钱*民" in page and "张居民" not in page
    assert "data-me" in page and not INLINE_SCRIPT.search(page)
    assert "本期获得积分" in page and "不是您的可用余额" in page  # not to be read as a second balance
    assert f"org_unit_id={world.units['grid_a']}" in page and "period=week" in page
    grid = browser.get(f"/leaderboards?period=all&org_unit_id={world.units['grid_a2']}")
    assert grid.status_code == 200 and "钱*民" not in grid.get_data(as_text=True)
    assert "/leaderboards" in browser.get("/me/points").get_data(as_text=True)


def test_the_honour_roll_page_shows_a_closed_month_or_says_it_is_not_published(app, runner, world):
    earn(app, world.people["resident"], 30, OCTOBER)
    browser = signed_in(app, world, "villager")
    url = f"/leaderboards/honour-roll?org_unit_id={world.units['county']}&month=2026-10"
    before = browser.get(url)
    assert before.status_code == 200 and "张*民" not in before.get_data(as_text=True)
    assert "尚未发布" in before.get_data(as_text=True)

    runner.invoke(args=["leaderboards", "close-month", "--month", "2026-10"])
    after = browser.get(url)

    assert after.status_code == 200 and "张*民" in after.get_data(as_text=True)

"""Budgets: the API, every kind of award refused whole past a budget, reversals, changes, moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from core.audit import AuditEntry
from core.clock import shanghai_today
from core.database import begin_writing, utcnow
from core.errors import AppError
from core.extensions import db
from core.identity.models import Member, OrgUnit
from points import budgets, events, ledger
from points.ledger import verify_ledger
from points.models import (
    Budget,
    BudgetAllotment,
    Contribution,
    DailyCheckin,
    LedgerTransaction,
    MemberBalance,
)
from tests.factories import make_activity
from tests.support.contributions import post_contribution

YEAR = shanghai_today().year


def set_budget(client, world, unit: str, points: int, who: str = "global_admin", year: int = YEAR):
    return client.put(
        f"/api/v1/org-units/{world.units[unit]}/budgets/{year}",
        json={"points": points},
        headers=world.headers[who],
    )


def get_budget(client, world, unit: str, who: str = "global_admin", year: int = YEAR):
    return client.get(f"/api/v1/org-units/{world.units[unit]}/budgets/{year}", headers=world.headers[who])


def record(
    client,
    world,
    member: str,
    activity: str = "mediation",
    quantity=1,
    who: str = "organiser",
    occurred_at: str | None = None,
):
    return post_contribution(client, world, who, activity, quantity, member=member, occurred_at=occurred_at)


def available(app, world, member: str) -> int:
    with app.app_context():
        row = db.session.get(MemberBalance, world.people[member])
        return row.available if row else 0


def test_a_budget_is_set_read_and_counts_what_its_subtree_is_awarded(client, activities):
    world = activities
    assert get_budget(client, world, "town_a").status_code == 404
    assert record(client, world, "resident").status_code == 201  # 20 points, before the budget exists
    answer = set_budget(client, world, "town_a", 100)
    assert answer.status_code == 200
    assert answer.get_json() | {"updated_at": None} == {
        "org_unit": {"id": world.units["town_a"], "name": "城关镇"},
        "year": YEAR,
        "points": 100,
        "awarded": 20,
        "remaining": 80,
        "updated_at": None,
    }
    assert record(client, world, "neighbour").status_code == 201  # another grid of the same town
    assert record(client, world, "outsider", who="grid_worker_b").status_code == 201  # another town
    body = get_budget(client, world, "town_a", who="organiser").get_json()
    assert (body["awarded"], body["remaining"]) == (40, 60)
    assert get_budget(client, world, "town_a", who="grid_worker").status_code == 403
    assert set_budget(client, world, "town_a", 90, who="organiser").status_code == 403
    assert set_budget(client, world, "town_b", 90, who="admin").status_code == 403


def test_bad_budgets_are_refused_with_the_contract_shape(client, activities):
    world = activities
    for body in ({}, {"points": -1}, {"points": "100"}, {"points": 1.5}, {"points": 3_000_000_000}):
        answer = client.put(
            f"/api/v1/org-units/{world.units['town_a']}/budgets/{YEAR}",
            json=body,
            headers=world.headers["global_admin"],
        )
        assert answer.status_code == 422 and answer.get_json()["code"] == "validation_error", body
    assert set_budget(client, world, "town_a", 10, year=1999).status_code == 422
    answer = client.put(
        f"/api/v1/org-units/999999/budgets/{YEAR}", json={"points": 5}, headers=world.headers["global_admin"]
    )
    assert answer.status_code == 404


def test_an_award_past_the_budget_is_refused_whole_and_a_reversal_makes_room(client, app, activities):
    world = activities
    assert set_budget(client, world, "county", 50).status_code == 200
    first = record(client, world, "resident")
    second = record(client, world, "villager")
    assert first.status_code == second.status_code == 201
    with app.app_context():
        counts = (
            db.session.scalar(sa.select(sa.func.count()).select_from(Contribution)),
            db.session.scalar(sa.select(sa.func.count()).select_from(LedgerTransaction)),
            db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)),
        )
    refused = record(client, world, "neighbour")
    body = refused.get_json()
    assert refused.status_code == 409 and body["code"] == "budget_exhausted"
    assert "平安县" in body["errors"]["points"][0] and "10 of 50" in body["errors"]["points"][0]
    with app.app_context():
        assert counts == (
            db.session.scalar(sa.select(sa.func.count()).select_from(Contribution)),
            db.session.scalar(sa.select(sa.func.count()).select_from(LedgerTransaction)),
            db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)),
        )
    assert available(app, world, "neighbour") == 0
    assert record(client, world, "neighbour", "publicity", 2).status_code == 201  # 10 points fit exactly
    reverse = client.post(
        f"/api/v1/contributions/{first.get_json()['id']}/reverse",
        json={"reason": "记错"},
        headers=world.headers["organiser"],
    )
    assert reverse.status_code == 200
    assert get_budget(client, world, "county").get_json()["awarded"] == 30
    assert record(client, world, "neighbour").status_code == 201
    with app.app_context():
        assert verify_ledger() == [] and budgets.verify_budgets() == []


def test_every_unit_on_the_members_path_counts(client, activities):
    world = activities
    set_budget(client, world, "county", 1000)
    set_budget(client, world, "community_a", 30)
    assert record(client, world, "resident").status_code == 201
    assert record(client, world, "neighbour").status_code == 409  # the community's budget
    assert record(client, world, "outsider", who="grid_worker_b").status_code == 201  # not under it
    assert get_budget(client, world, "county").get_json()["awarded"] == 40


def test_approvals_check_ins_and_the_daily_check_in_are_all_covered(client, app, activities):
    world = activities
    claim = record(client, world, "resident", who="resident").get_json()
    set_budget(client, world, "grid_a", 0)
    approve = client.post(
        f"/api/v1/contributions/{claim['id']}/approve", headers=world.headers["grid_worker"]
    )
    assert approve.status_code == 409 and approve.get_json()["code"] == "budget_exhausted"
    daily = client.post("/api/v1/me/checkins", headers=world.headers["resident"])
    assert daily.status_code == 409 and daily.get_json()["code"] == "budget_exhausted"
    with app.app_context():
        make_activity("drill", points=5, needs_review=False)
        organiser = db.session.get(Member, world.people["organiser"])
        event = events.create_event(
            organiser,
            "消防演练",
            "drill",
            world.units["town_a"],
            utcnow() - timedelta(hours=1),
            utcnow() + timedelta(hours=1),
        )
        code = events.checkin_url(event, "http://localhost/")
    checkin = client.post("/api/v1/checkins", json={"payload": code}, headers=world.headers["resident"])
    assert checkin.status_code == 409 and checkin.get_json()["code"] == "budget_exhausted"
    assert available(app, world, "resident") == 0
    assert (
        client.get(f"/api/v1/contributions/{claim['id']}", headers=world.headers["grid_worker"]).get_json()[
            "status"
        ]
        == "pending"
    )
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(DailyCheckin)) == 0


def test_closing_an_event_keeps_check_ins_whose_hours_would_pass_the_budget_without_points(
    client, app, activities
):
    world = activities
    with app.app_context():
        make_activity("vigil", points=10, unit="hour", needs_review=False)
        organiser = db.session.get(Member, world.people["organiser"])
        start = utcnow() - timedelta(hours=3)
        event = events.create_event(
            organiser, "守夜", "vigil", world.units["town_a"], start, utcnow() + timedelta(hours=1)
        )
        for who in ("resident", "neighbour"):
            events.check_in(
                db.session.get(Member, world.people[who]),
                events.checkin_url(event, "http://localhost/"),
                now=start + timedelta(minutes=1),
            )
        event_id = event.id
    set_budget(client, world, "grid_a2", 10)
    assert (
        client.post(f"/api/v1/events/{event_id}/close", headers=world.headers["organiser"]).status_code == 200
    )
    assert available(app, world, "resident") > 0 and available(app, world, "neighbour") == 0
    with app.app_context():
        assert verify_ledger() == [] and budgets.verify_budgets() == []


def test_lowering_a_budget_takes_spare_allotments_back(client, app, activities):
    world = activities
    set_budget(client, world, "county", 10_000)
    assert record(client, world, "resident").status_code == 201
    with app.app_context():  # grid A holds a lease well beyond its 20 points
        allotment = db.session.scalar(
            sa.select(BudgetAllotment).where(BudgetAllotment.org_unit_id == world.units["grid_a"])
        )
        assert allotment.granted > allotment.used == 20
    set_budget(client, world, "county", 30)
    assert record(client, world, "villager").status_code == 409
    assert record(client, world, "villager", "publicity", 2).status_code == 201
    assert get_budget(client, world, "county").get_json() | {"updated_at": None} == {
        "org_unit": {"id": world.units["county"], "name": "平安县"},
        "year": YEAR,
        "points": 30,
        "awarded": 30,
        "remaining": 0,
        "updated_at": None,
    }
    with app.app_context():
        assert budgets.verify_budgets() == []
        entries = db.session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == "budget.set").order_by(AuditEntry.id)
        ).all()
        assert [(entry.before, entry.after["points"]) for entry in entries] == [
            (None, 10_000),
            ({"points": 10_000}, 30),
        ]


def test_a_reversal_under_a_budget_lowered_below_its_use_frees_no_lease_for_a_later_award(
    client, app, activities
):
    world = activities
    set_budget(client, world, "county", 10_000)
    first = record(client, world, "resident")
    assert first.status_code == record(client, world, "resident").status_code == 201
    set_budget(client, world, "county", 0)  # grid A's lease shrinks to its 40 points used
    reverse = client.post(
        f"/api/v1/contributions/{first.get_json()['id']}/reverse",
        json={"reason": "记错"},
        headers=world.headers["organiser"],
    )
    assert reverse.status_code == 200
    refused = record(client, world, "resident", "publicity", 2)
    assert refused.status_code == 409 and refused.get_json()["code"] == "budget_exhausted"
    assert get_budget(client, world, "county").get_json()["awarded"] == 20
    with app.app_context():
        assert budgets.verify_budgets() == []


def test_points_count_in_the_budget_of_the_year_they_were_earned(client, app, activities):
    world = activities
    set_budget(client, world, "county", 5, year=YEAR - 1)
    set_budget(client, world, "county", 1000)
    with app.app_context():
        begin_writing(db.session)
        ledger.award(
            world.people["resident"], 5, occurred_at=datetime(YEAR - 1, 6, 1, tzinfo=UTC), actor_id=None
        )
        db.session.commit()
        begin_writing(db.session)
        with pytest.raises(AppError) as refused:
            ledger.award(
                world.people["resident"], 1, occurred_at=datetime(YEAR - 1, 7, 1, tzinfo=UTC), actor_id=None
            )
        assert (refused.value.status, refused.value.code) == (409, "budget_exhausted")
        db.session.rollback()
    assert get_budget(client, world, "county", year=YEAR - 1).get_json()["awarded"] == 5
    assert get_budget(client, world, "county").get_json()["awarded"] == 0


def test_an_org_unit_moving_takes_its_awards_to_the_budgets_above_it_now(client, app, activities):
    world = activities
    set_budget(client, world, "town_a", 1000)
    set_budget(client, world, "town_b", 1000)
    set_budget(client, world, "community_a", 1000)
    assert record(client, world, "resident").status_code == 201
    assert record(client, world, "neighbour").status_code == 201
    moved = client.patch(
        f"/api/v1/org-units/{world.units['community_a']}",
        json={"parent_id": world.units["town_b"]},
        headers=world.headers["global_admin"],
    )
    assert moved.status_code == 200
    assert get_budget(client, world, "town_a").get_json()["awarded"] == 0
    assert get_budget(client, world, "town_b").get_json()["awarded"] == 40
    assert get_budget(client, world, "community_a").get_json()["awarded"] == 40
    assert record(client, world, "resident", who="global_admin").status_code == 201
    assert get_budget(client, world, "town_b").get_json()["awarded"] == 60
    with app.app_context():
        assert budgets.verify_budgets() == []


def test_an_award_keeps_the_grid_the_member_earned_it_in_when_they_move(client, app, activities):
    world = activities
    set_budget(client, world, "town_a", 1000)
    award = record(client, world, "resident").get_json()
    moved = client.patch(
        f"/api/v1/members/{world.people['resident']}",
        json={"org_unit_id": world.units["grid_b"]},
        headers=world.headers["global_admin"],
    )
    assert moved.status_code == 200
    client.post(
        f"/api/v1/contributions/{award['id']}/reverse",
        json={"reason": "记错"},
        headers=world.headers["global_admin"],
    )
    assert get_budget(client, world, "town_a").get_json()["awarded"] == 0
    with app.app_context():
        assert budgets.verify_budgets() == []


def test_ledger_verify_checks_the_budgets_too(runner, client, app, activities):
    world = activities
    set_budget(client, world, "county", 1000)
    record(client, world, "resident")
    assert runner.invoke(args=["ledger", "verify"]).exit_code == 0
    with app.app_context():
        begin_writing(db.session)
        db.session.execute(sa.update(BudgetAllotment).values(used=BudgetAllotment.used + 1))
        db.session.commit()
    result = runner.invoke(args=["ledger", "verify"])
    assert result.exit_code == 1 and "budget" in result.output


def test_members_without_an_org_unit_draw_on_no_budget(app, world):
    with app.app_context():
        unit = db.session.get(OrgUnit, world.units["county"])
        admin = db.session.get(Member, world.people["global_admin"])
        budgets.set_budget(admin, unit.id, YEAR, 0)
        begin_writing(db.session)
        ledger.award(world.people["organiser"], 5, occurred_at=utcnow(), actor_id=None)  # no grid: staff
        db.session.commit()
        assert db.session.scalar(sa.select(Budget.allotted)) == 0

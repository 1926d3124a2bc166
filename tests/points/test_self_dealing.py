"""Nobody's points are approved by their own act, by any path.

The path to close: an organiser defines an activity, creates an event for it and checks in, and
the contribution is approved with recorder = reviewer = themselves. Their own check-in (and its
hours, at check-out or when the event closes) waits as a claim for someone else in scope; so does
their own claim of an activity they defined without review.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from core.audit import AuditEntry
from core.extensions import db
from core.identity.models import OrgUnit
from points import events
from points.models import Contribution, LedgerTransaction
from tests.factories import auth, make_member
from tests.rewards.conftest import person
from tests.support.contributions import contribution_body

NOW = datetime.now(UTC)


@pytest.fixture
def organiser(app, world):
    """An organiser of town A who lives in one of its grids (as village cadres do): their bearer headers."""
    with app.app_context():
        member = make_member(
            "赵干部",
            db.session.get(OrgUnit, world.units["grid_a"]),
            role="organiser",
            on=db.session.get(OrgUnit, world.units["town_a"]),
        )
        world.people["cadre"], world.headers["cadre"] = member.id, auth(member)
    return world.headers["cadre"]


def define_activity(client, headers, world, code, unit="each", needs_review=True):
    response = client.post(
        "/api/v1/activities",
        headers=headers,
        json={
            "code": code,
            "name": "夜间巡逻",
            "category": "patrol",
            "points": 5,
            "unit": unit,
            "daily_cap": None,
            "needs_review": needs_review,
            "org_unit_id": world.units["town_a"],
        },
    )
    assert response.status_code == 201, response.get_json()
    return code


def create_event(client, headers, world, code, starts=-1, ends=2):
    response = client.post(
        "/api/v1/events",
        headers=headers,
        json={
            "title": "夜间巡逻",
            "activity_code": code,
            "org_unit_id": world.units["town_a"],
            "starts_at": (NOW + timedelta(hours=starts)).isoformat(),
            "ends_at": (NOW + timedelta(hours=ends)).isoformat(),
        },
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def awards_of(app, member_id) -> int:
    with app.app_context():
        return db.session.scalar(
            sa.select(sa.func.count())
            .select_from(LedgerTransaction)
            .where(LedgerTransaction.member_id == member_id, LedgerTransaction.kind == "award")
        )


def balance(client, headers) -> int:
    return client.get("/api/v1/me", headers=headers).get_json()["balance"]["available"]


def test_checking_in_to_ones_own_event_makes_a_claim_someone_else_approves(app, client, world, organiser):
    code = define_activity(client, organiser, world, "own_patrol", needs_review=False)
    event = create_event(client, organiser, world, code)
    checked_in = client.post("/api/v1/checkins", json={"payload": event["checkin_url"]}, headers=organiser)
    assert checked_in.status_code == 201
    contribution = checked_in.get_json()["contribution"]
    assert contribution["status"] == "pending"
    assert balance(client, organiser) == 0 and awards_of(app, world.people["cadre"]) == 0
    own = client.post(f"/api/v1/contributions/{contribution['id']}/approve", headers=organiser)
    assert own.status_code == 403 and own.get_json()["code"] == "self_review"
    approved = client.post(
        f"/api/v1/contributions/{contribution['id']}/approve", headers=world.headers["admin"]
    )
    assert approved.status_code == 200 and approved.get_json()["status"] == "approved"
    assert balance(client, organiser) == 5
    with app.app_context():
        row = db.session.get(Contribution, contribution["id"])
        assert row.reviewed_by_id == world.people["admin"] != row.member_id
        entry = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "event.check_in")).one()
        assert entry.after["status"] == "pending"


def test_others_checking_in_to_that_event_are_approved_at_once_in_the_creators_name(
    app, client, world, organiser
):
    event = create_event(client, organiser, world, define_activity(client, organiser, world, "town_patrol"))
    checked_in = client.post(
        "/api/v1/checkins", json={"payload": event["checkin_url"]}, headers=world.headers["resident"]
    )
    assert checked_in.get_json()["contribution"]["status"] == "approved"
    with app.app_context():
        row = db.session.get(Contribution, checked_in.get_json()["contribution"]["id"])
        assert row.reviewed_by_id == world.people["cadre"] and row.member_id == world.people["resident"]


def test_the_creators_hours_at_check_out_wait_for_someone_else(app, client, world, organiser):
    event = create_event(
        client, organiser, world, define_activity(client, organiser, world, "hours", unit="hour"), starts=-3
    )
    with app.app_context():  # checked in two hours ago
        checkin = events.check_in(person(world, "cadre"), event["checkin_url"], now=NOW - timedelta(hours=2))
        checkin_id = checkin.id
    out = client.post(f"/api/v1/checkins/{checkin_id}/checkout", headers=organiser)
    assert out.status_code == 200
    assert (
        out.get_json()["contribution"]["status"] == "pending"
        and out.get_json()["contribution"]["points"] == 10
    )
    assert awards_of(app, world.people["cadre"]) == 0


def test_closing_the_event_awards_the_others_and_leaves_the_creators_hours_pending(
    app, client, world, organiser
):
    event = create_event(
        client, organiser, world, define_activity(client, organiser, world, "hours", unit="hour"), starts=-3
    )
    with app.app_context():
        for who in ("cadre", "resident"):
            events.check_in(person(world, who), event["checkin_url"], now=NOW - timedelta(hours=2))
    assert (
        client.post(f"/api/v1/events/{event['id']}/close", headers=world.headers["admin"]).status_code == 200
    )
    with app.app_context():
        statuses = dict(db.session.execute(sa.select(Contribution.member_id, Contribution.status)).all())
    assert statuses == {world.people["cadre"]: "pending", world.people["resident"]: "approved"}
    assert awards_of(app, world.people["cadre"]) == 0 and awards_of(app, world.people["resident"]) == 1


def test_an_activity_needing_no_review_does_not_approve_its_own_authors_claim(app, client, world, organiser):
    code = define_activity(client, organiser, world, "quick_patrol", needs_review=False)
    claim = contribution_body(world, "cadre", code, occurred_at=(NOW - timedelta(hours=1)).isoformat())
    own = client.post("/api/v1/contributions", json=claim, headers=organiser)
    assert own.status_code == 201 and own.get_json()["status"] == "pending"
    others = client.post(
        "/api/v1/contributions",
        headers=world.headers["resident"],
        json={**claim, "member_id": world.people["resident"]},
    )
    assert others.status_code == 201 and others.get_json()["status"] == "approved"
    assert awards_of(app, world.people["cadre"]) == 0

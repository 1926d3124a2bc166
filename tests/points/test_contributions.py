"""Contributions: recorded, claimed, reviewed, reversed — with caps, windows and scope."""

from datetime import UTC, datetime, timedelta

import pytest

from core.clock import SHANGHAI
from tests.support.contributions import (
    available,
    contribution_action,
    contribution_body,
    hours_ago,
    post_contribution,
)

NOW = datetime.now(UTC)


def test_staff_record_for_someone_in_scope_and_the_points_are_awarded_at_once(client, activities):
    world = activities
    response = post_contribution(client, world, "grid_worker", "mediation", member="resident")
    assert response.status_code == 201
    body = response.get_json()
    assert (body["status"], body["points"]) == ("approved", 20)
    me = client.get("/api/v1/me", headers=world.headers["resident"]).get_json()
    assert me["balance"] == {"available": 20, "held": 0} and me["lifetime_earned"] == 20


def test_a_claim_waits_for_someone_else_in_scope_to_approve_it(client, activities):
    world = activities
    claim = post_contribution(client, world, "resident", "mediation").get_json()
    assert claim["status"] == "pending" and available(client, world, "resident") == 0
    response = contribution_action(client, world, "grid_worker", claim["id"], "approve")
    assert response.status_code == 200 and response.get_json()["status"] == "approved"
    assert available(client, world, "resident") == 20


def test_nobody_reviews_their_own_claim_not_even_staff(client, activities):
    world = activities
    claim = post_contribution(client, world, "grid_worker", "mediation").get_json()
    assert claim["status"] == "pending"
    response = contribution_action(client, world, "grid_worker", claim["id"], "approve")
    assert response.status_code == 403 and response.get_json()["code"] == "self_review"
    assert contribution_action(client, world, "organiser", claim["id"], "approve").status_code == 200


def test_reviewers_act_only_in_their_scope(client, activities):
    world = activities
    claim = post_contribution(client, world, "outsider", "mediation").get_json()
    response = contribution_action(client, world, "grid_worker", claim["id"], "approve")
    assert response.status_code == 403 and response.get_json()["code"] == "forbidden"
    assert contribution_action(client, world, "resident", claim["id"], "approve").status_code == 403


def test_a_rejected_claim_cannot_be_approved_later(client, activities):
    world = activities
    claim = post_contribution(client, world, "resident", "mediation").get_json()
    rejected = contribution_action(client, world, "grid_worker", claim["id"], "reject", reason="没有照片")
    assert rejected.get_json()["status"] == "rejected" and rejected.get_json()["review_reason"] == "没有照片"
    response = contribution_action(client, world, "organiser", claim["id"], "approve")
    assert response.status_code == 409 and response.get_json()["code"] == "invalid_state"
    assert available(client, world, "resident") == 0


def test_an_activity_without_review_approves_a_claim_at_once_within_its_cap(client, activities):
    world = activities
    first = post_contribution(client, world, "resident", "daily_checkin")
    assert first.get_json()["status"] == "approved" and available(client, world, "resident") == 1
    second = post_contribution(client, world, "resident", "daily_checkin")
    assert second.status_code == 409 and second.get_json()["code"] == "daily_cap_reached"
    assert available(client, world, "resident") == 1


def test_the_daily_cap_counts_the_shanghai_day_of_occurred_at(client, activities):
    world = activities
    two_days_ago = (NOW.astimezone(SHANGHAI) - timedelta(days=2)).date()
    late_evening = f"{two_days_ago}T23:30:00+08:00"
    early_next_day = f"{two_days_ago + timedelta(days=1)}T00:10:00+08:00"
    args = dict(member="resident", activity="publicity")
    responses = [
        post_contribution(client, world, "grid_worker", quantity=2, occurred_at=late_evening, **args),
        post_contribution(client, world, "grid_worker", quantity=2, occurred_at=late_evening, **args),
        post_contribution(client, world, "grid_worker", quantity=1, occurred_at=late_evening, **args),
        post_contribution(client, world, "grid_worker", quantity=4, occurred_at=early_next_day, **args),
    ]
    assert [r.status_code for r in responses] == [201, 201, 409, 201]
    assert available(client, world, "resident") == 40


def test_a_reversal_frees_its_room_under_the_cap(client, activities):
    world = activities
    occurred_at = hours_ago(2)
    full = post_contribution(
        client, world, "grid_worker", quantity=4, member="resident", occurred_at=occurred_at
    ).get_json()
    assert (
        post_contribution(
            client, world, "grid_worker", quantity=1, member="resident", occurred_at=occurred_at
        ).status_code
        == 409
    )
    assert (
        contribution_action(client, world, "organiser", full["id"], "reverse", reason="记错了").status_code
        == 200
    )
    assert (
        post_contribution(
            client, world, "grid_worker", quantity=4, member="resident", occurred_at=occurred_at
        ).status_code
        == 201
    )


def test_hours_go_in_half_hours_and_points_round_down(client, activities):
    world = activities
    ok = post_contribution(client, world, "grid_worker", "patrol", quantity=1.5, member="resident")
    assert ok.status_code == 201 and ok.get_json()["points"] == 15
    bad = post_contribution(client, world, "grid_worker", "patrol", quantity=1.3, member="resident")
    assert bad.status_code == 422 and "quantity" in bad.get_json()["errors"]
    items = post_contribution(client, world, "grid_worker", "mediation", quantity=1.5, member="resident")
    assert items.status_code == 422


@pytest.mark.parametrize(
    "activity, quantity",
    [
        ("patrol", 0.49),
        ("patrol", 0.51),
        ("patrol", "1.25"),
        ("patrol", 0.999999),
        ("mediation", 0.96),
        ("mediation", 1.04),
        ("mediation", "2.5"),
    ],
)
def test_a_quantity_is_refused_as_sent_never_rounded_first(client, activities, quantity, activity):
    world = activities
    response = post_contribution(client, world, "grid_worker", activity, quantity=quantity, member="resident")
    assert response.status_code == 422 and "quantity" in response.get_json()["errors"], response.get_json()
    assert available(client, world, "resident") == 0


@pytest.mark.parametrize(
    "activity, quantity, points",
    [("patrol", 0.5, 5), ("patrol", "2.50", 25), ("mediation", 2, 40), ("mediation", "3.0", 60)],
)
def test_half_hours_and_whole_items_are_accepted_in_any_spelling(
    client, activities, activity, quantity, points
):
    response = post_contribution(
        client, activities, "grid_worker", activity, quantity=quantity, member="resident"
    )
    assert response.status_code == 201 and response.get_json()["points"] == points


@pytest.mark.parametrize(
    "occurred_at, field",
    [
        pytest.param((NOW + timedelta(hours=2)).isoformat(), "occurred_at", id="future"),
        pytest.param((NOW - timedelta(days=32)).isoformat(), "occurred_at", id="32-days-back"),
        pytest.param(
            (NOW - timedelta(days=1)).replace(tzinfo=None).isoformat(), "occurred_at", id="no-offset"
        ),
    ],
)
def test_occurred_at_is_never_in_the_future_nor_over_31_days_back(client, activities, occurred_at, field):
    response = post_contribution(
        client, activities, "grid_worker", member="resident", occurred_at=occurred_at
    )
    assert response.status_code == 422 and field in response.get_json()["errors"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"quantity": "many"}, "quantity"),
        ({"quantity": 0}, "quantity"),
        ({"activity": "nope"}, "activity_code"),
        ({"member": "outsider"}, None),
    ],
)
def test_bad_contributions_are_refused_and_write_nothing(client, activities, app, body, field):
    world = activities
    response = post_contribution(
        client,
        world,
        "grid_worker",
        body.get("activity", "publicity"),
        quantity=body.get("quantity", 1),
        member=body.get("member", "resident"),
    )
    assert response.status_code in (403, 404, 422)
    if field:
        assert field in response.get_json()["errors"]
    listing = client.get("/api/v1/contributions", headers=world.headers["global_admin"]).get_json()
    assert listing["total"] == 0


def test_a_reversal_needs_the_points_to_be_available_unless_an_admin_forces_it(client, activities, app):
    world = activities
    contribution = post_contribution(client, world, "grid_worker", "mediation", member="resident").get_json()
    with app.app_context():
        from core.database import begin_writing
        from core.extensions import db
        from points import ledger

        begin_writing(db.session)
        ledger.hold(world.people["resident"], 15, reference="voucher:1", actor_id=None)
        db.session.commit()
    refused = contribution_action(
        client, world, "organiser", contribution["id"], "reverse", reason="重复登记"
    )
    assert refused.status_code == 409 and refused.get_json()["code"] == "insufficient_points"
    assert (
        contribution_action(
            client, world, "organiser", contribution["id"], "reverse", reason="x", force=True
        ).status_code
        == 403
    )
    forced = contribution_action(
        client, world, "global_admin", contribution["id"], "reverse", reason="重复登记", force=True
    )
    assert forced.status_code == 200 and forced.get_json()["status"] == "reversed"
    me = client.get("/api/v1/me", headers=world.headers["resident"]).get_json()
    assert me["balance"] == {"available": 0, "held": 15} and me["lifetime_earned"] == 0
    assert (
        contribution_action(
            client, world, "global_admin", contribution["id"], "reverse", reason="again"
        ).get_json()["code"]
        == "invalid_state"
    )


def test_only_organisers_and_admins_reverse(client, activities):
    world = activities
    contribution = post_contribution(client, world, "grid_worker", "mediation", member="resident").get_json()
    assert (
        contribution_action(
            client, world, "grid_worker", contribution["id"], "reverse", reason="x"
        ).status_code
        == 403
    )
    assert (
        contribution_action(client, world, "organiser", contribution["id"], "reverse", reason="").status_code
        == 422
    )


def test_the_ledger_lists_entries_newest_first_with_the_balance_after_each(client, activities):
    world = activities
    first = post_contribution(client, world, "grid_worker", "mediation", member="resident").get_json()
    post_contribution(client, world, "grid_worker", "publicity", quantity=2, member="resident")
    contribution_action(client, world, "organiser", first["id"], "reverse", reason="记错了")
    url = f"/api/v1/members/{world.people['resident']}/ledger"
    entries = client.get(url, headers=world.headers["resident"]).get_json()["items"]
    assert [(e["kind"], e["points"], e["balance_after"]) for e in entries] == [
        ("reversal", -20, 10),
        ("award", 10, 30),
        ("award", 20, 20),
    ]
    assert client.get(url, headers=world.headers["neighbour"]).status_code == 403
    assert client.get(url, headers=world.headers["grid_worker"]).status_code == 200


def test_editing_an_activity_never_changes_points_already_recorded(client, activities):
    world = activities
    recorded = post_contribution(client, world, "grid_worker", "mediation", member="resident").get_json()
    response = client.patch(
        "/api/v1/activities/mediation", json={"points": 50}, headers=world.headers["global_admin"]
    )
    assert response.status_code == 200 and response.get_json()["points"] == 50
    again = client.get(f"/api/v1/contributions/{recorded['id']}", headers=world.headers["resident"])
    assert again.get_json()["points"] == 20 and available(client, world, "resident") == 20


def test_activities_are_defined_by_organisers_in_their_scope(client, activities):
    world = activities
    body = {
        "code": "flood_watch",
        "name": "防汛巡查",
        "category": "patrol",
        "points": 8,
        "unit": "hour",
        "daily_cap": 32,
        "needs_review": True,
    }
    assert (
        client.post("/api/v1/activities", json=body, headers=world.headers["grid_worker"]).status_code == 403
    )
    created = client.post("/api/v1/activities", json=body, headers=world.headers["organiser"])
    assert created.status_code == 201 and created.get_json()["org_unit"]["name"] == "城关镇"
    duplicate = client.post("/api/v1/activities", json=body, headers=world.headers["organiser"])
    assert duplicate.status_code == 409
    # the town's activity does not apply to a resident of the other town
    response = post_contribution(client, world, "global_admin", "flood_watch", member="outsider")
    assert response.status_code == 422 and "activity_code" in response.get_json()["errors"]


def test_the_same_award_posted_twice_with_one_key_posts_once(client, activities):
    world = activities
    headers = {**world.headers["grid_worker"], "Idempotency-Key": "award-1"}
    body = contribution_body(world, "resident", "mediation")
    first = client.post("/api/v1/contributions", json=body, headers=headers)
    retry = client.post("/api/v1/contributions", json=body, headers=headers)
    assert first.status_code == retry.status_code == 201
    assert first.get_json() == retry.get_json() and retry.headers["Idempotent-Replayed"] == "true"
    assert available(client, world, "resident") == 20
    other = client.post("/api/v1/contributions", json={**body, "quantity": 2}, headers=headers)
    assert other.status_code == 422 and other.get_json()["code"] == "idempotency_conflict"


def test_the_same_award_posted_concurrently_with_one_key_posts_once(app, activities, database_url):
    import threading

    from tests.conftest import dispose, make_app

    world = activities
    headers = {**world.headers["grid_worker"], "Idempotency-Key": "award-race"}
    body = contribution_body(world, "resident", "mediation")
    apps = [make_app(database_url) for _ in range(6)]
    barrier, statuses = threading.Barrier(len(apps)), []

    def send(server):
        client = server.test_client()
        barrier.wait()
        statuses.append(client.post("/api/v1/contributions", json=body, headers=headers).status_code)

    threads = [threading.Thread(target=send, args=(server,)) for server in apps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for server in apps:
        dispose(server)
    assert set(statuses) <= {201, 409} and 201 in statuses
    assert available(app.test_client(), world, "resident") == 20


def test_editing_an_activity_audits_only_what_changed(client, activities, app):
    import sqlalchemy as sa

    from core.audit import AuditEntry
    from core.extensions import db

    world = activities
    client.patch(
        "/api/v1/activities/mediation",
        json={"points": 25, "name": "mediation"},
        headers=world.headers["global_admin"],
    )
    with app.app_context():
        entry = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "activity.update")).one()
        assert (entry.before, entry.after) == ({"points": 20}, {"points": 25})

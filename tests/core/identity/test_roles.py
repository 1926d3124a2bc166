"""Roles: granted in scope, clerks at a supermarket, revoked with effect at once, audited."""

import sqlalchemy as sa

from core.audit import AuditEntry
from core.extensions import db


def grant(client, world, who, body, by="admin"):
    return client.post(f"/api/v1/members/{world.people[who]}/roles", json=body, headers=world.headers[by])


def test_a_granted_role_takes_effect_and_a_revoked_one_ends_at_once(client, world, app):
    url = f"/api/v1/members/{world.people['neighbour']}"
    assert client.get(url, headers=world.headers["resident"]).status_code == 403
    response = grant(
        client, world, "resident", {"role": "grid_worker", "org_unit_id": world.units["grid_a2"]}
    )
    assert response.status_code == 201
    grant_id = response.get_json()["id"]
    assert client.get(url, headers=world.headers["resident"]).status_code == 200
    revoke = client.delete(
        f"/api/v1/members/{world.people['resident']}/roles/{grant_id}?reason=moved away",
        headers=world.headers["admin"],
    )
    assert revoke.status_code == 204
    assert client.get(url, headers=world.headers["resident"]).status_code == 403
    with app.app_context():
        actions = db.session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)).all()
        assert actions == ["role.grant", "role.revoke"]
        revoked = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "role.revoke")).one()
        assert revoked.reason == "moved away"


def test_a_clerk_is_granted_on_a_supermarket_not_an_org_unit(client, world):
    response = grant(client, world, "resident", {"role": "clerk", "org_unit_id": world.units["town_a"]})
    assert response.status_code == 422 and "supermarket_id" in response.get_json()["errors"]
    response = grant(client, world, "resident", {"role": "grid_worker", "supermarket_id": world.shops["a"]})
    assert response.status_code == 422
    response = grant(client, world, "resident", {"role": "clerk", "supermarket_id": world.shops["a"]})
    assert response.status_code == 201
    assert response.get_json()["supermarket"] == {"id": world.shops["a"], "name": "城关镇平安超市"}


def test_an_organiser_or_grid_worker_needs_an_org_unit_and_only_admins_may_be_global(client, world):
    response = grant(client, world, "resident", {"role": "organiser"})
    assert response.status_code == 422 and "org_unit_id" in response.get_json()["errors"]
    assert grant(client, world, "resident", {"role": "admin"}).status_code == 403
    assert grant(client, world, "resident", {"role": "admin"}, by="global_admin").status_code == 201


def test_the_same_grant_twice_is_a_duplicate(client, world):
    body = {"role": "grid_worker", "org_unit_id": world.units["grid_a"]}
    assert grant(client, world, "resident", body).status_code == 201
    response = grant(client, world, "resident", body)
    assert response.status_code == 409 and response.get_json()["code"] == "duplicate"


def test_an_unknown_role_or_grant_is_refused(client, world):
    assert grant(client, world, "resident", {"role": "mayor", "org_unit_id": 1}).status_code == 422
    response = client.delete(
        f"/api/v1/members/{world.people['resident']}/roles/999999", headers=world.headers["admin"]
    )
    assert response.status_code == 404


def test_staff_are_told_apart_from_grid_workers(app, world):
    from core.identity.models import Member

    with app.app_context():
        assert db.session.get(Member, world.people["organiser"]).is_staff
        assert db.session.get(Member, world.people["clerk"]).is_staff
        assert not db.session.get(Member, world.people["grid_worker"]).is_staff
        assert not db.session.get(Member, world.people["resident"]).is_staff

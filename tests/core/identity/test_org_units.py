"""The org tree: roots, kinds, subtrees by path, renames and moves, all audited."""

import sqlalchemy as sa

from core.audit import AuditEntry
from core.extensions import db
from core.identity.models import OrgUnit


def create(client, headers, name, kind, parent_id):
    return client.post(
        "/api/v1/org-units", headers=headers, json={"name": name, "kind": kind, "parent_id": parent_id}
    )


def test_only_a_global_admin_creates_a_root(client, world):
    assert create(client, world.headers["admin"], "新县", "county", None).status_code == 403
    response = create(client, world.headers["global_admin"], "新县", "county", None)
    assert response.status_code == 201
    assert response.get_json()["parent_id"] is None and response.get_json()["depth"] == 0


def test_a_unit_must_be_of_a_lower_kind_than_its_parent(client, world):
    response = create(client, world.headers["admin"], "错误", "town", world.units["community_a"])
    assert response.status_code == 422 and "kind" in response.get_json()["errors"]
    response = create(client, world.headers["admin"], "错误", "grid", world.units["grid_a"])
    assert response.status_code == 422


def test_sibling_names_are_unique(client, world):
    response = create(client, world.headers["admin"], "东街一网格", "grid", world.units["community_a"])
    assert response.status_code == 409 and response.get_json()["code"] == "duplicate"


def test_an_unknown_parent_is_not_found(client, world):
    response = create(client, world.headers["global_admin"], "某地", "grid", 999999)
    assert response.status_code == 404 and "parent_id" in response.get_json()["errors"]


def test_children_are_listed_under_their_parent(client, world):
    body = client.get(
        f"/api/v1/org-units?parent_id={world.units['community_a']}", headers=world.headers["resident"]
    ).get_json()
    assert [item["name"] for item in body["items"]] == ["东街一网格", "东街二网格"]
    roots = client.get("/api/v1/org-units", headers=world.headers["resident"]).get_json()
    assert [item["name"] for item in roots["items"]] == ["平安县"]


def test_moving_a_unit_moves_its_subtree_and_is_audited(client, world, app):
    headers = world.headers["global_admin"]
    response = client.patch(
        f"/api/v1/org-units/{world.units['community_a']}",
        json={"parent_id": world.units["town_b"]},
        headers=headers,
    )
    assert response.status_code == 200 and response.get_json()["parent_id"] == world.units["town_b"]
    with app.app_context():
        town_b = db.session.get(OrgUnit, world.units["town_b"])
        grid = db.session.get(OrgUnit, world.units["grid_a"])
        assert town_b.contains(grid)
        assert grid.path == f"{town_b.path}{world.units['community_a']}/{grid.id}/"
        entry = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "org_unit.update")).one()
        assert entry.actor_id == world.people["global_admin"]
        assert entry.before["parent_id"] == world.units["town_a"]
        assert entry.after["parent_id"] == world.units["town_b"]
    # the town A organiser no longer reaches the moved grid's residents
    response = client.get(f"/api/v1/members/{world.people['resident']}", headers=world.headers["organiser"])
    assert response.status_code == 403


def test_a_unit_cannot_move_under_itself(client, world):
    response = client.patch(
        f"/api/v1/org-units/{world.units['town_a']}",
        json={"parent_id": world.units["community_a"]},
        headers=world.headers["global_admin"],
    )
    assert response.status_code == 422 and "parent_id" in response.get_json()["errors"]


def test_an_admin_cannot_move_a_unit_out_of_their_scope(client, world):
    response = client.patch(
        f"/api/v1/org-units/{world.units['community_a']}",
        json={"parent_id": world.units["town_b"]},
        headers=world.headers["admin"],
    )
    assert response.status_code == 403


def test_a_rename_is_audited(client, world, app):
    client.patch(
        f"/api/v1/org-units/{world.units['grid_a']}",
        json={"name": "东街第一网格"},
        headers=world.headers["admin"],
    )
    with app.app_context():
        entry = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "org_unit.update")).one()
        assert (entry.before["name"], entry.after["name"]) == ("东街一网格", "东街第一网格")

"""Members: created in scope, unique phones, grids, suspension, hiding; every change audited."""

import pytest
import sqlalchemy as sa

from core.audit import AuditEntry
from core.extensions import db
from core.identity.models import Member
from tests.factories import next_phone


def new_member(world, unit="grid_a", **overrides):
    return {
        "name": "新居民",
        "phone": next_phone(),
        "password": "a-good-password",
        "org_unit_id": world.units[unit],
        **overrides,
    }


def count_members(app):
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Member))


def test_an_organiser_creates_a_member_in_a_grid_of_their_town(client, world, app):
    body = new_member(world)
    response = client.post("/api/v1/members", json=body, headers=world.headers["organiser"])
    assert response.status_code == 201
    created = response.get_json()
    assert created["org_unit"] == {"id": world.units["grid_a"], "name": "东街一网格"}
    assert "password" not in created and "password_hash" not in created
    with app.app_context():
        member = db.session.get(Member, created["id"])
        assert member.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        entry = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "member.create")).one()
        assert entry.subject_id == member.id and entry.actor_id == world.people["organiser"]


@pytest.mark.parametrize("phone", ["12345678901", "1380000000", "138000000001", "abc", "２３４"])
def test_a_malformed_phone_is_refused_and_nothing_is_written(client, world, app, phone):
    before = count_members(app)
    response = client.post(
        "/api/v1/members", json=new_member(world, phone=phone), headers=world.headers["organiser"]
    )
    assert response.status_code == 422 and "phone" in response.get_json()["errors"]
    assert count_members(app) == before


def test_a_phone_already_used_is_a_duplicate(client, world, app):
    before = count_members(app)
    response = client.post(
        "/api/v1/members",
        json=new_member(world, phone=world.phones["resident"]),
        headers=world.headers["organiser"],
    )
    assert response.status_code == 409 and response.get_json()["code"] == "duplicate"
    assert count_members(app) == before


def test_members_belong_to_a_grid_and_only_a_global_admin_creates_staff_without_one(client, world):
    response = client.post(
        "/api/v1/members", json=new_member(world, unit="community_a"), headers=world.headers["organiser"]
    )
    assert response.status_code == 422 and "org_unit_id" in response.get_json()["errors"]
    staff = new_member(world, org_unit_id=None)
    assert client.post("/api/v1/members", json=staff, headers=world.headers["admin"]).status_code == 403
    assert (
        client.post("/api/v1/members", json=staff, headers=world.headers["global_admin"]).status_code == 201
    )


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": "   "}, "name"),
        ({"name": "x" * 51}, "name"),
        ({"password": "short"}, "password"),
        ({"org_unit_id": "six"}, "org_unit_id"),
    ],
)
def test_bad_fields_are_named(client, world, body, field):
    response = client.post(
        "/api/v1/members", json=new_member(world, **body), headers=world.headers["organiser"]
    )
    assert response.status_code == 422 and field in response.get_json()["errors"]


def test_a_resident_reads_themselves_but_not_a_neighbour(client, world):
    headers = world.headers["resident"]
    assert client.get(f"/api/v1/members/{world.people['resident']}", headers=headers).status_code == 200
    response = client.get(f"/api/v1/members/{world.people['neighbour']}", headers=headers)
    assert response.status_code == 403


def test_an_unknown_member_is_not_found(client, world):
    response = client.get("/api/v1/members/999999", headers=world.headers["organiser"])
    assert response.status_code == 404 and response.get_json()["code"] == "not_found"


def test_moving_a_member_to_another_grid_and_a_new_phone_are_audited(client, world, app):
    phone = next_phone()
    response = client.patch(
        f"/api/v1/members/{world.people['resident']}",
        headers=world.headers["organiser"],
        json={"org_unit_id": world.units["grid_a2"], "phone": phone},
    )
    assert response.status_code == 200
    assert response.get_json()["org_unit"]["id"] == world.units["grid_a2"]
    with app.app_context():
        entry = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "member.update")).one()
        assert entry.before == {"org_unit_id": world.units["grid_a"], "phone": world.phones["resident"]}
        assert entry.after == {"org_unit_id": world.units["grid_a2"], "phone": phone}


def test_an_organiser_cannot_move_a_member_out_of_their_scope(client, world):
    response = client.patch(
        f"/api/v1/members/{world.people['resident']}",
        headers=world.headers["organiser"],
        json={"org_unit_id": world.units["grid_b"]},
    )
    assert response.status_code == 403


def test_a_new_phone_already_used_is_a_duplicate(client, world):
    response = client.patch(
        f"/api/v1/members/{world.people['resident']}",
        headers=world.headers["organiser"],
        json={"phone": world.phones["neighbour"]},
    )
    assert response.status_code == 409


def test_members_can_be_searched_by_name_or_phone(client, world):
    headers = world.headers["organiser"]
    by_name = client.get("/api/v1/members?q=邻居", headers=headers).get_json()
    assert [m["id"] for m in by_name["items"]] == [world.people["neighbour"]]
    by_phone = client.get(f"/api/v1/members?q={world.phones['resident'][-6:]}", headers=headers).get_json()
    assert world.people["resident"] in [m["id"] for m in by_phone["items"]]
    wildcard = client.get("/api/v1/members?q=%25", headers=headers).get_json()
    assert wildcard["total"] == 0


def test_nobody_suspends_themselves(client, world):
    response = client.patch(
        f"/api/v1/members/{world.people['organiser']}",
        json={"status": "suspended"},
        headers=world.headers["global_admin"],
    )
    assert response.status_code == 200
    response = client.patch(
        f"/api/v1/members/{world.people['global_admin']}",
        json={"status": "suspended"},
        headers=world.headers["global_admin"],
    )
    assert response.status_code == 422

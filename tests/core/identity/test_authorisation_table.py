"""DESIGN.md's "who may do what", endpoint by endpoint: every role, inside and outside its scope.

Staff of the world act in town A. "inside" targets lie in town A (or at its
supermarket), "outside" targets in town B. A global admin reaches both.
"""

from __future__ import annotations

import itertools

import pytest

from tests.factories import next_phone

ROLES = ["resident", "grid_worker", "organiser", "admin", "clerk", "global_admin"]
SCOPES = ["inside", "outside"]


def _side(world, scope, inside_key, outside_key, table="units"):
    return getattr(world, table)[inside_key if scope == "inside" else outside_key]


def _member(world, scope):
    return world.people["villager" if scope == "inside" else "outsider"]


def _grant_id(client, world, scope):
    """The grant id of the grid worker inside or outside, read by the global admin."""
    who = world.people["grid_worker" if scope == "inside" else "grid_worker_b"]
    grants = client.get(f"/api/v1/members/{who}/roles", headers=world.headers["global_admin"]).get_json()
    return who, grants[0]["id"]


# (name, method, path(world, scope, client), body(world, scope) or None, roles allowed, success status)
CASES = [
    ("create org unit", "POST", lambda w, s, c: "/api/v1/org-units",
     lambda w, s: {"name": f"新网格{next_phone()}", "kind": "grid",
                   "parent_id": _side(w, s, "community_a", "community_b")}, {"admin"}, 201),
    ("rename org unit", "PATCH",
     lambda w, s, c: f"/api/v1/org-units/{_side(w, s, 'community_a', 'community_b')}",
     lambda w, s: {"name": f"改名{next_phone()}"}, {"admin"}, 200),
    ("create member", "POST", lambda w, s, c: "/api/v1/members",
     lambda w, s: {"name": "新居民", "phone": next_phone(), "password": "a-good-password",
                   "org_unit_id": _side(w, s, "grid_a", "grid_b")}, {"organiser", "admin"}, 201),
    ("read member", "GET", lambda w, s, c: f"/api/v1/members/{_member(w, s)}", None,
     {"grid_worker", "organiser", "admin"}, 200),
    ("read member's roles", "GET", lambda w, s, c: f"/api/v1/members/{_member(w, s)}/roles", None,
     {"grid_worker", "organiser", "admin"}, 200),
    ("edit member", "PATCH", lambda w, s, c: f"/api/v1/members/{_member(w, s)}",
     lambda w, s: {"name": "新名字"}, {"organiser", "admin"}, 200),
    ("move member to another grid", "PATCH", lambda w, s, c: f"/api/v1/members/{_member(w, s)}",
     lambda w, s: {"org_unit_id": _side(w, s, "grid_a2", "grid_b")}, {"organiser", "admin"}, 200),
    ("suspend member", "PATCH", lambda w, s, c: f"/api/v1/members/{_member(w, s)}",
     lambda w, s: {"status": "suspended"}, {"organiser", "admin"}, 200),
    ("hide member", "PATCH", lambda w, s, c: f"/api/v1/members/{_member(w, s)}",
     lambda w, s: {"hidden": True}, {"admin"}, 200),
    ("reset password", "POST", lambda w, s, c: f"/api/v1/members/{_member(w, s)}/password",
     lambda w, s: {"password": "another-password"}, {"organiser", "admin"}, 204),
    ("grant role", "POST", lambda w, s, c: f"/api/v1/members/{_member(w, s)}/roles",
     lambda w, s: {"role": "grid_worker", "org_unit_id": _side(w, s, "grid_a", "grid_b")}, {"admin"}, 201),
    ("grant clerk", "POST", lambda w, s, c: f"/api/v1/members/{_member(w, s)}/roles",
     lambda w, s: {"role": "clerk", "supermarket_id": _side(w, s, "a", "b", "shops")}, {"admin"}, 201),
    ("revoke role", "DELETE",
     lambda w, s, c: "/api/v1/members/{}/roles/{}".format(*_grant_id(c, w, s)), None, {"admin"}, 204),
    ("open supermarket", "POST", lambda w, s, c: "/api/v1/supermarkets",
     lambda w, s: {"name": "新超市", "address": "新街 1 号",
                   "org_unit_id": _side(w, s, "town_a", "town_b")}, {"admin"}, 201),
]


@pytest.mark.parametrize("case, role, scope", [
    pytest.param(case, role, scope, id=f"{case[0]}-{role}-{scope}")
    for case, role, scope in itertools.product(CASES, ROLES, SCOPES)
])
def test_each_role_acts_only_where_the_table_allows(client, world, case, role, scope):
    _name, method, path, body, allowed, success = case
    url = path(world, scope, client)
    response = client.open(url, method=method, headers=world.headers[role],
                           json=body(world, scope) if body else None)
    may = role == "global_admin" or (role in allowed and scope == "inside")
    if may:
        assert response.status_code == success, response.get_data(as_text=True)
    else:
        assert response.status_code == 403, response.get_data(as_text=True)
        assert response.get_json()["code"] == "forbidden"


@pytest.mark.parametrize("case", [pytest.param(case, id=case[0]) for case in CASES])
def test_a_refused_request_writes_nothing(client, world, case):
    _name, method, path, body, _allowed, _success = case
    url = path(world, "outside", client)
    before = client.get("/api/v1/members?page_size=100", headers=world.headers["global_admin"]).get_json()
    response = client.open(url, method=method, headers=world.headers["organiser" if case[4] != {"organiser", "admin"} else "grid_worker"],
                           json=body(world, "outside") if body else None)
    assert response.status_code == 403
    after = client.get("/api/v1/members?page_size=100", headers=world.headers["global_admin"]).get_json()
    assert after == before


@pytest.mark.parametrize("case", [pytest.param(case, id=case[0]) for case in CASES])
def test_every_endpoint_needs_a_signed_in_member(client, world, case):
    _name, method, path, body, _allowed, _success = case
    url = path(world, "inside", client)
    response = client.open(url, method=method, json=body(world, "inside") if body else None)
    assert response.status_code == 401
    assert response.get_json()["code"] == "unauthorized"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("path", ["/api/v1/me", "/api/v1/org-units", "/api/v1/supermarkets"])
def test_every_member_may_read_themselves_the_org_tree_and_the_supermarkets(client, world, role, path):
    assert client.get(path, headers=world.headers[role]).status_code == 200


def test_member_lists_hold_only_members_in_scope(client, world):
    def names(who, query=""):
        body = client.get(f"/api/v1/members?page_size=100{query}", headers=world.headers[who]).get_json()
        return {item["id"] for item in body["items"]}

    people = world.people
    assert names("grid_worker") == {people[k] for k in ("grid_worker", "resident", "villager")}
    assert names("organiser") == {people[k] for k in ("grid_worker", "resident", "villager", "neighbour")}
    assert people["outsider"] in names("global_admin")
    assert names("organiser", f"&org_unit_id={world.units['grid_b']}") == set()
    for who in ("resident", "clerk"):
        response = client.get("/api/v1/members", headers=world.headers[who])
        assert response.status_code == 403

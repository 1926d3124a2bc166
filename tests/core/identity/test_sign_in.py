"""Sign-in with tokens: issue, use, revoke, expire; wrong and unknown logins look the same."""

from datetime import timedelta

import pytest

from core.extensions import db
from core.identity import passwords
from core.identity.models import Member
from tests.factories import PASSWORD, auth


def sign_in(client, phone, password=PASSWORD):
    return client.post("/api/v1/auth/tokens", json={"phone": phone, "password": password})


def test_a_member_signs_in_and_uses_the_token(client, world):
    response = sign_in(client, world.phones["resident"])
    assert response.status_code == 201
    body = response.get_json()
    assert body["token"].startswith("pa_") and body["expires_at"]
    assert body["member"]["id"] == world.people["resident"]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200 and me.get_json()["name"] == "张居民"


def test_the_token_is_stored_only_as_a_hash(client, world, app):
    token = sign_in(client, world.phones["resident"]).get_json()["token"]
    with app.app_context():
        rows = db.session.execute(db.text("SELECT token_hash FROM api_token")).scalars().all()
    assert token not in rows and all(len(row) == 64 for row in rows)


def test_a_wrong_password_and_an_unknown_phone_get_the_same_answer(client, world, monkeypatch):
    calls = []

    class CountingHasher:
        """The real hasher, counting verifications."""

        def __getattr__(self, name):
            return getattr(real, name)

        def verify(self, password_hash, password):
            calls.append(password_hash)
            return real.verify(password_hash, password)

    real = passwords.HASHER
    monkeypatch.setattr(passwords, "HASHER", CountingHasher())
    wrong = sign_in(client, world.phones["resident"], "not the password")
    unknown = sign_in(client, "13999999999", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_json() == unknown.get_json()
    assert len(calls) == 2, "an unknown phone must cost one argon2 verification too"


@pytest.mark.parametrize("body", [{}, {"phone": "13800000000"}, {"phone": 13800000000, "password": "x"}])
def test_a_malformed_sign_in_is_a_validation_error(client, body):
    response = client.post("/api/v1/auth/tokens", json=body)
    assert response.status_code == 422 and response.get_json()["code"] == "validation_error"


def test_signing_out_revokes_the_token(client, world):
    headers = world.headers["resident"]
    assert client.delete("/api/v1/auth/tokens/current", headers=headers).status_code == 204
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401 and response.get_json()["code"] == "unauthorized"


def test_an_expired_token_is_refused(client, world, app):
    with app.app_context():
        headers = auth(db.session.get(Member, world.people["resident"]), ttl=timedelta(seconds=-1))
    assert client.get("/api/v1/me", headers=headers).status_code == 401


@pytest.mark.parametrize("header", ["Bearer pa_forged", "Bearer ", "Basic abc", "Bearer " + "x" * 5000])
def test_forged_and_malformed_tokens_are_refused(client, header):
    response = client.get("/api/v1/me", headers={"Authorization": header})
    assert response.status_code == 401


def test_a_suspended_member_cannot_sign_in_and_loses_their_tokens(client, world):
    headers = world.headers["resident"]
    response = client.patch(
        f"/api/v1/members/{world.people['resident']}",
        json={"status": "suspended"},
        headers=world.headers["organiser"],
    )
    assert response.status_code == 200
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    refused = sign_in(client, world.phones["resident"])
    assert refused.status_code == 403 and refused.get_json()["code"] == "forbidden"
    client.patch(
        f"/api/v1/members/{world.people['resident']}",
        json={"status": "active"},
        headers=world.headers["organiser"],
    )
    assert sign_in(client, world.phones["resident"]).status_code == 201


def test_a_password_reset_ends_the_members_tokens(client, world):
    headers = world.headers["resident"]
    response = client.post(
        f"/api/v1/members/{world.people['resident']}/password",
        json={"password": "a brand new one"},
        headers=world.headers["organiser"],
    )
    assert response.status_code == 204
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    assert sign_in(client, world.phones["resident"], "a brand new one").status_code == 201
    assert sign_in(client, world.phones["resident"]).status_code == 401


def test_a_member_changes_their_own_password_only_with_the_current_one(client, world):
    headers = world.headers["resident"]
    wrong = client.post(
        "/api/v1/me/password",
        headers=headers,
        json={"current_password": "guess", "new_password": "new password 1"},
    )
    assert wrong.status_code == 422 and "current_password" in wrong.get_json()["errors"]
    short = client.post(
        "/api/v1/me/password", headers=headers, json={"current_password": PASSWORD, "new_password": "short"}
    )
    assert short.status_code == 422 and "new_password" in short.get_json()["errors"]
    ok = client.post(
        "/api/v1/me/password",
        headers=headers,
        json={"current_password": PASSWORD, "new_password": "new password 1"},
    )
    assert ok.status_code == 204
    assert sign_in(client, world.phones["resident"], "new password 1").status_code == 201


def test_me_shows_roles_and_lets_a_member_appear_anonymously(client, world):
    me = client.get("/api/v1/me", headers=world.headers["organiser"]).get_json()
    assert [(r["role"], r["org_unit"]["name"]) for r in me["roles"]] == [("organiser", "城关镇")]
    response = client.patch("/api/v1/me", json={"anonymous": True}, headers=world.headers["resident"])
    assert response.status_code == 200 and response.get_json()["anonymous"] is True


def test_a_validation_error_wins_over_a_bad_token(client):
    response = client.post(
        "/api/v1/members", json={"phone": "12"}, headers={"Authorization": "Bearer pa_forged"}
    )
    assert response.status_code == 422


def test_members_signing_in_at_the_same_moment_all_succeed(app, world):
    """Each sign-in reads, hashes for a while, then writes: concurrent ones must wait, not fail."""
    import threading

    people = ["resident", "villager", "neighbour", "outsider", "organiser", "grid_worker", "clerk", "admin"]
    barrier, statuses = threading.Barrier(len(people)), []

    def sign_in_as(who):
        client = app.test_client()
        barrier.wait()
        statuses.append(sign_in(client, world.phones[who]).status_code)

    threads = [threading.Thread(target=sign_in_as, args=(who,)) for who in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [201] * len(people)

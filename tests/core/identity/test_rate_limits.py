"""Rate limits: failed sign-ins per phone number, signed-in calls per member, shared through Redis."""

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import dispose, make_app
from tests.factories import PASSWORD, make_member

ROOT = Path(__file__).resolve().parents[3]


def fail_sign_in(client, phone):
    return client.post("/api/v1/auth/tokens", json={"phone": phone, "password": "wrong password"})


def test_failed_sign_ins_are_limited_per_phone_with_retry_after(client, world):
    phone = world.phones["resident"]
    for _ in range(5):
        assert fail_sign_in(client, phone).status_code == 401
    blocked = client.post("/api/v1/auth/tokens", json={"phone": phone, "password": PASSWORD})
    assert blocked.status_code == 429
    assert blocked.get_json()["code"] == "rate_limited"
    assert int(blocked.headers["Retry-After"]) > 0
    # the same address signing in with another phone is not blocked (villages share one address)
    other = client.post("/api/v1/auth/tokens", json={"phone": world.phones["neighbour"], "password": PASSWORD})
    assert other.status_code == 201


def test_successful_sign_ins_do_not_count_against_the_limit(client, world):
    for _ in range(8):
        response = client.post("/api/v1/auth/tokens", json={"phone": world.phones["resident"],
                                                            "password": PASSWORD})
        assert response.status_code == 201


def test_signed_in_calls_are_limited_per_member_not_per_address(database_url, world):
    app = make_app(database_url, RATELIMIT_DEFAULT="3 per minute")
    client = app.test_client()
    try:
        for _ in range(3):
            assert client.get("/api/v1/me", headers=world.headers["resident"]).status_code == 200
        limited = client.get("/api/v1/me", headers=world.headers["resident"])
        assert limited.status_code == 429 and "Retry-After" in limited.headers
        assert client.get("/api/v1/me", headers=world.headers["neighbour"]).status_code == 200
    finally:
        dispose(app)


SIGN_IN_FROM_ANOTHER_PROCESS = """
import sys
from app import create_app
app = create_app({"APP_ENV": "test", "SQLALCHEMY_DATABASE_URI": sys.argv[1],
                  "RATELIMIT_STORAGE_URI": sys.argv[2]})
client = app.test_client()
for _ in range(int(sys.argv[4])):
    response = client.post("/api/v1/auth/tokens", json={"phone": sys.argv[3], "password": "wrong password"})
    print(response.status_code)
"""


def sign_in_from_another_process(database, redis_url, phone, times):
    """Fail to sign in ``times`` times from a separate app server process; answer the statuses."""
    result = subprocess.run(
        [sys.executable, "-c", SIGN_IN_FROM_ANOTHER_PROCESS, database, redis_url, phone, str(times)],
        capture_output=True, text=True, timeout=120, cwd=ROOT, check=True)
    return [int(line) for line in result.stdout.split()]


def test_two_app_servers_share_failed_sign_in_counts_through_redis(sqlite_template, tmp_path, redis_url):
    database = tmp_path / "shared.db"
    shutil.copyfile(sqlite_template, database)
    url = f"sqlite:///{database}"
    app = make_app(url)
    with app.app_context():
        phone = make_member("共享", None).phone
    dispose(app)
    assert sign_in_from_another_process(url, redis_url, phone, 5) == [401] * 5
    assert sign_in_from_another_process(url, redis_url, phone, 1) == [429]
    # with each server counting in its own memory, a second server would let five more through
    assert sign_in_from_another_process(url, "memory://", phone, 1) == [401]

"""Rate limits: failed sign-ins per phone number in a store every worker shares (the database, or
Redis when configured), one bucket for the page and the API; signed-in calls per member."""

import shutil

import sqlalchemy as sa

from core.audit import AuditEntry
from core.extensions import db
from core.throttle import ThrottleEntry
from tests.conftest import dispose, make_app
from tests.factories import PASSWORD, make_member
from tests.support.gunicorn import run_python
from tests.support.pages import csrf_token


def fail_sign_in(client, phone):
    return client.post("/api/v1/auth/tokens", json={"phone": phone, "password": "wrong password"})


def fail_on_the_page(client, phone):
    token = csrf_token(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"csrf_token": token, "phone": phone, "password": "wrong password"})


def test_failed_sign_ins_are_limited_per_phone_with_retry_after(client, world):
    phone = world.phones["resident"]
    for _ in range(5):
        assert fail_sign_in(client, phone).status_code == 401
    blocked = client.post("/api/v1/auth/tokens", json={"phone": phone, "password": PASSWORD})
    assert blocked.status_code == 429
    assert blocked.get_json()["code"] == "rate_limited"
    assert 890 <= int(blocked.headers["Retry-After"]) <= 900
    # the same address signing in with another phone is not blocked (villages share one address)
    other = client.post(
        "/api/v1/auth/tokens", json={"phone": world.phones["neighbour"], "password": PASSWORD}
    )
    assert other.status_code == 201


def test_successful_sign_ins_do_not_count_against_the_limit(client, world):
    for _ in range(8):
        response = client.post(
            "/api/v1/auth/tokens", json={"phone": world.phones["resident"], "password": PASSWORD}
        )
        assert response.status_code == 201


def test_the_page_and_the_api_count_in_one_bucket_per_phone_however_it_is_typed(client, world):
    phone = world.phones["resident"]
    spaced = f"+86 {phone[:3]} {phone[3:7]} {phone[7:]}"
    browser, api = client, client.application.test_client()
    for _ in range(3):
        assert fail_on_the_page(browser, spaced).status_code == 401
    for _ in range(2):
        assert fail_sign_in(api, phone).status_code == 401
    assert api.post("/api/v1/auth/tokens", json={"phone": phone, "password": PASSWORD}).status_code == 429
    assert fail_on_the_page(browser, phone).status_code == 429


def test_the_locked_page_says_how_long_to_wait_and_keeps_the_sign_in_form(client, world):
    phone = world.phones["resident"]
    for _ in range(5):
        fail_on_the_page(client, phone)
    token = csrf_token(client.get("/login").get_data(as_text=True))
    locked = client.post("/login", data={"csrf_token": token, "phone": phone, "password": PASSWORD})
    html = locked.get_data(as_text=True)
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert "15 分钟后再试" in html
    assert f'value="{phone}"' in html and 'name="password"' in html  # the form, with what was typed


def test_failed_activations_count_in_the_same_bucket_as_failed_sign_ins(client, world):
    phone = world.phones["resident"]
    for _ in range(3):
        assert fail_sign_in(client, phone).status_code == 401
    for _ in range(2):
        response = client.post(
            "/api/v1/auth/activate",
            json={"phone": phone, "code": "AAAAAAAA", "password": "my-first-password"},
        )
        assert response.status_code == 400
    assert client.post("/api/v1/auth/tokens", json={"phone": phone, "password": PASSWORD}).status_code == 429


def test_an_organiser_unlocks_a_locked_member_and_it_is_audited(client, world, app):
    phone = world.phones["resident"]
    for _ in range(5):
        fail_sign_in(client, phone)
    assert client.post("/api/v1/auth/tokens", json={"phone": phone, "password": PASSWORD}).status_code == 429
    unlock = client.post(
        f"/api/v1/members/{world.people['resident']}/unlock", headers=world.headers["organiser"]
    )
    assert unlock.status_code == 204
    assert client.post("/api/v1/auth/tokens", json={"phone": phone, "password": PASSWORD}).status_code == 201
    with app.app_context():
        entry = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "member.unlock")).one()
        assert entry.actor_id == world.people["organiser"] and entry.subject_id == world.people["resident"]
        assert 0 < entry.before["locked_for_seconds"] <= 900


def test_the_console_shows_the_lock_and_unlocks_it(app, world):
    from tests.support.pages import signed_in

    client = app.test_client()
    for _ in range(5):
        fail_on_the_page(client, world.phones["villager"])
    browser = signed_in(app, world, "organiser")
    page = browser.get(f"/admin/members/{world.people['villager']}").get_data(as_text=True)
    assert "登录已锁定" in page
    response = browser.post(
        f"/admin/members/{world.people['villager']}/unlock", data={"csrf_token": csrf_token(page)}
    )
    assert response.status_code == 303
    assert "登录已锁定" not in browser.get(f"/admin/members/{world.people['villager']}").get_data(
        as_text=True
    )


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


def sign_in_from_another_process(database, store, phone, times):
    """Fail to sign in ``times`` times from a separate app server process; answer the statuses."""
    result = run_python(SIGN_IN_FROM_ANOTHER_PROCESS, database, store, phone, str(times))
    return [int(line) for line in result.stdout.split()]


def test_app_servers_share_failed_sign_ins_through_the_database_by_default(app, database_url):
    with app.app_context():
        phone = make_member("共享", None).phone
    # two servers with no Redis configured (Flask-Limiter's own store is each process's memory)
    assert sign_in_from_another_process(database_url, "memory://", phone, 3) == [401] * 3
    assert sign_in_from_another_process(database_url, "memory://", phone, 3) == [401, 401, 429]
    with app.app_context():
        assert db.session.get(ThrottleEntry, f"sign_in:{phone}").locked_until is not None


def test_two_app_servers_share_failed_sign_in_counts_through_redis(sqlite_template, tmp_path, redis_url):
    database = tmp_path / "shared.db"
    shutil.copyfile(sqlite_template, database)
    url = f"sqlite:///{database}"
    app = make_app(url)
    with app.app_context():
        phone = make_member("共享", None).phone
    assert sign_in_from_another_process(url, redis_url, phone, 5) == [401] * 5
    assert sign_in_from_another_process(url, redis_url, phone, 1) == [429]
    with app.app_context():  # counted in Redis, not in the database
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ThrottleEntry)) == 0
    dispose(app)
    # a server counting in another store (here the database) knows nothing of those failures
    assert sign_in_from_another_process(url, "memory://", phone, 1) == [401]

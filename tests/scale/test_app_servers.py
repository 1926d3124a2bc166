"""Three app servers (gunicorn, production settings) sharing one PostgreSQL and one Redis, with
nginx balancing over them: a member signs in on one, fills a form drawn by a second and sends
it to a third, and sends it again to the first; an award is replayed on another server than
the one that posted it; a voucher signed by one is scanned and fulfilled by the others;
failed sign-ins and rate limits are counted together; and nginx spreads requests over all three.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime

import pytest
import requests
import sqlalchemy as sa

from core.clock import SHANGHAI
from core.extensions import db
from core.identity.models import Member
from points.models import Contribution
from tests.conftest import dispose, empty_postgres_database, make_app
from tests.factories import PASSWORD, build_world, make_activity
from tests.support.city import behind_nginx
from tests.support.contributions import contribution_body
from tests.support.gunicorn import Gunicorn, production_env
from tests.support.pages import csrf_token

SERVERS = 3


@pytest.fixture
def city(nginx_binary, postgres_database, redis_url):
    """The standard world on this worker's database; three app servers and nginx in front of them."""
    from rewards import services, stock

    app = make_app(postgres_database)
    with app.app_context():
        world = build_world()
        make_activity("patrol", points=3, needs_review=False)
        make_activity("mediation", points=5, needs_review=True, category="mediation")
        admin = db.session.get(Member, world.people["global_admin"])
        world.soap = services.create_reward(
            admin, {"name": "肥皂", "points_cost": 3, "per_member_limit": None}
        ).id
        stock.receive_stock(db.session.get(Member, world.people["clerk"]), world.shops["a"], world.soap, 5)
    env = {**production_env(postgres_database), "RATELIMIT_STORAGE_URI": redis_url, "TRUSTED_PROXIES": "1"}
    try:
        with behind_nginx(nginx_binary, env, SERVERS) as (servers, nginx):
            yield app, world, servers, nginx
    finally:
        dispose(app)
        empty_postgres_database(postgres_database)


class Browser:
    """A phone's browser: it keeps its cookies (the session is a signed cookie) across servers."""

    def __init__(self):
        self.cookies: dict[str, str] = {}

    def send(self, method: str, server: Gunicorn, path: str, **kwargs) -> requests.Response:
        # Production marks the cookies Secure; this plain-HTTP loopback test sends them itself.
        answer = requests.request(
            method,
            f"http://127.0.0.1:{server.port}{path}",
            cookies=self.cookies,
            allow_redirects=False,
            timeout=30,
            **kwargs,
        )
        self.cookies.update(answer.cookies.get_dict())
        return answer


def form_fields(html: str) -> dict:
    """The hidden CSRF and one-time form tokens of a page's form."""
    return {
        "csrf_token": csrf_token(html),
        "form_token": re.search(r'name="form_token" value="([^"]+)"', html).group(1),
    }


def test_sign_in_forms_and_replays_work_whichever_server_answers(city):
    app, world, (one, two, three), _nginx = city
    browser = Browser()
    login = browser.send("GET", one, "/login")
    signed_in = browser.send(
        "POST",
        two,
        "/login",
        data={"csrf_token": csrf_token(login.text), "phone": world.phones["resident"], "password": PASSWORD},
    )
    assert signed_in.status_code == 302

    page = browser.send("GET", three, "/me/claims/new")
    assert page.status_code == 200
    claim = {
        **form_fields(page.text),
        "activity": "mediation",
        "quantity": "1",
        "note": "调解邻里纠纷",
        "occurred_at": datetime.now(SHANGHAI).strftime("%Y-%m-%dT%H:%M"),
    }
    sent = browser.send("POST", one, "/me/claims/new", data=claim)
    sent_again = browser.send("POST", two, "/me/claims/new", data=claim)  # a double tap, another server
    assert sent.status_code == sent_again.status_code == 303
    assert sent_again.headers["Location"] == sent.headers["Location"]

    award = contribution_body(world, "villager", "patrol", occurred_at=datetime.now(SHANGHAI).isoformat())
    once = {**world.headers["grid_worker"], "Idempotency-Key": uuid.uuid4().hex}
    first = requests.post(
        f"http://127.0.0.1:{three.port}/api/v1/contributions", json=award, headers=once, timeout=30
    )
    again = requests.post(
        f"http://127.0.0.1:{one.port}/api/v1/contributions", json=award, headers=once, timeout=30
    )
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true" and again.json()["id"] == first.json()["id"]

    with app.app_context():
        mine = db.session.scalars(
            sa.select(Contribution).where(
                Contribution.member_id.in_([world.people["resident"], world.people["villager"]])
            )
        ).all()
        assert sorted((row.member_id, row.status) for row in mine) == sorted(
            [(world.people["resident"], "pending"), (world.people["villager"], "approved")]
        )


def test_a_voucher_signed_by_one_server_is_scanned_and_fulfilled_by_the_others(city):
    _app, world, (one, two, three), _nginx = city
    requests.post(
        f"http://127.0.0.1:{one.port}/api/v1/contributions",
        headers=world.headers["grid_worker"],
        json=contribution_body(world, "resident", "patrol", occurred_at=datetime.now(SHANGHAI).isoformat()),
        timeout=30,
    ).raise_for_status()
    voucher = requests.post(
        f"http://127.0.0.1:{two.port}/api/v1/vouchers",
        headers=world.headers["resident"],
        json={"supermarket_id": world.shops["a"], "items": [{"reward_id": world.soap, "quantity": 1}]},
        timeout=30,
    )
    assert voucher.status_code == 201, voucher.text
    code = {"payload": voucher.json()["payload"]}
    scanned = requests.post(
        f"http://127.0.0.1:{three.port}/api/v1/vouchers/scan",
        json=code,
        headers=world.headers["clerk"],
        timeout=30,
    )
    fulfilled = requests.post(
        f"http://127.0.0.1:{one.port}/api/v1/vouchers/{voucher.json()['id']}/fulfil",
        json=code,
        headers=world.headers["clerk"],
        timeout=30,
    )
    assert scanned.status_code == 200 and fulfilled.json()["status"] == "fulfilled"


def test_failed_sign_ins_and_rate_limits_are_counted_across_servers(city, redis_url):
    import redis

    _app, world, servers, _nginx = city
    wrong = {"phone": world.phones["outsider"], "password": "not-the-password-1"}
    for attempt in range(5):  # the limit is 5 in 15 minutes, counted in Redis
        failed = requests.post(
            f"http://127.0.0.1:{servers[attempt % SERVERS].port}/api/v1/auth/tokens", json=wrong, timeout=30
        )
        assert failed.status_code == 401
    right = requests.post(
        f"http://127.0.0.1:{servers[2].port}/api/v1/auth/tokens",
        json={**wrong, "password": PASSWORD},
        timeout=30,
    )
    assert right.status_code == 429

    member = world.people["neighbour"]
    for index in range(6):
        requests.get(
            f"http://127.0.0.1:{servers[index % SERVERS].port}/api/v1/me",
            headers=world.headers["neighbour"],
            timeout=30,
        ).raise_for_status()
    store = redis.Redis.from_url(redis_url)
    counted = sum(
        store.llen(key) for key in store.scan_iter(f"*member:{member}*") if store.type(key) == b"list"
    )
    assert counted == 6  # one moving window for the member, filled by all three servers


def test_nginx_spreads_requests_over_every_server(city):
    _app, world, servers, nginx = city
    answers = [
        requests.get(f"{nginx.url}/api/v1/me", headers=world.headers["resident"], timeout=30)
        for _ in range(3 * SERVERS)
    ]
    assert [answer.status_code for answer in answers] == [200] * (3 * SERVERS)
    served = []
    for server in servers:
        lines = [json.loads(line) for line in server.log.read_text().splitlines() if line.startswith("{")]
        served.append({line["request_id"] for line in lines if line.get("route") == "/api/v1/me"})
    assert all(served), "a server answered none"
    assert set().union(*served) == {answer.headers["X-Request-ID"] for answer in answers}

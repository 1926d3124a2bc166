"""The drill: awards and board reads flow through nginx over three app servers sharing PostgreSQL
(with its streaming replica) and Redis; mid-run one app server is killed (SIGKILL: what it was
answering is lost) and the replica stopped. Clients retry a failed award with its Idempotency-Key,
as the contract asks. Afterwards every award the clients were told about is posted exactly once,
at most the requests in flight on the killed server are left unknown (never posted twice), the
boards kept answering from the primary, and ``flask ledger verify`` is clean."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest
import requests
import sqlalchemy as sa

from core.clock import SHANGHAI
from core.extensions import db
from points.models import Contribution
from tests.conftest import dispose, empty_postgres_database, make_app
from tests.factories import build_world, make_activity
from tests.support.city import behind_nginx, kill, post_until_answered
from tests.support.contributions import contribution_body
from tests.support.gunicorn import production_env, run_flask

SERVERS, CLIENTS, AWARDS = 3, 4, 15
#: After this many answered awards the drill kills a server and stops the replica.
STRIKE_AFTER = CLIENTS * AWARDS // 3


@pytest.fixture
def city_with_replica(nginx_binary, postgres_database, redis_url, standby):
    """The standard world; three app servers reading boards from the standby; nginx in front."""
    app = make_app(postgres_database)
    with app.app_context():
        world = build_world()
        make_activity("patrol", points=3, needs_review=False)
    standby.catch_up()
    replica_url = f"{standby.url}/{postgres_database.rsplit('/', 1)[1]}".replace("+psycopg", "")
    env = {
        **production_env(postgres_database),
        "RATELIMIT_STORAGE_URI": redis_url,
        "TRUSTED_PROXIES": "1",
        "DATABASE_REPLICA_URL": replica_url,
    }
    try:
        with behind_nginx(nginx_binary, env, SERVERS) as (servers, nginx):
            yield app, world, env, servers, nginx
    finally:
        if not standby.answers():
            standby.resume()
        standby.catch_up()
        dispose(app)
        empty_postgres_database(postgres_database)


def test_a_killed_app_server_and_a_stopped_replica_lose_nothing_but_in_flight_requests(
    city_with_replica, standby
):
    app, world, env, servers, nginx = city_with_replica
    answered = Counter()  # key -> final status
    boards: list[int] = []
    struck = threading.Event()
    lock = threading.Lock()

    def award(http: requests.Session, key: str) -> int:
        body = contribution_body(
            world, "villager", "patrol", occurred_at=datetime.now(SHANGHAI).isoformat(), note=key
        )
        headers = {**world.headers["grid_worker"], "Idempotency-Key": key}
        return post_until_answered(http, f"{nginx.url}/api/v1/contributions", body, headers, attempts=20)[0]

    def client(number: int) -> None:
        with requests.Session() as http:
            for _ in range(AWARDS):
                key = f"drill-{number}-{uuid.uuid4().hex}"
                status = award(http, key)
                board = http.get(
                    f"{nginx.url}/api/v1/leaderboards/members",
                    headers=world.headers["resident"],
                    params={"org_unit_id": world.units["county"], "period": "month"},
                    timeout=30,
                )
                with lock:
                    answered[key] = status
                    boards.append(board.status_code)
                    if len(answered) == STRIKE_AFTER:
                        struck.set()

    assert requests.get(f"{nginx.url}/healthz", timeout=30).json()["replica"]["state"] == "in use"
    with ThreadPoolExecutor(CLIENTS) as pool:
        running = [pool.submit(client, number) for number in range(CLIENTS)]
        assert struck.wait(timeout=300), "the load did not get going"
        kill(servers[1])
        standby.pause()
        assert '"route": "/api/v1/contributions"' in servers[1].log.read_text()  # it had its share
        for future in running:
            future.result(timeout=300)

    assert len(answered) == CLIENTS * AWARDS
    statuses = Counter(answered.values())
    # A request the killed server had begun may have posted before it died: its key stays
    # claimed and a retry is refused with 409 rather than posted again. One worker, one thread:
    # at most one such request.
    assert set(statuses) <= {201, 409} and statuses[409] <= 1, statuses
    assert boards == [200] * (CLIENTS * AWARDS)  # the boards never failed, replica or not

    with app.app_context():
        notes = Counter(
            db.session.scalars(
                sa.select(Contribution.note).where(Contribution.member_id == world.people["villager"])
            ).all()
        )
    assert max(notes.values()) == 1  # nothing posted twice
    acknowledged = {key for key, status in answered.items() if status == 201}
    assert acknowledged <= set(notes)  # nothing acknowledged is lost
    assert set(notes) <= set(answered)

    health = requests.get(f"{nginx.url}/healthz", timeout=30).json()
    assert health["replica"]["state"] == "down"
    verified = run_flask(env, "ledger", "verify")
    assert verified.returncode == 0, verified.stderr
    assert "ledger ok" in verified.stdout

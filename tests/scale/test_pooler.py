"""The service through PgBouncer in transaction mode (a real pgbouncer in front of the tests'
PostgreSQL server): awards from several threads sharing two server connections, a voucher
reserved, scanned and fulfilled, an idempotent replay; and why ``DATABASE_TRANSACTION_POOLING``
must be on there — psycopg's prepared statements do not survive a shared server connection."""

from __future__ import annotations

import threading
import uuid

import pytest
import sqlalchemy as sa

from core.database import utcnow
from core.extensions import db
from core.identity.models import Member
from points import ledger
from points.models import Contribution
from tests.conftest import dispose, empty_postgres_database, make_app
from tests.factories import build_world, make_activity
from tests.rewards.conftest import give_points
from tests.support.city import PgBouncer
from tests.support.contributions import contribution_body, post_contribution

THREADS, AWARDS = 4, 12


@pytest.fixture
def pooled_url(pgbouncer_binary, postgres_server_url, postgres_database):
    """A factory: this worker's database through a new PgBouncer lending ``pool_size`` server connections."""
    poolers = []

    def through(pool_size: int) -> str:
        pooler = PgBouncer(
            pgbouncer_binary, int(postgres_server_url.rsplit(":", 1)[1]), pool_size=pool_size
        ).start()
        poolers.append(pooler)
        return f"{pooler.url}/{postgres_database.rsplit('/', 1)[1]}"

    yield through
    for pooler in poolers:
        pooler.stop()
    empty_postgres_database(postgres_database)


@pytest.fixture
def pooled_app(pooled_url):
    application = make_app(pooled_url(2), DATABASE_TRANSACTION_POOLING=True)
    yield application
    dispose(application)


def test_awards_vouchers_and_replays_work_through_a_transaction_pooler(pooled_app):
    from rewards import services, stock

    app = pooled_app
    with app.app_context():
        world = build_world()
        make_activity("patrol", points=3, needs_review=False)
        admin = db.session.get(Member, world.people["global_admin"])
        soap = services.create_reward(admin, {"name": "肥皂", "points_cost": 10, "per_member_limit": None}).id
        stock.receive_stock(db.session.get(Member, world.people["clerk"]), world.shops["a"], soap, 5)
        give_points(world.people["resident"], 50)
    statuses: list[int] = []

    def awards():
        client = app.test_client()
        for _ in range(AWARDS):  # each statement runs more often than psycopg's threshold for preparing
            response = post_contribution(
                client, world, "grid_worker", "patrol", member="villager", occurred_at=utcnow().isoformat()
            )
            statuses.append(response.status_code)

    threads = [threading.Thread(target=awards) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert statuses == [201] * (THREADS * AWARDS)

    client = app.test_client()
    voucher = client.post(
        "/api/v1/vouchers",
        headers=world.headers["resident"],
        json={"supermarket_id": world.shops["a"], "items": [{"reward_id": soap, "quantity": 1}]},
    )
    assert voucher.status_code == 201, voucher.get_json()
    code = {"payload": voucher.get_json()["payload"]}
    assert client.post("/api/v1/vouchers/scan", headers=world.headers["clerk"], json=code).status_code == 200
    fulfilled = client.post(
        f"/api/v1/vouchers/{voucher.get_json()['id']}/fulfil", headers=world.headers["clerk"], json=code
    )
    assert fulfilled.status_code == 200 and fulfilled.get_json()["status"] == "fulfilled"

    once = {**world.headers["grid_worker"], "Idempotency-Key": uuid.uuid4().hex}
    body = contribution_body(world, "villager", "patrol", occurred_at=utcnow().isoformat())
    first, again = (client.post("/api/v1/contributions", headers=once, json=body) for _ in range(2))
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true" and again.get_json()["id"] == first.get_json()["id"]

    with app.app_context():
        counted = db.session.scalar(sa.select(sa.func.count()).select_from(Contribution))
        assert counted == THREADS * AWARDS + 1
        assert ledger.verify_ledger() == []


@pytest.mark.parametrize("pooling", [True, False])
def test_two_connections_sharing_one_server_connection_need_the_pooling_setting(pooled_url, pooling):
    app = make_app(pooled_url(1), DATABASE_TRANSACTION_POOLING=pooling)
    statement = sa.text("SELECT count(*) FROM member WHERE id > :id")
    try:
        with app.app_context(), db.engine.connect() as first, db.engine.connect() as second:

            def take_turns():
                for turn in range(8):  # past psycopg's threshold: it would prepare the statement
                    for connection in (first, second):
                        connection.execute(statement, {"id": turn})
                        connection.commit()  # the server connection goes back to the pool

            if pooling:
                take_turns()
            else:  # both name their prepared statement alike, on the one server connection
                with pytest.raises(sa.exc.ProgrammingError, match="prepared statement"):
                    take_turns()
    finally:
        dispose(app)

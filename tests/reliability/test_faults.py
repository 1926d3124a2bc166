"""Faults under load, against the real service under gunicorn on loopback.

A worker killed with SIGKILL in the middle of a burst of awards and voucher fulfils loses
nothing that was acknowledged and leaves the ledger whole; a PostgreSQL restart under load
gives clients clear 503s, never a 500, never half a transaction; and SQLite's
``database is locked`` reaches nobody as a 500.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa

from core.database import begin_writing, utcnow
from core.extensions import db
from points import ledger
from points.models import Contribution, LedgerTransaction
from rewards.models import Stock, StockMovement, Voucher
from tests.conftest import dispose, make_app, migrate_database
from tests.factories import build_world, make_activity
from tests.support.contributions import contribution_body
from tests.support.gunicorn import Gunicorn, production_env, run_flask
from tests.support.postgres import Cluster, find_bin_dir

AWARD_POINTS = 3
VOUCHERS = 24
AWARDS_PER_STAFF = 30
STAFF = ("organiser", "admin", "global_admin", "grid_worker")


@dataclass
class Outcome:
    """What clients were told: acknowledged ids, statuses seen, and requests of unknown outcome."""

    awards: list[int] = field(default_factory=list)
    fulfils: list[int] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    unknown: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def patrol_now(world, member: str = "resident") -> dict:
    """The body of an award of one patrol to one of the world's people (the resident), done now."""
    return contribution_body(world, member, "patrol", occurred_at=utcnow().isoformat())


def call(port: int, method: str, path: str, headers: dict, body: dict | None = None):
    """Send one request on a new connection; answer (status, JSON body or None)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(
            method,
            path,
            body=json.dumps(body) if body is not None else None,
            headers={"Content-Type": "application/json", **headers},
        )
        response = connection.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None
    finally:
        connection.close()


def call_with_retries(port, method, path, headers, body, outcome: Outcome, attempts: int = 6):
    """Send a POST with an Idempotency-Key, retrying the same key when the connection dies."""
    headers = {**headers, "Idempotency-Key": uuid.uuid4().hex}
    for _ in range(attempts):
        try:
            status, answer = call(port, method, path, headers, body)
        except (OSError, http.client.HTTPException):
            time.sleep(0.2)  # the worker died under us: try again, as a phone would
            continue
        with outcome.lock:
            outcome.statuses.append(status)
        if status == 503 or (status == 409 and answer and answer.get("code") == "request_in_progress"):
            time.sleep(0.3)
            continue
        return status, answer
    with outcome.lock:
        outcome.unknown += 1
    return None, None


@pytest.fixture
def county(app):
    """The standard world, an award activity with no cap, soap in stock, a rich resident."""
    from core.identity.models import Member
    from rewards import services, stock

    with app.app_context():
        world = build_world()
        make_activity("patrol", points=AWARD_POINTS, needs_review=False)
        admin = db.session.get(Member, world.people["global_admin"])
        soap = services.create_reward(admin, {"name": "肥皂", "points_cost": 10, "per_member_limit": None}).id
        stock.receive_stock(
            db.session.get(Member, world.people["clerk"]), world.shops["a"], soap, VOUCHERS * 2
        )
        begin_writing(db.session)
        ledger.award(world.people["resident"], 10 * VOUCHERS * 2, occurred_at=utcnow(), actor_id=None)
        db.session.commit()
        world.soap = soap
        db.session.remove()
    return world


def serve(database_url: str, workers: int = 2) -> Gunicorn:
    """The service under gunicorn with production settings on ``database_url``."""
    env = production_env(database_url)
    env["ACCESS_LOG"] = "0"
    return Gunicorn(app="wsgi:app", env=env, workers=workers, threads=1, ready_path="/healthz")


def reserve_vouchers(port: int, world) -> list[dict]:
    """Reserve soap vouchers as the resident through the service (so it signs them)."""
    vouchers = []
    for _ in range(VOUCHERS):
        status, answer = call(
            port,
            "POST",
            "/api/v1/vouchers",
            world.headers["resident"],
            {"supermarket_id": world.shops["a"], "items": [{"reward_id": world.soap, "quantity": 1}]},
        )
        assert status == 201, answer
        vouchers.append(answer)
    return vouchers


def award_burst(port, world, staff: str, outcome: Outcome, stop: threading.Event) -> None:
    """Award points as ``staff`` to the residents of grid A until done or stopped."""
    residents = ("resident", "villager")
    for index in range(AWARDS_PER_STAFF):
        if stop.is_set():
            return
        status, answer = call_with_retries(
            port,
            "POST",
            "/api/v1/contributions",
            world.headers[staff],
            patrol_now(world, residents[index % 2]),
            outcome,
        )
        with outcome.lock:
            if status == 201:
                outcome.awards.append(answer["id"])
            elif status is not None:
                outcome.errors.append(f"award {status} {answer}")


def fulfil_burst(port, world, vouchers: list[dict], outcome: Outcome) -> None:
    """Fulfil each voucher as the clerk with the resident's code."""
    for voucher in vouchers:
        status, answer = call_with_retries(
            port,
            "POST",
            f"/api/v1/vouchers/{voucher['id']}/fulfil",
            world.headers["clerk"],
            {"payload": voucher["payload"]},
            outcome,
        )
        with outcome.lock:
            if status == 200:
                outcome.fulfils.append(voucher["id"])
            elif status == 409 and answer["code"] == "already_fulfilled":
                outcome.fulfils.append(voucher["id"])  # a retry of a fulfil that had committed
            elif status is not None:
                outcome.errors.append(f"fulfil {status} {answer}")


def kill_workers(server: Gunicorn, times: int, every: float, killed: list[int]) -> None:
    """SIGKILL one worker ``times`` times, ``every`` seconds apart, while traffic runs."""
    for _ in range(times):
        time.sleep(every)
        pids = server.worker_pids()
        if pids:
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])


def assert_ledger_verifies(database_url: str) -> None:
    """``flask ledger verify`` on the database exits 0."""
    result = run_flask(production_env(database_url), "ledger", "verify")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_worker_killed_mid_burst_loses_nothing_acknowledged(app, county, database_url):
    world = county
    outcome = Outcome()
    killed: list[int] = []
    stop = threading.Event()
    with serve(database_url) as server:
        vouchers = reserve_vouchers(server.port, world)
        threads = [
            threading.Thread(target=award_burst, args=(server.port, world, staff, outcome, stop))
            for staff in STAFF
        ]
        threads += [
            threading.Thread(target=fulfil_burst, args=(server.port, world, part, outcome))
            for part in (vouchers[0::2], vouchers[1::2])
        ]
        killer = threading.Thread(target=kill_workers, args=(server, 3, 0.7, killed))
        for thread in threads + [killer]:
            thread.start()
        for thread in threads + [killer]:
            thread.join(timeout=240)
        stop.set()
        still_serving = call(server.port, "GET", "/healthz", {})[0]

    assert len(killed) == 3 and still_serving == 200
    assert not outcome.errors, outcome.errors[:5]
    assert all(status < 500 or status == 503 for status in outcome.statuses)
    assert len(outcome.awards) == len(set(outcome.awards)) > 0
    with app.app_context():
        approved = set(
            db.session.scalars(sa.select(Contribution.id).where(Contribution.status == "approved"))
        )
        assert set(outcome.awards) <= approved
        # nothing posted twice: at most one contribution per award sent, acknowledged or not
        assert len(approved) <= len(STAFF) * AWARDS_PER_STAFF
        # every approved contribution has its ledger transaction (nothing half-written)
        with_transaction = db.session.scalar(
            sa.select(sa.func.count(sa.distinct(LedgerTransaction.id))).where(
                LedgerTransaction.kind == "award"
            )
        )
        assert with_transaction >= len(approved) + 1  # + the resident's opening award
        fulfilled = set(db.session.scalars(sa.select(Voucher.id).where(Voucher.status == "fulfilled")))
        assert set(outcome.fulfils) <= fulfilled
        row = db.session.scalar(sa.select(Stock).where(Stock.reward_id == world.soap))
        handed_out = -sum(
            db.session.scalars(
                sa.select(StockMovement.on_hand_change).where(
                    StockMovement.reward_id == world.soap, StockMovement.kind == "handed_over"
                )
            )
        )
        assert row.on_hand + handed_out == VOUCHERS * 2 and handed_out == len(fulfilled)
        assert row.reserved == VOUCHERS - len(fulfilled)
    assert_ledger_verifies(database_url)


@pytest.fixture
def own_postgres():
    """A PostgreSQL cluster of this test's own, since the test restarts it."""
    from tests.conftest import unavailable

    bin_dir = find_bin_dir()
    if bin_dir is None:
        unavailable("PostgreSQL not installed (apt-get install postgresql)")
    cluster = Cluster(bin_dir).start()
    from tests.support.postgres import execute_autocommit

    execute_autocommit(cluster.url, "CREATE DATABASE faults")
    url = f"{cluster.url}/faults"
    migrate_database(url)
    yield cluster, url
    cluster.stop()


def test_a_postgresql_restart_under_load_gives_clear_errors_and_no_half_writes(own_postgres):
    cluster, url = own_postgres
    app = make_app(url)
    with app.app_context():
        world = build_world()
        make_activity("patrol", points=AWARD_POINTS, needs_review=False)
        db.session.remove()
    dispose(app)
    outcome = Outcome()
    answers: list[tuple[int, dict]] = []

    def burst(staff: str) -> None:
        for _index in range(AWARDS_PER_STAFF):
            try:
                answers.append(
                    call(
                        server.port,
                        "POST",
                        "/api/v1/contributions",
                        world.headers[staff],
                        patrol_now(world),
                    )
                )
            except (OSError, http.client.HTTPException) as error:
                outcome.errors.append(repr(error))
            time.sleep(0.01)

    with serve(url) as server:
        # while the database is down: a clear 503 at once, not a hang or a 500
        cluster.pause()
        down = call(
            server.port,
            "POST",
            "/api/v1/contributions",
            world.headers["organiser"],
            patrol_now(world),
        )
        cluster.resume()
        threads = [threading.Thread(target=burst, args=(staff,)) for staff in STAFF]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        cluster.pause()
        cluster.resume()
        for thread in threads:
            thread.join(timeout=240)
        after = call(
            server.port,
            "POST",
            "/api/v1/contributions",
            world.headers["organiser"],
            patrol_now(world),
        )
        log = server.log_tail(400)

    assert down[0] == 503 and down[1]["code"] == "unavailable"
    assert after[0] == 201, log  # the service recovers by itself
    assert not outcome.errors, outcome.errors[:3]
    assert {status for status, _ in answers} <= {201, 503}, log
    assert all(body["code"] == "unavailable" for status, body in answers if status == 503)
    acknowledged = {body["id"] for status, body in answers if status == 201} | {after[1]["id"]}
    app = make_app(url)
    try:
        with app.app_context():
            approved = set(db.session.scalars(sa.select(Contribution.id)))
            assert acknowledged <= approved
            awards = db.session.scalar(sa.select(sa.func.count()).select_from(LedgerTransaction))
            assert awards == len(approved)  # every contribution has its transaction, and only one
    finally:
        dispose(app)
    assert_ledger_verifies(url)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_locked_sqlite_database_answers_503_never_500(database_url):
    import sqlite3

    app = make_app(database_url, SQLITE_BUSY_TIMEOUT_MS=300)
    try:
        with app.app_context():
            world = build_world()
            make_activity("patrol", points=AWARD_POINTS, needs_review=False)
            db.session.remove()
        client = app.test_client()
        award = patrol_now(world)
        holder = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another process holding the write lock
        try:
            locked = client.post("/api/v1/contributions", json=award, headers=world.headers["organiser"])
            reading = client.get("/api/v1/me", headers=world.headers["resident"])
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        unlocked = client.post("/api/v1/contributions", json=award, headers=world.headers["organiser"])
        with app.app_context():
            contributions = db.session.scalar(sa.select(sa.func.count()).select_from(Contribution))
    finally:
        dispose(app)
    assert locked.status_code == 503 and locked.get_json()["code"] == "unavailable"
    assert locked.headers["Retry-After"] == "1"
    assert reading.status_code == 200  # readers are never blocked (WAL)
    assert unlocked.status_code == 201 and contributions == 1

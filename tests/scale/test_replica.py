"""The boards on a real streaming replica: a hot standby of the tests' PostgreSQL server, made
from a base backup. Marked views read there (and show what it has replayed), everything else
reads the primary; a replica lagging past the bound, stopped, or failing under a view is left
aside for the primary, and taken back when it has caught up."""

from __future__ import annotations

import time

import pytest

from tests.conftest import dispose, empty_postgres_database, make_app
from tests.factories import build_world
from tests.rewards.conftest import give_points
from tests.support.postgres import execute_autocommit


@pytest.fixture
def primary(postgres_database):
    """This worker's database on the primary, emptied afterwards."""
    yield postgres_database
    empty_postgres_database(postgres_database)


@pytest.fixture
def replicated(primary, standby):
    """A factory of apps reading marked views from the standby, with the given bound and interval."""
    apps = []

    def build(max_lag: float = 60.0, every: float = 0.0):
        application = make_app(
            primary,
            DATABASE_REPLICA_URL=f"{standby.url}/{primary.rsplit('/', 1)[1]}",
            DATABASE_REPLICA_MAX_LAG_SECONDS=max_lag,
            DATABASE_REPLICA_CHECK_SECONDS=every,
        )
        apps.append(application)
        return application

    yield build
    for application in apps:
        dispose(application)


@pytest.fixture
def paused(standby):
    """Stop the standby replaying WAL (it keeps receiving it): from now on it lags."""

    def pause():
        execute_autocommit(standby.url, "SELECT pg_wal_replay_pause()")

    yield pause
    execute_autocommit(standby.url, "SELECT pg_wal_replay_resume()")


def award(app, member_id: int, points: int) -> None:
    with app.app_context():
        give_points(member_id, points)


def board_points(client, world) -> int:
    """The resident's points on the county's month board (a view marked @reads_replica)."""
    answer = client.get(
        f"/api/v1/leaderboards/members?org_unit_id={world.units['county']}&period=month",
        headers=world.headers["resident"],
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()["me"]["points"]


def balance(client, world) -> int:
    """The resident's balance from ``GET /me`` (unmarked: always the primary)."""
    return client.get("/api/v1/me", headers=world.headers["resident"]).get_json()["balance"]["available"]


def replica_state(client) -> str:
    return client.get("/healthz").get_json()["replica"]["state"]


def ten_points_replicated(app, standby):
    """The standard world, the resident awarded 10 points, and the replica caught up."""
    with app.app_context():
        world = build_world()
    award(app, world.people["resident"], 10)
    standby.catch_up()
    return world


def test_boards_read_the_replica_while_me_reads_the_primary(replicated, standby, paused):
    app = replicated()
    world = ten_points_replicated(app, standby)
    paused()
    award(app, world.people["resident"], 5)  # on the primary only: the replica replays nothing now

    client = app.test_client()
    assert board_points(client, world) == 10  # what the replica has
    assert balance(client, world) == 15  # what the primary has
    assert replica_state(client) == "in use"


def test_a_replica_lagging_past_the_bound_is_left_aside_until_it_catches_up(replicated, standby, paused):
    app = replicated(max_lag=0.5)
    world = ten_points_replicated(app, standby)
    paused()
    award(app, world.people["resident"], 5)
    client = app.test_client()
    assert board_points(client, world) == 10  # behind, but not for long yet

    time.sleep(0.7)
    assert board_points(client, world) == 15  # past the bound: the primary answers
    assert replica_state(client) == "behind"

    execute_autocommit(standby.url, "SELECT pg_wal_replay_resume()")
    standby.catch_up()
    assert replica_state(client) == "in use"
    assert board_points(client, world) == 15


def test_a_stopped_replica_is_left_aside_and_taken_back_when_it_returns(replicated, standby):
    app = replicated()
    world = ten_points_replicated(app, standby)
    client = app.test_client()
    assert board_points(client, world) == 10
    standby.pause()
    try:
        assert board_points(client, world) == 10  # from the primary
        assert replica_state(client) == "down"
    finally:
        standby.resume()
    standby.catch_up()
    assert replica_state(client) == "in use"


def test_a_replica_that_fails_under_a_view_leaves_the_view_to_the_primary(replicated, standby):
    app = replicated(every=600)  # the check said "fit" and will not look again for ten minutes
    world = ten_points_replicated(app, standby)
    client = app.test_client()
    assert board_points(client, world) == 10
    standby.pause()  # its pooled connections die with it
    try:
        award(app, world.people["resident"], 5)
        assert board_points(client, world) == 15  # the view ran again, on the primary
        assert replica_state(client) == "down"
    finally:
        standby.resume()
        standby.catch_up()

"""The shared failure store: failures per key lock it after a limit, for a while, in the database
(both engines) or in Redis; a lock is lifted by ``clear``; rows that no longer count are pruned."""

from __future__ import annotations

import shutil
import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from core.extensions import db
from core.throttle import Throttle, ThrottleEntry, throttle_store_name
from tests.conftest import ENGINES, dispose, empty_postgres_database, make_app

WINDOW = timedelta(seconds=2)


@pytest.fixture(params=[*ENGINES, "redis"])
def store_app(request, tmp_path):
    """The app counting failures in the database (each engine), or in Redis (beside SQLite)."""
    config = {}
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_database")
    else:
        url = f"sqlite:///{tmp_path}/app.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), tmp_path / "app.db")
    if request.param == "redis":
        config["RATELIMIT_STORAGE_URI"] = request.getfixturevalue("redis_url")
    app = make_app(url, **config)
    with app.app_context():
        assert throttle_store_name(app) == ("redis" if request.param == "redis" else "database")
        yield app
        throttle = Throttle("test", 3, WINDOW, WINDOW)
        for key in ("a", "b", "c", "busy"):
            throttle.clear(key)
    dispose(app)
    if request.param == "postgresql":
        with app.app_context():
            empty_postgres_database(url)


def test_the_limit_locks_the_key_for_the_lock_time_and_no_other_key(store_app):
    throttle = Throttle("test", limit=3, window=timedelta(minutes=15), lock=timedelta(minutes=10))
    assert [throttle.fail("a") for _ in range(2)] == [0, 0]
    assert throttle.wait("a") == 0
    assert throttle.fail("a") == 600
    assert 595 <= throttle.wait("a") <= 600
    assert throttle.wait("b") == 0 and throttle.fail("b") == 0


def test_failures_while_locked_are_not_counted_and_clear_lifts_the_lock(store_app):
    throttle = Throttle("test", limit=2, window=timedelta(minutes=15), lock=timedelta(minutes=15))
    throttle.fail("a")
    throttle.fail("a")
    assert throttle.fail("a") > 0  # refused, not counted again
    throttle.clear("a")
    assert throttle.wait("a") == 0
    assert throttle.fail("a") == 0  # counting starts again from nothing


def test_failures_older_than_the_window_no_longer_count_and_a_lock_ends(store_app):
    throttle = Throttle("test", limit=2, window=WINDOW, lock=WINDOW)
    throttle.fail("a")
    time.sleep(WINDOW.total_seconds() + 0.2)
    assert throttle.fail("a") == 0  # the first failure's window is over
    assert throttle.fail("a") == 2
    time.sleep(WINDOW.total_seconds() + 0.2)
    assert throttle.wait("a") == 0


def test_rows_that_no_longer_count_are_pruned_from_the_database(ctx):
    throttle = Throttle("test", limit=5, window=timedelta(seconds=1), lock=timedelta(seconds=1))
    throttle.fail("a")
    throttle.fail("b")
    time.sleep(1.2)
    throttle.fail("c")
    keys = set(db.session.scalars(sa.select(ThrottleEntry.key)))
    assert keys == {"test:c"}


def test_failures_from_many_threads_at_once_are_all_counted(store_app):
    throttle = Throttle("test", limit=100, window=timedelta(minutes=5), lock=timedelta(minutes=5))
    barrier = threading.Barrier(8)

    def fail_once():
        with store_app.app_context():
            barrier.wait()
            throttle.fail("busy")

    threads = [threading.Thread(target=fail_once) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    limit_reached = Throttle("test", limit=10, window=timedelta(minutes=5), lock=timedelta(minutes=5))
    assert [limit_reached.fail("busy") for _ in range(2)] == [0, 300]  # 8 + 2: the tenth locks

"""Database routing without servers: which views may read from a replica, what the settings do.

The real replica (a hot standby started by the test) is in ``tests/scale/test_replica.py``.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.config import ConfigError, load_config
from core.database import reading_from
from core.extensions import db
from core.identity.models import Member
from tests.conftest import make_app

#: The views that read from the replica: boards, honour rolls, the monthly report, the dashboard.
REPLICA_VIEWS = {
    "leaderboards.MemberBoard",
    "leaderboards.OrgUnitBoard",
    "leaderboards.HonourRoll",
    "points_pages.leaderboard",
    "points_pages.honour_roll",
    "admin.dashboard",
    "admin.reports",
    "admin.report_file",
}


def marked(app, endpoint: str) -> bool:
    """Whether the view of ``endpoint`` carries ``@reads_replica`` (on its GET, for a MethodView)."""
    view = app.view_functions[endpoint]
    view_class = getattr(view, "view_class", None)
    return getattr(getattr(view_class, "get", view), "reads_replica", False)


def test_the_views_that_read_from_a_replica_are_these_and_only_read(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules() if marked(app, rule.endpoint)}
    assert endpoints == REPLICA_VIEWS
    methods = {
        method for rule in app.url_map.iter_rules() if rule.endpoint in endpoints for method in rule.methods
    }
    assert methods <= {"GET", "HEAD", "OPTIONS"}


def test_a_write_under_the_replica_marker_is_refused(app):
    with app.app_context():
        token = reading_from.set(db.engine)  # as if this engine were the replica
        try:
            db.session.add(Member(name="张三", phone="13900000009"))
            with pytest.raises(RuntimeError, match="reads_replica"):
                db.session.flush()
            db.session.rollback()
            with pytest.raises(RuntimeError, match="reads_replica"):
                db.session.execute(sa.select(Member).with_for_update())
        finally:
            reading_from.reset(token)
            db.session.rollback()


def test_without_a_replica_the_marker_reads_from_the_primary(app, world):
    assert "replica" not in app.extensions
    with app.app_context():
        assert "replica" not in db.engines
    answer = app.test_client().get(
        f"/api/v1/leaderboards/members?org_unit_id={world.units['county']}", headers=world.headers["resident"]
    )
    assert answer.status_code == 200
    assert "replica" not in app.test_client().get("/healthz").get_json()


def test_a_replica_needs_postgresql(tmp_path):
    with pytest.raises(ConfigError, match="DATABASE_REPLICA_URL"):
        make_app(f"sqlite:///{tmp_path}/p.db", DATABASE_REPLICA_URL="postgresql://replica.lan/pingan")


def test_the_replica_settings_come_from_the_environment(monkeypatch):
    from flask import Flask

    monkeypatch.setenv("DATABASE_URL", "postgresql://primary.lan/pingan")
    monkeypatch.setenv("DATABASE_REPLICA_URL", "postgres://replica.lan/pingan")
    monkeypatch.setenv("DATABASE_REPLICA_MAX_LAG_SECONDS", "2.5")
    monkeypatch.setenv("DATABASE_TRANSACTION_POOLING", "1")
    app = Flask(__name__)
    load_config(app, {"APP_ENV": "test"})
    replica = app.config["SQLALCHEMY_BINDS"]["replica"]
    assert replica["url"] == "postgresql+psycopg://replica.lan/pingan"
    assert app.config["DATABASE_REPLICA_MAX_LAG_SECONDS"] == 2.5
    # Behind a transaction pooler psycopg prepares nothing, on the primary and the replica alike.
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"] == {"prepare_threshold": None}
    assert replica["connect_args"] == {"prepare_threshold": None, "connect_timeout": 2}
    assert replica["pool_pre_ping"] is True


def test_prepared_statements_stay_on_without_a_pooler(monkeypatch):
    from flask import Flask

    monkeypatch.delenv("DATABASE_TRANSACTION_POOLING", raising=False)
    app = Flask(__name__)
    load_config(app, {"APP_ENV": "test", "SQLALCHEMY_DATABASE_URI": "postgresql://primary.lan/pingan"})
    assert "connect_args" not in app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    assert "SQLALCHEMY_BINDS" not in app.config

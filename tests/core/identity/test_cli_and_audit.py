"""The identity commands and the audit log's append-only rule."""

import pytest
import sqlalchemy as sa

from core.audit import AuditEntry, record_audit
from core.extensions import db
from core.identity.models import Member, OrgUnit, RoleGrant


def count(app, model):
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_create_admin_makes_a_global_admin_once(app, runner, client):
    args = ["create-admin", "--phone", "13912345678", "--password", "a strong one", "--name", "县管理员"]
    first = runner.invoke(args=args)
    assert first.exit_code == 0 and "Created" in first.output
    second = runner.invoke(args=args)
    assert second.exit_code == 0 and "Already up to date" in second.output
    assert count(app, Member) == 1 and count(app, RoleGrant) == 1
    token = client.post("/api/v1/auth/tokens", json={"phone": "13912345678", "password": "a strong one"})
    headers = {"Authorization": f"Bearer {token.get_json()['token']}"}
    root = client.post("/api/v1/org-units", json={"name": "平安县", "kind": "county"}, headers=headers)
    assert root.status_code == 201


def test_create_admin_refuses_a_bad_phone_or_short_password(runner, app):
    result = runner.invoke(
        args=["create-admin", "--phone", "12", "--password", "a strong one", "--name", "x"]
    )
    assert result.exit_code != 0 and "phone" in result.output
    result = runner.invoke(
        args=["create-admin", "--phone", "13912345678", "--password", "short", "--name", "x"]
    )
    assert result.exit_code != 0
    assert count(app, Member) == 0


def test_seed_demo_loads_every_role_once_and_prints_the_logins(app, runner):
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0
    assert "13800000001" in first.output and "pingan2026" in first.output
    from points.models import Activity, Contribution
    from rewards.models import Reward, StockMovement

    models = (Member, OrgUnit, RoleGrant, Activity, Contribution, Reward, StockMovement)
    sizes = [count(app, model) for model in models]
    assert all(sizes), dict(zip([m.__name__ for m in models], sizes))
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    assert [count(app, model) for model in models] == sizes
    assert runner.invoke(args=["ledger", "verify"]).exit_code == 0
    with app.app_context():
        roles = set(db.session.scalars(sa.select(RoleGrant.role)))
    assert roles == {"admin", "organiser", "grid_worker", "clerk"}


def test_audit_entries_cannot_be_changed_or_deleted(app):
    with app.app_context():
        entry = record_audit(None, "test.something", None, after={"x": 1}, reason="because")
        db.session.commit()
        entry.reason = "rewritten"
        with pytest.raises(RuntimeError, match="append-only"):
            db.session.commit()
        db.session.rollback()
        with pytest.raises(RuntimeError, match="append-only"):
            db.session.delete(db.session.get(AuditEntry, entry.id))
            db.session.commit()
        db.session.rollback()
        assert db.session.get(AuditEntry, entry.id).reason == "because"

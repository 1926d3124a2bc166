"""Fixtures for rewards tests: two rewards stocked at shop A, and a resident with points."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.audit import AuditEntry
from core.database import begin_writing, utcnow
from core.extensions import db
from core.identity.models import Member
from points import ledger
from points.models import MemberBalance
from rewards import services, stock, vouchers
from rewards.models import Stock, StockMovement, Voucher

RESIDENT_POINTS = 400


def person(world, key: str) -> Member:
    """Load one of the world's members in the current app context."""
    return db.session.get(Member, world.people[key])


def give_points(member_id: int, points: int) -> None:
    """Award points straight through the ledger."""
    begin_writing(db.session)
    ledger.award(member_id, points, occurred_at=utcnow(), actor_id=None)
    db.session.commit()


def reserve_at_shop_a(world, reward_id: int, quantity: int = 1, who: str = "resident", **options) -> Voucher:
    """A voucher of one of the world's members for ``quantity`` of one reward at shop A, reserved
    through the voucher service (``options``: its ``now``, ``ttl``)."""
    items = [{"reward_id": reward_id, "quantity": quantity}]
    return vouchers.reserve_voucher(person(world, who), world.shops["a"], items, **options)


def assert_points_conserved(member_id: int, awarded: int) -> None:
    """A member's points are where their vouchers say: held = reserved vouchers, and available +
    held + fulfilled vouchers = what they were awarded; never below zero."""
    balance = ledger.balance_of(member_id)
    by_status = dict(
        db.session.execute(
            sa.select(Voucher.status, sa.func.sum(Voucher.points))
            .where(Voucher.member_id == member_id)
            .group_by(Voucher.status)
        ).all()
    )
    assert balance.available >= 0
    assert balance.held == (by_status.get("reserved") or 0)
    assert balance.available + balance.held + (by_status.get("fulfilled") or 0) == awarded


def make_reward(name: str, points_cost: int, per_member_limit: int | None = None) -> int:
    """Add a reward as the global admin; answer its id."""
    admin = db.session.scalar(sa.select(Member).where(Member.name == "陈管理"))
    return services.create_reward(
        admin, {"name": name, "points_cost": points_cost, "per_member_limit": per_member_limit}
    ).id


def state() -> dict:
    """Everything a refused call must leave as it was."""
    db.session.rollback()
    return {
        "balances": sorted(
            (row.member_id, row.available, row.held) for row in db.session.scalars(sa.select(MemberBalance))
        ),
        "stock": sorted(
            (row.supermarket_id, row.reward_id, row.on_hand, row.reserved)
            for row in db.session.scalars(sa.select(Stock))
        ),
        "vouchers": sorted((row.id, row.status) for row in db.session.scalars(sa.select(Voucher))),
        "movements": db.session.scalar(sa.select(sa.func.count()).select_from(StockMovement)),
        "audit": db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)),
    }


@pytest.fixture
def stocked(app, world):
    """Soap (30 points, 10 units) and oil (100 points, limit 2 a month, 3 units) at shop A;
    the resident has 400 points."""
    with app.app_context():
        world.rewards = {
            "soap": make_reward("肥皂", 30),
            "oil": make_reward("食用油", 100, per_member_limit=2),
        }
        clerk = person(world, "clerk")
        stock.receive_stock(clerk, world.shops["a"], world.rewards["soap"], 10)
        stock.receive_stock(clerk, world.shops["a"], world.rewards["oil"], 3)
        give_points(world.people["resident"], RESIDENT_POINTS)
    return world

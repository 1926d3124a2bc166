"""Figures of the monthly report (平安动态) from the supermarkets: redemptions by the members of an
org unit's subtree, and stock movements at the supermarkets inside it, in one period."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from core.extensions import db
from core.identity.models import Member, OrgUnit, Supermarket
from rewards.models import Reward, StockMovement, Voucher, VoucherItem


def redemptions_by_reward(
    unit: OrgUnit, start: datetime, end: datetime
) -> list[tuple[Reward, int, int, int]]:
    """Reward → (vouchers, units, points) fulfilled in the period for members of the subtree."""
    rows = db.session.execute(
        sa.select(
            Reward,
            sa.func.count(sa.distinct(Voucher.id)),
            sa.func.sum(VoucherItem.quantity),
            sa.func.sum(VoucherItem.quantity * VoucherItem.points_each),
        )
        .join(VoucherItem, VoucherItem.reward_id == Reward.id)
        .join(Voucher, Voucher.id == VoucherItem.voucher_id)
        .join(Member, Member.id == Voucher.member_id)
        .join(OrgUnit, OrgUnit.id == Member.org_unit_id)
        .where(
            Voucher.status == "fulfilled",
            Voucher.fulfilled_at >= start,
            Voucher.fulfilled_at < end,
            OrgUnit.path.startswith(unit.path),
        )
        .group_by(Reward.id)
        .order_by(Reward.id)
    )
    return [(reward, int(vouchers), int(units), int(points)) for reward, vouchers, units, points in rows]


#: The columns of a stock line: units received, handed over, and the net of stocktake corrections.
MOVEMENT_COLUMNS = ("received", "handed_over", "corrected")


def stock_movements(unit: OrgUnit, start: datetime, end: datetime) -> list[tuple[Supermarket, Reward, dict]]:
    """(Supermarket, reward) → units on hand moved by each kind in the period, at supermarkets in the subtree."""
    sums = [
        sa.func.sum(sa.case((StockMovement.kind == kind, StockMovement.on_hand_change), else_=0))
        for kind in MOVEMENT_COLUMNS
    ]
    rows = db.session.execute(
        sa.select(Supermarket, Reward, *sums)
        .join(StockMovement, StockMovement.supermarket_id == Supermarket.id)
        .join(Reward, Reward.id == StockMovement.reward_id)
        .join(OrgUnit, OrgUnit.id == Supermarket.org_unit_id)
        .where(
            StockMovement.created_at >= start,
            StockMovement.created_at < end,
            StockMovement.kind.in_(MOVEMENT_COLUMNS),
            OrgUnit.path.startswith(unit.path),
        )
        .group_by(Supermarket.id, Reward.id)
        .order_by(Supermarket.id, Reward.id)
    )
    signs = {"handed_over": -1}  # handed over lowers on-hand units: shown as units out
    return [
        (
            shop,
            reward,
            {
                kind: signs.get(kind, 1) * int(value)
                for kind, value in zip(MOVEMENT_COLUMNS, values, strict=True)
            },
        )
        for shop, reward, *values in rows
    ]

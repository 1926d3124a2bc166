"""Demo data for rewards: everyday goods with their unit costs in stock at the demo safety
supermarket, and last month's goods handed over there, settled (a confirmed settlement)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from core.clock import last_month, parse_month, period_bounds
from core.database import begin_writing
from core.errors import AppError
from core.extensions import db
from core.identity.models import Member, Supermarket
from rewards import settlements, vouchers
from rewards.models import Reward, RewardCost, Settlement, Stock, StockMovementKind
from rewards.stock import lock_stock, move_stock

#: (name, English name, points, monthly limit per member, units in stock, unit cost in fen)
REWARDS = [
    ("洗衣粉 1 千克", "Washing powder 1 kg", 30, 2, 40, 1250),
    ("食用油 5 升", "Cooking oil 5 L", 120, 1, 15, 6500),
    ("大米 5 千克", "Rice 5 kg", 100, 1, 20, 3200),
    ("毛巾", "Towel", 15, None, 60, 800),
    ("应急手电筒", "Emergency torch", 50, 1, 25, 2500),
]
#: Last month at the demo supermarket: (resident's phone, reward, units), handed over by its clerk.
HANDED_OVER = [("13800000005", "毛巾", 2), ("13800000006", "洗衣粉 1 千克", 1)]
ADMIN_PHONE, CLERK_PHONE = "13800000001", "13800000004"


def seed_rewards_demo() -> list[str]:
    """Add the demo rewards and their stock at the demo supermarket, where missing."""
    begin_writing(db.session)
    shop = db.session.scalar(sa.select(Supermarket).order_by(Supermarket.id))
    if shop is None:
        return []
    added = 0
    for name, name_en, points, limit, units, cost in REWARDS:
        reward = db.session.scalar(sa.select(Reward).where(Reward.name == name))
        if reward is None:
            reward = Reward(name=name, name_en=name_en, points_cost=points, per_member_limit=limit)
            db.session.add(reward)
            db.session.flush()
        if (
            db.session.scalar(sa.select(RewardCost.id).where(RewardCost.reward_id == reward.id).limit(1))
            is None
        ):
            reward.unit_cost_fen = cost
            db.session.add(RewardCost(reward_id=reward.id, unit_cost_fen=cost))
        if db.session.get(Stock, (shop.id, reward.id)) is None:
            stock = lock_stock(shop.id, [reward.id], create=True)[reward.id]
            move_stock(stock, StockMovementKind.RECEIVED, on_hand_change=units, actor_id=None, reason="demo")
            added += 1
    db.session.commit()
    return [f"Rewards: {len(REWARDS)} kinds of goods at {shop.name}; {added} stocked now."]


def seed_settlement_demo() -> list[str]:
    """Hand goods over at the demo supermarket last month and confirm its settlement, where missing."""
    shop = db.session.scalar(sa.select(Supermarket).order_by(Supermarket.id))
    month = last_month()
    people = {
        member.phone: member
        for member in db.session.scalars(
            sa.select(Member).where(
                Member.phone.in_([ADMIN_PHONE, CLERK_PHONE] + [p for p, _r, _u in HANDED_OVER])
            )
        )
    }
    if (
        shop is None
        or ADMIN_PHONE not in people
        or CLERK_PHONE not in people
        or db.session.scalar(
            sa.select(Settlement.id).where(Settlement.supermarket_id == shop.id, Settlement.month == month)
        )
    ):
        return []
    # The 21st of last month, in the afternoon: every day of it has ended.
    moment = period_bounds("month", parse_month(month))[0] + timedelta(days=20, hours=15)
    for phone, name, units in HANDED_OVER:
        reward = db.session.scalar(sa.select(Reward).where(Reward.name == name))
        if phone not in people or reward is None:
            continue
        try:
            voucher = vouchers.reserve_voucher(
                people[phone], shop.id, [{"reward_id": reward.id, "quantity": units}], now=moment
            )
            vouchers.fulfil_voucher(
                people[CLERK_PHONE],
                voucher.id,
                short_code=voucher.short_code,
                now=moment + timedelta(hours=1),
            )
        except AppError:  # the resident spent their points meanwhile: hand over the rest
            db.session.rollback()
    try:
        confirmed = settlements.confirm_settlement(people[ADMIN_PHONE], shop.id, month)
    except AppError as error:
        db.session.rollback()
        return [f"Settlement of {shop.name} for {month} left as a draft: {error.message}"]
    return [
        f"Settlement of {shop.name} for {month}: {settlements.format_yuan(confirmed.total_fen)} yuan, confirmed."
    ]

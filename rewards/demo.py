"""Demo data for rewards: everyday goods in stock at the demo safety supermarket."""

from __future__ import annotations

import sqlalchemy as sa

from core.database import begin_writing
from core.extensions import db
from core.identity.models import Supermarket
from rewards.models import Reward, Stock
from rewards.stock import lock_stock, move_stock

#: (name, English name, points, monthly limit per member, units in stock)
REWARDS = [
    ("洗衣粉 1 千克", "Washing powder 1 kg", 30, 2, 40),
    ("食用油 5 升", "Cooking oil 5 L", 120, 1, 15),
    ("大米 5 千克", "Rice 5 kg", 100, 1, 20),
    ("毛巾", "Towel", 15, None, 60),
    ("应急手电筒", "Emergency torch", 50, 1, 25),
]


def seed_rewards_demo() -> list[str]:
    """Add the demo rewards and their stock at the demo supermarket, where missing."""
    begin_writing(db.session)
    shop = db.session.scalar(sa.select(Supermarket).order_by(Supermarket.id))
    if shop is None:
        return []
    added = 0
    for name, name_en, points, limit, units in REWARDS:
        reward = db.session.scalar(sa.select(Reward).where(Reward.name == name))
        if reward is None:
            reward = Reward(name=name, name_en=name_en, points_cost=points, per_member_limit=limit)
            db.session.add(reward)
            db.session.flush()
        if db.session.get(Stock, (shop.id, reward.id)) is None:
            stock = lock_stock(shop.id, [reward.id], create=True)[reward.id]
            move_stock(stock, "received", on_hand_change=units, actor_id=None, reason="demo")
            added += 1
    db.session.commit()
    return [f"Rewards: {len(REWARDS)} kinds of goods at {shop.name}; {added} stocked now."]

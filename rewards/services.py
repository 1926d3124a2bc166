"""Rewards services: the global catalogue of rewards and what one supermarket offers.

Stock lives in ``rewards.stock`` and vouchers in ``rewards.vouchers``. Every writing
call there is one transaction: it makes its checks, begins writing (``begin_writing``) and
commits once; a refusal comes before anything is written.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload

from core.api import MAX_PAGE_SIZE
from core.audit import change_audited, record_audit
from core.database import begin_writing
from core.errors import AppError
from core.extensions import db
from core.identity.access import can_somewhere, require_somewhere
from core.identity.models import Member
from core.identity.services import get_supermarket
from rewards.models import Reward, RewardCost, Stock

REWARD_FIELDS = (
    "name",
    "name_en",
    "description",
    "points_cost",
    "per_member_limit",
    "unit_cost_fen",
    "active",
)


def get_reward(reward_id: int, field: str = "reward_id") -> Reward:
    """Return a reward or refuse with 404."""
    reward = db.session.get(Reward, reward_id)
    if reward is None:
        raise AppError(404, errors={field: ["no such reward"]})
    return reward


def require_reward_manager(actor: Member | None) -> None:
    """Rewards are one global catalogue: any member holding an admin grant anywhere manages it."""
    require_somewhere(actor, "reward.manage")


def sees_costs(viewer: Member | None) -> bool:
    """Whether a member may see what rewards cost the county: those who manage rewards or settlements."""
    return can_somewhere(viewer, "reward.manage") or can_somewhere(viewer, "settlement.read")


def create_reward(actor: Member, fields: dict) -> Reward:
    """Add a reward to the catalogue (admins)."""
    require_reward_manager(actor)
    begin_writing(db.session)
    reward = Reward(**{key: value for key, value in fields.items() if key in REWARD_FIELDS})
    db.session.add(reward)
    record_audit(actor, "reward.create", reward, after={key: getattr(reward, key) for key in REWARD_FIELDS})
    if fields.get("unit_cost_fen") is not None:
        _record_cost(actor, reward)
    db.session.commit()
    return reward


def _record_cost(actor: Member, reward: Reward) -> None:
    """Keep the reward's unit cost in its history, in force from now on."""
    db.session.add(
        RewardCost(reward_id=reward.id, unit_cost_fen=reward.unit_cost_fen, changed_by_id=actor.id)
    )


def list_costs(reward_id: int) -> list[RewardCost]:
    """A reward's unit costs, newest first, each with the moment it came into force (admins)."""
    return list(
        db.session.scalars(
            sa.select(RewardCost)
            .where(RewardCost.reward_id == reward_id)
            .order_by(RewardCost.effective_from.desc(), RewardCost.id.desc())
        )
    )


def update_reward(actor: Member, reward_id: int, changes: dict) -> Reward:
    """Edit, retire or bring back a reward; vouchers already reserved keep their price, and goods
    already handed over keep the unit cost in force then."""
    require_reward_manager(actor)
    reward = get_reward(reward_id)
    begin_writing(db.session)
    changes = {key: value for key, value in changes.items() if key in REWARD_FIELDS}
    if "unit_cost_fen" in change_audited(actor, "reward.update", reward, changes):
        _record_cost(actor, reward)
    db.session.commit()
    return reward


def list_rewards(include_inactive: bool, page: int, page_size: int) -> dict:
    """List the catalogue (every member may see it), active rewards only unless asked."""
    from core.api import paginate

    statement = sa.select(Reward).options(selectinload(Reward.image)).order_by(Reward.id)
    if not include_inactive:
        statement = statement.where(Reward.active.is_(True))
    return paginate(statement, page, page_size)


def reward_image_url(reward: Reward) -> str | None:
    """The picture's content-addressed URL, or None when the reward has none."""
    if reward.image is None:
        return None
    return url_for("rewards.RewardImageItem", reward_id=reward.id, v=reward.image.digest)


def catalogue(supermarket_id: int) -> list[dict]:
    """Active rewards stocked at a supermarket, with their price and available units (on hand − reserved)."""
    get_supermarket(supermarket_id)
    rows = db.session.execute(
        sa.select(Reward, Stock.on_hand - Stock.reserved)
        .options(selectinload(Reward.image))
        .join(Stock, sa.and_(Stock.reward_id == Reward.id, Stock.supermarket_id == supermarket_id))
        .where(Reward.active.is_(True))
        .order_by(Reward.points_cost, Reward.id)
    )
    return [
        {
            "id": reward.id,
            "reward_id": reward.id,
            "name": reward.name,
            "name_en": reward.name_en,
            "description": reward.description,
            "points_cost": reward.points_cost,
            "per_member_limit": reward.per_member_limit,
            "available": int(available),
            "image_url": reward_image_url(reward),
        }
        for reward, available in rows
    ]


def catalogue_page(supermarket_id: int, page: int = 1, page_size: int = MAX_PAGE_SIZE) -> dict:
    """One page of a supermarket's catalogue, in the API's list shape."""
    items = catalogue(supermarket_id)
    start = (page - 1) * page_size
    return {
        "items": items[start : start + page_size],
        "page": page,
        "page_size": page_size,
        "total": len(items),
    }


def inactive_reward(reward: Reward) -> AppError:
    """The refusal for a reward that is no longer offered."""
    return AppError(
        409,
        "invalid_state",
        _l("This reward is no longer offered."),
        {"items": [f"reward {reward.id} is retired"]},
    )

"""What staff oversee at the supermarkets they reach: which ones, vouchers waiting, low stock,
and a supermarket's voucher history; and a member's own vouchers looked up by id."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from core.api import paginate
from core.extensions import db
from core.identity.access import clerk_supermarket_ids, require, scope_units
from core.identity.models import Member, OrgUnit, Supermarket
from core.identity.services import get_supermarket
from rewards.models import Reward, Stock, Voucher

#: Units available (on hand − reserved) at or below which a reward shows as running low.
LOW_STOCK_THRESHOLD = 5


def _reached(actor: Member, action: str):
    """A condition on ``Supermarket`` (joined to ``OrgUnit``) for where the actor may do ``action``."""
    units = scope_units(actor, action)
    if units is None:
        return sa.true()
    conditions = [OrgUnit.path.startswith(unit.path) for unit in units]
    clerk_of = clerk_supermarket_ids(actor, action)
    if clerk_of:
        conditions.append(Supermarket.id.in_(clerk_of))
    return sa.or_(*conditions) if conditions else sa.false()


def list_staffed_supermarkets(actor: Member, action: str = "stock.receive") -> list[Supermarket]:
    """The supermarkets where the actor may do ``action``: a clerk's own, or those an admin reaches."""
    return list(
        db.session.scalars(
            sa.select(Supermarket)
            .join(OrgUnit, OrgUnit.id == Supermarket.org_unit_id)
            .where(_reached(actor, action))
            .order_by(Supermarket.id)
        )
    )


def count_waiting_vouchers(actor: Member, action: str = "member.manage") -> int:
    """Vouchers reserved and not yet collected at supermarkets in the actor's subtree."""
    return int(
        db.session.scalar(
            sa.select(sa.func.count(Voucher.id))
            .join(Supermarket, Supermarket.id == Voucher.supermarket_id)
            .join(OrgUnit, OrgUnit.id == Supermarket.org_unit_id)
            .where(Voucher.status == "reserved", _reached(actor, action))
        )
        or 0
    )


def list_low_stock(
    actor: Member, action: str = "member.manage", threshold: int = LOW_STOCK_THRESHOLD
) -> list[tuple[Supermarket, Reward, int]]:
    """Active rewards with at most ``threshold`` units available, at supermarkets in the subtree."""
    available = Stock.on_hand - Stock.reserved
    rows = db.session.execute(
        sa.select(Supermarket, Reward, available)
        .join(Stock, Stock.supermarket_id == Supermarket.id)
        .join(Reward, Reward.id == Stock.reward_id)
        .join(OrgUnit, OrgUnit.id == Supermarket.org_unit_id)
        .where(Reward.active.is_(True), available <= threshold, _reached(actor, action))
        .order_by(available, Supermarket.id, Reward.id)
    )
    return [(shop, reward, int(units)) for shop, reward, units in rows]


def list_supermarket_vouchers(
    actor: Member,
    supermarket_id: int,
    status: str | None,
    page: int,
    page_size: int,
    fulfilled_since: datetime | None = None,
) -> dict:
    """A supermarket's vouchers, newest first (its clerks, and admins in scope); optionally only
    those of one status, or those handed over since a moment (the counter's "today")."""
    supermarket = get_supermarket(supermarket_id)
    require(actor, "voucher.handle", supermarket)
    statement = sa.select(Voucher).where(Voucher.supermarket_id == supermarket.id)
    if status is not None:
        statement = statement.where(Voucher.status == status)
    if fulfilled_since is not None:
        statement = statement.where(Voucher.fulfilled_at >= fulfilled_since)
    return paginate(statement.order_by(Voucher.id.desc()), page, page_size)


def own_vouchers_by_id(member: Member, voucher_ids) -> dict[int, Voucher]:
    """A member's own vouchers among ``voucher_ids``, with their goods, by id (others are left out)."""
    found = db.session.scalars(
        sa.select(Voucher)
        .where(Voucher.id.in_(list(voucher_ids)), Voucher.member_id == member.id)
        .options(selectinload(Voucher.items))
    )
    return {voucher.id: voucher for voucher in found}

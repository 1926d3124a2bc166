"""Stock per supermarket: receipts, stocktake corrections, reservations and their history.

Every change locks the stock rows it touches (``FOR UPDATE`` on PostgreSQL, BEGIN
IMMEDIATE on SQLite) in (supermarket, reward) order, and writes a ``StockMovement``
with the counts after it, who and why. Lock order across the package: stock rows,
then the member's balance, then the voucher — so concurrent calls never deadlock.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from core.api import paginate
from core.audit import record_audit
from core.database import begin_writing, insert_missing
from core.errors import AppError
from core.extensions import db
from core.identity.access import require
from core.identity.models import Member
from core.identity.services import get_supermarket
from rewards.models import Stock, StockMovement, StockMovementKind, Voucher
from rewards.services import get_reward

#: Empty stock rows (a row another transaction just made is left alone).
_CREATE = insert_missing(
    Stock.__table__, ("supermarket_id", "reward_id", "on_hand", "reserved"), ("supermarket_id", "reward_id")
)


def _insert_missing_stock(supermarket_id: int, reward_ids: list[int]) -> None:
    """Create empty stock rows that do not exist yet, racing safely with other transactions."""
    db.session.execute(
        _CREATE,
        [
            {"supermarket_id": supermarket_id, "reward_id": reward_id, "on_hand": 0, "reserved": 0}
            for reward_id in reward_ids
        ],
    )


def lock_stock(supermarket_id: int, reward_ids, *, create: bool = False) -> dict[int, Stock]:
    """Lock a supermarket's stock rows of some rewards, in reward order; answer them by reward id.

    Rewards without a row are missing from the answer unless ``create`` adds empty rows.
    """
    ids = sorted(set(reward_ids))
    if create:
        _insert_missing_stock(supermarket_id, ids)
    rows = db.session.scalars(
        sa.select(Stock)
        .where(Stock.supermarket_id == supermarket_id, Stock.reward_id.in_(ids))
        .order_by(Stock.supermarket_id, Stock.reward_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {row.reward_id: row for row in rows}


def move_stock(
    stock: Stock,
    kind: StockMovementKind,
    *,
    on_hand_change: int = 0,
    reserved_change: int = 0,
    actor_id: int | None,
    voucher_id: int | None = None,
    reason: str | None = None,
) -> StockMovement:
    """Change a locked stock row and record the movement (joins the caller's transaction)."""
    on_hand, reserved = stock.on_hand + on_hand_change, stock.reserved + reserved_change
    if reserved < 0 or on_hand < reserved:
        raise AppError(
            409,
            "out_of_stock",
            _l("Not enough of this reward in stock."),
            {"items": [f"reward {stock.reward_id}: {stock.available} available"]},
        )
    stock.on_hand, stock.reserved = on_hand, reserved
    movement = StockMovement(
        supermarket_id=stock.supermarket_id,
        reward_id=stock.reward_id,
        kind=kind,
        on_hand_change=on_hand_change,
        reserved_change=reserved_change,
        on_hand_after=on_hand,
        reserved_after=reserved,
        voucher_id=voucher_id,
        actor_id=actor_id,
        reason=reason,
    )
    db.session.add(movement)
    return movement


#: How a voucher moves the stock row of each of its lines: the movement's kind, and what one unit
#: changes of the units on hand and of the units reserved.
VOUCHER_MOVES = {
    "reserve": (StockMovementKind.RESERVED, 0, 1),
    "release": (StockMovementKind.RELEASED, 0, -1),
    "hand_over": (StockMovementKind.HANDED_OVER, -1, -1),  # reserved units leave the shelf
    # units never reserved (a counter sale) or no longer (an offline scan of a closed voucher)
    "hand_over_unreserved": (StockMovementKind.HANDED_OVER, -1, 0),
}


def move_voucher_stock(
    stock: dict[int, Stock], voucher: Voucher, move: str, *, actor_id: int | None, reason: str | None = None
) -> None:
    """Move the locked stock rows (by reward id) of each of the voucher's lines as ``VOUCHER_MOVES[move]``
    says, recording each movement against the voucher."""
    kind, on_hand, reserved = VOUCHER_MOVES[move]
    for item in voucher.items:
        move_stock(
            stock[item.reward_id],
            kind,
            on_hand_change=on_hand * item.quantity,
            reserved_change=reserved * item.quantity,
            actor_id=actor_id,
            voucher_id=voucher.id,
            reason=reason,
        )


def _lock_one(actor: Member, permission: str, supermarket_id: int, reward_id: int) -> Stock:
    """Check the actor may change this supermarket's stock, then lock its row of the reward (an empty
    one if it has none yet)."""
    supermarket = get_supermarket(supermarket_id)
    reward = get_reward(reward_id)
    require(actor, permission, supermarket)
    begin_writing(db.session)
    return lock_stock(supermarket.id, [reward.id], create=True)[reward.id]


def _audit_and_commit(
    actor: Member,
    action: str,
    movement: StockMovement,
    reason: str | None,
    before: dict | None = None,
    **change,
) -> None:
    """Audit a receipt or correction (the row's counts after it, and ``change``), then commit."""
    stock_after = {"on_hand": movement.on_hand_after, "reserved": movement.reserved_after}
    record_audit(
        actor,
        action,
        movement,
        reason=reason,
        before=before,
        after={
            "supermarket_id": movement.supermarket_id,
            "reward_id": movement.reward_id,
            **change,
            **stock_after,
        },
    )
    db.session.commit()


def receive_stock(
    actor: Member, supermarket_id: int, reward_id: int, quantity: int, reason: str | None = None
) -> Stock:
    """Add received units (a clerk of the supermarket, or an admin in scope)."""
    if not isinstance(quantity, int) or quantity <= 0:
        raise AppError(422, errors={"quantity": ["must be more than 0"]})
    stock = _lock_one(actor, "stock.receive", supermarket_id, reward_id)
    movement = move_stock(
        stock, StockMovementKind.RECEIVED, on_hand_change=quantity, actor_id=actor.id, reason=reason
    )
    _audit_and_commit(actor, "stock.receive", movement, reason, quantity=quantity)
    return stock


def correct_stock(actor: Member, supermarket_id: int, reward_id: int, counted: int, reason: str) -> Stock:
    """Set the units on hand to a stocktake's count, with a reason; never below what is reserved."""
    if not isinstance(counted, int) or counted < 0:
        raise AppError(422, errors={"quantity": ["must be 0 or more"]})
    if not reason or not reason.strip():
        raise AppError(422, errors={"reason": ["say why the count changed"]})
    stock = _lock_one(actor, "stock.correct", supermarket_id, reward_id)
    if counted < stock.reserved:
        raise AppError(
            409,
            "invalid_state",
            _l("Open vouchers have reserved more units than that."),
            {"quantity": [f"at least {stock.reserved} units are reserved by open vouchers"]},
        )
    before = {"on_hand": stock.on_hand, "reserved": stock.reserved}
    movement = move_stock(
        stock,
        StockMovementKind.CORRECTED,
        on_hand_change=counted - stock.on_hand,
        actor_id=actor.id,
        reason=reason,
    )
    _audit_and_commit(actor, "stock.correct", movement, reason, before=before)
    return stock


def stock_history(
    actor: Member, supermarket_id: int, reward_id: int | None, page: int, page_size: int
) -> dict:
    """A supermarket's stock movements, newest first (its clerks, and admins in scope)."""
    supermarket = get_supermarket(supermarket_id)
    require(actor, "stock.receive", supermarket)
    statement = sa.select(StockMovement).where(StockMovement.supermarket_id == supermarket.id)
    if reward_id is not None:
        statement = statement.where(StockMovement.reward_id == reward_id)
    return paginate(statement.order_by(StockMovement.id.desc()), page, page_size)


def stock_levels(actor: Member, supermarket_id: int) -> list[Stock]:
    """Every stock row of a supermarket, by reward (its clerks, and admins in scope)."""
    supermarket = get_supermarket(supermarket_id)
    require(actor, "stock.receive", supermarket)
    return list(
        db.session.scalars(
            sa.select(Stock).where(Stock.supermarket_id == supermarket.id).order_by(Stock.reward_id)
        )
    )

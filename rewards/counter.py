"""Counter sales: a resident without a voucher buys at the counter with a member card and PIN, or a pay code.

A sale is reserve + fulfil in one transaction: the same rules as reserving a voucher (stock,
monthly limits, points — ``vouchers.lock_basket``), then points ``available → redeemed``
(``ledger.spend_available``), the units leave the shelf, and an ordinary voucher is written
with status ``fulfilled`` and its lines, so every report and settlement counts it like any
voucher handed over.

Checks come in the contract's order: the request, the clerk's right, the code (``invalid_code``,
``expired``), the PIN (``invalid_pin``; 429 while the card is locked), then the goods and the
points (409). A wrong PIN is counted before anything is locked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l

from core.audit import record_audit
from core.database import utcnow
from core.errors import AppError
from core.extensions import db
from core.identity import cards
from core.identity.access import can, can_somewhere
from core.identity.models import Member, MemberCard, PayCode
from core.identity.services import get_member, get_supermarket, mask_name
from points import ledger
from rewards.models import Voucher
from rewards.stock import move_voucher_stock
from rewards.vouchers import check_basket, lock_basket, new_voucher, voucher_lines


@dataclass
class Holder:
    """The resident at the counter, as a card or a pay code names them."""

    member: Member
    card: MemberCard | None = None
    pay_code: PayCode | None = None

    @property
    def via(self) -> str:
        """How they proved who they are: ``card`` or ``pay_code``."""
        return "card" if self.card is not None else "pay_code"


def _require_counter_here(actor: Member | None, supermarket_id: int):
    """The clerk of this supermarket, or an admin in scope; anyone else is refused."""
    if actor is None:
        raise AppError(401)
    if not can_somewhere(actor, "voucher.handle"):
        raise AppError(403)
    supermarket = get_supermarket(supermarket_id)
    if not can(actor, "voucher.handle", supermarket):
        raise AppError(
            403,
            "wrong_supermarket",
            _l("You do not serve at this supermarket."),
            {"supermarket_id": [f"not a counter of yours: {supermarket_id}"]},
        )
    return supermarket


def holder_of(card: str | None = None, pay_code: str | None = None, now: datetime | None = None) -> Holder:
    """Who a card (number or code) or a pay code (digits or code) names; refuse unknown, replaced or used ones."""
    if (card is None) == (pay_code is None):
        raise AppError(422, errors={"card": ["give a card or a pay code, one of them"]})
    if card is not None:
        found = cards.card_from_code(card)
        return Holder(get_member(found.member_id), card=found)
    code = cards.pay_code_from_code(pay_code, now)
    return Holder(get_member(code.member_id), pay_code=code)


def look_up_holder(
    actor: Member, supermarket_id: int, card: str | None = None, pay_code: str | None = None
) -> dict:
    """What the clerk sees before the sale: the resident's masked name, balance, and whether a PIN is needed."""
    _require_counter_here(actor, supermarket_id)
    holder = holder_of(card, pay_code)
    if not holder.member.is_active:
        raise AppError(403, message=_l("This member is suspended."))
    return {
        "member": {"display_name": mask_name(holder.member.name)},
        "via": holder.via,
        "available": ledger.balance_of(holder.member.id).available,
        "pin_required": holder.card is not None,
        "pin_set": cards.has_pin(holder.member.id),
    }


def sell_at_counter(
    actor: Member,
    supermarket_id: int,
    items,
    *,
    card: str | None = None,
    pin: str | None = None,
    pay_code: str | None = None,
    now: datetime | None = None,
) -> Voucher:
    """Sell goods at the counter in one transaction: spend the points, hand the units out, keep a
    fulfilled voucher. A card needs its holder's PIN; a pay code is used once."""
    now = now or utcnow()
    if card is not None and not pin:
        raise AppError(422, errors={"pin": ["the card holder types their PIN"]})
    supermarket = _require_counter_here(actor, supermarket_id)
    holder = holder_of(card, pay_code, now)
    if holder.card is not None:
        cards.check_pin(holder.card, pin, actor)
    basket = check_basket(holder.member, supermarket.id, items)
    stock = lock_basket(basket, now)
    if holder.pay_code is not None:
        cards.use_pay_code(holder.pay_code, now)
    voucher = new_voucher(basket, status="fulfilled", now=now, expires_at=now.replace(microsecond=0))
    voucher.fulfilled_at, voucher.fulfilled_by_id = now, actor.id
    ledger.spend_available(
        holder.member.id,
        basket.total,
        reference=f"voucher:{voucher.id}",
        actor_id=actor.id,
        memo="counter sale",
    )
    move_voucher_stock(stock, voucher, "hand_over_unreserved", actor_id=actor.id, reason="counter sale")
    record_audit(
        actor,
        "voucher.sell",
        voucher,
        after={
            "member_id": holder.member.id,
            "supermarket_id": supermarket.id,
            "points": basket.total,
            "via": holder.via,
            "card_number": holder.card.number if holder.card else None,
            "items": voucher_lines(voucher),
        },
    )
    db.session.commit()
    return voucher

"""Vouchers (兑换券): reserve, scan, fulfil exactly once, cancel, expire.

Reserving holds the member's points and reserves stock in one transaction; the voucher's
QR code holds ``HTTPS://HOST/V/<TOKEN>``, an Ed25519-signed payload naming the voucher,
its supermarket, points and expiry, so an altered code is refused. A clerk scans it
(nothing is written), then fulfils it: the held points are spent and the units leave the
shelf. Cancelled or expired vouchers give points and stock back; the owner of a voucher about to
expire is reminded once (``remind_expiring_vouchers``).

Locks, always in this order: stock rows (by reward), the member's balance, the voucher.
Fulfilling re-reads the voucher's status under its lock, so it happens at most once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from core.api import paginate
from core.audit import record_audit
from core.clock import bounds_of
from core.codes import CODE_ALPHABET, CODE_LENGTH, new_code, normalise_code
from core.database import begin_writing, insert_unique, utcnow
from core.errors import AppError
from core.extensions import db
from core.identity.access import can, can_somewhere
from core.identity.models import Member, Supermarket
from core.identity.services import get_supermarket, mask_name
from core.notifications import notify
from core.qr.signing import InvalidCode, PayloadKind, code_url, sign_payload, verify_payload
from core.refusals import require_found
from points import ledger
from rewards.models import Reward, Stock, Voucher, VoucherItem
from rewards.services import inactive_reward
from rewards.stock import lock_stock, move_voucher_stock

VOUCHER = PayloadKind(
    "voucher", tag=2, fields=(("voucher_id", "I"), ("supermarket_id", "I"), ("points", "I"), ("expires", "I"))
)
ROUTE_LETTER = "V"
SHORT_CODE_ALPHABET = CODE_ALPHABET
SHORT_CODE_LENGTH = CODE_LENGTH
SHORT_CODE_ATTEMPTS = 5
MAX_QUANTITY = 99
OPEN_OR_USED = ("reserved", "fulfilled")
#: What may change on a voucher once issued: read again under its lock.
VOUCHER_STATE = ("status", "fulfilled_at", "fulfilled_by_id", "cancelled_at", "cancelled_by_id")


# --- codes ---------------------------------------------------------------------------------


def voucher_payload(voucher: Voucher, base_url: str) -> str:
    """Return the exact text of the voucher's QR code."""
    token = sign_payload(
        VOUCHER,
        voucher_id=voucher.id,
        supermarket_id=voucher.supermarket_id,
        points=voucher.points,
        expires=_unix(voucher.expires_at),
    )
    return code_url(base_url, ROUTE_LETTER, token)


def _unix(moment: datetime) -> int:
    return int(moment.timestamp())


def new_short_code() -> str:
    """Return a random short code (8 characters without look-alikes)."""
    return new_code()


def normalise_short_code(text: str) -> str:
    """Upper-case a typed short code and drop spaces and dashes; refuse one that cannot be ours."""
    code = normalise_code(text)
    if code is None:
        raise InvalidCode("malformed", "short_code")
    return code


def code_arguments(code: str) -> dict:
    """Tell a typed short code from a scanned code's text (a URL or a bare token)."""
    text = (code or "").strip()
    short = text.replace(" ", "").replace("-", "").upper()
    if "/" not in text and len(short) <= 12:
        return {"short_code": short}
    return {"payload": text}


def voucher_from_code(payload: str | None = None, short_code: str | None = None) -> Voucher:
    """Find the voucher a resident's code names (payload or short code), or refuse ``invalid_code``."""
    if (payload is None) == (short_code is None):
        raise AppError(422, errors={"payload": ["give the payload or the short code, one of them"]})
    if short_code is not None:
        voucher = db.session.scalar(
            sa.select(Voucher).where(Voucher.short_code == normalise_short_code(short_code))
        )
        if voucher is None:
            raise InvalidCode("unknown", "short_code")
        return voucher
    fields = verify_payload(payload, VOUCHER)
    voucher = db.session.get(Voucher, fields["voucher_id"])
    if voucher is None:
        raise InvalidCode("unknown", "payload")
    if (fields["supermarket_id"], fields["points"], fields["expires"]) != (
        voucher.supermarket_id,
        voucher.points,
        _unix(voucher.expires_at),
    ):
        raise InvalidCode("mismatch", "payload")
    return voucher


# --- rights and states -----------------------------------------------------------------------


def _require_counter(actor: Member | None, voucher: Voucher) -> None:
    """Refuse unless the actor handles vouchers at this voucher's supermarket."""
    if actor is None:
        raise AppError(401)
    if can(actor, "voucher.handle", voucher.supermarket):
        return
    if can_somewhere(actor, "voucher.handle"):
        raise AppError(
            403,
            "wrong_supermarket",
            _l("This voucher belongs to another supermarket."),
            {"supermarket_id": [f"the voucher is for supermarket {voucher.supermarket_id}"]},
        )
    raise AppError(403)


def is_due(voucher: Voucher, now: datetime) -> bool:
    """Tell whether a voucher is still reserved past its expiry."""
    return voucher.status == "reserved" and now > voucher.expires_at


def _refuse_unless_open(voucher: Voucher, now: datetime) -> None:
    """Refuse a voucher that is no longer reserved (or is past its expiry)."""
    if voucher.status == "fulfilled":
        by = db.session.get(Member, voucher.fulfilled_by_id) if voucher.fulfilled_by_id else None
        raise AppError(
            409,
            "already_fulfilled",
            _l("This voucher has already been redeemed."),
            {"fulfilled_at": [voucher.fulfilled_at.isoformat()], "fulfilled_by": [by.name if by else ""]},
        )
    if voucher.status == "expired" or is_due(voucher, now):
        raise AppError(
            410, "expired", _l("This voucher has expired."), {"expires_at": [voucher.expires_at.isoformat()]}
        )
    if voucher.status != "reserved":
        raise AppError(
            409, "invalid_state", _l("This voucher is no longer open."), {"status": [voucher.status]}
        )


def _lock_voucher(voucher: Voucher) -> dict[int, Stock]:
    """Lock, in the package's order, the voucher's stock rows, its member's balance and itself.

    The voucher's state is read again under its lock (its lines never change); answers the
    locked stock rows by reward id.
    """
    stock = lock_stock(voucher.supermarket_id, [item.reward_id for item in voucher.items])
    ledger.lock_balances(voucher.member_id)
    db.session.refresh(voucher, VOUCHER_STATE, with_for_update=True)
    return stock


def _give_back(voucher: Voucher, stock: dict[int, Stock], status: str, actor: Member | None) -> None:
    """Release a locked reserved voucher's points and stock and close it as cancelled or expired."""
    reference = f"voucher:{voucher.id}"
    ledger.release(
        voucher.member_id,
        voucher.points,
        reference=reference,
        actor_id=actor.id if actor else None,
        memo=status,
    )
    move_voucher_stock(stock, voucher, "release", actor_id=actor.id if actor else None, reason=status)
    voucher.status = status
    if status == "cancelled":
        voucher.cancelled_at, voucher.cancelled_by_id = utcnow(), actor.id
    record_audit(
        actor,
        f"voucher.{'cancel' if status == 'cancelled' else 'expire'}",
        voucher,
        after={"status": status, "points": voucher.points},
    )


# --- reserving -------------------------------------------------------------------------------


def units_this_month(member_id: int, reward_id: int, now: datetime) -> int:
    """Units of a reward in a member's reserved and fulfilled vouchers created this Shanghai month."""
    return int(
        db.session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(VoucherItem.quantity), 0))
            .join(Voucher, Voucher.id == VoucherItem.voucher_id)
            .where(
                Voucher.member_id == member_id,
                VoucherItem.reward_id == reward_id,
                Voucher.status.in_(OPEN_OR_USED),
                Voucher.created_at >= bounds_of("month", now)[0],
            )
        )
        or 0
    )


def _merge_items(items) -> dict[int, int]:
    """Merge the requested lines by reward; refuse none, and quantities outside 1..99."""
    if not items:
        raise AppError(422, errors={"items": ["choose at least one reward"]})
    merged: dict[int, int] = {}
    for item in items:
        quantity = item.get("quantity")
        if not isinstance(quantity, int) or not 1 <= quantity <= MAX_QUANTITY:
            raise AppError(422, errors={"items": [f"quantity must be 1 to {MAX_QUANTITY}"]})
        merged[item["reward_id"]] = merged.get(item["reward_id"], 0) + quantity
    if any(quantity > MAX_QUANTITY for quantity in merged.values()):
        raise AppError(422, errors={"items": [f"at most {MAX_QUANTITY} units of one reward"]})
    return merged


@dataclass
class Basket:
    """Rewards one member wants at one supermarket, checked before anything is locked."""

    member: Member
    supermarket: Supermarket
    wanted: dict[int, int]
    rewards: dict[int, Reward]
    total: int


def check_basket(member: Member, supermarket_id: int, items) -> Basket:
    """Check what needs no lock: the lines, the supermarket, the rewards offered, the member active."""
    wanted = _merge_items(items)
    supermarket = get_supermarket(supermarket_id)
    rewards = {
        reward.id: reward for reward in db.session.scalars(sa.select(Reward).where(Reward.id.in_(wanted)))
    }
    missing = sorted(set(wanted) - set(rewards))
    if missing:
        raise AppError(404, errors={"items": [f"no such reward: {reward_id}" for reward_id in missing]})
    if not member.is_active:
        raise AppError(403)
    for reward_id in sorted(wanted):
        if not rewards[reward_id].active:
            raise inactive_reward(rewards[reward_id])
    total = sum(rewards[reward_id].points_cost * quantity for reward_id, quantity in wanted.items())
    return Basket(member, supermarket, wanted, rewards, total)


def lock_basket(basket: Basket, now: datetime) -> dict[int, Stock]:
    """Begin writing, lock the stock rows and the member's balance, and apply every voucher rule:
    stock available, the monthly limits, the points. Answers the locked stock rows by reward id.

    Reserving and a counter sale both pass here, so both obey the same rules.
    """
    begin_writing(db.session)
    stock = lock_stock(basket.supermarket.id, basket.wanted)
    # The monthly limits and the points are checked under the member's lock, before anything is written.
    balance = ledger.lock_balances(basket.member.id)[basket.member.id]
    for reward_id, quantity in sorted(basket.wanted.items()):
        reward = basket.rewards[reward_id]
        row = stock.get(reward_id)
        if row is None or row.available < quantity:
            raise AppError(
                409,
                "out_of_stock",
                _l("Not enough of this reward in stock."),
                {"items": [f"reward {reward_id}: {row.available if row else 0} available"]},
            )
        if reward.per_member_limit is not None:
            taken = units_this_month(basket.member.id, reward_id, now)
            if taken + quantity > reward.per_member_limit:
                raise AppError(
                    409,
                    "limit_reached",
                    _l("You have reached this month's limit for this reward."),
                    {"items": [f"reward {reward_id}: {taken} of {reward.per_member_limit} taken this month"]},
                )
    if balance.available < basket.total:
        raise ledger.insufficient_points(balance.available, basket.total)
    return stock


def new_voucher(basket: Basket, *, status: str, now: datetime, expires_at: datetime) -> Voucher:
    """Insert the basket's voucher and its lines (with a short code of its own) in the caller's transaction."""
    voucher = Voucher(
        member_id=basket.member.id,
        supermarket_id=basket.supermarket.id,
        points=basket.total,
        status=status,
        created_at=now,
        expires_at=expires_at,
        items=[
            VoucherItem(
                reward_id=reward_id, quantity=quantity, points_each=basket.rewards[reward_id].points_cost
            )
            for reward_id, quantity in sorted(basket.wanted.items())
        ],
    )
    _insert_with_short_code(voucher)
    return voucher


def voucher_lines(voucher: Voucher) -> list[dict]:
    """The voucher's lines as the audit log keeps them."""
    return [{"reward_id": item.reward_id, "quantity": item.quantity} for item in voucher.items]


def reserve_voucher(
    member: Member, supermarket_id: int, items, *, now: datetime | None = None, ttl: timedelta | None = None
) -> Voucher:
    """Reserve rewards at one supermarket: hold the points, reserve the stock, issue the voucher."""
    now = now or utcnow()
    basket = check_basket(member, supermarket_id, items)
    stock = lock_basket(basket, now)
    voucher = new_voucher(
        basket, status="reserved", now=now, expires_at=(now + (ttl or _ttl())).replace(microsecond=0)
    )
    ledger.hold(member.id, basket.total, reference=f"voucher:{voucher.id}", actor_id=member.id)
    move_voucher_stock(stock, voucher, "reserve", actor_id=member.id)
    record_audit(
        member,
        "voucher.reserve",
        voucher,
        after={
            "supermarket_id": basket.supermarket.id,
            "points": basket.total,
            "items": voucher_lines(voucher),
        },
    )
    db.session.commit()
    return voucher


def _ttl() -> timedelta:
    """How long a voucher reserved now stays open."""
    return timedelta(days=current_app.config["VOUCHER_TTL_DAYS"])


def _insert_with_short_code(voucher: Voucher) -> None:
    """Insert the voucher with a short code no other voucher has (drawing again on a collision)."""

    def drawn() -> Voucher:
        voucher.short_code = new_short_code()
        return voucher

    insert_unique(db.session, drawn, SHORT_CODE_ATTEMPTS)


# --- at the counter ----------------------------------------------------------------------------


def scan_voucher(
    clerk: Member, payload: str | None = None, short_code: str | None = None, now: datetime | None = None
) -> Voucher:
    """Find the voucher a resident's code names, for the clerk to see what to hand over; change nothing."""
    voucher = voucher_from_code(payload, short_code)
    _require_counter(clerk, voucher)
    _refuse_unless_open(voucher, now or utcnow())
    return voucher


def owner_display_name(voucher: Voucher) -> str:
    """The voucher owner's masked name, as the counter shows it (read without loading the member)."""
    return mask_name(db.session.scalar(sa.select(Member.name).where(Member.id == voucher.member_id)))


def fulfil_voucher(
    clerk: Member,
    voucher_id: int,
    payload: str | None = None,
    short_code: str | None = None,
    now: datetime | None = None,
) -> Voucher:
    """Hand the rewards over against the resident's code: spend the held points, exactly once."""
    now = now or utcnow()
    voucher = voucher_from_code(payload, short_code)
    if voucher.id != voucher_id:
        raise InvalidCode("another_voucher", "payload" if payload is not None else "short_code")
    _require_counter(clerk, voucher)
    _refuse_unless_open(voucher, now)  # fulfilled is final: no need to wait for a lock to say so
    begin_writing(db.session)
    stock = _lock_voucher(voucher)
    _refuse_unless_open(voucher, now)
    ledger.spend(voucher.member_id, voucher.points, reference=f"voucher:{voucher.id}", actor_id=clerk.id)
    move_voucher_stock(stock, voucher, "hand_over", actor_id=clerk.id)
    voucher.status = "fulfilled"
    voucher.fulfilled_at, voucher.fulfilled_by_id = now, clerk.id
    record_audit(clerk, "voucher.fulfil", voucher, after={"status": "fulfilled", "points": voucher.points})
    db.session.commit()
    return voucher


def cancel_voucher(actor: Member, voucher_id: int) -> Voucher:
    """Cancel a reserved voucher (its owner, or a clerk of its supermarket): points and stock go back."""
    voucher = get_voucher_row(voucher_id)
    if actor is None:
        raise AppError(401)
    if voucher.member_id != actor.id:
        _require_counter(actor, voucher)
    begin_writing(db.session)
    stock = _lock_voucher(voucher)
    if voucher.status == "fulfilled":
        _refuse_unless_open(voucher, utcnow())
    if voucher.status != "reserved":
        raise AppError(
            409, "invalid_state", _l("This voucher is no longer open."), {"status": [voucher.status]}
        )
    _give_back(voucher, stock, "cancelled", actor)
    db.session.commit()
    return voucher


# --- expiry ------------------------------------------------------------------------------------


def _expire_one(voucher_id: int, now: datetime) -> bool:
    """Expire one voucher if it is still reserved past its expiry; tell whether it did."""
    voucher = db.session.get(Voucher, voucher_id)
    if voucher is None or not is_due(voucher, now):
        db.session.rollback()
        return False
    begin_writing(db.session)
    stock = _lock_voucher(voucher)
    if not is_due(voucher, now):
        db.session.rollback()
        return False
    _give_back(voucher, stock, "expired", None)
    db.session.commit()
    return True


def _due_ids(now: datetime, member_id: int | None = None) -> list[int]:
    statement = sa.select(Voucher.id).where(Voucher.status == "reserved", Voucher.expires_at < now)
    if member_id is not None:
        statement = statement.where(Voucher.member_id == member_id)
    return list(db.session.scalars(statement.order_by(Voucher.id)))


def expire_vouchers(now: datetime | None = None) -> int:
    """Expire every voucher past its expiry, releasing points and stock; answer how many.

    Each voucher is its own short transaction, so a long run never holds many locks.
    """
    now = now or utcnow()
    return sum(_expire_one(voucher_id, now) for voucher_id in _due_ids(now))


#: How long before its expiry a reserved voucher's owner is reminded.
REMIND_BEFORE = timedelta(hours=24)


def remind_expiring_vouchers(now: datetime | None = None) -> int:
    """Remind the owner of every reserved voucher expiring within 24 hours, once per voucher
    (the notification's key is the voucher); answer how many reminders were sent now."""
    now = now or utcnow()
    due = db.session.scalars(
        sa.select(Voucher)
        .where(
            Voucher.status == "reserved", Voucher.expires_at > now, Voucher.expires_at <= now + REMIND_BEFORE
        )
        .options(sa.orm.joinedload(Voucher.supermarket), sa.orm.noload(Voucher.items))
        .order_by(Voucher.id)
    ).all()
    if not due:
        return 0
    begin_writing(db.session)
    sent = sum(
        notify(
            voucher.member_id,
            "voucher_expiring",
            f"voucher_expiring:{voucher.id}",
            link=("rewards_pages.my_voucher", {"voucher_id": voucher.id}),
            short_code=voucher.short_code,
            supermarket=voucher.supermarket.name,
            expires_at=voucher.expires_at.isoformat(),
        )
        for voucher in due
    )
    db.session.commit()
    return sent


# --- reading -----------------------------------------------------------------------------------


def get_voucher_row(voucher_id: int) -> Voucher:
    """Return a voucher or refuse with 404."""
    return require_found(db.session.get(Voucher, voucher_id), "voucher_id", "voucher")


def get_voucher(actor: Member, voucher_id: int, now: datetime | None = None) -> Voucher:
    """Return a voucher to its owner or a clerk of its supermarket (expiring it if it is due)."""
    voucher = get_voucher_row(voucher_id)
    if actor is None:
        raise AppError(401)
    if voucher.member_id != actor.id:
        _require_counter(actor, voucher)
    now = now or utcnow()
    if is_due(voucher, now):
        _expire_one(voucher.id, now)
        voucher = get_voucher_row(voucher_id)
    return voucher


def shows_code_to(actor: Member, voucher: Voucher) -> bool:
    """Whether ``actor`` may see the voucher's code: only its owner, since the code spends the points.

    Clerks and admins read a voucher to hand its goods over, but get its code only by scanning
    the resident's phone (or being told the short code) — never from the service.
    """
    return voucher.member_id == actor.id


def get_own_voucher(actor: Member, voucher_id: int, now: datetime | None = None) -> Voucher:
    """Return a voucher to its owner only (for its QR code); anyone else is refused."""
    if actor is None:
        raise AppError(401)
    if get_voucher_row(voucher_id).member_id != actor.id:
        raise AppError(403, message=_l("Only the voucher's owner may see its code."))
    return get_voucher(actor, voucher_id, now)


def list_vouchers(
    member: Member, status: str | None = None, page: int = 1, page_size: int = 20, now: datetime | None = None
) -> dict:
    """List a member's own vouchers, newest first (expiring those that are due)."""
    now = now or utcnow()
    for voucher_id in _due_ids(now, member.id):
        _expire_one(voucher_id, now)
    statement = sa.select(Voucher).where(Voucher.member_id == member.id)
    if status is not None:
        statement = statement.where(Voucher.status == status)
    return paginate(statement.order_by(Voucher.id.desc()), page, page_size)

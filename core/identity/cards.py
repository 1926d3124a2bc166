"""Member cards, PINs and pay codes (付款码): how a resident without a smartphone proves who they are.

- A **card** has a 12-digit number (the last digit a Luhn check digit, so a mistyped digit is
  caught at once) and a signed QR code (``HTTPS://HOST/C/<token>``, payload kind ``member_card``).
  Issuing a new card revokes the old one: its number and code are refused (``invalid_code``).
- A **PIN** of 6 digits (argon2id, like passwords) proves the card holder at the counter. Wrong
  PINs count per card in the store every worker shares (``core.throttle``): five within 15
  minutes lock that card for PIN use for 15 minutes (429), whatever address they come from.
- A **pay code** is what a resident's phone shows instead: 18 digits and a signed QR code
  (``HTTPS://HOST/P/<token>``, kind ``pay_code``), valid for 60 seconds and used once. Only
  the SHA-256 of the digits is stored.

The counter (``rewards.counter``) resolves a typed number or a scanned code with
``card_from_code`` / ``pay_code_from_code``, checks the PIN with ``check_pin`` and spends a pay
code with ``use_pay_code`` inside its own transaction.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import lazy_gettext as _l
from limits import parse as parse_limit

from core.audit import record_audit
from core.database import begin_writing, insert_unique, utcnow
from core.errors import AppError
from core.extensions import db
from core.identity.access import can, require
from core.identity.models import Member, MemberCard, MemberPin, PayCode
from core.identity.passwords import HASHER, verify_password
from core.qr.signing import InvalidCode, PayloadKind, code_url, sign_payload, verify_payload
from core.throttle import Throttle

MEMBER_CARD = PayloadKind("member_card", tag=4, fields=(("card_id", "I"), ("member_id", "I")))
PAY_CODE = PayloadKind("pay_code", tag=5, fields=(("pay_code_id", "I"), ("member_id", "I"), ("expires", "I")))
CARD_ROUTE_LETTER, PAY_CODE_ROUTE_LETTER = "C", "P"
CARD_DIGITS, PAY_CODE_DIGITS, PIN_DIGITS = 12, 18, 6
PAY_CODE_TTL = timedelta(seconds=60)
#: Unused pay codes are forgotten this long after they expire (used ones are kept).
PAY_CODE_KEEP = timedelta(days=1)
NUMBER_ATTEMPTS = 5
_SPACES = re.compile(r"[\s\-]")


# --- numbers -----------------------------------------------------------------------------------


def luhn_digit(body: str) -> str:
    """The Luhn check digit of a string of digits (the last digit a card number ends with)."""
    total = 0
    for position, digit in enumerate(reversed(body)):
        value = int(digit) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return str(-total % 10)


def is_card_number(text: str) -> bool:
    """Tell whether ``text`` is 12 digits whose last is the Luhn check digit of the others."""
    return (
        len(text) == CARD_DIGITS and text.isascii() and text.isdigit() and luhn_digit(text[:-1]) == text[-1]
    )


def new_card_number() -> str:
    """A random card number: 11 digits (not starting with 0) and the Luhn check digit."""
    body = str(secrets.randbelow(9 * 10**10) + 10**10)
    return body + luhn_digit(body)


def typed_digits(text: str) -> str | None:
    """A number as typed (spaces and dashes allowed, full-width digits too), or None when it is not one."""
    digits = _SPACES.sub("", str(text or "")).translate(_FULL_WIDTH)
    return digits if digits.isascii() and digits.isdigit() else None


_FULL_WIDTH = str.maketrans("０１２３４５６７８９", "0123456789")


def _verified(text: str, kind: PayloadKind, field: str) -> dict[str, int]:
    """A signed code's fields, or ``invalid_code`` naming the request's field."""
    try:
        return verify_payload(text, kind)
    except InvalidCode as error:
        raise InvalidCode(error.reason, field) from None


def group_digits(number: str, size: int = 4) -> str:
    """Print a number in groups of four for reading aloud: ``1234 5678 9012``."""
    return " ".join(number[start : start + size] for start in range(0, len(number), size))


# --- cards ---------------------------------------------------------------------------------------


def _require_self_or_manager(actor: Member | None, member: Member) -> None:
    """The member themselves, or an organiser or admin in scope who outranks them."""
    if actor is None:
        raise AppError(401)
    if actor.id != member.id:
        require(actor, "member.manage", member)


def live_card(member_id: int) -> MemberCard | None:
    """The member's card that is not revoked, if any."""
    return db.session.scalar(
        sa.select(MemberCard).where(MemberCard.member_id == member_id, MemberCard.revoked_at.is_(None))
    )


def read_card(actor: Member, member: Member) -> MemberCard:
    """The member's live card (the member, or an organiser in scope), or 404 when none is issued."""
    _require_self_or_manager(actor, member)
    card = live_card(member.id)
    if card is None:
        raise AppError(
            404,
            message=_l("No card has been issued to this member."),
            errors={"member_id": ["no card issued"]},
        )
    return card


def card_url(card: MemberCard, base_url: str) -> str:
    """The exact text of the card's QR code."""
    return code_url(
        base_url, CARD_ROUTE_LETTER, sign_payload(MEMBER_CARD, card_id=card.id, member_id=card.member_id)
    )


def issue_card(actor: Member, member: Member) -> MemberCard:
    """Issue a new card to a member (revoking the old one): the member, or an organiser in scope."""
    _require_self_or_manager(actor, member)
    if not member.is_active:
        raise AppError(409, "invalid_state", _l("This member is suspended."))
    begin_writing(db.session)
    card = add_card(actor, member)
    db.session.commit()
    return card


def add_card(actor: Member | None, member: Member) -> MemberCard:
    """Revoke the member's card and add a new one, in the caller's writing transaction; audited."""
    now = utcnow()
    old = db.session.scalar(
        sa.select(MemberCard)
        .where(MemberCard.member_id == member.id, MemberCard.revoked_at.is_(None))
        .with_for_update()
    )
    if old is not None:
        old.revoked_at, old.revoked_by_id = now, actor.id if actor else None
    card = insert_unique(
        db.session,
        lambda: MemberCard(
            member_id=member.id,
            number=new_card_number(),
            issued_at=now,
            issued_by_id=actor.id if actor else None,
        ),
        NUMBER_ATTEMPTS,
    )
    record_audit(
        actor,
        "member.card_issue",
        member,
        before={"card_number": old.number} if old else None,
        after={"card_number": card.number},
    )
    return card


def issue_missing_cards(actor: Member, members: list[Member]) -> int:
    """Issue cards, in one transaction, to those of ``members`` who have none and whom the actor
    manages (staff above the actor are left to someone above them); answer how many."""
    members = [member for member in members if can(actor, "member.manage", member)]
    have = set(
        db.session.scalars(
            sa.select(MemberCard.member_id).where(
                MemberCard.member_id.in_([member.id for member in members]), MemberCard.revoked_at.is_(None)
            )
        )
    )
    wanting = [member for member in members if member.id not in have and member.is_active]
    if not wanting:
        return 0
    begin_writing(db.session)
    for member in wanting:
        add_card(actor, member)
    db.session.commit()
    return len(wanting)


def card_from_code(text: str) -> MemberCard:
    """The live card a typed number or a scanned card code names, or refuse ``invalid_code``."""
    digits = typed_digits(text)
    if digits is not None:
        if not is_card_number(digits):
            raise InvalidCode("malformed", "card")
        card = db.session.scalar(sa.select(MemberCard).where(MemberCard.number == digits))
    else:
        fields = _verified(text, MEMBER_CARD, "card")
        card = db.session.get(MemberCard, fields["card_id"])
        if card is not None and card.member_id != fields["member_id"]:
            raise InvalidCode("mismatch", "card")
    if card is None:
        raise InvalidCode("unknown", "card")
    if card.revoked_at is not None:
        raise InvalidCode("revoked", "card")
    return card


# --- PINs ------------------------------------------------------------------------------------------


def pin_problem(pin: str) -> str | None:
    """Say what makes a new PIN unacceptable, or None: six digits, not one repeated, not a run."""
    if not (isinstance(pin, str) and len(pin) == PIN_DIGITS and pin.isascii() and pin.isdigit()):
        return f"must be {PIN_DIGITS} digits"
    if len(set(pin)) == 1 or pin in "0123456789" or pin in "9876543210":
        return "is too easy to guess (one digit repeated, or a run such as 123456)"
    return None


def has_pin(member_id: int) -> bool:
    """Tell whether the member has set a PIN."""
    return db.session.get(MemberPin, member_id) is not None


def set_pin(actor: Member, member: Member, pin: str, password: str | None = None) -> None:
    """Set a member's PIN: an organiser in scope (the resident present), or the member with their password.

    A new PIN lifts the lock wrong PINs put on the member's card.
    """
    _require_self_or_manager(actor, member)
    problem = pin_problem(pin)
    if problem is not None:
        raise AppError(
            422,
            "validation_error",
            _l("Choose another PIN: six digits, not easy to guess."),
            {"pin": [problem]},
        )
    if actor.id == member.id and not verify_password(member.password_hash, password or ""):
        raise AppError(
            422, "validation_error", _l("Your password is not correct."), {"password": ["is not correct"]}
        )
    pin_hash = HASHER.hash(pin)  # slow: before the write lock
    begin_writing(db.session)
    row = db.session.get(MemberPin, member.id, with_for_update=True)
    if row is None:
        db.session.add(MemberPin(member_id=member.id, pin_hash=pin_hash, set_by_id=actor.id))
    else:
        row.pin_hash, row.set_at, row.set_by_id = pin_hash, utcnow(), actor.id
    record_audit(actor, "member.pin_set", member, after={"by": "self" if actor.id == member.id else "staff"})
    card = live_card(member.id)
    db.session.commit()
    if card is not None:  # the store changes in its own transaction, after ours (SQLite: one writer)
        pin_throttle().clear(card.number)


def pin_throttle() -> Throttle:
    """Wrong PINs per card (``PIN_FAILURE_LIMIT``, "5 per 15 minutes"): that many lock the card as long."""
    limit = parse_limit(current_app.config["PIN_FAILURE_LIMIT"])
    period = timedelta(seconds=limit.get_expiry())
    return Throttle("card_pin", limit.amount, period, period)


def _locked(wait: int) -> AppError:
    minutes = -(-wait // 60)
    return AppError(
        429,
        "rate_limited",
        _l(
            "Too many wrong PINs for this card. Try again in %(minutes)d "
            "minutes, or ask an organiser to set a new PIN.",
            minutes=minutes,
        ),
        {"pin": [f"locked for {wait} more seconds"]},
        headers={"Retry-After": str(wait)},
    )


def check_pin(card: MemberCard, pin: str | None, actor: Member | None = None) -> None:
    """Refuse unless ``pin`` is the card holder's PIN: 429 while the card is locked, 403 ``invalid_pin``.

    Call it before the caller's transaction writes: a wrong PIN is counted at once, in the
    shared store, whatever happens next; the wrong PIN that locks the card is audited
    (``member.pin_locked``, by ``actor``, the clerk whose counter it was typed at).
    """
    throttle = pin_throttle()
    if wait := throttle.wait(card.number):
        raise _locked(wait)
    row = db.session.get(MemberPin, card.member_id)
    if row is None:
        raise AppError(
            409,
            "invalid_state",
            _l("This member has no PIN yet: an organiser can set one."),
            {"pin": ["not set"]},
        )
    try:
        right = bool(pin) and HASHER.verify(row.pin_hash, pin)
    except (VerificationError, InvalidHashError):
        right = False
    if not right:
        if wait := throttle.fail(card.number):
            begin_writing(db.session)
            record_audit(
                actor,
                "member.pin_locked",
                db.session.get(Member, card.member_id),
                after={"card_number": card.number, "locked_for_seconds": wait},
            )
            db.session.commit()
            raise _locked(wait)
        raise AppError(403, "invalid_pin", _l("The PIN is not correct."), {"pin": ["is not correct"]})


# --- pay codes -------------------------------------------------------------------------------------


def _digits_hash(digits: str) -> str:
    return hashlib.sha256(digits.encode("ascii")).hexdigest()


def pay_code_payload(code: PayCode, base_url: str) -> str:
    """The exact text of a pay code's QR code."""
    return code_url(
        base_url,
        PAY_CODE_ROUTE_LETTER,
        sign_payload(
            PAY_CODE, pay_code_id=code.id, member_id=code.member_id, expires=int(code.expires_at.timestamp())
        ),
    )


def issue_pay_code(member: Member, now: datetime | None = None) -> tuple[PayCode, str]:
    """A new pay code for the member: the row and its 18 digits (shown once, stored as a hash)."""
    if member is None:
        raise AppError(401)
    if not member.is_active:
        raise AppError(403)
    now = now or utcnow()
    begin_writing(db.session)
    db.session.execute(
        sa.delete(PayCode).where(
            PayCode.member_id == member.id,
            PayCode.used_at.is_(None),
            PayCode.expires_at < now - PAY_CODE_KEEP,
        )
    )
    drawn = []

    def draw() -> PayCode:
        drawn.append("".join(secrets.choice("0123456789") for _ in range(PAY_CODE_DIGITS)))
        return PayCode(
            member_id=member.id,
            digits_hash=_digits_hash(drawn[-1]),
            created_at=now,
            expires_at=(now + PAY_CODE_TTL).replace(microsecond=0),
        )

    code = insert_unique(db.session, draw, NUMBER_ATTEMPTS)
    db.session.commit()
    return code, drawn[-1]


def pay_code_from_code(text: str, now: datetime | None = None) -> PayCode:
    """The pay code typed (18 digits) or scanned: refuse ``invalid_code`` (unknown, altered, used), 410 expired."""
    digits = typed_digits(text)
    if digits is not None:
        if len(digits) != PAY_CODE_DIGITS:
            raise InvalidCode("malformed", "pay_code")
        code = db.session.scalar(sa.select(PayCode).where(PayCode.digits_hash == _digits_hash(digits)))
    else:
        fields = _verified(text, PAY_CODE, "pay_code")
        code = db.session.get(PayCode, fields["pay_code_id"])
        if code is not None and (code.member_id, int(code.expires_at.timestamp())) != (
            fields["member_id"],
            fields["expires"],
        ):
            raise InvalidCode("mismatch", "pay_code")
    if code is None:
        raise InvalidCode("unknown", "pay_code")
    if code.used_at is not None:
        raise InvalidCode("used", "pay_code")
    if (now or utcnow()) > code.expires_at:
        raise AppError(
            410,
            "expired",
            _l("This pay code has expired: ask for a new one."),
            {"pay_code": [f"expired at {code.expires_at.isoformat()}"]},
        )
    return code


def use_pay_code(code: PayCode, now: datetime) -> None:
    """Mark a pay code used, in the caller's writing transaction; refuse one used meanwhile."""
    used = db.session.execute(
        sa.update(PayCode).where(PayCode.id == code.id, PayCode.used_at.is_(None)).values(used_at=now)
    )
    if used.rowcount != 1:
        raise InvalidCode("used", "pay_code")

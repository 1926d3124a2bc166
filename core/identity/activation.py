"""Activation codes: members imported in bulk set their first password with a one-time code.

A code is 8 characters without look-alikes (``core.codes``), printed once on a slip; only
the SHA-256 of the member's id and the code is stored, so codes are cheap to make in bulk
(no argon2 per member) and useless to whoever reads the table. A code expires after
``ACTIVATION_CODE_TTL_DAYS``, works once, and a new code for the same member revokes the old.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from core.audit import record_audit
from core.codes import new_code, normalise_code
from core.database import begin_writing, insert_rows, utcnow
from core.errors import AppError
from core.extensions import db
from core.identity.access import require
from core.identity.models import ActivationCode, Member
from core.identity.phones import normalise_phone
from core.identity.services import (
    _check_password,
    _set_password,
    count_failed_sign_in,
    refuse_while_locked,
)


def code_hash(member_id: int, code: str) -> str:
    """Return the stored form of a member's code: SHA-256 of the member id and the code."""
    return hashlib.sha256(f"{member_id}:{code}".encode()).hexdigest()


def code_lifetime() -> timedelta:
    """How long a new code stays valid (``ACTIVATION_CODE_TTL_DAYS``)."""
    return timedelta(days=current_app.config["ACTIVATION_CODE_TTL_DAYS"])


def issue_activation_codes(
    member_ids: list[int], actor_id: int | None, now: datetime | None = None
) -> dict[int, str]:
    """Make one code for each member in bulk (joins the caller's transaction); answer id → code."""
    now = now or utcnow()
    expires_at = now + code_lifetime()
    codes = {member_id: new_code() for member_id in member_ids}
    rows = [
        {
            "member_id": member_id,
            "code_hash": code_hash(member_id, code),
            "created_at": now,
            "created_by_id": actor_id,
            "expires_at": expires_at,
        }
        for member_id, code in codes.items()
    ]
    insert_rows(db.session, ActivationCode.__table__, rows)
    return codes


def find_member_by_phone(phone: str, field: str = "phone") -> Member:
    """Return the member who signs in with ``phone`` (as typed) or refuse with 404."""
    member = db.session.scalar(sa.select(Member).where(Member.phone == normalise_phone(phone)))
    if member is None:
        raise AppError(
            404, message=_l("No member has this phone number."), errors={field: ["no such member"]}
        )
    return member


def reissue_activation_code(
    actor: Member, member: Member, now: datetime | None = None
) -> tuple[str, datetime]:
    """Give a member in the actor's scope a new code, revoking older ones; answer it and its expiry."""
    require(actor, "member.manage", member)
    begin_writing(db.session)
    now = now or utcnow()
    db.session.execute(
        sa.update(ActivationCode)
        .where(
            ActivationCode.member_id == member.id,
            ActivationCode.used_at.is_(None),
            ActivationCode.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    code = issue_activation_codes([member.id], actor.id, now)[member.id]
    record_audit(actor, "member.activation_code", member, reason="re-issued")
    db.session.commit()
    return code, now + code_lifetime()


def _wrong_code() -> AppError:
    return AppError(
        400,
        "invalid_code",
        _l("The phone number or activation code is not correct."),
        {"code": ["is not correct"]},
    )


def activate_member(phone: str, code: str, new_password: str, now: datetime | None = None) -> Member:
    """Set a member's first password with their activation code; the code is then used up.

    A wrong phone or code counts against the phone number like a failed sign-in (one lock for both).
    """
    _check_password(new_password)
    phone = normalise_phone(phone)
    refuse_while_locked(phone)
    normalised = normalise_code(code)
    if phone is None or normalised is None:
        count_failed_sign_in(phone)
        raise _wrong_code()
    begin_writing(db.session)
    now = now or utcnow()
    member = db.session.scalar(sa.select(Member).where(Member.phone == phone))
    row = (
        None
        if member is None
        else db.session.scalar(
            sa.select(ActivationCode)
            .where(
                ActivationCode.member_id == member.id,
                ActivationCode.code_hash == code_hash(member.id, normalised),
                ActivationCode.revoked_at.is_(None),
            )
            .with_for_update()
        )
    )
    if row is None:
        db.session.rollback()  # the count is written in its own transaction (SQLite: one writer)
        count_failed_sign_in(phone)
        raise _wrong_code()
    if row.used_at is not None:
        raise AppError(
            409,
            "invalid_state",
            _l("This activation code has already been used. Sign in with your password."),
            {"code": ["already used"]},
        )
    if row.expires_at <= now:
        raise AppError(
            410,
            "expired",
            _l("This activation code has expired. Ask your village committee for a new one."),
            {"code": ["expired"]},
        )
    if not member.is_active:
        raise AppError(403, "forbidden", _l("This account is suspended."))
    row.used_at = now
    return _set_password(member, member, new_password, "member.activate")

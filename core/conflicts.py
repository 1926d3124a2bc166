"""409 refusals about a record: an act its current state does not allow (a claim, an objection, a
flag), or a row that exists already."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from core.errors import AppError
from core.extensions import db


def require_status(record, allowed: str | tuple[str, ...], message) -> None:
    """Refuse with 409 ``invalid_state`` and ``message``, naming the record's ``status``, unless that
    status is ``allowed`` (one status, or a tuple of them)."""
    if record.status not in ((allowed,) if isinstance(allowed, str) else allowed):
        raise AppError(409, "invalid_state", message, {"status": [record.status]})


def add_unique(row, refusal: AppError) -> None:
    """Add ``row`` and flush it; when a unique constraint refuses it (the same row made first, maybe
    at the same moment), roll the transaction back and raise ``refusal``."""
    db.session.add(row)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise refusal from None

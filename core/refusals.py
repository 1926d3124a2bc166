"""Refusals about one record: none with that id (404), an act its current state does not allow (a
claim, an objection, a flag: 409), a row that exists already (409)."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from core.errors import AppError
from core.extensions import db


def require_found(row, field: str, name: str):
    """Answer ``row``; when it is None (nothing has the id the request gave in ``field``), refuse
    with 404 ``no such <name>``."""
    if row is None:
        raise AppError(404, errors={field: [f"no such {name}"]})
    return row


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

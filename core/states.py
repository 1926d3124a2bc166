"""Records that move through states (a claim, an objection, a flag): the refusal of an act that their
current state does not allow."""

from __future__ import annotations

from core.errors import AppError


def require_status(record, allowed: str | tuple[str, ...], message) -> None:
    """Refuse with 409 ``invalid_state`` and ``message``, naming the record's ``status``, unless that
    status is ``allowed`` (one status, or a tuple of them)."""
    if record.status not in ((allowed,) if isinstance(allowed, str) else allowed):
        raise AppError(409, "invalid_state", message, {"status": [record.status]})

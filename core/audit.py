"""The audit log: one append-only table and one function every service calls."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.database import utcnow
from core.extensions import db


class AuditEntry(db.Model):
    """Who did what to which object, when and why, with the values before and after."""

    __tablename__ = "audit_entry"
    __table_args__ = (sa.Index("ix_audit_entry_subject", "subject_type", "subject_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("member.id"), index=True)
    action: Mapped[str] = mapped_column(sa.String(60), index=True)
    subject_type: Mapped[str] = mapped_column(sa.String(40))
    subject_id: Mapped[int | None]
    before: Mapped[dict | None] = mapped_column(sa.JSON)
    after: Mapped[dict | None] = mapped_column(sa.JSON)
    reason: Mapped[str | None] = mapped_column(sa.Text)


def record_audit(actor, action: str, subject, *, before: dict | None = None,
                 after: dict | None = None, reason: str | None = None) -> AuditEntry:
    """Add an audit entry to the caller's transaction (it commits or rolls back with the change)."""
    if subject is not None and getattr(subject, "id", None) is None:
        db.session.flush()  # the subject needs its id
    entry = AuditEntry(
        actor_id=getattr(actor, "id", None), action=action,
        subject_type=subject.__tablename__ if subject is not None else "system",
        subject_id=getattr(subject, "id", None),
        before=_plain(before), after=_plain(after), reason=reason,
    )
    db.session.add(entry)
    return entry


def change_audited(actor, action: str, subject, changes: dict, reason: str | None = None) -> dict:
    """Set ``changes`` on ``subject`` and audit the fields that really changed; answer those."""
    before = {key: getattr(subject, key) for key in changes}
    changed = {key: value for key, value in changes.items() if before[key] != value}
    for key, value in changed.items():
        setattr(subject, key, value)
    if changed:
        record_audit(actor, action, subject, before={key: before[key] for key in changed},
                     after=changed, reason=reason)
    return changed


def _plain(values: dict | None) -> dict | None:
    """Make values JSON-safe (datetimes as ISO 8601)."""
    if values is None:
        return None
    return {key: _plain_value(value) for key, value in values.items()}


def _plain_value(value: Any):
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@sa.event.listens_for(AuditEntry, "before_update")
@sa.event.listens_for(AuditEntry, "before_delete")
def _refuse_change(_mapper, _connection, entry):
    """Keep the log append-only: an entry is never changed or removed."""
    raise RuntimeError(f"audit entry {entry.id} is append-only")

"""The audit log: one append-only table and one function every service calls."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.database import utcnow
from core.extensions import db

if TYPE_CHECKING:
    from core.identity.models import Member


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

    actor: Mapped[Member | None] = relationship(foreign_keys=[actor_id], lazy="joined")


def record_audit(
    actor,
    action: str,
    subject,
    *,
    before: dict | None = None,
    after: dict | None = None,
    reason: str | None = None,
) -> AuditEntry:
    """Add an audit entry to the caller's transaction (it commits or rolls back with the change)."""
    if subject is not None and getattr(subject, "id", None) is None:
        db.session.flush()  # the subject needs its id
    entry = AuditEntry(
        actor_id=getattr(actor, "id", None),
        action=action,
        subject_type=subject.__tablename__ if subject is not None else "system",
        subject_id=getattr(subject, "id", None),
        before=_plain(before),
        after=_plain(after),
        reason=reason,
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
        record_audit(
            actor, action, subject, before={key: before[key] for key in changed}, after=changed, reason=reason
        )
    return changed


def _visible_to(actor):
    """A condition on ``AuditEntry`` for what the actor may read: everything for a global admin;
    else entries by or about members of their subtree, or by staff granted a role there."""
    from core.identity.access import scope_condition
    from core.identity.models import Member, OrgUnit, RoleGrant

    condition = scope_condition(actor, "audit.read")
    if isinstance(condition, sa.sql.elements.True_):
        return condition
    members = sa.select(Member.id).join(OrgUnit, OrgUnit.id == Member.org_unit_id).where(condition)
    staff = sa.select(RoleGrant.member_id).join(OrgUnit, OrgUnit.id == RoleGrant.org_unit_id).where(condition)
    return sa.or_(
        AuditEntry.actor_id.in_(members),
        AuditEntry.actor_id.in_(staff),
        sa.and_(AuditEntry.subject_type == "member", AuditEntry.subject_id.in_(members)),
    )


def _search_audit(
    actor,
    *,
    actor_text: str | None = None,
    subject_type: str | None = None,
    subject_id: int | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> sa.Select:
    """The audit entries the actor may read that match the filters, newest first."""
    from core.identity.models import Member

    statement = sa.select(AuditEntry).where(_visible_to(actor))
    if actor_text:
        statement = statement.where(
            AuditEntry.actor_id.in_(
                sa.select(Member.id).where(
                    sa.or_(
                        Member.name.contains(actor_text, autoescape=True),
                        Member.phone.contains(actor_text, autoescape=True),
                    )
                )
            )
        )
    if subject_type:
        statement = statement.where(AuditEntry.subject_type == subject_type)
    if subject_id is not None:
        statement = statement.where(AuditEntry.subject_id == subject_id)
    if action:
        statement = statement.where(AuditEntry.action.startswith(action, autoescape=True))
    if since is not None:
        statement = statement.where(AuditEntry.at >= since)
    if until is not None:
        statement = statement.where(AuditEntry.at < until)
    return statement.order_by(AuditEntry.id.desc())


def list_audit_entries(actor, page: int, page_size: int, **filters) -> dict:
    """One page of the audit log the actor may read (admins: their subtree; 403 otherwise)."""
    from core.api import paginate

    return paginate(_search_audit(actor, **filters), page, page_size)


#: Columns of an audit export, in order: the entry's own and its actor's name.
EXPORT_COLUMNS = (
    "id",
    "at",
    "actor_id",
    "actor",
    "action",
    "subject_type",
    "subject_id",
    "before",
    "after",
    "reason",
)


def iter_audit_pages(actor, page_size: int = 5000, **filters):
    """Every matching entry the actor may read, newest first, as pages of plain rows (the columns of
    ``EXPORT_COLUMNS``); each page is one indexed query starting below the last id read (keyset),
    so the thousandth page costs what the first does and no page holds the whole log."""
    from core.identity.models import Member

    statement = (
        _search_audit(actor, **filters)
        .with_only_columns(
            AuditEntry.id,
            AuditEntry.at,
            AuditEntry.actor_id,
            Member.name,
            AuditEntry.action,
            AuditEntry.subject_type,
            AuditEntry.subject_id,
            AuditEntry.before,
            AuditEntry.after,
            AuditEntry.reason,
        )
        .outerjoin(Member, Member.id == AuditEntry.actor_id)
        .limit(page_size)
    )
    rows = db.session.execute(statement).all()
    while rows:
        yield rows
        if len(rows) < page_size:
            return
        rows = db.session.execute(statement.where(AuditEntry.id < rows[-1].id)).all()


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

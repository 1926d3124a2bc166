"""The wish table: one row per micro-wish, with who moved it through each state and when."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.database import utcnow
from core.extensions import db
from core.identity.models import Member, OrgUnit
from points.models import Contribution

#: submitted → declined | vetted → open → taken → done → completed; taken → open (released, or not
#: done by ``due_at``); anything before completed → cancelled.
WISH_STATUSES = ("submitted", "declined", "vetted", "open", "taken", "done", "completed", "cancelled")


class Wish(db.Model):
    """A resident's micro-wish (微心愿) and where it stands in the 四单制 flow."""

    __tablename__ = "wish"
    __table_args__ = (
        # Covers the listing of open wishes (who may see them, how near they are, when due) without
        # reading the wishes' rows.
        sa.Index("ix_wish_status_due_at", "status", "due_at", "org_unit_id", "requester_id", "taker_id"),
        sa.CheckConstraint("points IS NULL OR points BETWEEN 1 AND 500", name="points_in_range"),
        sa.CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="rating_in_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(100))
    description: Mapped[str] = mapped_column(sa.Text)
    photo_id: Mapped[int | None] = mapped_column(sa.ForeignKey("evidence_photo.id"))
    requester_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id"), index=True)
    #: The requester's grid when the wish was posted: where it is vetted, published and found.
    org_unit_id: Mapped[int] = mapped_column(sa.ForeignKey("org_unit.id"), index=True)
    status: Mapped[str] = mapped_column(sa.String(20), default="submitted")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    vetted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("member.id"))
    vetted_at: Mapped[datetime | None]
    vet_reason: Mapped[str | None] = mapped_column(sa.Text)
    #: Set when published (1–500): what the taker earns at completion.
    points: Mapped[int | None]
    due_at: Mapped[datetime | None]
    published_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("member.id"))
    published_at: Mapped[datetime | None]
    taker_id: Mapped[int | None] = mapped_column(sa.ForeignKey("member.id"), index=True)
    taken_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]
    done_note: Mapped[str | None] = mapped_column(sa.Text)
    done_photo_id: Mapped[int | None] = mapped_column(sa.ForeignKey("evidence_photo.id"))
    confirmed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("member.id"))
    confirmed_at: Mapped[datetime | None]
    rating: Mapped[int | None]
    #: The approved contribution that paid the taker.
    contribution_id: Mapped[int | None] = mapped_column(sa.ForeignKey("contribution.id"))
    cancelled_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("member.id"))
    cancelled_at: Mapped[datetime | None]
    cancel_reason: Mapped[str | None] = mapped_column(sa.Text)

    requester: Mapped[Member] = relationship(foreign_keys=[requester_id])
    taker: Mapped[Member | None] = relationship(foreign_keys=[taker_id])
    org_unit: Mapped[OrgUnit] = relationship()
    contribution: Mapped[Contribution | None] = relationship()

"""Patrol routes, their checkpoints, and the rounds members walk along them."""

from __future__ import annotations

from datetime import date, datetime, time

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.database import utcnow
from core.extensions import db
from core.identity.models import Member, OrgUnit
from points.models import Activity, Contribution

ROUND_STATUSES = ("in_progress", "completed")


class PatrolRoute(db.Model):
    """A route of ordered checkpoints with a daily window (Asia/Shanghai, may cross midnight)."""

    __tablename__ = "patrol_route"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    org_unit_id: Mapped[int] = mapped_column(sa.ForeignKey("org_unit.id"), index=True)
    activity_id: Mapped[int] = mapped_column(sa.ForeignKey("activity.id"))
    #: The window as local Asia/Shanghai times: from ``window_start`` (inclusive) to ``window_end``
    #: (exclusive), ending the next day when it is not later than the start.
    window_start: Mapped[time]
    window_end: Mapped[time]
    #: The least time between two consecutive scans of a round.
    min_minutes_between: Mapped[int]
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    org_unit: Mapped[OrgUnit] = relationship()
    activity: Mapped[Activity] = relationship()
    checkpoints: Mapped[list[PatrolCheckpoint]] = relationship(
        order_by="PatrolCheckpoint.position", back_populates="route"
    )


class PatrolCheckpoint(db.Model):
    """One checkpoint of a route, at its place in the order (1 starts a round)."""

    __tablename__ = "patrol_checkpoint"
    __table_args__ = (sa.UniqueConstraint("route_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    route_id: Mapped[int] = mapped_column(sa.ForeignKey("patrol_route.id"))
    position: Mapped[int]
    name: Mapped[str] = mapped_column(sa.String(100))

    route: Mapped[PatrolRoute] = relationship(back_populates="checkpoints")


class PatrolRound(db.Model):
    """A member's round of a route on one night (the Asia/Shanghai date its window opened)."""

    __tablename__ = "patrol_round"
    __table_args__ = (sa.UniqueConstraint("route_id", "night", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    route_id: Mapped[int] = mapped_column(sa.ForeignKey("patrol_route.id"))
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id"), index=True)
    night: Mapped[date]
    started_at: Mapped[datetime]
    last_scan_at: Mapped[datetime]
    #: Checkpoints scanned so far, in order.
    scanned: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(sa.String(20), default="in_progress")
    completed_at: Mapped[datetime | None]
    #: The contribution the complete round earned (none while in progress, or when it was refused).
    contribution_id: Mapped[int | None] = mapped_column(sa.ForeignKey("contribution.id"))
    #: Why a complete round earned nothing (e.g. ``daily_cap_reached``).
    points_refused: Mapped[str | None] = mapped_column(sa.String(40))

    route: Mapped[PatrolRoute] = relationship()
    member: Mapped[Member] = relationship()
    contribution: Mapped[Contribution | None] = relationship()


class PatrolScan(db.Model):
    """One checkpoint scanned in a round."""

    __tablename__ = "patrol_scan"
    __table_args__ = (sa.UniqueConstraint("round_id", "checkpoint_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(sa.ForeignKey("patrol_round.id"))
    checkpoint_id: Mapped[int] = mapped_column(sa.ForeignKey("patrol_checkpoint.id"), index=True)
    scanned_at: Mapped[datetime]

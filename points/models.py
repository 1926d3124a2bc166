"""Activities, contributions, events and check-ins, evidence photos, and the double-entry ledger."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.database import utcnow
from core.extensions import db
from core.identity.models import Member, OrgUnit

CATEGORIES = (
    "publicity",
    "mediation",
    "patrol",
    "assistance",
    "volunteer_service",
    "hazard_report",
    "daily_checkin",
    "other",
)
UNITS = ("each", "hour")


class ContributionStatus(StrEnum):
    """Where a contribution stands: a claim waiting for review, paid, refused, or taken back."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    REVERSED = "reversed"


CONTRIBUTION_STATUSES = tuple(ContributionStatus)


class Account(StrEnum):
    """Ledger accounts: a member's ``available`` and ``held`` (cached in ``member_balance``); the
    system's accounts are only sums of their postings."""

    AVAILABLE = "available"
    HELD = "held"
    ISSUED = "issued"
    REDEEMED = "redeemed"
    EXPIRED = "expired"
    WRITTEN_OFF = "written_off"
    OPENING = "opening"


class TransactionKind(StrEnum):
    """What a ledger transaction does (``points.ledger`` posts each kind)."""

    AWARD = "award"
    REVERSAL = "reversal"
    HOLD = "hold"
    RELEASE = "release"
    SPEND = "spend"
    OPENING = "opening"
    EXPIRY = "expiry"


#: The built-in activity a completed micro-wish pays its taker with (added by the migrations).
WISH_ACTIVITY = "wish"
#: Built-in activities earned only through their own flow, never recorded, claimed or scheduled by hand.
FLOW_ONLY_ACTIVITIES = frozenset({WISH_ACTIVITY})


class Activity(db.Model):
    """What earns points (积分规则): points per item or per hour, a daily cap, a scope and a window."""

    __tablename__ = "activity"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    name_en: Mapped[str | None] = mapped_column(sa.String(100))
    category: Mapped[str] = mapped_column(sa.String(30))
    points: Mapped[int]
    unit: Mapped[str] = mapped_column(sa.String(10), default="each")
    #: The most points one member may earn from it in one Asia/Shanghai day (None: no cap).
    daily_cap: Mapped[int | None]
    needs_review: Mapped[bool] = mapped_column(default=True)
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    #: The subtree where it applies (None: the whole tree).
    org_unit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("org_unit.id"))
    active: Mapped[bool] = mapped_column(default=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("member.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    org_unit: Mapped[OrgUnit | None] = relationship()


class EvidencePhoto(db.Model):
    """A resized photo kept in the database, so that any app server can serve it."""

    __tablename__ = "evidence_photo"

    id: Mapped[int] = mapped_column(primary_key=True)
    uploaded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id"), index=True)
    mimetype: Mapped[str] = mapped_column(sa.String(30))
    width: Mapped[int]
    height: Mapped[int]
    content: Mapped[bytes] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Contribution(db.Model):
    """A member did an activity: recorded by staff (approved at once) or claimed (pending)."""

    __tablename__ = "contribution"
    __table_args__ = (
        sa.Index("ix_contribution_member_activity_occurred", "member_id", "activity_id", "occurred_at"),
        sa.Index("ix_contribution_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id"))
    activity_id: Mapped[int] = mapped_column(sa.ForeignKey("activity.id"))
    #: Items, or hours in steps of half an hour.
    quantity: Mapped[Decimal] = mapped_column(sa.Numeric(7, 1))
    #: Fixed when recorded: editing the activity later never changes it.
    points: Mapped[int]
    status: Mapped[str] = mapped_column(sa.String(20), default="pending")
    occurred_at: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(sa.Text)
    photo_id: Mapped[int | None] = mapped_column(sa.ForeignKey("evidence_photo.id"))
    recorded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id"))
    reviewed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("member.id"))
    reviewed_at: Mapped[datetime | None]
    review_reason: Mapped[str | None] = mapped_column(sa.Text)
    reversed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("member.id"))
    reversed_at: Mapped[datetime | None]
    reverse_reason: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    member: Mapped[Member] = relationship(foreign_keys=[member_id])
    activity: Mapped[Activity] = relationship()
    recorded_by: Mapped[Member] = relationship(foreign_keys=[recorded_by_id])


class Event(db.Model):
    """A scheduled activity (a night patrol, a publicity day) with a check-in QR code."""

    __tablename__ = "event"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(100))
    activity_id: Mapped[int] = mapped_column(sa.ForeignKey("activity.id"))
    org_unit_id: Mapped[int] = mapped_column(sa.ForeignKey("org_unit.id"), index=True)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]

    activity: Mapped[Activity] = relationship()
    org_unit: Mapped[OrgUnit] = relationship()


class Checkin(db.Model):
    """A member checked in at an event (once), and maybe out again."""

    __tablename__ = "checkin"
    __table_args__ = (sa.UniqueConstraint("event_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("event.id"))
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id"), index=True)
    checked_in_at: Mapped[datetime] = mapped_column(default=utcnow)
    checked_out_at: Mapped[datetime | None]
    contribution_id: Mapped[int | None] = mapped_column(sa.ForeignKey("contribution.id"))

    event: Mapped[Event] = relationship()
    member: Mapped[Member] = relationship()
    contribution: Mapped[Contribution | None] = relationship()


class MemberBalance(db.Model):
    """A member's cached balances, updated in the same transaction as their postings.

    A posting moves it in one statement that locks the row (the whole database on SQLite,
    through ``BEGIN IMMEDIATE``), so balances never race.
    """

    __tablename__ = "member_balance"
    __table_args__ = (
        sa.CheckConstraint("available >= 0", name="available_not_negative"),
        sa.CheckConstraint("held >= 0", name="held_not_negative"),
    )

    member_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id"), primary_key=True)
    available: Mapped[int] = mapped_column(default=0)
    held: Mapped[int] = mapped_column(default=0)
    #: Approved awards minus their reversals (opening balances and spending never change it).
    lifetime_earned: Mapped[int] = mapped_column(default=0)


#: A posting belongs to the transaction of its id and time (no foreign key says so: see LedgerPosting).
_POSTING_JOIN = (
    "and_(LedgerTransaction.id == foreign(LedgerPosting.transaction_id), "
    "LedgerTransaction.created_at == foreign(LedgerPosting.created_at))"
)


class LedgerTransaction(db.Model):
    """One movement of points: its postings sum to zero. Never updated, never deleted.

    On PostgreSQL the table is partitioned by the month of ``created_at`` (``points.partitions``),
    and every unique key there must hold ``created_at``: the key is ``(id, created_at)``, each
    month's postings refer to that month's transactions, and ``reverses_id`` is a plain indexed
    column (an award is reversed once: ``reverse_award`` checks under the member's lock).
    SQLite keeps one plain table.
    """

    __tablename__ = "ledger_transaction"
    __table_args__ = (
        sa.Index("ix_ledger_transaction_member_id_id", "member_id", "id"),
        sa.Index("ix_ledger_transaction_kind_occurred_at", "kind", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(20))
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id"))
    #: The change to the member's available balance, and the balance after it.
    available_change: Mapped[int]
    available_after: Mapped[int]
    held_after: Mapped[int]
    #: When the points were earned (for awards and their reversals: the contribution's time).
    occurred_at: Mapped[datetime]
    #: When it was posted: the month partition it lives in on PostgreSQL.
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("member.id"))
    contribution_id: Mapped[int | None] = mapped_column(sa.ForeignKey("contribution.id"), index=True)
    activity_id: Mapped[int | None] = mapped_column(sa.ForeignKey("activity.id"))
    #: The member's org unit when the points were earned (awards; a reversal keeps its award's):
    #: budgets count awards by it.
    org_unit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("org_unit.id"))
    reverses_id: Mapped[int | None] = mapped_column(index=True)
    #: What another package's object this moves points for, e.g. "voucher:42".
    reference: Mapped[str | None] = mapped_column(sa.String(60), index=True)
    memo: Mapped[str | None] = mapped_column(sa.Text)

    postings: Mapped[list[LedgerPosting]] = relationship(
        primaryjoin=_POSTING_JOIN, back_populates="transaction"
    )


class LedgerPosting(db.Model):
    """One leg of a transaction: an amount on a member account or a system account.

    No foreign key names its transaction: on PostgreSQL each month's postings partition refers
    to that month's transactions partition (``points.partitions``); everywhere ``flask ledger
    verify`` checks that every posting has its transaction.
    """

    __tablename__ = "ledger_posting"
    __table_args__ = (sa.Index("ix_ledger_posting_member_id_account", "member_id", "account"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    transaction_id: Mapped[int] = mapped_column(index=True)
    #: The member for ``available`` and ``held``; None for system accounts.
    member_id: Mapped[int | None] = mapped_column(sa.ForeignKey("member.id"))
    account: Mapped[str] = mapped_column(sa.String(20))
    amount: Mapped[int]
    #: Its transaction's ``created_at``: the month partition both live in on PostgreSQL.
    created_at: Mapped[datetime]

    transaction: Mapped[LedgerTransaction] = relationship(
        primaryjoin=_POSTING_JOIN, back_populates="postings"
    )


# --- gamification: badges, running counters, active months and the daily check-in ---------------


class MemberBadge(db.Model):
    """A badge a member earned, once, with the time it was awarded (never taken back)."""

    __tablename__ = "member_badge"
    __table_args__ = (sa.UniqueConstraint("member_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id"))
    code: Mapped[str] = mapped_column(sa.String(40))
    awarded_at: Mapped[datetime]


class MemberGameStats(db.Model):
    """A member's running counters for badges and stars, moved in the posting's own transaction."""

    __tablename__ = "member_game_stats"

    member_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id"), primary_key=True)
    #: Approved patrol and mediation contributions, net of reversals.
    patrols: Mapped[int] = mapped_column(default=0)
    mediations: Mapped[int] = mapped_column(default=0)
    #: Verified volunteer hours (hourly volunteer_service activities), net of reversals, in half hours.
    volunteer_half_hours: Mapped[int] = mapped_column(default=0)


class MemberActiveMonth(db.Model):
    """Points a member earned (net) in one Asia/Shanghai calendar month: active when above zero."""

    __tablename__ = "member_active_month"

    member_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id"), primary_key=True)
    #: The month as year × 12 + month − 1, so that consecutive months differ by one.
    month: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    points: Mapped[int] = mapped_column(default=0)


class DailyCheckin(db.Model):
    """One daily 报平安 check-in: one per member and Asia/Shanghai day, with its streak."""

    __tablename__ = "daily_checkin"
    __table_args__ = (sa.UniqueConstraint("member_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id"))
    day: Mapped[date]
    #: Consecutive days checked in, this one included.
    streak: Mapped[int]
    points: Mapped[int]
    checked_in_at: Mapped[datetime]
    #: The award's ledger transaction (no foreign key: on PostgreSQL the ledger is partitioned,
    #: and a key there would need the transaction's ``created_at`` too).
    transaction_id: Mapped[int]


# --- leaderboards: per-member period totals and the honour roll ------------------------------

#: How deep the org tree goes (county → town → community → grid): one scope column per depth.
SCOPE_DEPTHS = 4


def _scope_index(depth: int) -> sa.Index:
    """An index that answers "top N" and "how many above" inside any unit at ``depth``."""
    return sa.Index(
        f"ix_leaderboard_total_scope{depth}",
        "period_key",
        "eligible",
        f"scope{depth}_id",
        "score",
        "reach_key",
        "member_id",
    )


class LeaderboardTotal(db.Model):
    """A member's earned points in one period (read model of the ledger, kept in the award's transaction).

    ``period_key`` names the period ("2026-W48", "2026-11", "2026-Q4", "2026", "all");
    ``scope0_id``…``scope3_id`` are the ids along the member's org-unit path, so one index
    per depth keeps every subtree's board in order; ``eligible`` is false for staff,
    hidden and suspended members, whose points count on no board.
    """

    __tablename__ = "leaderboard_total"
    __table_args__ = tuple(_scope_index(depth) for depth in range(SCOPE_DEPTHS))

    member_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id"), primary_key=True)
    period_key: Mapped[str] = mapped_column(sa.String(10), primary_key=True)
    score: Mapped[int] = mapped_column(default=0)
    #: When the member reached this score (the last award or reversal counted here): ties go to the earlier.
    reached_at: Mapped[datetime]
    #: Minus ``reached_at`` in microseconds since the epoch: read backwards, the ascending index
    #: lists the highest score first and, among equals, who reached it first.
    reach_key: Mapped[int] = mapped_column(sa.BigInteger)
    eligible: Mapped[bool] = mapped_column(default=True)
    scope0_id: Mapped[int | None]
    scope1_id: Mapped[int | None]
    scope2_id: Mapped[int | None]
    scope3_id: Mapped[int | None]


class HonourRoll(db.Model):
    """A closed month's published ranks in one org unit (光荣榜): written once, never changed."""

    __tablename__ = "honour_roll"
    __table_args__ = (sa.UniqueConstraint("month", "org_unit_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[str] = mapped_column(sa.String(7))
    org_unit_id: Mapped[int] = mapped_column(sa.ForeignKey("org_unit.id"))
    #: How many members were ranked in the unit that month.
    ranked: Mapped[int] = mapped_column(default=0)
    closed_at: Mapped[datetime] = mapped_column(default=utcnow)

    org_unit: Mapped[OrgUnit] = relationship()
    entries: Mapped[list[HonourRollEntry]] = relationship(
        order_by="HonourRollEntry.position", lazy="selectin"
    )


class HonourRollEntry(db.Model):
    """One member on a closed month's honour roll, with the masked name as published."""

    __tablename__ = "honour_roll_entry"
    __table_args__ = (sa.UniqueConstraint("roll_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    roll_id: Mapped[int] = mapped_column(sa.ForeignKey("honour_roll.id"))
    position: Mapped[int]
    rank: Mapped[int]
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id"))
    display_name: Mapped[str] = mapped_column(sa.String(50))
    anonymous: Mapped[bool] = mapped_column(default=False)
    grid_id: Mapped[int | None] = mapped_column(sa.ForeignKey("org_unit.id"))
    grid_name: Mapped[str | None] = mapped_column(sa.String(100))
    points: Mapped[int]


# --- accountability: the monthly public notice (积分公示), objections, the fairness watch ------

NOTICE_STATUSES = ("open", "closed")
OBJECTION_STATUSES = ("pending", "upheld", "dismissed")
FLAG_STATUSES = ("open", "dismissed", "acted")


class Notice(db.Model):
    """A finished month's points of an org unit's subtree, posted for objections (积分公示)."""

    __tablename__ = "notice"
    __table_args__ = (sa.UniqueConstraint("org_unit_id", "month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_unit_id: Mapped[int] = mapped_column(sa.ForeignKey("org_unit.id"))
    month: Mapped[str] = mapped_column(sa.String(7))
    opens_at: Mapped[datetime]
    #: The end of the last working day objections are taken (Asia/Shanghai midnight).
    closes_at: Mapped[datetime]
    #: Entries when it was published (some may have been reversed since).
    entries_count: Mapped[int] = mapped_column(default=0)
    published_by_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    org_unit: Mapped[OrgUnit] = relationship()


# --- budgets: points an org unit's subtree may be awarded in a year, leased out in allotments ----


class Budget(db.Model):
    """The most points an org unit's subtree may be awarded in one Asia/Shanghai calendar year
    (counted by ``occurred_at``). Awards draw on allotments leased from it (``BudgetAllotment``):
    this row is locked only to lease, to take spare allotments back near the limit, or to change it."""

    __tablename__ = "budget"
    __table_args__ = (sa.UniqueConstraint("org_unit_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_unit_id: Mapped[int] = mapped_column(sa.ForeignKey("org_unit.id"))
    year: Mapped[int]
    points: Mapped[int]
    #: Points leased out to allotments: the sum of their ``granted``.
    allotted: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("member.id"))

    org_unit: Mapped[OrgUnit] = relationship()


class NoticeEntry(db.Model):
    """One contribution on a notice, with the member's masked name and grid as published."""

    __tablename__ = "notice_entry"
    __table_args__ = (sa.UniqueConstraint("notice_id", "contribution_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(sa.ForeignKey("notice.id"))
    contribution_id: Mapped[int] = mapped_column(sa.ForeignKey("contribution.id"), index=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id"))
    #: The masked name; ``anonymous`` shows 匿名 instead (the member's choice, or hidden by an admin).
    display_name: Mapped[str] = mapped_column(sa.String(50))
    anonymous: Mapped[bool] = mapped_column(default=False)
    grid_id: Mapped[int | None] = mapped_column(sa.ForeignKey("org_unit.id"))

    contribution: Mapped[Contribution] = relationship()
    grid: Mapped[OrgUnit | None] = relationship()


class Objection(db.Model):
    """A member's objection to one entry of an open notice, upheld or dismissed by an organiser."""

    __tablename__ = "objection"
    __table_args__ = (
        sa.UniqueConstraint("notice_id", "contribution_id", "objector_id"),
        sa.Index("ix_objection_objector_id_created_at", "objector_id", "created_at"),
        sa.Index("ix_objection_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(sa.ForeignKey("notice.id"))
    contribution_id: Mapped[int] = mapped_column(sa.ForeignKey("contribution.id"), index=True)
    objector_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id"))
    reason: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(20), default="pending")
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("member.id"))
    decided_at: Mapped[datetime | None]
    decision_reason: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    notice: Mapped[Notice] = relationship()
    contribution: Mapped[Contribution] = relationship()
    objector: Mapped[Member] = relationship(foreign_keys=[objector_id])


class FairnessFlag(db.Model):
    """A pattern the fairness watch found, for an organiser to review: what, whom, the evidence rows.

    ``member_id`` is whom when a person (a recorder, a reviewer, a member); ``org_unit_id`` is the
    grid when a grid is flagged, else the unit whose subtree the evidence lies in (who may see it).
    """

    __tablename__ = "fairness_flag"
    __table_args__ = (sa.Index("ix_fairness_flag_status", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rule: Mapped[str] = mapped_column(sa.String(30))
    #: The rule, whom and the period: a later scan that finds the same thing again updates this flag.
    fingerprint: Mapped[str] = mapped_column(sa.String(120), unique=True)
    member_id: Mapped[int | None] = mapped_column(sa.ForeignKey("member.id"))
    org_unit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("org_unit.id"))
    #: The figures the summary quotes (counts, shares, ratios, the period).
    facts: Mapped[dict] = mapped_column(sa.JSON)
    #: The rows behind it (contributions, members, grids), at most ``fairness.EVIDENCE_ROWS``.
    evidence: Mapped[list] = mapped_column(sa.JSON)
    status: Mapped[str] = mapped_column(sa.String(20), default="open")
    reason: Mapped[str | None] = mapped_column(sa.Text)
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("member.id"))
    decided_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The last scan that found it.
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)

    member: Mapped[Member | None] = relationship(foreign_keys=[member_id])
    org_unit: Mapped[OrgUnit | None] = relationship()


class BudgetAllotment(db.Model):
    """The part of a budget leased to one org unit whose members earn (their grid), and how much of
    it awards there used (net of reversals): an award locks only its own unit's row."""

    __tablename__ = "budget_allotment"
    __table_args__ = (sa.CheckConstraint("used <= granted", name="used_within_granted"),)

    budget_id: Mapped[int] = mapped_column(sa.ForeignKey("budget.id"), primary_key=True)
    org_unit_id: Mapped[int] = mapped_column(sa.ForeignKey("org_unit.id"), primary_key=True)
    granted: Mapped[int] = mapped_column(default=0)
    used: Mapped[int] = mapped_column(default=0)

"""Rewards, stock per supermarket with its history, and vouchers (兑换券)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.database import utcnow
from core.extensions import db
from core.identity.models import Member, Supermarket


class VoucherStatus(StrEnum):
    """A voucher's life: reserved (points held, stock reserved), then fulfilled, cancelled or expired."""

    RESERVED = "reserved"
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


VOUCHER_STATUSES = tuple(VoucherStatus)


class StockMovementKind(StrEnum):
    """Why a stock row moved (``rewards.stock.move_stock``)."""

    RECEIVED = "received"
    RESERVED = "reserved"
    RELEASED = "released"
    HANDED_OVER = "handed_over"
    CORRECTED = "corrected"


class Reward(db.Model):
    """Goods a member can exchange points for, at a points price."""

    __tablename__ = "reward"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    name_en: Mapped[str | None] = mapped_column(sa.String(100))
    description: Mapped[str | None] = mapped_column(sa.Text)
    points_cost: Mapped[int]
    #: Units one member may take per Asia/Shanghai calendar month (reserved and fulfilled); None: no limit.
    per_member_limit: Mapped[int | None]
    #: What the county pays the supermarket for one unit handed over, in fen (分); its changes are in
    #: ``RewardCost``.
    unit_cost_fen: Mapped[int] = mapped_column(default=0, server_default="0")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    #: For ``image_url``: lists load it with ``selectinload``; the picture's bytes stay deferred.
    image: Mapped[RewardImage | None] = relationship(cascade="all, delete-orphan")


class RewardCost(db.Model):
    """A reward's unit cost from a moment on (never changed): a fulfilment is costed at the cost in
    force when it happened; before the first change recorded, the first one counts."""

    __tablename__ = "reward_cost"
    __table_args__ = (sa.Index("ix_reward_cost_reward_id_effective_from", "reward_id", "effective_from"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reward_id: Mapped[int] = mapped_column(sa.ForeignKey("reward.id"))
    unit_cost_fen: Mapped[int]
    effective_from: Mapped[datetime] = mapped_column(default=utcnow)
    changed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("member.id"))


class RewardImage(db.Model):
    """A reward's picture, shrunk and re-encoded, in its own table so lists never load the bytes."""

    __tablename__ = "reward_image"

    reward_id: Mapped[int] = mapped_column(sa.ForeignKey("reward.id"), primary_key=True)
    #: SHA-256 of ``content`` in hex: the strong ETag and the ``v`` of the picture's URL.
    digest: Mapped[str] = mapped_column(sa.String(64))
    mimetype: Mapped[str] = mapped_column(sa.String(30))
    width: Mapped[int]
    height: Mapped[int]
    content: Mapped[bytes] = mapped_column(sa.LargeBinary, deferred=True)
    uploaded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id"))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)


class Stock(db.Model):
    """Units of a reward at one supermarket: on hand, and reserved by open vouchers."""

    __tablename__ = "stock"
    __table_args__ = (
        sa.CheckConstraint("reserved >= 0", name="reserved_not_negative"),
        sa.CheckConstraint("on_hand >= reserved", name="reserved_within_on_hand"),
    )

    supermarket_id: Mapped[int] = mapped_column(sa.ForeignKey("supermarket.id"), primary_key=True)
    reward_id: Mapped[int] = mapped_column(sa.ForeignKey("reward.id"), primary_key=True)
    on_hand: Mapped[int] = mapped_column(default=0)
    reserved: Mapped[int] = mapped_column(default=0)

    reward: Mapped[Reward] = relationship()

    @property
    def available(self) -> int:
        """Units that may still be reserved."""
        return self.on_hand - self.reserved


class StockMovement(db.Model):
    """One change of stock, with who and why: the stock's history. Never updated."""

    __tablename__ = "stock_movement"
    __table_args__ = (sa.Index("ix_stock_movement_supermarket_reward", "supermarket_id", "reward_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    supermarket_id: Mapped[int] = mapped_column(sa.ForeignKey("supermarket.id"))
    reward_id: Mapped[int] = mapped_column(sa.ForeignKey("reward.id"))
    kind: Mapped[str] = mapped_column(sa.String(20))
    #: The change to on-hand and to reserved units.
    on_hand_change: Mapped[int] = mapped_column(default=0)
    reserved_change: Mapped[int] = mapped_column(default=0)
    on_hand_after: Mapped[int]
    reserved_after: Mapped[int]
    voucher_id: Mapped[int | None] = mapped_column(sa.ForeignKey("voucher.id"), index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("member.id"))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Voucher(db.Model):
    """A member's reserved rewards at one supermarket, redeemed at the counter by its QR code."""

    __tablename__ = "voucher"
    __table_args__ = (
        sa.Index("ix_voucher_member_id_created_at", "member_id", "created_at"),
        sa.Index("ix_voucher_status_expires_at", "status", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id"))
    supermarket_id: Mapped[int] = mapped_column(sa.ForeignKey("supermarket.id"), index=True)
    #: 8 characters without look-alikes, for typing when the camera fails.
    short_code: Mapped[str] = mapped_column(sa.String(8), unique=True)
    points: Mapped[int]
    status: Mapped[str] = mapped_column(sa.String(20), default="reserved")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    fulfilled_at: Mapped[datetime | None]
    fulfilled_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("member.id"))
    cancelled_at: Mapped[datetime | None]
    cancelled_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("member.id"))

    member: Mapped[Member] = relationship(foreign_keys=[member_id])
    supermarket: Mapped[Supermarket] = relationship()
    items: Mapped[list[VoucherItem]] = relationship(
        back_populates="voucher", lazy="selectin", order_by="VoucherItem.id"
    )


class VoucherItem(db.Model):
    """A line of a voucher: units of one reward at the price when reserved."""

    __tablename__ = "voucher_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    voucher_id: Mapped[int] = mapped_column(sa.ForeignKey("voucher.id"), index=True)
    reward_id: Mapped[int] = mapped_column(sa.ForeignKey("reward.id"))
    quantity: Mapped[int]
    points_each: Mapped[int]

    voucher: Mapped[Voucher] = relationship(back_populates="items")
    reward: Mapped[Reward] = relationship(lazy="joined")


OFFLINE_RESULTS = ("fulfilled", "conflict", "rejected")


class OfflineFulfilment(db.Model):
    """A voucher scanned at a counter without signal, and what the server made of it, once.

    One row per scan (``scan_id``, chosen by the device): the same scan sent again answers
    this row. Conflicts stay listed for an admin until resolved: goods handed over are never
    lost from the record.
    """

    __tablename__ = "offline_fulfilment"
    __table_args__ = (
        sa.UniqueConstraint("supermarket_id", "scan_id"),
        sa.Index("ix_offline_fulfilment_supermarket_result", "supermarket_id", "result", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    supermarket_id: Mapped[int] = mapped_column(sa.ForeignKey("supermarket.id"))
    scan_id: Mapped[str] = mapped_column(sa.String(36))
    #: The voucher the scan names (None when its code named none of ours).
    voucher_id: Mapped[int | None] = mapped_column(sa.ForeignKey("voucher.id"), index=True)
    clerk_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id"))
    scanned_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    result: Mapped[str] = mapped_column(sa.String(20))
    #: Why it was a conflict or rejected (an error code of the API); None when fulfilled.
    reason: Mapped[str | None] = mapped_column(sa.String(40))
    resolved_at: Mapped[datetime | None]
    resolved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("member.id"))
    resolution: Mapped[str | None] = mapped_column(sa.Text)

    voucher: Mapped[Voucher | None] = relationship()


class Settlement(db.Model):
    """A supermarket's confirmed month (结算单): its lines and total, frozen. A month not confirmed
    has no row: its draft is computed from the fulfilled vouchers."""

    __tablename__ = "settlement"
    __table_args__ = (sa.UniqueConstraint("supermarket_id", "month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    supermarket_id: Mapped[int] = mapped_column(sa.ForeignKey("supermarket.id"))
    #: "YYYY-MM" (Asia/Shanghai).
    month: Mapped[str] = mapped_column(sa.String(7))
    total_fen: Mapped[int] = mapped_column(sa.BigInteger)
    confirmed_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("member.id"))

    lines: Mapped[list[SettlementLine]] = relationship(order_by="SettlementLine.id", lazy="selectin")


class SettlementLine(db.Model):
    """Units of one reward at one unit cost in a confirmed settlement; ``adjusts_month`` names the
    earlier confirmed month of fulfilments recorded after it was confirmed (None: this month's)."""

    __tablename__ = "settlement_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    settlement_id: Mapped[int] = mapped_column(sa.ForeignKey("settlement.id"), index=True)
    reward_id: Mapped[int] = mapped_column(sa.ForeignKey("reward.id"))
    #: The reward's name when confirmed: the signed sheet never changes.
    reward_name: Mapped[str] = mapped_column(sa.String(100))
    quantity: Mapped[int]
    unit_cost_fen: Mapped[int]
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)
    adjusts_month: Mapped[str | None] = mapped_column(sa.String(7))


class SettledVoucher(db.Model):
    """A fulfilled voucher counted in a confirmed settlement: the key makes each one count once, ever."""

    __tablename__ = "settled_voucher"

    voucher_id: Mapped[int] = mapped_column(sa.ForeignKey("voucher.id"), primary_key=True)
    settlement_id: Mapped[int] = mapped_column(sa.ForeignKey("settlement.id"), index=True)

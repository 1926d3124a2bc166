"""Monthly settlements (结算): what each safety supermarket handed over in a month, and is owed.

A settlement is one supermarket's Asia/Shanghai month: every voucher line fulfilled there in that
month — online, sold at the counter or synced from the offline counter alike: each is a voucher
``fulfilled`` with its lines, counted by its ``fulfilled_at`` — priced at the reward's unit cost in
force at that moment (``RewardCost``; before a reward's first recorded cost, that first one),
grouped into lines per reward and unit cost, and their total, in fen.

A month is a draft, computed afresh, until an administrator confirms it once it has ended. Its
lines and total are then frozen (``Settlement``) and each voucher counted is marked settled
(``SettledVoucher``, keyed by the voucher: a voucher counts in one confirmed settlement, ever). A
fulfilment recorded after its month was confirmed (an offline counter syncing late) counts in the
first month after it that is not confirmed yet, as an adjustment line naming its own month.
Months are confirmed in order: a month waits while an earlier one still holds unconfirmed
fulfilments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from core.audit import record_audit
from core.clock import MONTH_FORMAT, parse_month, period_bounds, shanghai_date
from core.database import begin_writing, utcnow
from core.errors import AppError
from core.extensions import db
from core.identity.access import require
from core.identity.models import Member, Supermarket
from core.identity.services import get_supermarket
from rewards.models import (
    Reward,
    RewardCost,
    SettledVoucher,
    Settlement,
    SettlementLine,
    Voucher,
    VoucherItem,
)
from rewards.overview import list_staffed_supermarkets


def format_yuan(fen: int) -> str:
    """Fen as yuan with two decimals ("12.50"), exactly."""
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def cost_in_force(reward_id, moment):
    """The unit cost of a reward in force at a moment (SQL): the latest recorded at or before it,
    else the first one recorded, else 0."""
    latest = (
        sa.select(RewardCost.unit_cost_fen)
        .where(RewardCost.reward_id == reward_id, RewardCost.effective_from <= moment)
        .order_by(RewardCost.effective_from.desc(), RewardCost.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    first = (
        sa.select(RewardCost.unit_cost_fen)
        .where(RewardCost.reward_id == reward_id)
        .order_by(RewardCost.effective_from, RewardCost.id)
        .limit(1)
        .scalar_subquery()
    )
    return sa.func.coalesce(latest, first, 0)


@dataclass
class Line:
    """Units of one reward at one unit cost (``adjusts_month``: an earlier month's late fulfilments)."""

    reward_id: int
    reward_name: str
    quantity: int
    unit_cost_fen: int
    adjusts_month: str | None = None

    @property
    def amount_fen(self) -> int:
        """Quantity × unit cost."""
        return self.quantity * self.unit_cost_fen

    @property
    def reward(self) -> dict:
        """The reward as a reference."""
        return {"id": self.reward_id, "name": self.reward_name}


@dataclass
class SettlementView:
    """A supermarket's month as the API, the console and the signed sheet show it."""

    supermarket: Supermarket
    month: str
    status: str
    lines: list[Line] = field(default_factory=list)
    confirmed_at: datetime | None = None
    confirmed_by: str | None = None
    #: Whether the month has ended (only then may it be confirmed).
    finished: bool = False

    @property
    def total_fen(self) -> int:
        """What the supermarket is owed for the month, in fen."""
        return sum(line.amount_fen for line in self.lines)


def month_of(moment: datetime) -> str:
    """The Asia/Shanghai month ("YYYY-MM") of a moment."""
    return shanghai_date(moment).strftime(MONTH_FORMAT)


def _parse(month: str) -> tuple[date, str]:
    """A month's first day and its canonical name ("2026-1" is "2026-01"), or 422."""
    first = parse_month(month)
    return first, first.strftime(MONTH_FORMAT)


def _month_before(first: date) -> date:
    return (first - timedelta(days=1)).replace(day=1)


def _unsettled(supermarket_id: int):
    """A condition on ``Voucher``: fulfilled at the supermarket and counted in no confirmed settlement."""
    return sa.and_(
        Voucher.supermarket_id == supermarket_id,
        Voucher.status == "fulfilled",
        ~sa.exists().where(SettledVoucher.voucher_id == Voucher.id),
    )


def _unsettled_items(supermarket_id: int, start: datetime, end: datetime) -> list:
    """(voucher id, fulfilled at, reward id, reward name, quantity, unit cost then) of every line of
    the unsettled vouchers fulfilled at a supermarket in [start, end), read in one statement."""
    return db.session.execute(
        sa.select(
            Voucher.id,
            Voucher.fulfilled_at,
            VoucherItem.reward_id,
            Reward.name,
            VoucherItem.quantity,
            cost_in_force(VoucherItem.reward_id, Voucher.fulfilled_at),
        )
        .join(VoucherItem, VoucherItem.voucher_id == Voucher.id)
        .join(Reward, Reward.id == VoucherItem.reward_id)
        .where(_unsettled(supermarket_id), Voucher.fulfilled_at >= start, Voucher.fulfilled_at < end)
        .order_by(Voucher.id, VoucherItem.id)
    ).all()


def _confirmed_months(supermarket_id: int) -> set[str]:
    return set(
        db.session.scalars(sa.select(Settlement.month).where(Settlement.supermarket_id == supermarket_id))
    )


def _window_start(first: date, confirmed: set[str]) -> date:
    """The first day of the run of confirmed months right before ``first`` (``first`` itself if
    the month before is not confirmed): late fulfilments of that run are adjustments of ``first``."""
    start = first
    while _month_before(start).strftime(MONTH_FORMAT) in confirmed:
        start = _month_before(start)
    return start


def _draft(supermarket_id: int, first: date, confirmed: set[str]) -> tuple[list[Line], set[int], datetime]:
    """A month's lines from its unsettled fulfilments and the late ones of the confirmed months
    right before it; answer them, the vouchers they count and where the adjustments start."""
    window = period_bounds("month", _window_start(first, confirmed))[0]
    start, end = period_bounds("month", first)
    lines: dict[tuple, Line] = {}
    vouchers = set()
    for voucher_id, fulfilled_at, reward_id, name, quantity, cost in _unsettled_items(
        supermarket_id, window, end
    ):
        adjusts = month_of(fulfilled_at) if fulfilled_at < start else None
        line = lines.setdefault(
            (adjusts or "", reward_id, cost), Line(reward_id, name, 0, int(cost), adjusts)
        )
        line.quantity += quantity
        vouchers.add(voucher_id)
    ordered = sorted(
        lines.values(),
        key=lambda line: (
            line.adjusts_month is not None,
            line.adjusts_month or "",
            line.reward_id,
            line.unit_cost_fen,
        ),
    )
    return ordered, vouchers, window


def _frozen(settlement: Settlement, supermarket: Supermarket) -> SettlementView:
    by = (
        db.session.scalar(sa.select(Member.name).where(Member.id == settlement.confirmed_by_id))
        if settlement.confirmed_by_id
        else None
    )
    return SettlementView(
        supermarket,
        settlement.month,
        "confirmed",
        [
            Line(line.reward_id, line.reward_name, line.quantity, line.unit_cost_fen, line.adjusts_month)
            for line in settlement.lines
        ],
        settlement.confirmed_at,
        by,
        finished=True,
    )


def _view(supermarket: Supermarket, month: str, now: datetime) -> SettlementView:
    """A month of a supermarket: frozen once confirmed, else its draft."""
    first, month = _parse(month)
    settlement = db.session.scalar(
        sa.select(Settlement).where(Settlement.supermarket_id == supermarket.id, Settlement.month == month)
    )
    if settlement is not None:
        return _frozen(settlement, supermarket)
    lines, _vouchers, _window = _draft(supermarket.id, first, _confirmed_months(supermarket.id))
    return SettlementView(
        supermarket, month, "draft", lines, finished=period_bounds("month", first)[1] <= now
    )


def read_settlement(
    actor: Member, supermarket_id: int, month: str, now: datetime | None = None
) -> SettlementView:
    """A supermarket's month: lines, total, status (its clerks, admins in scope)."""
    _parse(month)
    supermarket = get_supermarket(supermarket_id)
    require(actor, "settlement.read", supermarket)
    return _view(supermarket, month, now or utcnow())


def list_settlements(actor: Member, month: str, now: datetime | None = None) -> list[SettlementView]:
    """Every supermarket's month the actor may read, with its total and status."""
    _parse(month)
    now = now or utcnow()
    return [_view(shop, month, now) for shop in list_staffed_supermarkets(actor, "settlement.read")]


def _already_confirmed(month: str) -> AppError:
    return AppError(
        409, "invalid_state", _l("This month is already confirmed."), {"month": [f"{month} is confirmed"]}
    )


def confirm_settlement(
    actor: Member, supermarket_id: int, month: str, now: datetime | None = None
) -> SettlementView:
    """Freeze a finished month of a supermarket (admins in scope): its lines and total never change."""
    first, month = _parse(month)
    supermarket = get_supermarket(supermarket_id)
    require(actor, "settlement.confirm", supermarket)
    now = now or utcnow()
    if period_bounds("month", first)[1] > now:
        raise AppError(
            409,
            "invalid_state",
            _l("A month can be confirmed once it has ended."),
            {"month": [f"{month} has not ended"]},
        )
    begin_writing(db.session)
    confirmed = _confirmed_months(supermarket.id)
    if month in confirmed:
        raise _already_confirmed(month)
    lines, vouchers, window = _draft(supermarket.id, first, confirmed)
    earlier = db.session.scalar(
        sa.select(sa.func.min(Voucher.fulfilled_at)).where(
            _unsettled(supermarket.id), Voucher.fulfilled_at < window
        )
    )
    if earlier is not None:
        raise AppError(
            409,
            "invalid_state",
            _l("Confirm the earlier months first."),
            {"month": [f"{month_of(earlier)} is not confirmed yet"]},
        )
    settlement = Settlement(
        supermarket_id=supermarket.id,
        month=month,
        confirmed_at=now,
        confirmed_by_id=actor.id,
        total_fen=sum(line.amount_fen for line in lines),
        lines=[
            SettlementLine(
                reward_id=line.reward_id,
                reward_name=line.reward_name,
                quantity=line.quantity,
                unit_cost_fen=line.unit_cost_fen,
                amount_fen=line.amount_fen,
                adjusts_month=line.adjusts_month,
            )
            for line in lines
        ],
    )
    try:
        db.session.add(settlement)
        db.session.flush()
        if vouchers:
            db.session.execute(
                sa.insert(SettledVoucher),
                [
                    {"voucher_id": voucher_id, "settlement_id": settlement.id}
                    for voucher_id in sorted(vouchers)
                ],
            )
    except IntegrityError:  # confirmed at the same moment by someone else
        db.session.rollback()
        raise _already_confirmed(month) from None
    record_audit(
        actor,
        "settlement.confirm",
        settlement,
        after={
            "supermarket_id": supermarket.id,
            "month": month,
            "total_fen": settlement.total_fen,
            "vouchers": len(vouchers),
            "lines": len(lines),
        },
    )
    db.session.commit()
    return _frozen(settlement, supermarket)

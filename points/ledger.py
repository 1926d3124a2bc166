"""The double-entry ledger: award, reverse, hold, release, spend and opening balances; verify.

Every function here joins the caller's transaction and never commits: the outermost
service commits once. Callers start writing transactions with
``core.database.begin_writing`` (BEGIN IMMEDIATE on SQLite); the functions lock the
member's balance row (``FOR UPDATE`` on PostgreSQL) before reading it, in member-id
order when several are involved, so concurrent movements serialise per member and
never deadlock.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core.database import insert_rows, utcnow
from core.errors import AppError
from core.extensions import db
from points.models import LedgerPosting, LedgerTransaction, MemberBalance

Leg = tuple[str, int | None, int]
LOCKED = "locked_member_balances"  # session.info key: balance rows locked in this transaction  # (account, member id or None for a system account, amount)


def _insert_missing_balances(member_ids: list[int]) -> None:
    """Create the balance rows that do not exist yet, racing safely with other transactions."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    db.session.execute(
        insert(MemberBalance).values([{"member_id": member_id, "available": 0, "held": 0,
                                       "lifetime_earned": 0} for member_id in member_ids])
        .on_conflict_do_nothing(index_elements=["member_id"]))


def lock_balances(*member_ids: int) -> dict[int, MemberBalance]:
    """Lock (creating if needed) the balance rows of members, in id order; answer them by id.

    Rows already locked in this transaction are not locked again.
    """
    session = db.session()
    if session.get_bind().dialect.name == "sqlite" and not session.connection().info.get("immediate"):
        raise RuntimeError("ledger writes need begin_writing(db.session) first")
    locked = session.info.setdefault(LOCKED, {})
    missing = sorted(set(member_ids) - set(locked))
    if missing:
        _insert_missing_balances(missing)
        locked.update((row.member_id, row) for row in session.scalars(
            sa.select(MemberBalance).where(MemberBalance.member_id.in_(missing))
            .order_by(MemberBalance.member_id).with_for_update()
            .execution_options(populate_existing=True)))
    return {member_id: locked[member_id] for member_id in member_ids}


@sa.event.listens_for(Session, "after_transaction_end")
def _forget_locks(session, transaction):
    """Locks end with the database transaction; so does the memory of them."""
    if transaction.parent is None:
        session.info.pop(LOCKED, None)


def balance_of(member_id: int) -> MemberBalance:
    """Read a member's balances without locking (zeros for a member with no movement yet)."""
    row = db.session.get(MemberBalance, member_id)
    return row or MemberBalance(member_id=member_id, available=0, held=0, lifetime_earned=0)


def _post(kind: str, member_id: int, legs: Iterable[Leg], *, occurred_at: datetime | None = None,
          lifetime_change: int = 0, **fields) -> LedgerTransaction:
    """Write one balanced transaction and update the member's cached balances with it."""
    legs = [leg for leg in legs if leg[2] != 0]
    if sum(amount for _account, _member, amount in legs) != 0:
        raise ValueError(f"unbalanced {kind}: {legs}")
    balance = lock_balances(member_id)[member_id]
    change = {"available": 0, "held": 0}
    for account, leg_member, amount in legs:
        if account in change:
            if leg_member != member_id:
                raise ValueError(f"{kind} must move one member's points, not {leg_member}'s")
            change[account] += amount
    if balance.available + change["available"] < 0 or balance.held + change["held"] < 0:
        raise AppError(409, "insufficient_points", _l("Not enough points."),
                       {"points": [f"available {balance.available}, needed {-change['available']}"]})
    balance.available += change["available"]
    balance.held += change["held"]
    balance.lifetime_earned += lifetime_change
    now = utcnow()
    transaction = LedgerTransaction(
        kind=kind, member_id=member_id, available_change=change["available"],
        available_after=balance.available, held_after=balance.held,
        occurred_at=occurred_at or now, created_at=now, **fields)
    transaction.postings = [LedgerPosting(account=account, member_id=leg_member, amount=amount)
                            for account, leg_member, amount in legs]
    db.session.add(transaction)
    db.session.flush()
    # Counters and badges move in the posting's own transaction (imported here: it imports us).
    from points.gamification import note_posting

    note_posting(transaction)
    return transaction


def _positive(points: int) -> int:
    if not isinstance(points, int) or points <= 0:
        raise ValueError(f"points must be a positive integer, not {points!r}")
    return points


def award(member_id: int, points: int, *, occurred_at: datetime, actor_id: int | None,
          contribution_id: int | None = None, activity_id: int | None = None,
          memo: str | None = None, reference: str | None = None) -> LedgerTransaction:
    """Issue earned points to a member's available balance (raises lifetime earned)."""
    points = _positive(points)
    transaction = _post("award", member_id, [("issued", None, -points), ("available", member_id, points)],
                        occurred_at=occurred_at, lifetime_change=points, actor_id=actor_id,
                        contribution_id=contribution_id, activity_id=activity_id, memo=memo,
                        reference=reference)
    _count_on_leaderboards(transaction, points)
    return transaction


def _count_on_leaderboards(transaction: LedgerTransaction, points: int) -> None:
    """Move the member's leaderboard totals in the same transaction (negative for a reversal)."""
    from points.leaderboards import record_earning

    record_earning(transaction, points)


def reverse_award(original: LedgerTransaction, *, actor_id: int | None, reason: str,
                  force: bool = False) -> LedgerTransaction:
    """Take an award back; forced, take what is available and write off the rest."""
    if original.kind != "award":
        raise ValueError("only awards are reversed")
    points = original.available_change
    balance = lock_balances(original.member_id)[original.member_id]
    already = db.session.scalar(sa.select(LedgerTransaction.id)
                                .where(LedgerTransaction.reverses_id == original.id))
    if already is not None:
        raise AppError(409, "invalid_state", _l("This award has already been reversed."))
    taken = min(points, balance.available) if force else points
    legs = [("available", original.member_id, -taken), ("issued", None, points),
            ("written_off", None, -(points - taken))]
    transaction = _post("reversal", original.member_id, legs, occurred_at=original.occurred_at,
                        lifetime_change=-points, actor_id=actor_id, reverses_id=original.id,
                        contribution_id=original.contribution_id, activity_id=original.activity_id,
                        memo=reason)
    _count_on_leaderboards(transaction, -points)
    return transaction


def hold(member_id: int, points: int, *, reference: str, actor_id: int | None,
         memo: str | None = None) -> LedgerTransaction:
    """Move points from available to held (a voucher reserves them)."""
    points = _positive(points)
    return _post("hold", member_id, [("available", member_id, -points), ("held", member_id, points)],
                 reference=reference, actor_id=actor_id, memo=memo)


def release(member_id: int, points: int, *, reference: str, actor_id: int | None,
            memo: str | None = None) -> LedgerTransaction:
    """Move held points back to available (a voucher cancelled or expired)."""
    points = _positive(points)
    return _post("release", member_id, [("held", member_id, -points), ("available", member_id, points)],
                 reference=reference, actor_id=actor_id, memo=memo)


def spend(member_id: int, points: int, *, reference: str, actor_id: int | None,
          memo: str | None = None) -> LedgerTransaction:
    """Spend held points (a voucher fulfilled at the counter)."""
    points = _positive(points)
    return _post("spend", member_id, [("held", member_id, -points), ("redeemed", None, points)],
                 reference=reference, actor_id=actor_id, memo=memo)


def open_balance(member_id: int, points: int, *, actor_id: int | None,
                 memo: str | None = None) -> LedgerTransaction:
    """Carry a balance over from the paper books (counts in no lifetime total or board)."""
    points = _positive(points)
    return _post("opening", member_id, [("opening", None, -points), ("available", member_id, points)],
                 actor_id=actor_id, memo=memo)


def open_new_balances(points_by_member: dict[int, int], *, actor_id: int | None,
                      memo: str | None = None) -> int:
    """Carry balances over for members who have none yet, all at once; answer the transactions made.

    The bulk form of ``open_balance`` for a roll imported at once: the same transactions and
    postings, the rows inserted together (``insert_rows``) and each posting pair copied from
    its transaction by one INSERT … SELECT. The balance rows are created here, so a member who
    already has one is refused by the database and the caller's transaction fails whole.
    """
    entries = [(member_id, _positive(points)) for member_id, points in points_by_member.items() if points]
    if not entries:
        return 0
    now = utcnow()
    transactions = LedgerTransaction.__table__
    insert_rows(db.session, MemberBalance.__table__, [
        {"member_id": member_id, "available": points, "held": 0, "lifetime_earned": 0} for member_id, points in entries])
    insert_rows(db.session, transactions, [
        {"kind": "opening", "member_id": member_id, "available_change": points, "available_after": points,
         "held_after": 0, "occurred_at": now, "created_at": now, "actor_id": actor_id, "memo": memo}
        for member_id, points in entries])
    # Their balance rows were just created, so these members have no other transaction yet.
    opened = transactions.c.member_id.in_(sa.bindparam(  # ids as literals: no placeholders to parse
        "ids", [member_id for member_id, _points in entries], expanding=True, literal_execute=True))
    for account, member, amount in (("available", transactions.c.member_id, transactions.c.available_change),
                                    ("opening", sa.null(), -transactions.c.available_change)):
        db.session.execute(LedgerPosting.__table__.insert().from_select(
            ["transaction_id", "account", "member_id", "amount"],
            sa.select(transactions.c.id, sa.literal(account), member, amount).where(opened)))
    return len(entries)


def ledger_page(member_id: int, page: int, page_size: int, available_only: bool = False) -> dict:
    """List a member's ledger entries, newest first, each with the balance after it (with
    ``available_only``, leave out those that did not move it: a held voucher's spend)."""
    from core.api import paginate

    statement = (sa.select(LedgerTransaction).where(LedgerTransaction.member_id == member_id)
                 .order_by(LedgerTransaction.id.desc()))
    if available_only:
        statement = statement.where(LedgerTransaction.available_change != 0)
    return paginate(statement, page, page_size)


def verify_ledger() -> list[str]:
    """Check the whole ledger; answer one line per problem (none: all is well)."""
    problems = []
    unbalanced = db.session.execute(
        sa.select(LedgerPosting.transaction_id, sa.func.sum(LedgerPosting.amount))
        .group_by(LedgerPosting.transaction_id).having(sa.func.sum(LedgerPosting.amount) != 0))
    problems += [f"transaction {tid} postings sum to {total}, not 0" for tid, total in unbalanced]
    empty = db.session.scalars(
        sa.select(LedgerTransaction.id).where(~sa.exists().where(
            LedgerPosting.transaction_id == LedgerTransaction.id)))
    problems += [f"transaction {tid} has no postings" for tid in empty]

    sums = {}
    for member_id, account, total in db.session.execute(
            sa.select(LedgerPosting.member_id, LedgerPosting.account, sa.func.sum(LedgerPosting.amount))
            .where(LedgerPosting.member_id.is_not(None))
            .group_by(LedgerPosting.member_id, LedgerPosting.account)):
        sums.setdefault(member_id, {})[account] = int(total)
    earned = dict(db.session.execute(
        sa.select(LedgerTransaction.member_id, -sa.func.sum(LedgerPosting.amount))
        .join(LedgerPosting, LedgerPosting.transaction_id == LedgerTransaction.id)
        .where(LedgerPosting.account == "issued").group_by(LedgerTransaction.member_id)).all())
    balances = {row.member_id: row for row in db.session.scalars(sa.select(MemberBalance))}
    for member_id in sorted(set(sums) | set(balances)):
        row = balances.get(member_id)
        cached = (row.available, row.held, row.lifetime_earned) if row else (0, 0, 0)
        derived = (sums.get(member_id, {}).get("available", 0), sums.get(member_id, {}).get("held", 0),
                   int(earned.get(member_id) or 0))
        for name, have, want in zip(("available", "held", "lifetime_earned"), cached, derived):
            if have != want:
                problems.append(f"member {member_id} {name} is {have}, postings say {want}")
        if min(derived[:2]) < 0:
            problems.append(f"member {member_id} has a negative balance: {derived[:2]}")
    return problems

"""The double-entry ledger: award, reverse, hold, release, spend and opening balances; verify.

Every function here joins the caller's transaction and never commits: the outermost
service commits once. Callers start writing with ``core.database.begin_writing`` (BEGIN
IMMEDIATE on SQLite). A posting moves the member's cached balances in one statement that
also locks the row (an upsert for credits; a guarded UPDATE for debits, which refuses to go
below zero); callers that must read under the member's lock first take ``lock_balances``
(``FOR UPDATE`` on PostgreSQL), in member-id order when several are involved, so concurrent
movements serialise per member and never deadlock.

Each transaction posted is published, in the same database transaction, as one ``Posted``
event to the subscribers the application registered with ``register_subscriber`` (see
``register_hooks`` in app.py: budgets, leaderboard totals, then badges and stars). The ledger
knows none of them. A subscriber may refuse a posting by raising ``AppError`` (a budget used
up): the caller's transaction then fails whole, and nothing of it is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

import sqlalchemy as sa
from flask import Flask, current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm.attributes import set_committed_value

from core.database import insert_missing, insert_rows, utcnow
from core.errors import AppError
from core.extensions import db
from core.identity.models import Member
from points.models import Account, LedgerPosting, LedgerTransaction, MemberBalance, TransactionKind

Leg = tuple[Account, int | None, int]  # (account, member id or None for a system account, amount)
SUBSCRIBERS = "ledger_subscribers"  # app.extensions key: the functions each posting goes to


@dataclass(frozen=True, slots=True)
class Posted:
    """One ledger transaction as its subscribers read it, published once, inside its transaction."""

    transaction_id: int
    kind: str
    member_id: int
    occurred_at: datetime
    created_at: datetime
    #: Points issued (+, an award) or taken back (−, its reversal); 0 for other kinds.
    earned: int
    activity_id: int | None = None
    contribution_id: int | None = None
    reference: str | None = None
    #: The member's lifetime earned points after it.
    lifetime_earned: int | None = None
    #: The member's org unit when the points were earned (awards and reversals; None otherwise).
    org_unit_id: int | None = None


Subscriber = Callable[[Posted], None]


def register_subscriber(app: Flask, subscriber: Subscriber) -> None:
    """Have ``subscriber`` called with every transaction the ledger posts, in that transaction."""
    app.extensions.setdefault(SUBSCRIBERS, []).append(subscriber)


def _publish(posted: Posted) -> None:
    """Hand a posting to every subscriber; refuse to post in an app that registered none."""
    subscribers = current_app.extensions.get(SUBSCRIBERS)
    if not subscribers:
        raise RuntimeError("no ledger subscribers: build the app with create_app(), which registers them")
    for subscriber in subscribers:
        subscriber(posted)


#: A member's balances after a credit (nothing below zero): one statement that creates, locks and moves.
_CREDIT = sa.text("""
    INSERT INTO member_balance (member_id, available, held, lifetime_earned)
    VALUES (:member_id, :available, :held, :lifetime)
    ON CONFLICT (member_id) DO UPDATE SET available = member_balance.available + excluded.available,
        held = member_balance.held + excluded.held,
        lifetime_earned = member_balance.lifetime_earned + excluded.lifetime_earned
    RETURNING available, held, lifetime_earned""")
#: A member's balances after a debit, only if nothing goes below zero (no row answered: refused).
_DEBIT = sa.text("""
    UPDATE member_balance SET available = available + :available, held = held + :held,
        lifetime_earned = lifetime_earned + :lifetime
    WHERE member_id = :member_id AND available + :available >= 0 AND held + :held >= 0
    RETURNING available, held, lifetime_earned""")

#: Zero balance rows for members who have none yet (a row another transaction just made is left alone).
_CREATE = insert_missing(
    MemberBalance.__table__, ("member_id", "available", "held", "lifetime_earned"), ("member_id",)
)
#: Members' balance rows, locked in member-id order (the order every caller locks them in).
_LOCK = (
    sa.select(MemberBalance)
    .where(MemberBalance.member_id.in_(sa.bindparam("ids", expanding=True)))
    .order_by(MemberBalance.member_id)
    .with_for_update()
    .execution_options(populate_existing=True)
)


def _require_writer() -> None:
    """On SQLite, refuse ledger writes outside a writer's transaction (``begin_writing``)."""
    session = db.session()
    if session.get_bind().dialect.name == "sqlite" and not session.connection().info.get("immediate"):
        raise RuntimeError("ledger writes need begin_writing(db.session) first")


def lock_balances(*member_ids: int) -> dict[int, MemberBalance]:
    """Lock (creating if needed) the balance rows of members, in id order; answer them by id."""
    _require_writer()
    ids = sorted(set(member_ids))
    rows = {row.member_id: row for row in db.session.scalars(_LOCK, {"ids": ids})}
    missing = [member_id for member_id in ids if member_id not in rows]
    if missing:  # members with no movement yet: create their rows, racing safely with others
        db.session.execute(
            _CREATE,
            [
                {"member_id": member_id, "available": 0, "held": 0, "lifetime_earned": 0}
                for member_id in missing
            ],
        )
        rows.update((row.member_id, row) for row in db.session.scalars(_LOCK, {"ids": missing}))
    return {member_id: rows[member_id] for member_id in member_ids}


def balance_of(member_id: int) -> MemberBalance:
    """Read a member's balances without locking (zeros for a member with no movement yet)."""
    row = db.session.get(MemberBalance, member_id)
    return row or MemberBalance(member_id=member_id, available=0, held=0, lifetime_earned=0)


def insufficient_points(available: int, needed: int) -> AppError:
    """The refusal of a movement that would take more points than are available."""
    return AppError(
        409,
        "insufficient_points",
        _l("Not enough points."),
        {"points": [f"available {available}, needed {needed}"]},
    )


def _move_balance(member_id: int, available: int, held: int, lifetime: int) -> tuple[int, int, int]:
    """Move a member's cached balances in one statement; answer (available, held, lifetime earned).

    Refuses with ``insufficient_points`` when available or held would fall below zero. A balance
    row this session already holds is brought up to date, so later reads see the new figures.
    """
    statement = _DEBIT if min(available, held, lifetime) < 0 else _CREDIT
    after = db.session.execute(
        statement, {"member_id": member_id, "available": available, "held": held, "lifetime": lifetime}
    ).first()
    if after is None:
        raise insufficient_points(balance_of(member_id).available, -available)
    loaded = db.session.identity_map.get(
        sa.inspect(MemberBalance).identity_key_from_primary_key((member_id,))
    )
    if loaded is not None:
        for name, value in zip(("available", "held", "lifetime_earned"), after):
            set_committed_value(loaded, name, value)
    return tuple(after)


def _post(
    kind: TransactionKind,
    member_id: int,
    legs: Iterable[Leg],
    *,
    occurred_at: datetime | None = None,
    **fields,
) -> LedgerTransaction:
    """Write one balanced transaction, move the member's cached balances and publish it.

    The member's lifetime earned moves with the ``issued`` account (an award raises it, its
    reversal lowers it), as ``Posted.earned`` says.
    """
    legs = [leg for leg in legs if leg[2] != 0]
    if sum(amount for _account, _member, amount in legs) != 0:
        raise ValueError(f"unbalanced {kind}: {legs}")
    change = {Account.AVAILABLE: 0, Account.HELD: 0}
    for account, leg_member, amount in legs:
        if account in change:
            if leg_member != member_id:
                raise ValueError(f"{kind} must move one member's points, not {leg_member}'s")
            change[account] += amount
    earned = -sum(amount for account, _member, amount in legs if account == Account.ISSUED)
    _require_writer()
    available, held, lifetime = _move_balance(
        member_id, change[Account.AVAILABLE], change[Account.HELD], earned
    )
    now = utcnow()
    transaction = LedgerTransaction(
        kind=kind,
        member_id=member_id,
        available_change=change[Account.AVAILABLE],
        available_after=available,
        held_after=held,
        occurred_at=occurred_at or now,
        created_at=now,
        **fields,
    )
    db.session.add(transaction)
    db.session.flush()
    db.session.execute(
        sa.insert(LedgerPosting.__table__),
        [  # one executemany
            {
                "transaction_id": transaction.id,
                "created_at": now,
                "account": account,
                "member_id": leg_member,
                "amount": amount,
            }
            for account, leg_member, amount in legs
        ],
    )
    _publish(
        Posted(
            transaction_id=transaction.id,
            kind=kind,
            member_id=member_id,
            occurred_at=transaction.occurred_at,
            created_at=now,
            earned=earned,
            activity_id=transaction.activity_id,
            contribution_id=transaction.contribution_id,
            reference=transaction.reference,
            lifetime_earned=lifetime,
            org_unit_id=transaction.org_unit_id,
        )
    )
    return transaction


@dataclass(frozen=True, slots=True)
class Move:
    """A kind of transaction that moves points from one account to another, both legs at once."""

    kind: TransactionKind
    source: Account
    target: Account


#: The accounts a member owns (the others are the system's, posted with no member).
MEMBER_ACCOUNTS = frozenset({Account.AVAILABLE, Account.HELD})

#: Earned points issued to a member (raises lifetime earned).
AWARD = Move(TransactionKind.AWARD, Account.ISSUED, Account.AVAILABLE)
#: A voucher reserves points.
HOLD = Move(TransactionKind.HOLD, Account.AVAILABLE, Account.HELD)
#: A voucher cancelled or expired gives its points back.
RELEASE = Move(TransactionKind.RELEASE, Account.HELD, Account.AVAILABLE)
#: A voucher fulfilled at the counter spends its held points.
SPEND = Move(TransactionKind.SPEND, Account.HELD, Account.REDEEMED)
#: A counter sale spends available points at once (reserve and fulfil in one).
SPEND_AVAILABLE = Move(TransactionKind.SPEND, Account.AVAILABLE, Account.REDEEMED)
#: Available points lapse (lifetime earned and boards keep them).
EXPIRE = Move(TransactionKind.EXPIRY, Account.AVAILABLE, Account.EXPIRED)


def _positive(points: int) -> int:
    if not isinstance(points, int) or points <= 0:
        raise ValueError(f"points must be a positive integer, not {points!r}")
    return points


def post_move(
    move: Move, member_id: int, points: int, *, actor_id: int | None, **fields
) -> LedgerTransaction:
    """Post ``points`` (a positive whole number) moved for a member from ``move.source`` to
    ``move.target``; never below zero. ``fields`` are the transaction's (``reference``, ``memo``,
    ``occurred_at``…)."""
    points = _positive(points)
    legs = [
        (account, member_id if account in MEMBER_ACCOUNTS else None, amount)
        for account, amount in ((move.source, -points), (move.target, points))
    ]
    return _post(move.kind, member_id, legs, actor_id=actor_id, **fields)


#: The voucher's and the counter's moves, by the names their callers post them with:
#: ``hold(member_id, points, reference=…, actor_id=…, memo=…)``.
hold = partial(post_move, HOLD)
release = partial(post_move, RELEASE)
spend = partial(post_move, SPEND)
spend_available = partial(post_move, SPEND_AVAILABLE)
#: ``expire(member_id, points, memo=…, occurred_at=…)``: nobody's act.
expire = partial(post_move, EXPIRE, actor_id=None)

#: ``award``'s default org unit: the member's own, read when the caller has not got it at hand.
MEMBERS_UNIT = object()


def award(
    member_id: int,
    points: int,
    *,
    occurred_at: datetime,
    actor_id: int | None,
    org_unit_id=MEMBERS_UNIT,
    **fields,
) -> LedgerTransaction:
    """Issue earned points to a member's available balance (raises lifetime earned), counted in the
    member's org unit (``org_unit_id``: the member's grid, read here unless the caller gives it).
    ``fields``: the award's ``contribution_id``, ``activity_id``, ``memo``, ``reference``."""
    if org_unit_id is MEMBERS_UNIT:
        org_unit_id = db.session.scalar(sa.select(Member.org_unit_id).where(Member.id == member_id))
    return post_move(
        AWARD,
        member_id,
        points,
        occurred_at=occurred_at,
        actor_id=actor_id,
        org_unit_id=org_unit_id,
        **fields,
    )


def reverse_award(
    original: LedgerTransaction, *, actor_id: int | None, reason: str, force: bool = False
) -> LedgerTransaction:
    """Take an award back; forced, take what is available and write off the rest."""
    if original.kind != TransactionKind.AWARD:
        raise ValueError("only awards are reversed")
    points = original.available_change
    balance = lock_balances(original.member_id)[original.member_id]
    already = db.session.scalar(
        sa.select(LedgerTransaction.id).where(LedgerTransaction.reverses_id == original.id)
    )
    if already is not None:
        raise AppError(409, "invalid_state", _l("This award has already been reversed."))
    taken = min(points, balance.available) if force else points
    legs = [
        (Account.AVAILABLE, original.member_id, -taken),
        (Account.ISSUED, None, points),
        (Account.WRITTEN_OFF, None, -(points - taken)),
    ]
    return _post(
        TransactionKind.REVERSAL,
        original.member_id,
        legs,
        occurred_at=original.occurred_at,
        actor_id=actor_id,
        reverses_id=original.id,
        contribution_id=original.contribution_id,
        activity_id=original.activity_id,
        memo=reason,
        org_unit_id=original.org_unit_id,
    )


def open_new_balances(
    points_by_member: dict[int, int], *, actor_id: int | None, memo: str | None = None
) -> int:
    """Carry balances over from the paper books for members who have none yet, all at once (they
    count in no lifetime total or board); answer the transactions made.

    For a roll imported at once: one ``opening`` transaction per member (``opening`` → ``available``),
    the rows inserted together (``insert_rows``) and each posting pair copied from its transaction
    by one INSERT … SELECT. The balance rows are created here, so a member who
    already has one is refused by the database and the caller's transaction fails whole.
    """
    entries = [(member_id, _positive(points)) for member_id, points in points_by_member.items() if points]
    if not entries:
        return 0
    now = utcnow()
    transactions = LedgerTransaction.__table__
    insert_rows(
        db.session,
        MemberBalance.__table__,
        [
            {"member_id": member_id, "available": points, "held": 0, "lifetime_earned": 0}
            for member_id, points in entries
        ],
    )
    insert_rows(
        db.session,
        transactions,
        [
            {
                "kind": TransactionKind.OPENING,
                "member_id": member_id,
                "available_change": points,
                "available_after": points,
                "held_after": 0,
                "occurred_at": now,
                "created_at": now,
                "actor_id": actor_id,
                "memo": memo,
            }
            for member_id, points in entries
        ],
    )
    # Their balance rows were just created, so these members have no other transaction yet.
    opened = transactions.c.member_id.in_(
        sa.bindparam(  # ids as literals: no placeholders to parse
            "ids", [member_id for member_id, _points in entries], expanding=True, literal_execute=True
        )
    )
    for account, member, amount in (
        (Account.AVAILABLE, transactions.c.member_id, transactions.c.available_change),
        (Account.OPENING, sa.null(), -transactions.c.available_change),
    ):
        db.session.execute(
            LedgerPosting.__table__.insert().from_select(
                ["transaction_id", "created_at", "account", "member_id", "amount"],
                sa.select(
                    transactions.c.id,
                    transactions.c.created_at,
                    sa.literal(account, sa.String),
                    member,
                    amount,
                ).where(opened),
            )
        )
    return len(entries)


#: The kinds that earn points (an award) or take earned points back (its reversal).
EARNING_KINDS = (TransactionKind.AWARD, TransactionKind.REVERSAL)


def earned_points(start: datetime | None = None, end: datetime | None = None) -> sa.Subquery:
    """Points earned: the one definition every figure reads (boards and their rebuild, the dashboard,
    the monthly report). One row per award (+ its points) and reversal (− the points it takes back,
    a forced one included), i.e. the movement of the ``issued`` account, as ``Posted.earned``;
    counted at the transaction's ``occurred_at``, from ``start`` to before ``end`` when given.
    Opening balances, holds and spends earn nothing. Columns: ``transaction_id``, ``kind``,
    ``member_id``, ``org_unit_id`` (the member's grid when earned), ``occurred_at``, ``created_at``,
    ``activity_id``, ``reference``, ``points``.
    """
    conditions = [LedgerTransaction.kind.in_(EARNING_KINDS)]
    if start is not None:
        conditions.append(LedgerTransaction.occurred_at >= start)
    if end is not None:
        conditions.append(LedgerTransaction.occurred_at < end)
    return (
        sa.select(
            LedgerTransaction.id.label("transaction_id"),
            LedgerTransaction.kind,
            LedgerTransaction.member_id,
            LedgerTransaction.org_unit_id,
            LedgerTransaction.occurred_at,
            LedgerTransaction.created_at,
            LedgerTransaction.activity_id,
            LedgerTransaction.reference,
            (-LedgerPosting.amount).label("points"),
        )
        .join(
            LedgerPosting,
            sa.and_(
                LedgerPosting.transaction_id == LedgerTransaction.id, LedgerPosting.account == Account.ISSUED
            ),
        )
        .where(*conditions)
        .subquery("earned")
    )


def ledger_page(member_id: int, page: int, page_size: int, available_only: bool = False) -> dict:
    """List a member's ledger entries, newest first, each with the balance after it (with
    ``available_only``, leave out those that did not move it: a held voucher's spend)."""
    from core.api import paginate

    statement = (
        sa.select(LedgerTransaction)
        .where(LedgerTransaction.member_id == member_id)
        .order_by(LedgerTransaction.id.desc())
    )
    if available_only:
        statement = statement.where(LedgerTransaction.available_change != 0)
    return paginate(statement, page, page_size)


def verify_ledger() -> list[str]:
    """Check the whole ledger; answer one line per problem (none: all is well)."""
    problems = []
    unbalanced = db.session.execute(
        sa.select(LedgerPosting.transaction_id, sa.func.sum(LedgerPosting.amount))
        .group_by(LedgerPosting.transaction_id)
        .having(sa.func.sum(LedgerPosting.amount) != 0)
    )
    problems += [f"transaction {tid} postings sum to {total}, not 0" for tid, total in unbalanced]
    empty = db.session.scalars(
        sa.select(LedgerTransaction.id).where(
            ~sa.exists().where(LedgerPosting.transaction_id == LedgerTransaction.id)
        )
    )
    problems += [f"transaction {tid} has no postings" for tid in empty]
    stray = db.session.scalars(  # no foreign key joins a posting to its transaction (see LedgerPosting)
        sa.select(LedgerPosting.id).where(
            ~sa.exists().where(
                LedgerTransaction.id == LedgerPosting.transaction_id,
                LedgerTransaction.created_at == LedgerPosting.created_at,
            )
        )
    )
    problems += [f"posting {pid} belongs to no transaction" for pid in stray]

    sums = {}
    for member_id, account, total in db.session.execute(
        sa.select(LedgerPosting.member_id, LedgerPosting.account, sa.func.sum(LedgerPosting.amount))
        .where(LedgerPosting.member_id.is_not(None))
        .group_by(LedgerPosting.member_id, LedgerPosting.account)
    ):
        sums.setdefault(member_id, {})[account] = int(total)
    earned = dict(
        db.session.execute(
            sa.select(LedgerTransaction.member_id, -sa.func.sum(LedgerPosting.amount))
            .join(LedgerPosting, LedgerPosting.transaction_id == LedgerTransaction.id)
            .where(LedgerPosting.account == Account.ISSUED)
            .group_by(LedgerTransaction.member_id)
        ).all()
    )
    balances = {row.member_id: row for row in db.session.scalars(sa.select(MemberBalance))}
    for member_id in sorted(set(sums) | set(balances)):
        row = balances.get(member_id)
        cached = (row.available, row.held, row.lifetime_earned) if row else (0, 0, 0)
        derived = (
            sums.get(member_id, {}).get(Account.AVAILABLE, 0),
            sums.get(member_id, {}).get(Account.HELD, 0),
            int(earned.get(member_id) or 0),
        )
        for name, have, want in zip(("available", "held", "lifetime_earned"), cached, derived):
            if have != want:
                problems.append(f"member {member_id} {name} is {have}, postings say {want}")
        if min(derived[:2]) < 0:
            problems.append(f"member {member_id} has a negative balance: {derived[:2]}")
    return problems

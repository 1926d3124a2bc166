"""The ledger by month on PostgreSQL: each transaction and its postings land in their month's
partition, ``flask ledger partitions`` creates months ahead, a month created late takes its rows
out of the default partition (which refused nothing meanwhile), and the migration converts an
existing ledger in place and back. SQLite keeps plain tables."""

from __future__ import annotations

from datetime import UTC, date, datetime

import flask_migrate
import pytest
import sqlalchemy as sa

from core.clock import shanghai_today
from core.database import begin_writing
from core.extensions import db
from points import ledger, partitions
from points.models import LedgerPosting, LedgerTransaction
from tests.conftest import dispose, make_app
from tests.factories import make_member


def award_at(monkeypatch, member_id: int, points: int, moment: datetime) -> LedgerTransaction:
    """Post an award as if the clock said ``moment`` (its ``created_at``: the partition key)."""
    monkeypatch.setattr(ledger, "utcnow", lambda: moment)
    begin_writing(db.session)
    transaction = ledger.award(member_id, points, occurred_at=moment, actor_id=None)
    db.session.commit()
    monkeypatch.undo()
    return transaction


def partitions_holding(transaction_id: int) -> set[str]:
    """The partitions that hold a transaction and its postings."""
    return set(
        db.session.scalars(
            sa.text(
                "SELECT tableoid::regclass::text FROM ledger_transaction WHERE id = :id UNION "
                "SELECT tableoid::regclass::text FROM ledger_posting WHERE transaction_id = :id"
            ),
            {"id": transaction_id},
        )
    )


def test_a_transaction_and_its_postings_land_in_the_partition_of_their_shanghai_month(
    postgres_app, monkeypatch
):
    with postgres_app.app_context():
        member = make_member().id
        partitions.ensure_months(db.session.connection(), [date(2026, 11, 1), date(2026, 12, 1)])
        db.session.commit()
        late_november = award_at(monkeypatch, member, 5, datetime(2026, 11, 30, 15, 59, tzinfo=UTC))
        # 16:00 UTC on 30 November is midnight on 1 December in Shanghai.
        first_of_december = award_at(monkeypatch, member, 7, datetime(2026, 11, 30, 16, 0, tzinfo=UTC))

        assert partitions_holding(late_november.id) == {
            "ledger_partitions.ledger_transaction_2026_11",
            "ledger_partitions.ledger_posting_2026_11",
        }
        assert partitions_holding(first_of_december.id) == {
            "ledger_partitions.ledger_transaction_2026_12",
            "ledger_partitions.ledger_posting_2026_12",
        }
        assert ledger.verify_ledger() == []


def test_the_command_creates_months_ahead_once(postgres_app):
    runner = postgres_app.test_cli_runner()
    result = runner.invoke(args=["ledger", "partitions", "--ahead", "5"])
    assert result.exit_code == 0, result.output

    this_month = partitions.first_of_month(shanghai_today())
    wanted = partitions.months_between(
        this_month, date(this_month.year + (this_month.month + 4) // 12, (this_month.month + 4) % 12 + 1, 1)
    )
    with postgres_app.app_context():
        assert set(wanted) <= partitions.existing_months(db.session.connection())
    again = runner.invoke(args=["ledger", "partitions", "--ahead", "5"])
    assert "created none needed; 0 transactions in the default partition" in again.output


def test_a_month_nobody_created_is_refused_nothing_and_gets_its_rows_when_created(postgres_app, monkeypatch):
    with postgres_app.app_context():
        member = make_member().id
        far = award_at(monkeypatch, member, 9, datetime(2031, 3, 10, 8, 0, tzinfo=UTC))
        assert partitions_holding(far.id) == {
            "ledger_partitions.ledger_transaction_default",
            "ledger_partitions.ledger_posting_default",
        }
        assert partitions.default_rows(db.session.connection()) == 1

        created = partitions.ensure_months(db.session.connection(), [date(2031, 3, 1)])
        db.session.commit()

        assert created == [date(2031, 3, 1)]
        assert partitions_holding(far.id) == {
            "ledger_partitions.ledger_transaction_2031_03",
            "ledger_partitions.ledger_posting_2031_03",
        }
        assert partitions.default_rows(db.session.connection()) == 0
        assert ledger.verify_ledger() == []
        # The month's own partitions keep refusing a posting without its transaction.
        with pytest.raises(sa.exc.IntegrityError):
            db.session.execute(
                sa.insert(LedgerPosting).values(
                    transaction_id=far.id + 1000, created_at=far.created_at, account="issued", amount=1
                )
            )
        db.session.rollback()


def test_sqlite_keeps_plain_tables(app, runner):
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            assert partitions.is_partitioned(db.session.connection())
            return
        assert not partitions.is_partitioned(db.session.connection())
    result = runner.invoke(args=["ledger", "partitions"])
    assert result.exit_code == 0
    assert "nothing to do" in result.output


# --- converting a database that already has a ledger ---------------------------------------------

MOMENTS = {1: "2026-10-15 02:00:00+00:00", 2: "2026-11-20 02:00:00+00:00", 3: "2026-12-02 02:00:00+00:00"}


def fill_the_old_schema(connection: sa.Connection) -> None:
    """A member with an award in October, one in November and the October one reversed in December,
    with a daily check-in on the November one, written as revision 0010 had them."""
    connection.execute(
        sa.text(
            "INSERT INTO member (id, name, phone, status, hidden, anonymous, session_version, created_at) "
            "VALUES (1, '张三', '13900000001', 'active', false, false, 1, :at)"
        ),
        {"at": MOMENTS[1]},
    )
    connection.execute(
        sa.text(
            "INSERT INTO ledger_transaction (id, kind, member_id, available_change, available_after, held_after, "
            "occurred_at, created_at, reverses_id) VALUES "
            "(1, 'award', 1, 10, 10, 0, :one, :one, NULL), (2, 'award', 1, 5, 15, 0, :two, :two, NULL), "
            "(3, 'reversal', 1, -10, 5, 0, :one, :three, 1)"
        ),
        {"one": MOMENTS[1], "two": MOMENTS[2], "three": MOMENTS[3]},
    )
    connection.execute(
        sa.text(
            "INSERT INTO ledger_posting (id, transaction_id, member_id, account, amount) VALUES "
            "(1, 1, NULL, 'issued', -10), (2, 1, 1, 'available', 10), (3, 2, NULL, 'issued', -5), "
            "(4, 2, 1, 'available', 5), (5, 3, 1, 'available', -10), (6, 3, NULL, 'issued', 10)"
        )
    )
    connection.execute(
        sa.text(
            "INSERT INTO member_balance (member_id, available, held, lifetime_earned) VALUES (1, 5, 0, 5)"
        )
    )
    connection.execute(
        sa.text(
            "INSERT INTO daily_checkin (id, member_id, day, streak, points, checked_in_at, transaction_id) "
            "VALUES (1, 1, '2026-11-20', 1, 5, :two, 2)"
        ),
        {"two": MOMENTS[2]},
    )
    if connection.dialect.name == "postgresql":  # as if the rows had been numbered by the sequences
        for table, last in (
            ("member", 1),
            ("ledger_transaction", 3),
            ("ledger_posting", 6),
            ("daily_checkin", 1),
        ):
            connection.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {last})"))


def ledger_rows() -> list[tuple]:
    """Every transaction with its postings, as (id, kind, created_at, reverses_id, [(account, amount)…])."""
    postings = {}
    for posting in db.session.scalars(sa.select(LedgerPosting).order_by(LedgerPosting.id)):
        postings.setdefault(posting.transaction_id, []).append((posting.account, posting.amount))
    return [
        (row.id, row.kind, row.created_at, row.reverses_id, postings[row.id])
        for row in db.session.scalars(sa.select(LedgerTransaction).order_by(LedgerTransaction.id))
    ]


def test_the_migration_converts_a_ledger_in_place_and_back(empty_database_url):
    app = make_app(empty_database_url)
    try:
        with app.app_context():
            flask_migrate.upgrade(revision="0010")
            with db.engine.begin() as connection:
                fill_the_old_schema(connection)
            flask_migrate.upgrade()
            rows = ledger_rows()
            assert [(row[0], row[1], row[3]) for row in rows] == [
                (1, "award", None),
                (2, "award", None),
                (3, "reversal", 1),
            ]
            assert ledger.verify_ledger() == []
            if db.engine.dialect.name == "postgresql":
                assert {
                    transaction_id: partitions_holding(transaction_id) for transaction_id in (1, 2, 3)
                } == {
                    number: {
                        f"ledger_partitions.ledger_transaction_2026_{month}",
                        f"ledger_partitions.ledger_posting_2026_{month}",
                    }
                    for number, month in ((1, "10"), (2, "11"), (3, "12"))
                }
            db.session.commit()
            begin_writing(db.session)
            newest = ledger.award(1, 3, occurred_at=datetime.now(UTC), actor_id=None)
            db.session.commit()
            assert newest.id == 4  # the ids go on from the old numbering, not from 1 again

            flask_migrate.downgrade(revision="0010")
            kept = db.session.execute(
                sa.text("SELECT id, transaction_id, account, amount FROM ledger_posting ORDER BY id")
            ).all()
            assert len(kept) == 8 and kept[0] == (1, 1, "issued", -10)
            db.session.commit()  # let the migration lock the tables this session read
            flask_migrate.upgrade()
            assert [row[:4] for row in ledger_rows()][:3] == [row[:4] for row in rows]
            assert ledger.verify_ledger() == []
    finally:
        dispose(app)

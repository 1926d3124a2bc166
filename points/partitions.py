"""The ledger's month partitions on PostgreSQL: created ahead, and nothing ever refused.

On PostgreSQL ``ledger_transaction`` and ``ledger_posting`` are partitioned by range of
``created_at`` (a posting carries its transaction's): one partition per Asia/Shanghai month,
kept in the schema ``ledger_partitions`` (``ledger_transaction_2026_12``, …), and a default
partition each that takes any row no month partition covers, so a posting is never refused
because nobody created its month. ``flask ledger partitions`` (daily from cron) creates the
coming months ahead; a month created late first moves its rows out of the default partition.
SQLite keeps plain tables: everything here does nothing there.

Each month's postings partition has a foreign key to that month's transactions partition
(``(transaction_id, created_at)`` → ``(id, created_at)``), and so do the default partitions.
A key between the partitioned tables themselves would be kept by PostgreSQL as one hidden key
per month referred to, which SQLAlchemy reads back as that many keys of ``ledger_posting``.

A month is created as plain tables, filled with the month's rows from the default
partitions (normally none), then attached: ``ATTACH PARTITION`` takes only a light lock on
the parent, so awards keep being posted meanwhile (``CREATE TABLE … PARTITION OF`` would
stop them all for the moment it takes).
"""

from __future__ import annotations

from datetime import date, datetime, time

import sqlalchemy as sa

from core.clock import SHANGHAI, shanghai_today

SCHEMA = "ledger_partitions"
#: Parents first: a posting's month must exist before its rows move (postings refer to transactions).
TABLES = ("ledger_transaction", "ledger_posting")
#: Months created ahead of the current one by default.
AHEAD = 3
#: How long creating a month may wait for a lock before giving up (cron tries again the next day).
LOCK_TIMEOUT = "5s"


def first_of_month(day: date) -> date:
    """The first day of ``day``'s month."""
    return day.replace(day=1)


def next_month(month: date) -> date:
    """The first day of the month after ``month`` (a first of month)."""
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def months_between(first: date, last: date) -> list[date]:
    """The firsts of every month from ``first``'s to ``last``'s, both included."""
    months, month = [], first_of_month(first)
    while month <= last:
        months.append(month)
        month = next_month(month)
    return months


def month_start(month: date) -> datetime:
    """Midnight in Asia/Shanghai on the first of ``month``: where its partition begins."""
    return datetime.combine(month, time.min, tzinfo=SHANGHAI)


def partition_name(table: str, month: date) -> str:
    """``ledger_transaction_2026_12``: the partition of ``table`` for ``month``."""
    return f"{table}_{month.year}_{month.month:02d}"


def is_partitioned(connection: sa.Connection) -> bool:
    """Whether this database keeps the ledger in partitions (PostgreSQL after the migration)."""
    if connection.dialect.name != "postgresql":
        return False
    return bool(
        connection.scalar(
            sa.text(
                "SELECT count(*) FROM pg_partitioned_table WHERE partrelid = 'ledger_transaction'::regclass"
            )
        )
    )


def existing_months(connection: sa.Connection) -> set[date]:
    """The months that have their own partition."""
    names = connection.scalars(
        sa.text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'ledger_transaction'::regclass AND c.relname ~ '_[0-9]{4}_[0-9]{2}$'"
        )
    )
    return {date(int(name[-7:-3]), int(name[-2:]), 1) for name in names}


def _link(connection: sa.Connection, postings: str, transactions: str) -> None:
    """Have the postings of one partition refer to the transactions of the matching one."""
    connection.execute(
        sa.text(
            f"ALTER TABLE {postings} ADD FOREIGN KEY (transaction_id, created_at) "
            f"REFERENCES {transactions} (id, created_at)"
        )
    )


def create_default_partitions(connection: sa.Connection) -> None:
    """Give each ledger table its default partition: the rows of months nobody created go there."""
    connection.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
    for table in TABLES:
        connection.execute(sa.text(f"CREATE TABLE {SCHEMA}.{table}_default PARTITION OF {table} DEFAULT"))
    _link(connection, f"{SCHEMA}.ledger_posting_default", f"{SCHEMA}.ledger_transaction_default")


def create_month(connection: sa.Connection, month: date) -> None:
    """Create ``month``'s partitions of both tables, moving its rows out of the default partitions.

    Both are made as plain tables first and filled from the default partitions, postings
    first (they refer to the transactions), then linked and attached. Run it in one
    transaction (the caller's): a failure leaves everything as it was.
    """
    lower, upper = month_start(month), month_start(next_month(month))
    names = {table: f"{SCHEMA}.{partition_name(table, month)}" for table in TABLES}
    for table in reversed(TABLES):
        connection.execute(sa.text(f"CREATE TABLE {names[table]} (LIKE {table} INCLUDING DEFAULTS)"))
        connection.execute(
            sa.text(
                f"WITH moved AS (DELETE FROM {SCHEMA}.{table}_default "  # nosec B608: the module's own names
                f"WHERE created_at >= :lower AND created_at < :upper RETURNING *) "
                f"INSERT INTO {names[table]} SELECT * FROM moved"
            ),
            {"lower": lower, "upper": upper},
        )
    connection.execute(sa.text(f"ALTER TABLE {names['ledger_transaction']} ADD PRIMARY KEY (id, created_at)"))
    _link(connection, names["ledger_posting"], names["ledger_transaction"])
    for table in TABLES:
        # Bounds as literals: DDL takes no parameters.
        connection.execute(
            sa.text(
                f"ALTER TABLE {table} ATTACH PARTITION {names[table]} "
                f"FOR VALUES FROM ('{lower.isoformat()}') TO ('{upper.isoformat()}')"
            )
        )


def ensure_months(connection: sa.Connection, months: list[date]) -> list[date]:
    """Create the partitions of each month in ``months`` that has none yet; answer those created."""
    if not is_partitioned(connection):
        return []
    missing = sorted(set(months) - existing_months(connection))
    if missing:
        connection.execute(sa.text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    for month in missing:
        create_month(connection, month)
    return missing


def create_ahead(connection: sa.Connection, ahead: int = AHEAD, today: date | None = None) -> list[date]:
    """Make sure this month and the ``ahead`` months after it have their partitions."""
    this_month = first_of_month(today or shanghai_today())
    months = [this_month]
    for _ in range(ahead):
        months.append(next_month(months[-1]))
    return ensure_months(connection, months)


def default_rows(connection: sa.Connection) -> int:
    """Transactions in the default partition (those of months created neither ahead nor since)."""
    if not is_partitioned(connection):
        return 0
    count = f"SELECT count(*) FROM {SCHEMA}.ledger_transaction_default"  # nosec B608: the module's own names
    return int(connection.scalar(sa.text(count)))

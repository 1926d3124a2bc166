"""partition the ledger by month on PostgreSQL; postings carry their transaction's time

On PostgreSQL, ledger_transaction and ledger_posting become tables partitioned by range of
created_at: one partition per Asia/Shanghai month in the schema ledger_partitions, plus a
default one each (points/partitions.py). PostgreSQL requires every unique key of a
partitioned table to hold the partition key, so both keys become (id, created_at), postings
carry their transaction's created_at, each month's postings refer to that month's
transactions, and reverses_id and daily_checkin.transaction_id keep no foreign key
(reverses_id is indexed instead of unique). An existing database is converted in place: the
rows are copied into the month partitions (from the oldest transaction's month to three
ahead), keeping their ids and sequences; the other indexes and keys are built after the copy.

SQLite keeps plain tables with the same columns: postings gain created_at, and the keys
that PostgreSQL cannot keep go on both engines.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 12:00:00.000000

"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa

import core.database  # noqa: F401 - column types the revisions name
from core.clock import shanghai_date
from points import partitions


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

UTC = core.database.UTCDateTime(timezone=True)
OLD = '_unpartitioned'
#: (name, columns) of the secondary indexes of each ledger table, as the models name them.
INDEXES = {
    'ledger_transaction': (('ix_ledger_transaction_contribution_id', ['contribution_id']),
                           ('ix_ledger_transaction_kind_occurred_at', ['kind', 'occurred_at']),
                           ('ix_ledger_transaction_member_id_id', ['member_id', 'id']),
                           ('ix_ledger_transaction_reference', ['reference'])),
    'ledger_posting': (('ix_ledger_posting_member_id_account', ['member_id', 'account']),
                       ('ix_ledger_posting_transaction_id', ['transaction_id'])),
}
#: (table, column, referred table) of the foreign keys from the ledger to other tables.
OUTWARD_KEYS = (('ledger_transaction', 'activity_id', 'activity'), ('ledger_transaction', 'actor_id', 'member'),
                ('ledger_transaction', 'contribution_id', 'contribution'),
                ('ledger_transaction', 'member_id', 'member'), ('ledger_posting', 'member_id', 'member'))


def upgrade():
    if op.get_bind().dialect.name == 'postgresql':
        _partition()
        return
    # Children first: rebuilding a table while other rows still refer to it would break their keys.
    with op.batch_alter_table('daily_checkin', schema=None) as batch_op:
        batch_op.drop_constraint('fk_daily_checkin_transaction_id_ledger_transaction', type_='foreignkey')
    with op.batch_alter_table('ledger_posting', schema=None) as batch_op:
        batch_op.add_column(sa.Column('created_at', UTC, nullable=True))
    op.execute('UPDATE ledger_posting SET created_at = '
               '(SELECT created_at FROM ledger_transaction WHERE ledger_transaction.id = transaction_id)')
    with op.batch_alter_table('ledger_posting', schema=None) as batch_op:
        batch_op.alter_column('created_at', existing_type=UTC, nullable=False)
        batch_op.drop_constraint('fk_ledger_posting_transaction_id_ledger_transaction', type_='foreignkey')
    with op.batch_alter_table('ledger_transaction', schema=None) as batch_op:
        batch_op.drop_constraint('fk_ledger_transaction_reverses_id_ledger_transaction', type_='foreignkey')
        batch_op.drop_constraint('uq_ledger_transaction_reverses_id', type_='unique')
        batch_op.create_index(batch_op.f('ix_ledger_transaction_reverses_id'), ['reverses_id'], unique=False)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        _unpartition()
        return
    # The table is rebuilt with a key to itself: rows referring to the old copy would stop the old
    # copy from being dropped, so the links wait aside meanwhile.
    op.execute('CREATE TEMPORARY TABLE reversal_link AS '
               'SELECT id, reverses_id FROM ledger_transaction WHERE reverses_id IS NOT NULL')
    op.execute('UPDATE ledger_transaction SET reverses_id = NULL WHERE reverses_id IS NOT NULL')
    with op.batch_alter_table('ledger_transaction', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_transaction_reverses_id'))
        batch_op.create_unique_constraint(batch_op.f('uq_ledger_transaction_reverses_id'), ['reverses_id'])
        batch_op.create_foreign_key(batch_op.f('fk_ledger_transaction_reverses_id_ledger_transaction'),
                                    'ledger_transaction', ['reverses_id'], ['id'])
    op.execute('UPDATE ledger_transaction SET reverses_id = '
               '(SELECT reverses_id FROM reversal_link WHERE reversal_link.id = ledger_transaction.id) '
               'WHERE id IN (SELECT id FROM reversal_link)')
    op.execute('DROP TABLE reversal_link')
    with op.batch_alter_table('ledger_posting', schema=None) as batch_op:
        batch_op.drop_column('created_at')
        batch_op.create_foreign_key(batch_op.f('fk_ledger_posting_transaction_id_ledger_transaction'),
                                    'ledger_transaction', ['transaction_id'], ['id'])
    with op.batch_alter_table('daily_checkin', schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f('fk_daily_checkin_transaction_id_ledger_transaction'),
                                    'ledger_transaction', ['transaction_id'], ['id'])


# --- PostgreSQL -----------------------------------------------------------------------------------

def _columns(table: str, sequence: str, with_time: bool = True) -> list[sa.Column]:
    """The columns of a ledger table, its ids drawn from ``sequence`` (kept from the table it replaces)."""
    key = sa.Column('id', sa.Integer(), server_default=sa.text(f"nextval('{sequence}'::regclass)"), nullable=False)
    if table == 'ledger_posting':
        return [key, sa.Column('transaction_id', sa.Integer(), nullable=False),
                sa.Column('member_id', sa.Integer(), nullable=True),
                sa.Column('account', sa.String(length=20), nullable=False),
                sa.Column('amount', sa.Integer(), nullable=False),
                *([sa.Column('created_at', UTC, nullable=False)] if with_time else [])]
    return [key, sa.Column('kind', sa.String(length=20), nullable=False),
            sa.Column('member_id', sa.Integer(), nullable=False),
            sa.Column('available_change', sa.Integer(), nullable=False),
            sa.Column('available_after', sa.Integer(), nullable=False),
            sa.Column('held_after', sa.Integer(), nullable=False),
            sa.Column('occurred_at', UTC, nullable=False),
            sa.Column('created_at', UTC, nullable=False),
            sa.Column('actor_id', sa.Integer(), nullable=True),
            sa.Column('contribution_id', sa.Integer(), nullable=True),
            sa.Column('activity_id', sa.Integer(), nullable=True),
            sa.Column('reverses_id', sa.Integer(), nullable=True),
            sa.Column('reference', sa.String(length=60), nullable=True),
            sa.Column('memo', sa.Text(), nullable=True)]


def _set_aside() -> dict[str, str]:
    """Rename both ledger tables out of the way and free the names of their keys and indexes;
    answer their id sequences (kept: the new tables go on numbering from them)."""
    bind = op.get_bind()
    sequences = {}
    for table in partitions.TABLES:
        op.execute(f'ALTER TABLE {table} RENAME TO {table}{OLD}')
        sequences[table] = bind.scalar(sa.text(f"SELECT pg_get_serial_sequence('{table}{OLD}', 'id')"))
        op.execute(f'ALTER SEQUENCE {sequences[table]} OWNED BY NONE')  # it outlives the old table
    for kinds in ("'f'", "'p', 'u'"):  # foreign keys first (the partitions' too): they depend on the others
        for table in partitions.TABLES:
            for owner, name in bind.execute(sa.text(
                    f"SELECT conrelid::regclass::text, conname FROM pg_constraint "
                    f"WHERE contype IN ({kinds}) AND conparentid = 0 AND (conrelid = '{table}{OLD}'::regclass "
                    f"OR conrelid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = '{table}{OLD}'::regclass))"
                    )).all():
                op.execute(f'ALTER TABLE {owner} DROP CONSTRAINT {name}')
    for table in partitions.TABLES:
        for name in bind.scalars(sa.text(
                f"SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                f"WHERE i.indrelid = '{table}{OLD}'::regclass")).all():
            op.execute(f'DROP INDEX {name}')
    return sequences


def _adopt(sequences: dict[str, str]) -> None:
    """Let the new tables own the id sequences (TRUNCATE … RESTART IDENTITY and DROP follow them)."""
    for table, sequence in sequences.items():
        op.execute(f'ALTER SEQUENCE {sequence} OWNED BY {table}.id')


def _months(bind) -> list:
    """Every month from the oldest transaction's to three after the current one."""
    oldest = bind.scalar(sa.text(f'SELECT min(created_at) FROM ledger_transaction{OLD}'))
    this_month = partitions.first_of_month(shanghai_date(datetime.now(timezone.utc)))
    last = this_month
    for _ in range(partitions.AHEAD):
        last = partitions.next_month(last)
    return partitions.months_between(shanghai_date(oldest) if oldest else this_month, last)


def _build_indexes_and_keys(*, partitioned: bool) -> None:
    """The secondary indexes and the keys to other tables (and, unpartitioned, the old keys)."""
    for table, indexes in INDEXES.items():
        for name, columns in indexes:
            op.create_index(name, table, columns, unique=False)
    if partitioned:
        op.create_index(op.f('ix_ledger_transaction_reverses_id'), 'ledger_transaction', ['reverses_id'], unique=False)
    else:
        op.create_unique_constraint(op.f('uq_ledger_transaction_reverses_id'), 'ledger_transaction', ['reverses_id'])
    for table, column, target in OUTWARD_KEYS:
        op.create_foreign_key(op.f(f'fk_{table}_{column}_{target}'), table, target, [column], ['id'])
    if not partitioned:
        for table, column in (('ledger_transaction', 'reverses_id'), ('ledger_posting', 'transaction_id'),
                              ('daily_checkin', 'transaction_id')):
            op.create_foreign_key(op.f(f'fk_{table}_{column}_ledger_transaction'), table, 'ledger_transaction',
                                  [column], ['id'])
    for table in partitions.TABLES:
        op.execute(f'ANALYZE {table}')


def _partition():
    bind = op.get_bind()
    op.drop_constraint('fk_daily_checkin_transaction_id_ledger_transaction', 'daily_checkin', type_='foreignkey')
    sequences = _set_aside()
    for table, sequence in sequences.items():
        op.create_table(table, *_columns(table, sequence),
                        sa.PrimaryKeyConstraint('id', 'created_at', name=op.f(f'pk_{table}')),
                        postgresql_partition_by='RANGE (created_at)')
    _adopt(sequences)
    partitions.create_default_partitions(bind)
    partitions.ensure_months(bind, _months(bind))
    # The rows, then the other indexes: building an index once is faster than row by row.
    columns = ', '.join(column.name for column in _columns('ledger_transaction', ''))
    op.execute(f'INSERT INTO ledger_transaction ({columns}) SELECT {columns} FROM ledger_transaction{OLD}')
    columns = [column.name for column in _columns('ledger_posting', '', with_time=False)]
    op.execute(f'INSERT INTO ledger_posting ({", ".join(columns)}, created_at) '
               f'SELECT {", ".join("p." + name for name in columns)}, t.created_at '
               f'FROM ledger_posting{OLD} p JOIN ledger_transaction{OLD} t ON t.id = p.transaction_id')
    op.drop_table(f'ledger_posting{OLD}')
    op.drop_table(f'ledger_transaction{OLD}')
    _build_indexes_and_keys(partitioned=True)


def _unpartition():
    sequences = _set_aside()
    for table, sequence in sequences.items():
        op.create_table(table, *_columns(table, sequence, with_time=False),
                        sa.PrimaryKeyConstraint('id', name=op.f(f'pk_{table}')))
    _adopt(sequences)
    for table in partitions.TABLES:
        columns = ', '.join(column.name for column in _columns(table, '', with_time=False))
        op.execute(f'INSERT INTO {table} ({columns}) SELECT {columns} FROM {table}{OLD}')
    op.drop_table(f'ledger_posting{OLD}')
    op.drop_table(f'ledger_transaction{OLD}')
    op.execute(f'DROP SCHEMA {partitions.SCHEMA} CASCADE')
    _build_indexes_and_keys(partitioned=False)

"""add what rewards cost (and its history), monthly settlements, budgets, and the org unit of awards

Awards already in the ledger (and their reversals) get their member's org unit of today: the ledger
did not record it before, and budgets count awards by it.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 10:04:52.416089

"""
from alembic import op
import sqlalchemy as sa

import core.database  # noqa: F401 - column types the revisions name


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('budget',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_unit_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('allotted', sa.Integer(), nullable=False),
    sa.Column('updated_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['org_unit_id'], ['org_unit.id'], name=op.f('fk_budget_org_unit_id_org_unit')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['member.id'], name=op.f('fk_budget_updated_by_id_member')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_budget')),
    sa.UniqueConstraint('org_unit_id', 'year', name=op.f('uq_budget_org_unit_id_year'))
    )
    op.create_table('reward_cost',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reward_id', sa.Integer(), nullable=False),
    sa.Column('unit_cost_fen', sa.Integer(), nullable=False),
    sa.Column('effective_from', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('changed_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['changed_by_id'], ['member.id'], name=op.f('fk_reward_cost_changed_by_id_member')),
    sa.ForeignKeyConstraint(['reward_id'], ['reward.id'], name=op.f('fk_reward_cost_reward_id_reward')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reward_cost'))
    )
    with op.batch_alter_table('reward_cost', schema=None) as batch_op:
        batch_op.create_index('ix_reward_cost_reward_id_effective_from', ['reward_id', 'effective_from'], unique=False)

    op.create_table('settlement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('supermarket_id', sa.Integer(), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('total_fen', sa.BigInteger(), nullable=False),
    sa.Column('confirmed_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('confirmed_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['confirmed_by_id'], ['member.id'], name=op.f('fk_settlement_confirmed_by_id_member')),
    sa.ForeignKeyConstraint(['supermarket_id'], ['supermarket.id'], name=op.f('fk_settlement_supermarket_id_supermarket')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settlement')),
    sa.UniqueConstraint('supermarket_id', 'month', name=op.f('uq_settlement_supermarket_id_month'))
    )
    op.create_table('budget_allotment',
    sa.Column('budget_id', sa.Integer(), nullable=False),
    sa.Column('org_unit_id', sa.Integer(), nullable=False),
    sa.Column('granted', sa.Integer(), nullable=False),
    sa.Column('used', sa.Integer(), nullable=False),
    sa.CheckConstraint('used <= granted', name=op.f('ck_budget_allotment_used_within_granted')),
    sa.ForeignKeyConstraint(['budget_id'], ['budget.id'], name=op.f('fk_budget_allotment_budget_id_budget')),
    sa.ForeignKeyConstraint(['org_unit_id'], ['org_unit.id'], name=op.f('fk_budget_allotment_org_unit_id_org_unit')),
    sa.PrimaryKeyConstraint('budget_id', 'org_unit_id', name=op.f('pk_budget_allotment'))
    )
    op.create_table('settled_voucher',
    sa.Column('voucher_id', sa.Integer(), nullable=False),
    sa.Column('settlement_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['settlement_id'], ['settlement.id'], name=op.f('fk_settled_voucher_settlement_id_settlement')),
    sa.ForeignKeyConstraint(['voucher_id'], ['voucher.id'], name=op.f('fk_settled_voucher_voucher_id_voucher')),
    sa.PrimaryKeyConstraint('voucher_id', name=op.f('pk_settled_voucher'))
    )
    with op.batch_alter_table('settled_voucher', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_settled_voucher_settlement_id'), ['settlement_id'], unique=False)

    op.create_table('settlement_line',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('settlement_id', sa.Integer(), nullable=False),
    sa.Column('reward_id', sa.Integer(), nullable=False),
    sa.Column('reward_name', sa.String(length=100), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit_cost_fen', sa.Integer(), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('adjusts_month', sa.String(length=7), nullable=True),
    sa.ForeignKeyConstraint(['reward_id'], ['reward.id'], name=op.f('fk_settlement_line_reward_id_reward')),
    sa.ForeignKeyConstraint(['settlement_id'], ['settlement.id'], name=op.f('fk_settlement_line_settlement_id_settlement')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settlement_line'))
    )
    with op.batch_alter_table('settlement_line', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_settlement_line_settlement_id'), ['settlement_id'], unique=False)

    with op.batch_alter_table('ledger_transaction', schema=None) as batch_op:
        batch_op.add_column(sa.Column('org_unit_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_ledger_transaction_org_unit_id_org_unit'), 'org_unit', ['org_unit_id'], ['id'])
    op.execute("UPDATE ledger_transaction SET org_unit_id = (SELECT member.org_unit_id FROM member "
               "WHERE member.id = ledger_transaction.member_id) WHERE kind IN ('award', 'reversal')")

    with op.batch_alter_table('reward', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unit_cost_fen', sa.Integer(), server_default='0', nullable=False))



def downgrade():
    with op.batch_alter_table('reward', schema=None) as batch_op:
        batch_op.drop_column('unit_cost_fen')

    with op.batch_alter_table('ledger_transaction', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_ledger_transaction_org_unit_id_org_unit'), type_='foreignkey')
        batch_op.drop_column('org_unit_id')

    with op.batch_alter_table('settlement_line', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_settlement_line_settlement_id'))

    op.drop_table('settlement_line')
    with op.batch_alter_table('settled_voucher', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_settled_voucher_settlement_id'))

    op.drop_table('settled_voucher')
    op.drop_table('budget_allotment')
    op.drop_table('settlement')
    with op.batch_alter_table('reward_cost', schema=None) as batch_op:
        batch_op.drop_index('ix_reward_cost_reward_id_effective_from')

    op.drop_table('reward_cost')
    op.drop_table('budget')

"""add leaderboard totals and honour roll

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 21:50:00.000000

"""
from alembic import op
import sqlalchemy as sa

import core.database  # noqa: F401 - column types the revisions name


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

SCOPE_DEPTHS = 4


def upgrade():
    op.create_table('leaderboard_total',
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('period_key', sa.String(length=10), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('reached_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reach_key', sa.BigInteger(), nullable=False),
    sa.Column('eligible', sa.Boolean(), nullable=False),
    sa.Column('scope0_id', sa.Integer(), nullable=True),
    sa.Column('scope1_id', sa.Integer(), nullable=True),
    sa.Column('scope2_id', sa.Integer(), nullable=True),
    sa.Column('scope3_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_leaderboard_total_member_id_member')),
    sa.PrimaryKeyConstraint('member_id', 'period_key', name=op.f('pk_leaderboard_total'))
    )
    for depth in range(SCOPE_DEPTHS):
        op.create_index(f'ix_leaderboard_total_scope{depth}', 'leaderboard_total',
                        ['period_key', 'eligible', f'scope{depth}_id', 'score', 'reach_key',
                         'member_id'], unique=False)
    op.create_table('honour_roll',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('org_unit_id', sa.Integer(), nullable=False),
    sa.Column('ranked', sa.Integer(), nullable=False),
    sa.Column('closed_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_unit_id'], ['org_unit.id'], name=op.f('fk_honour_roll_org_unit_id_org_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_honour_roll')),
    sa.UniqueConstraint('month', 'org_unit_id', name=op.f('uq_honour_roll_month_org_unit_id'))
    )
    op.create_table('honour_roll_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('roll_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('display_name', sa.String(length=50), nullable=False),
    sa.Column('anonymous', sa.Boolean(), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=True),
    sa.Column('grid_name', sa.String(length=100), nullable=True),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['grid_id'], ['org_unit.id'], name=op.f('fk_honour_roll_entry_grid_id_org_unit')),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_honour_roll_entry_member_id_member')),
    sa.ForeignKeyConstraint(['roll_id'], ['honour_roll.id'], name=op.f('fk_honour_roll_entry_roll_id_honour_roll')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_honour_roll_entry')),
    sa.UniqueConstraint('roll_id', 'position', name=op.f('uq_honour_roll_entry_roll_id_position'))
    )


def downgrade():
    op.drop_table('honour_roll_entry')
    op.drop_table('honour_roll')
    for depth in range(SCOPE_DEPTHS):
        op.drop_index(f'ix_leaderboard_total_scope{depth}', table_name='leaderboard_total')
    op.drop_table('leaderboard_total')

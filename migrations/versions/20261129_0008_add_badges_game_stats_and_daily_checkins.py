"""add badges, game stats, active months and daily check-ins

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 22:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

import core.database  # noqa: F401 - column types the revisions name


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('member_badge',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('awarded_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_member_badge_member_id_member')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member_badge')),
    sa.UniqueConstraint('member_id', 'code', name=op.f('uq_member_badge_member_id_code'))
    )
    op.create_table('member_game_stats',
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('patrols', sa.Integer(), nullable=False),
    sa.Column('mediations', sa.Integer(), nullable=False),
    sa.Column('volunteer_half_hours', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_member_game_stats_member_id_member')),
    sa.PrimaryKeyConstraint('member_id', name=op.f('pk_member_game_stats'))
    )
    op.create_table('member_active_month',
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('month', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_member_active_month_member_id_member')),
    sa.PrimaryKeyConstraint('member_id', 'month', name=op.f('pk_member_active_month'))
    )
    op.create_table('daily_checkin',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('streak', sa.Integer(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('checked_in_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('transaction_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_daily_checkin_member_id_member')),
    sa.ForeignKeyConstraint(['transaction_id'], ['ledger_transaction.id'], name=op.f('fk_daily_checkin_transaction_id_ledger_transaction')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_daily_checkin')),
    sa.UniqueConstraint('member_id', 'day', name=op.f('uq_daily_checkin_member_id_day'))
    )


def downgrade():
    op.drop_table('daily_checkin')
    op.drop_table('member_active_month')
    op.drop_table('member_game_stats')
    op.drop_table('member_badge')

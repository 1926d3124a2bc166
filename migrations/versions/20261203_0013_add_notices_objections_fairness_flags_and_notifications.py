"""add the public notice (entries, objections), the fairness watch's flags and in-app notifications

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 12:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

import core.database  # noqa: F401 - column types the revisions name


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('fairness_flag',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rule', sa.String(length=30), nullable=False),
    sa.Column('fingerprint', sa.String(length=120), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=True),
    sa.Column('org_unit_id', sa.Integer(), nullable=True),
    sa.Column('facts', sa.JSON(), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('seen_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['decided_by_id'], ['member.id'], name=op.f('fk_fairness_flag_decided_by_id_member')),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_fairness_flag_member_id_member')),
    sa.ForeignKeyConstraint(['org_unit_id'], ['org_unit.id'], name=op.f('fk_fairness_flag_org_unit_id_org_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fairness_flag')),
    sa.UniqueConstraint('fingerprint', name=op.f('uq_fairness_flag_fingerprint'))
    )
    with op.batch_alter_table('fairness_flag', schema=None) as batch_op:
        batch_op.create_index('ix_fairness_flag_status', ['status'], unique=False)

    op.create_table('notice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_unit_id', sa.Integer(), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('opens_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closes_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('entries_count', sa.Integer(), nullable=False),
    sa.Column('published_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_unit_id'], ['org_unit.id'], name=op.f('fk_notice_org_unit_id_org_unit')),
    sa.ForeignKeyConstraint(['published_by_id'], ['member.id'], name=op.f('fk_notice_published_by_id_member')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notice')),
    sa.UniqueConstraint('org_unit_id', 'month', name=op.f('uq_notice_org_unit_id_month'))
    )
    op.create_table('notification',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('created_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('read_at', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_notification_member_id_member')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification')),
    sa.UniqueConstraint('member_id', 'key', name=op.f('uq_notification_member_id_key'))
    )
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.create_index('ix_notification_created_at', ['created_at'], unique=False)
        batch_op.create_index('ix_notification_member_id_id', ['member_id', 'id'], unique=False)

    op.create_table('notice_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('notice_id', sa.Integer(), nullable=False),
    sa.Column('contribution_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('display_name', sa.String(length=50), nullable=False),
    sa.Column('anonymous', sa.Boolean(), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['contribution_id'], ['contribution.id'], name=op.f('fk_notice_entry_contribution_id_contribution')),
    sa.ForeignKeyConstraint(['grid_id'], ['org_unit.id'], name=op.f('fk_notice_entry_grid_id_org_unit')),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_notice_entry_member_id_member')),
    sa.ForeignKeyConstraint(['notice_id'], ['notice.id'], name=op.f('fk_notice_entry_notice_id_notice')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notice_entry')),
    sa.UniqueConstraint('notice_id', 'contribution_id', name=op.f('uq_notice_entry_notice_id_contribution_id'))
    )
    with op.batch_alter_table('notice_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notice_entry_contribution_id'), ['contribution_id'], unique=False)

    op.create_table('objection',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('notice_id', sa.Integer(), nullable=False),
    sa.Column('contribution_id', sa.Integer(), nullable=False),
    sa.Column('objector_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decision_reason', sa.Text(), nullable=True),
    sa.Column('created_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contribution_id'], ['contribution.id'], name=op.f('fk_objection_contribution_id_contribution')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['member.id'], name=op.f('fk_objection_decided_by_id_member')),
    sa.ForeignKeyConstraint(['notice_id'], ['notice.id'], name=op.f('fk_objection_notice_id_notice')),
    sa.ForeignKeyConstraint(['objector_id'], ['member.id'], name=op.f('fk_objection_objector_id_member')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_objection')),
    sa.UniqueConstraint('notice_id', 'contribution_id', 'objector_id', name=op.f('uq_objection_notice_id_contribution_id_objector_id'))
    )
    with op.batch_alter_table('objection', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_objection_contribution_id'), ['contribution_id'], unique=False)
        batch_op.create_index('ix_objection_objector_id_created_at', ['objector_id', 'created_at'], unique=False)
        batch_op.create_index('ix_objection_status', ['status'], unique=False)



def downgrade():
    with op.batch_alter_table('objection', schema=None) as batch_op:
        batch_op.drop_index('ix_objection_status')
        batch_op.drop_index('ix_objection_objector_id_created_at')
        batch_op.drop_index(batch_op.f('ix_objection_contribution_id'))

    op.drop_table('objection')
    with op.batch_alter_table('notice_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notice_entry_contribution_id'))

    op.drop_table('notice_entry')
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_index('ix_notification_member_id_id')
        batch_op.drop_index('ix_notification_created_at')

    op.drop_table('notification')
    op.drop_table('notice')
    with op.batch_alter_table('fairness_flag', schema=None) as batch_op:
        batch_op.drop_index('ix_fairness_flag_status')

    op.drop_table('fairness_flag')

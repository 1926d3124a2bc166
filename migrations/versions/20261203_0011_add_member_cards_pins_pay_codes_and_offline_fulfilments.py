"""add member cards, PINs, pay codes and the offline fulfilments of counters

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 10:03:16.336285

"""
from alembic import op
import sqlalchemy as sa

import core.database  # noqa: F401 - column types the revisions name


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('member_card',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=12), nullable=False),
    sa.Column('issued_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('issued_by_id', sa.Integer(), nullable=True),
    sa.Column('revoked_at', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['issued_by_id'], ['member.id'], name=op.f('fk_member_card_issued_by_id_member')),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_member_card_member_id_member')),
    sa.ForeignKeyConstraint(['revoked_by_id'], ['member.id'], name=op.f('fk_member_card_revoked_by_id_member')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member_card')),
    sa.UniqueConstraint('number', name=op.f('uq_member_card_number'))
    )
    with op.batch_alter_table('member_card', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_member_card_member_id'), ['member_id'], unique=False)

    op.create_table('member_pin',
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('pin_hash', sa.String(length=255), nullable=False),
    sa.Column('set_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('set_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_member_pin_member_id_member')),
    sa.ForeignKeyConstraint(['set_by_id'], ['member.id'], name=op.f('fk_member_pin_set_by_id_member')),
    sa.PrimaryKeyConstraint('member_id', name=op.f('pk_member_pin'))
    )
    op.create_table('pay_code',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('digits_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_pay_code_member_id_member')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pay_code')),
    sa.UniqueConstraint('digits_hash', name=op.f('uq_pay_code_digits_hash'))
    )
    with op.batch_alter_table('pay_code', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pay_code_member_id'), ['member_id'], unique=False)

    op.create_table('offline_fulfilment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('supermarket_id', sa.Integer(), nullable=False),
    sa.Column('scan_id', sa.String(length=36), nullable=False),
    sa.Column('voucher_id', sa.Integer(), nullable=True),
    sa.Column('clerk_id', sa.Integer(), nullable=False),
    sa.Column('scanned_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('received_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('result', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.String(length=40), nullable=True),
    sa.Column('resolved_at', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_by_id', sa.Integer(), nullable=True),
    sa.Column('resolution', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['clerk_id'], ['member.id'], name=op.f('fk_offline_fulfilment_clerk_id_member')),
    sa.ForeignKeyConstraint(['resolved_by_id'], ['member.id'], name=op.f('fk_offline_fulfilment_resolved_by_id_member')),
    sa.ForeignKeyConstraint(['supermarket_id'], ['supermarket.id'], name=op.f('fk_offline_fulfilment_supermarket_id_supermarket')),
    sa.ForeignKeyConstraint(['voucher_id'], ['voucher.id'], name=op.f('fk_offline_fulfilment_voucher_id_voucher')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offline_fulfilment')),
    sa.UniqueConstraint('supermarket_id', 'scan_id', name=op.f('uq_offline_fulfilment_supermarket_id_scan_id'))
    )
    with op.batch_alter_table('offline_fulfilment', schema=None) as batch_op:
        batch_op.create_index('ix_offline_fulfilment_supermarket_result', ['supermarket_id', 'result', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_offline_fulfilment_voucher_id'), ['voucher_id'], unique=False)



def downgrade():
    with op.batch_alter_table('offline_fulfilment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_offline_fulfilment_voucher_id'))
        batch_op.drop_index('ix_offline_fulfilment_supermarket_result')

    op.drop_table('offline_fulfilment')
    with op.batch_alter_table('pay_code', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pay_code_member_id'))

    op.drop_table('pay_code')
    op.drop_table('member_pin')
    with op.batch_alter_table('member_card', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_member_card_member_id'))

    op.drop_table('member_card')

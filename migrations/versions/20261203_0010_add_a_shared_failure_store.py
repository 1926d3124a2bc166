"""add a shared store of failures (sign-ins per phone) that every worker counts in

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

import core.database  # noqa: F401 - column types the revisions name


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('throttle',
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('window_ends_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('locked_until', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('expires_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_throttle'))
    )
    with op.batch_alter_table('throttle', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_throttle_expires_at'), ['expires_at'], unique=False)


def downgrade():
    with op.batch_alter_table('throttle', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_throttle_expires_at'))

    op.drop_table('throttle')

"""add signing keys

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 03:50:00.000000

"""
from alembic import op
import sqlalchemy as sa

import core.database  # noqa: F401 - column types the revisions name


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('signing_key',
    sa.Column('id', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('public_key', sa.LargeBinary(), nullable=False),
    sa.Column('private_key_encrypted', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('retired_at', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signing_key')),
    sa.UniqueConstraint('public_key', name=op.f('uq_signing_key_public_key'))
    )


def downgrade():
    op.drop_table('signing_key')

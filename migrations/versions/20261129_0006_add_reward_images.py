"""add reward images

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 21:45:00.000000

"""
from alembic import op
import sqlalchemy as sa

import core.database  # noqa: F401 - column types the revisions name


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('reward_image',
    sa.Column('reward_id', sa.Integer(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('mimetype', sa.String(length=30), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=False),
    sa.Column('uploaded_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['reward_id'], ['reward.id'], name=op.f('fk_reward_image_reward_id_reward')),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['member.id'], name=op.f('fk_reward_image_uploaded_by_id_member')),
    sa.PrimaryKeyConstraint('reward_id', name=op.f('pk_reward_image'))
    )


def downgrade():
    op.drop_table('reward_image')

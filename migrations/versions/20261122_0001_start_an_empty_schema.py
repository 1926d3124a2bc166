"""start an empty schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 03:23:31.363022

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass

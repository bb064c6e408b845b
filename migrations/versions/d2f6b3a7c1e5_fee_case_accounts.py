"""Fee cases: amounts, payments and late charges.

Revision ID: d2f6b3a7c1e5
Revises: c4e8a1f2b9d0
Create Date: 2026-11-24 00:30:00

"""
from alembic import op
import sqlalchemy as sa
import caseflow.models


# revision identifiers, used by Alembic.
revision = 'd2f6b3a7c1e5'
down_revision = 'c4e8a1f2b9d0'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass

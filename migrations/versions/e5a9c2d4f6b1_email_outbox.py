"""The email outbox.

Revision ID: e5a9c2d4f6b1
Revises: d2f6b3a7c1e5
Create Date: 2026-11-24 02:00:00

"""
from alembic import op
import sqlalchemy as sa
import caseflow.models


# revision identifiers, used by Alembic.
revision = 'e5a9c2d4f6b1'
down_revision = 'd2f6b3a7c1e5'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass

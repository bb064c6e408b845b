"""Subsidy enrolments, public notices, payment batches and payments.

Revision ID: c4e8a1f2b9d0
Revises: b7c31e0d52a4
Create Date: 2026-11-24 00:30:00

"""
from alembic import op
import sqlalchemy as sa
import caseflow.models


# revision identifiers, used by Alembic.
revision = 'c4e8a1f2b9d0'
down_revision = 'b7c31e0d52a4'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass

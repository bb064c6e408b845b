"""Scheduler job runs: which scheduled run of each job has been done.

Revision ID: f7b3d5e1a2c8
Revises: e5a9c2d4f6b1
Create Date: 2026-11-24 02:00:00

"""
from alembic import op
import sqlalchemy as sa
import caseflow.models


# revision identifiers, used by Alembic.
revision = 'f7b3d5e1a2c8'
down_revision = 'e5a9c2d4f6b1'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass

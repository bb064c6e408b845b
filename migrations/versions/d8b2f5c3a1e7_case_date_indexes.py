"""Indexes for the team queue: cases by opening, state-entry and closing time.

The team queue pages by keyset along its sort key (services/queues.py); sorting by opened_at or
state_entered_at, and filtering opening or closing dates and open/closed (closed_at IS NULL), walk these
instead of sorting every case of the jurisdiction.

Revision ID: d8b2f5c3a1e7
Revises: c6e2a9d4b8f1
Create Date: 2026-11-24 12:00:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'd8b2f5c3a1e7'
down_revision = 'c6e2a9d4b8f1'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.create_index('ix_case_opened_at', ['opened_at'], unique=False)
        batch_op.create_index('ix_case_state_entered_at', ['state_entered_at'], unique=False)
        batch_op.create_index('ix_case_closed_at', ['closed_at'], unique=False)


def downgrade():
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.drop_index('ix_case_closed_at')
        batch_op.drop_index('ix_case_state_entered_at')
        batch_op.drop_index('ix_case_opened_at')

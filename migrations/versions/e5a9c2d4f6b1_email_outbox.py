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
    op.create_table('outbox_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('to_address', sa.String(length=320), nullable=False),
    sa.Column('subject', sa.String(length=500), nullable=False),
    sa.Column('text_body', sa.Text(), nullable=False),
    sa.Column('html_body', sa.Text(), nullable=True),
    sa.Column('attachments', sa.JSON(), nullable=False),
    sa.Column('message_id', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', caseflow.models.UTCDateTime(), nullable=False),
    sa.Column('next_attempt_at', caseflow.models.UTCDateTime(), nullable=False),
    sa.Column('claimed_at', caseflow.models.UTCDateTime(), nullable=True),
    sa.Column('claim_token', sa.String(length=32), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('sent_at', caseflow.models.UTCDateTime(), nullable=True),
    sa.CheckConstraint("status in ('pending', 'sending', 'sent', 'failed_permanently')",
                       name=op.f('ck_outbox_message_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_message')),
    sa.UniqueConstraint('key', name=op.f('uq_outbox_message_key'))
    )
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_message_status_next_attempt_at', ['status', 'next_attempt_at'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_message_status_next_attempt_at')

    op.drop_table('outbox_message')

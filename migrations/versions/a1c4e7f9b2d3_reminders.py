"""Deadline reminders: cases turning yellow or red, per recipient.

Revision ID: a1c4e7f9b2d3
Revises: f7b3d5e1a2c8
Create Date: 2026-11-24 02:30:00

"""
from alembic import op
import sqlalchemy as sa
import caseflow.models


# revision identifiers, used by Alembic.
revision = 'a1c4e7f9b2d3'
down_revision = 'f7b3d5e1a2c8'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('reminder',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('due_at', caseflow.models.UTCDateTime(), nullable=False),
    sa.Column('created_at', caseflow.models.UTCDateTime(), nullable=False),
    sa.Column('read_at', caseflow.models.UTCDateTime(), nullable=True),
    sa.CheckConstraint("kind in ('yellow', 'red')", name=op.f('ck_reminder_kind')),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], name=op.f('fk_reminder_case_id_case'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_reminder_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reminder')),
    sa.UniqueConstraint('user_id', 'case_id', 'kind', 'due_at', name=op.f('uq_reminder_user_id_case_id_kind_due_at'))
    )
    with op.batch_alter_table('reminder', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reminder_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_reminder_user_read', ['user_id', 'read_at'], unique=False)


def downgrade():
    with op.batch_alter_table('reminder', schema=None) as batch_op:
        batch_op.drop_index('ix_reminder_user_read')
        batch_op.drop_index(batch_op.f('ix_reminder_case_id'))

    op.drop_table('reminder')

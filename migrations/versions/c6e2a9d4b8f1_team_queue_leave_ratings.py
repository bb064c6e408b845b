"""Saved team-queue filters, leave, applicants' ratings and their follow-ups.

Revision ID: c6e2a9d4b8f1
Revises: b3d8f1a6c2e4
Create Date: 2026-11-24 03:20:00

"""
from alembic import op
import sqlalchemy as sa
import caseflow.models


# revision identifiers, used by Alembic.
revision = 'c6e2a9d4b8f1'
down_revision = 'b3d8f1a6c2e4'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('saved_filter',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('query', sa.String(length=2000), nullable=False),
    sa.Column('created_at', caseflow.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_saved_filter_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_saved_filter')),
    sa.UniqueConstraint('user_id', 'name', name=op.f('uq_saved_filter_user_id_name'))
    )
    op.create_table('leave',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('delegate_id', sa.Integer(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', caseflow.models.UTCDateTime(), nullable=False),
    sa.CheckConstraint('ends_on >= starts_on', name=op.f('ck_leave_period')),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_leave_created_by_id_user')),
    sa.ForeignKeyConstraint(['delegate_id'], ['user.id'], name=op.f('fk_leave_delegate_id_user')),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_leave_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_leave'))
    )
    with op.batch_alter_table('leave', schema=None) as batch_op:
        batch_op.create_index('ix_leave_user_ends_on', ['user_id', 'ends_on'], unique=False)
    op.create_table('rating',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('created_at', caseflow.models.UTCDateTime(), nullable=False),
    sa.CheckConstraint('level BETWEEN 1 AND 5', name=op.f('ck_rating_level')),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], name=op.f('fk_rating_case_id_case'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rating')),
    sa.UniqueConstraint('case_id', name=op.f('uq_rating_case_id'))
    )
    with op.batch_alter_table('rating', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rating_created_at'), ['created_at'], unique=False)
    op.create_table('follow_up',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rating_id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('resolution', sa.Text(), nullable=True),
    sa.Column('created_at', caseflow.models.UTCDateTime(), nullable=False),
    sa.Column('closed_at', caseflow.models.UTCDateTime(), nullable=True),
    sa.Column('closed_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("status in ('open', 'done')", name=op.f('ck_follow_up_status')),
    sa.ForeignKeyConstraint(['assignee_id'], ['user.id'], name=op.f('fk_follow_up_assignee_id_user')),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], name=op.f('fk_follow_up_case_id_case'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['closed_by_id'], ['user.id'], name=op.f('fk_follow_up_closed_by_id_user')),
    sa.ForeignKeyConstraint(['rating_id'], ['rating.id'], name=op.f('fk_follow_up_rating_id_rating'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_follow_up')),
    sa.UniqueConstraint('rating_id', name=op.f('uq_follow_up_rating_id'))
    )
    with op.batch_alter_table('follow_up', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_follow_up_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_follow_up_status', ['status', 'created_at'], unique=False)


def downgrade():
    op.drop_table('follow_up')
    op.drop_table('rating')
    op.drop_table('leave')
    op.drop_table('saved_filter')

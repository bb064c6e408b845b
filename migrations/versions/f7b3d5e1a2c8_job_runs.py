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
    op.create_table('job_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job', sa.String(length=64), nullable=False),
    sa.Column('scheduled_for', caseflow.models.UTCDateTime(), nullable=True),
    sa.Column('clock', caseflow.models.UTCDateTime(), nullable=False),
    sa.Column('trigger', sa.String(length=16), nullable=False),
    sa.Column('started_at', caseflow.models.UTCDateTime(), nullable=False),
    sa.Column('finished_at', caseflow.models.UTCDateTime(), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('summary', sa.Text(), nullable=True),
    sa.CheckConstraint("trigger in ('scheduled', 'makeup', 'manual', 'start')", name=op.f('ck_job_run_trigger')),
    sa.CheckConstraint("outcome in ('running', 'ok', 'failed')", name=op.f('ck_job_run_outcome')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_job_run')),
    sa.UniqueConstraint('job', 'scheduled_for', name=op.f('uq_job_run_job_scheduled_for'))
    )
    with op.batch_alter_table('job_run', schema=None) as batch_op:
        batch_op.create_index('ix_job_run_started_at', ['started_at'], unique=False)


def downgrade():
    with op.batch_alter_table('job_run', schema=None) as batch_op:
        batch_op.drop_index('ix_job_run_started_at')

    op.drop_table('job_run')

"""Daily digest opt-out, late steps per case, monthly meeting reports.

Revision ID: b3d8f1a6c2e4
Revises: a1c4e7f9b2d3
Create Date: 2026-11-24 03:10:00

"""
from alembic import op
import sqlalchemy as sa
import caseflow.models


# revision identifiers, used by Alembic.
revision = 'b3d8f1a6c2e4'
down_revision = 'a1c4e7f9b2d3'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('daily_digest', sa.Boolean(), server_default=sa.true(), nullable=False))
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('late_steps', sa.Integer(), server_default='0', nullable=False))
    op.create_table('report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('township_id', sa.Integer(), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('generated_at', caseflow.models.UTCDateTime(), nullable=False),
    sa.Column('generated_by_id', sa.Integer(), nullable=True),
    sa.Column('emailed_at', caseflow.models.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['generated_by_id'], ['user.id'], name=op.f('fk_report_generated_by_id_user')),
    sa.ForeignKeyConstraint(['township_id'], ['jurisdiction.id'], name=op.f('fk_report_township_id_jurisdiction')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report')),
    sa.UniqueConstraint('township_id', 'month', name=op.f('uq_report_township_id_month'))
    )


def downgrade():
    op.drop_table('report')
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.drop_column('late_steps')
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('daily_digest')

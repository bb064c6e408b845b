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
    op.create_table('public_notice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('jurisdiction_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', caseflow.models.UTCDateTime(), nullable=False),
    sa.Column('ends_at', caseflow.models.UTCDateTime(), nullable=False),
    sa.Column('replaces_id', sa.Integer(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', caseflow.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_public_notice_created_by_id_user')),
    sa.ForeignKeyConstraint(['jurisdiction_id'], ['jurisdiction.id'], name=op.f('fk_public_notice_jurisdiction_id_jurisdiction')),
    sa.ForeignKeyConstraint(['replaces_id'], ['public_notice.id'], name=op.f('fk_public_notice_replaces_id_public_notice')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_public_notice'))
    )
    with op.batch_alter_table('public_notice', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_public_notice_ends_at'), ['ends_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_public_notice_jurisdiction_id'), ['jurisdiction_id'], unique=False)

    op.create_table('public_notice_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('notice_id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('objector', sa.String(length=100), nullable=True),
    sa.Column('objection', sa.Text(), nullable=True),
    sa.Column('objected_at', caseflow.models.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], name=op.f('fk_public_notice_entry_case_id_case'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['notice_id'], ['public_notice.id'], name=op.f('fk_public_notice_entry_notice_id_public_notice'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_public_notice_entry')),
    sa.UniqueConstraint('notice_id', 'case_id', name=op.f('uq_public_notice_entry_notice_id_case_id'))
    )
    with op.batch_alter_table('public_notice_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_public_notice_entry_case_id'), ['case_id'], unique=False)

    op.create_table('subsidy_enrolment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('scheme_id', sa.Integer(), nullable=False),
    sa.Column('child_name', sa.String(length=50), nullable=True),
    sa.Column('child_birth_date', sa.Date(), nullable=True),
    sa.Column('starts_on', sa.Date(), nullable=True),
    sa.Column('ends_on', sa.Date(), nullable=True),
    sa.Column('reconfirmed_year', sa.Integer(), nullable=True),
    sa.Column('bank_name', sa.String(length=100), nullable=True),
    sa.Column('bank_account', sa.String(length=34), nullable=True),
    sa.Column('notice_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('ends_on IS NULL OR starts_on IS NULL OR ends_on >= starts_on', name=op.f('ck_subsidy_enrolment_period')),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], name=op.f('fk_subsidy_enrolment_case_id_case'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['notice_id'], ['public_notice.id'], name=op.f('fk_subsidy_enrolment_notice_id_public_notice')),
    sa.ForeignKeyConstraint(['scheme_id'], ['subsidy_scheme.id'], name=op.f('fk_subsidy_enrolment_scheme_id_subsidy_scheme')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subsidy_enrolment')),
    sa.UniqueConstraint('case_id', name=op.f('uq_subsidy_enrolment_case_id'))
    )
    with op.batch_alter_table('subsidy_enrolment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subsidy_enrolment_notice_id'), ['notice_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_subsidy_enrolment_scheme_id'), ['scheme_id'], unique=False)

    op.create_table('payment_batch',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scheme_id', sa.Integer(), nullable=False),
    sa.Column('township_id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=10), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', caseflow.models.UTCDateTime(), nullable=False),
    sa.CheckConstraint('period_end > period_start', name=op.f('ck_payment_batch_period')),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_payment_batch_created_by_id_user')),
    sa.ForeignKeyConstraint(['scheme_id'], ['subsidy_scheme.id'], name=op.f('fk_payment_batch_scheme_id_subsidy_scheme')),
    sa.ForeignKeyConstraint(['township_id'], ['jurisdiction.id'], name=op.f('fk_payment_batch_township_id_jurisdiction')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_batch')),
    sa.UniqueConstraint('scheme_id', 'township_id', 'period', name=op.f('uq_payment_batch_scheme_id_township_id_period'))
    )
    op.create_table('payment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('enrolment_id', sa.Integer(), nullable=False),
    sa.Column('months', sa.Integer(), nullable=False),
    sa.Column('amount_fen', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint('amount_fen >= 0', name=op.f('ck_payment_non_negative')),
    sa.CheckConstraint('months >= 0 AND months <= 12', name=op.f('ck_payment_months')),
    sa.CheckConstraint("status in ('pending', 'paid', 'failed')", name=op.f('ck_payment_status')),
    sa.ForeignKeyConstraint(['batch_id'], ['payment_batch.id'], name=op.f('fk_payment_batch_id_payment_batch'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['enrolment_id'], ['subsidy_enrolment.id'], name=op.f('fk_payment_enrolment_id_subsidy_enrolment')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment')),
    sa.UniqueConstraint('batch_id', 'enrolment_id', name=op.f('uq_payment_batch_id_enrolment_id'))
    )
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.create_index('ix_payment_batch_status', ['batch_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_payment_enrolment_id'), ['enrolment_id'], unique=False)

    op.create_table('payment_attempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('payment_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=40), nullable=False),
    sa.Column('bank_name', sa.String(length=100), nullable=True),
    sa.Column('bank_account', sa.String(length=34), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('failure_reason', sa.String(length=300), nullable=True),
    sa.Column('retry_of_id', sa.Integer(), nullable=True),
    sa.Column('created_at', caseflow.models.UTCDateTime(), nullable=False),
    sa.Column('marked_at', caseflow.models.UTCDateTime(), nullable=True),
    sa.Column('marked_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("status in ('pending', 'paid', 'failed')", name=op.f('ck_payment_attempt_status')),
    sa.ForeignKeyConstraint(['marked_by_id'], ['user.id'], name=op.f('fk_payment_attempt_marked_by_id_user')),
    sa.ForeignKeyConstraint(['payment_id'], ['payment.id'], name=op.f('fk_payment_attempt_payment_id_payment'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['retry_of_id'], ['payment_attempt.id'], name=op.f('fk_payment_attempt_retry_of_id_payment_attempt')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_attempt')),
    sa.UniqueConstraint('payment_id', 'seq', name=op.f('uq_payment_attempt_payment_id_seq')),
    sa.UniqueConstraint('reference', name=op.f('uq_payment_attempt_reference'))
    )


def downgrade():
    op.drop_table('payment_attempt')
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_enrolment_id'))
        batch_op.drop_index('ix_payment_batch_status')
    op.drop_table('payment')
    op.drop_table('payment_batch')
    with op.batch_alter_table('subsidy_enrolment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subsidy_enrolment_scheme_id'))
        batch_op.drop_index(batch_op.f('ix_subsidy_enrolment_notice_id'))
    op.drop_table('subsidy_enrolment')
    with op.batch_alter_table('public_notice_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_public_notice_entry_case_id'))
    op.drop_table('public_notice_entry')
    with op.batch_alter_table('public_notice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_public_notice_jurisdiction_id'))
        batch_op.drop_index(batch_op.f('ix_public_notice_ends_at'))
    op.drop_table('public_notice')

"""Fee cases: amounts, payments and late charges.

Revision ID: d2f6b3a7c1e5
Revises: c4e8a1f2b9d0
Create Date: 2026-11-24 00:30:00

"""
from alembic import op
import sqlalchemy as sa
import caseflow.models


# revision identifiers, used by Alembic.
revision = 'd2f6b3a7c1e5'
down_revision = 'c4e8a1f2b9d0'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('fee_account',
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('fee_type_id', sa.Integer(), nullable=False),
    sa.Column('notified_fen', sa.Integer(), nullable=True),
    sa.Column('decided_fen', sa.Integer(), nullable=True),
    sa.Column('paid_principal_fen', sa.Integer(), nullable=False),
    sa.Column('late_charge_fen', sa.Integer(), nullable=False),
    sa.Column('late_charge_paid_fen', sa.Integer(), nullable=False),
    sa.Column('late_charge_as_of', sa.Date(), nullable=True),
    sa.Column('payment_due_on', sa.Date(), nullable=True),
    sa.Column('last_state', sa.String(length=40), nullable=False),
    sa.CheckConstraint('paid_principal_fen >= 0 AND late_charge_fen >= 0 AND late_charge_paid_fen >= 0',
                       name=op.f('ck_fee_account_non_negative')),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], name=op.f('fk_fee_account_case_id_case'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['fee_type_id'], ['fee_type.id'], name=op.f('fk_fee_account_fee_type_id_fee_type')),
    sa.PrimaryKeyConstraint('case_id', name=op.f('pk_fee_account'))
    )
    with op.batch_alter_table('fee_account', schema=None) as batch_op:
        batch_op.create_index('ix_fee_account_payment_due_on', ['payment_due_on'], unique=False)

    op.create_table('fee_instalment',
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('amount_fen', sa.Integer(), nullable=False),
    sa.CheckConstraint('amount_fen > 0', name=op.f('ck_fee_instalment_positive')),
    sa.ForeignKeyConstraint(['case_id'], ['fee_account.case_id'], name=op.f('fk_fee_instalment_case_id_fee_account'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('case_id', 'seq', name=op.f('pk_fee_instalment'))
    )
    op.create_table('fee_payment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('paid_on', sa.Date(), nullable=False),
    sa.Column('amount_fen', sa.Integer(), nullable=False),
    sa.Column('principal_fen', sa.Integer(), nullable=False),
    sa.Column('late_charge_fen', sa.Integer(), nullable=False),
    sa.Column('receipt_ref', sa.String(length=64), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('recorded_at', caseflow.models.UTCDateTime(), nullable=False),
    sa.CheckConstraint('amount_fen > 0 AND amount_fen = principal_fen + late_charge_fen', name=op.f('ck_fee_payment_split')),
    sa.ForeignKeyConstraint(['case_id'], ['fee_account.case_id'], name=op.f('fk_fee_payment_case_id_fee_account'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['user.id'], name=op.f('fk_fee_payment_recorded_by_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fee_payment'))
    )
    with op.batch_alter_table('fee_payment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fee_payment_case_id'), ['case_id'], unique=False)


def downgrade():
    with op.batch_alter_table('fee_payment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fee_payment_case_id'))

    op.drop_table('fee_payment')
    op.drop_table('fee_instalment')
    with op.batch_alter_table('fee_account', schema=None) as batch_op:
        batch_op.drop_index('ix_fee_account_payment_due_on')

    op.drop_table('fee_account')

"""Supervisors hear of red cases once per village and day, not once per case.

``village_reminder`` holds one notification per (supervisor, village, office day): how many cases of the
village turned red that day, and how many of them nobody holds (services/reminders.py). The deadline scan
stops raising a ``reminder`` row for every supervisor of the township for every case turning red (about 42
per case with a thousand users). ``red_deadline`` holds each (case, deadline) counted so, so that a case
marked red again (a new assignee clears the scan's mark) is not counted twice.

Reminders already raised are kept as they are: supervisors still see their per-case ones until they are
read, and the unique key of ``reminder`` is unchanged. Open cases the scan has marked red were told to their
supervisors already: their deadlines go into ``red_deadline``.

Revision ID: b5e2d7a9c3f1
Revises: a3c7e9b2d4f6
Create Date: 2026-11-24 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b5e2d7a9c3f1'
down_revision = 'a3c7e9b2d4f6'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'village_reminder',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('village_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('cases', sa.Integer(), nullable=False),
        sa.Column('unassigned', sa.Integer(), nullable=False),
        sa.Column('raised_at', sa.DateTime(), nullable=False),
        sa.Column('read_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_village_reminder_user_id_user'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['village_id'], ['jurisdiction.id'],
                                name=op.f('fk_village_reminder_village_id_jurisdiction'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_village_reminder')),
        sa.UniqueConstraint('user_id', 'village_id', 'day', name=op.f('uq_village_reminder_user_id_village_id_day')),
    )
    op.create_index('ix_village_reminder_user_read', 'village_reminder', ['user_id', 'read_at'], unique=False)
    op.create_table(
        'red_deadline',
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('due_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['case.id'], name=op.f('fk_red_deadline_case_id_case'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('case_id', 'due_at', name=op.f('pk_red_deadline')),
    )
    case = sa.table('case', sa.column('id', sa.Integer), sa.column('due_at', sa.DateTime),
                    sa.column('closed_at', sa.DateTime), sa.column('reminded_light', sa.String))
    red_deadline = sa.table('red_deadline', sa.column('case_id', sa.Integer), sa.column('due_at', sa.DateTime))
    op.execute(red_deadline.insert().from_select(
        ['case_id', 'due_at'],
        sa.select(case.c.id, case.c.due_at).where(case.c.closed_at.is_(None), case.c.reminded_light == 'red',
                                                  case.c.due_at.is_not(None))))


def downgrade():
    op.drop_table('red_deadline')
    op.drop_index('ix_village_reminder_user_read', table_name='village_reminder')
    op.drop_table('village_reminder')

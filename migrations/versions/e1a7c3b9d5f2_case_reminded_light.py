"""The deadline scan remembers on each case which light it last reminded about.

``case.reminded_light`` (NULL, 'yellow', 'red') lets the scan select only the cases whose light got worse
since, through a partial index over open cases, instead of every yellow and red case every ten minutes
(services/reminders.py). Existing rows take it from the reminders already raised for the case's current
deadline, so an upgraded database does not raise them all again.

Revision ID: e1a7c3b9d5f2
Revises: d8b2f5c3a1e7
Create Date: 2026-11-25 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e1a7c3b9d5f2'
down_revision = 'd8b2f5c3a1e7'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reminded_light', sa.String(length=8), nullable=True))
        batch_op.create_index(
            'ix_case_reminder_scan', ['reminded_light', 'due_at'], unique=False,
            sqlite_where=sa.text('closed_at IS NULL'), postgresql_where=sa.text('closed_at IS NULL'))

    case = sa.table('case', sa.column('id', sa.Integer), sa.column('due_at', sa.DateTime),
                    sa.column('closed_at', sa.DateTime), sa.column('reminded_light', sa.String))
    reminder = sa.table('reminder', sa.column('case_id', sa.Integer), sa.column('kind', sa.String),
                        sa.column('due_at', sa.DateTime))

    def raised(kind):
        return sa.exists().where(reminder.c.case_id == case.c.id, reminder.c.due_at == case.c.due_at,
                                 reminder.c.kind == kind)

    op.execute(
        case.update()
        .where(case.c.closed_at.is_(None), case.c.due_at.is_not(None), raised('red') | raised('yellow'))
        .values(reminded_light=sa.case((raised('red'), 'red'), else_='yellow')))


def downgrade():
    # Never a copy of the table on SQLite (its native DROP COLUMN, 3.35+, suffices): dropping the old
    # "case" table with foreign keys enforced would delete every case's events and reminders with it.
    with op.batch_alter_table('case', schema=None, recreate='never') as batch_op:
        batch_op.drop_index('ix_case_reminder_scan', sqlite_where=sa.text('closed_at IS NULL'),
                            postgresql_where=sa.text('closed_at IS NULL'))
        batch_op.drop_column('reminded_light')

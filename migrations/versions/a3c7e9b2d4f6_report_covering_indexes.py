"""Covering indexes for the monthly meeting report and the dashboard at a million cases.

Measured with ``python -m bench.report`` (docs/benchmarks.md): with these, the report's and the dashboard's
counts of a township's cases are read from the indexes alone, without visiting the cases.

- ``case (jurisdiction_id, opened_at, workflow)`` and ``case (jurisdiction_id, closed_at, workflow,
  late_steps, id)`` replace the two-column indexes of f4c8e2a6b1d9: cases opened, or closed (finished, on
  time or late), in a month or period, by workflow.
- ``case (jurisdiction_id, workflow, state_entered_at, opened_at, due_at, id) WHERE closed_at IS NULL``:
  open cases by light, now or at a month's end; only open cases are in it.

On PostgreSQL the indexes are built CONCURRENTLY, outside the migration's transaction, for the reason
f4c8e2a6b1d9 gives (the office keeps working during an upgrade); each is dropped first if it exists, so a
failed build can simply be run again. The indexes change no behaviour.

Revision ID: a3c7e9b2d4f6
Revises: f4c8e2a6b1d9
Create Date: 2026-11-24 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a3c7e9b2d4f6'
down_revision = 'f4c8e2a6b1d9'
branch_labels = None
depends_on = None

OPEN = sa.text('closed_at IS NULL')
# (name, columns, where) after this revision, and the columns before it (None: new here).
INDEXES = (
    ('ix_case_jurisdiction_opened_at', ['jurisdiction_id', 'opened_at', 'workflow'], None,
     ['jurisdiction_id', 'opened_at']),
    ('ix_case_jurisdiction_closed_at', ['jurisdiction_id', 'closed_at', 'workflow', 'late_steps', 'id'], None,
     ['jurisdiction_id', 'closed_at']),
    ('ix_case_open_jurisdiction',
     ['jurisdiction_id', 'workflow', 'state_entered_at', 'opened_at', 'due_at', 'id'], OPEN, None),
)


def _rebuild(indexes):
    """(name, columns or None to leave it dropped, where) for each index of ``case``."""
    if op.get_bind().dialect.name != 'postgresql':
        for name, columns, where in indexes:
            op.drop_index(name, table_name='case', if_exists=True)
            if columns:
                op.create_index(name, 'case', columns, unique=False, sqlite_where=where)
        return
    with op.get_context().autocommit_block():
        for name, columns, where in indexes:
            op.drop_index(name, table_name='case', postgresql_concurrently=True, if_exists=True)
            if columns:
                op.create_index(name, 'case', columns, unique=False, postgresql_concurrently=True,
                                postgresql_where=where)


def upgrade():
    _rebuild([(name, columns, where) for name, columns, where, _before in INDEXES])


def downgrade():
    _rebuild([(name, before, None) for name, _columns, _where, before in reversed(INDEXES)])

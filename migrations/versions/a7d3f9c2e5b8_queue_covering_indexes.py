"""My queue walks the unassigned cases from their index alone; the team queue's ranges of dates are read
from the village's opening and closing indexes alone.

Measured with ``python -m bench.queues`` and EXPLAIN on the 1M-case bench databases (docs/benchmarks.md):

- ``ix_case_unassigned_queue``, the open cases nobody holds by ``(due_at, id)``, replaces
  ``ix_case_unassigned_by_due`` and carries after those keys the village, the opening time, the workflow,
  the assignee and the closing time. My queue walks it by deadline and, for cases sharing a deadline (a
  deadline ends a working day, so a township has about 200 unassigned cases on each), sorts one day's group
  by opening time newest first, all from the index: 0.03 ms for a page of a township's 10,778 unassigned
  cases, where SQLite gathered them through (assignee, village), read each row and sorted them (10 ms). The
  assignee and the closing time are NULL in every entry; they are there because SQLite reads the walk from
  the index alone only when the index holds every column the query names (it does not see that the index's
  condition fixes them), and My queue's need-to-know rule names the assignee. The team queue's unassigned
  cases walk it by (due_at, id) as before.
- ``ix_case_jurisdiction_closing``, the village's cases by closing time, replaces
  ``ix_case_jurisdiction_closed_at`` with the opening time after its columns. The team queue's closed cases
  of a range of closing dates, newest opened first, are read from the index and sorted there: 0.7 ms for a
  township's 7,935 cases closed in two months, where reading each row took 7.2 ms. The count of a range of
  openings among open cases reads it too (three weeks: 10 ms through the opening index and the rows, 2 ms).
- ``ix_case_jurisdiction_opening``, the village's cases by opening time, replaces
  ``ix_case_jurisdiction_opened_at`` with the closing time and the id after its columns: a range of
  openings tells its open cases from its closed ones in the index, and PostgreSQL (whose indexes do not hold
  the row's id unless told) lists the range's closed cases by id from it: 0.5 ms for a month of 2025,
  where it scanned the township's closed cases through the closing index (6.1 ms).

The monthly report reads the opening and closing indexes as before (their leading columns are unchanged). A
case's opening time never changes and its closing time changes once, so a transition writes these indexes
no more often than before. ``case`` keeps 21 indexes. Built as f9a3c5e7b1d2 builds its indexes:
CONCURRENTLY on PostgreSQL, outside the migration's transaction (each dropped first if a failed build left
it), each new one before the one it replaces is dropped, and with ANALYZE on a SQLite database that has
statistics. The indexes change no behaviour.

Revision ID: a7d3f9c2e5b8
Revises: f9a3c5e7b1d2
Create Date: 2026-11-24 23:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a7d3f9c2e5b8'
down_revision = 'f9a3c5e7b1d2'
branch_labels = None
depends_on = None

UNASSIGNED = 'closed_at IS NULL AND assignee_id IS NULL'
NEW = (
    ('ix_case_unassigned_queue',
     ['due_at', 'id', 'jurisdiction_id', 'opened_at', 'workflow', 'assignee_id', 'closed_at'], UNASSIGNED),
    ('ix_case_jurisdiction_closing',
     ['jurisdiction_id', 'closed_at', 'workflow', 'late_steps', 'id', 'opened_at'], None),
    ('ix_case_jurisdiction_opening', ['jurisdiction_id', 'opened_at', 'workflow', 'closed_at', 'id'], None),
)
REPLACED = (
    ('ix_case_unassigned_by_due', ['due_at', 'id', 'jurisdiction_id'], UNASSIGNED),
    ('ix_case_jurisdiction_closed_at', ['jurisdiction_id', 'closed_at', 'workflow', 'late_steps', 'id'], None),
    ('ix_case_jurisdiction_opened_at', ['jurisdiction_id', 'opened_at', 'workflow'], None),
)


def _build(created, dropped):
    """Create ``created`` (name, columns, where or None), then drop the indexes named in ``dropped``."""
    postgresql = op.get_bind().dialect.name == 'postgresql'
    options = {'postgresql_concurrently': True} if postgresql else {}

    def run():
        for name, columns, where in created:
            partial = {} if where is None else {'postgresql_where': sa.text(where), 'sqlite_where': sa.text(where)}
            op.drop_index(name, table_name='case', if_exists=True, **options)
            op.create_index(name, 'case', columns, unique=False, **partial, **options)
        for name, _columns, _where in dropped:
            op.drop_index(name, table_name='case', if_exists=True, **options)

    if postgresql:
        with op.get_context().autocommit_block():
            run()
        return
    run()
    if op.get_bind().exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'").first():
        op.execute('ANALYZE "case"')


def upgrade():
    _build(NEW, REPLACED)


def downgrade():
    _build(REPLACED, NEW)

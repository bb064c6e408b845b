"""Indexes for My queue and the team queue at a million cases.

Measured with ``python -m bench.queues`` and EXPLAIN on both databases (docs/benchmarks.md). A list walks
one of these in its own order and stops after a page, instead of passing the closed cases (four in five,
and older) or a whole group of cases sharing one deadline (a day's deadlines all end at local midnight):

- ``case (due_at, id) WHERE closed_at IS NULL`` replaces ``case (due_at)``: the lists by deadline (the
  default order) and their next pages by (deadline, id) cursor. Closed cases have no running deadline:
  the old index held a million empty entries for them.
- ``case (jurisdiction_id, due_at, id) WHERE closed_at IS NULL`` replaces ``case (jurisdiction_id,
  due_at)``, for the same reason: a village's open cases by deadline, and the team queue's counts by
  deadline light from the index alone (SQLite read every counted case for its closing time). Every
  reader of the old one asks for open cases; the all-cases search now says so for a deadline light.
- ``case (opened_at, id)`` and ``case (state_entered_at, id)``, each as two halves ``WHERE closed_at IS NULL``
  and ``WHERE closed_at IS NOT NULL``, replace ``case (opened_at)`` and ``case (state_entered_at)``: the team
  queue sorted by opening or by time in the state walks the open or the closed half (both, merged, for
  "all"). Sorting open cases by time in state went from 300 ms to under 1 ms. A case is in one half only,
  so a pair costs a transition what one index did.
- ``case (assignee_id, jurisdiction_id, workflow) WHERE closed_at IS NULL``: My queue's counts (own and
  unassigned cases of the user's jurisdictions), its own-case walk, and the team queue's counts filtered by
  assignee, from the index alone.
- ``case (due_at, id) WHERE closed_at IS NULL AND assignee_id IS NULL``: the unassigned cases by deadline
  (My queue's second walk, the team queue's "Unassigned" filter), which otherwise are gathered from a
  whole township and sorted for every page (13 ms at 1M cases on PostgreSQL; 0.3 ms with it). It holds only
  the open cases nobody has taken.

``case`` has 20 indexes after this (16 before). A transition of an open case writes 17 of them, one more
than before (18 while nobody holds the case): each case is in one half of each pair, and the closed half
only takes the place of the index it replaces. On SQLite, a database that has statistics (ANALYZE) gets
them for the new indexes too.

On PostgreSQL the indexes are built CONCURRENTLY, outside the migration's transaction, for the reason
f4c8e2a6b1d9 gives; each is dropped first if it exists, so a failed build can simply be run again, and the
new ones are built before the ones they replace are dropped. The indexes change no behaviour.

Revision ID: c9d4e6f8a2b7
Revises: b5e2d7a9c3f1
Create Date: 2026-11-24 10:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c9d4e6f8a2b7'
down_revision = 'b5e2d7a9c3f1'
branch_labels = None
depends_on = None

OPEN = 'closed_at IS NULL'
CLOSED = 'closed_at IS NOT NULL'
NEW = (
    ('ix_case_open_due', ['due_at', 'id'], OPEN),
    ('ix_case_open_opened_at', ['opened_at', 'id'], OPEN),
    ('ix_case_closed_opened_at', ['opened_at', 'id'], CLOSED),
    ('ix_case_open_state_entered_at', ['state_entered_at', 'id'], OPEN),
    ('ix_case_closed_state_entered_at', ['state_entered_at', 'id'], CLOSED),
    ('ix_case_open_assignee', ['assignee_id', 'jurisdiction_id', 'workflow'], OPEN),
    ('ix_case_unassigned_due', ['due_at', 'id'], 'closed_at IS NULL AND assignee_id IS NULL'),
    ('ix_case_open_jurisdiction_due', ['jurisdiction_id', 'due_at', 'id'], OPEN),
)
REPLACED = (
    ('ix_case_due_at', ['due_at'], None),
    ('ix_case_opened_at', ['opened_at'], None),
    ('ix_case_state_entered_at', ['state_entered_at'], None),
    ('ix_case_jurisdiction_due', ['jurisdiction_id', 'due_at'], None),
)


def _build(created, dropped):
    """Create ``created`` (name, columns, where), then drop the indexes named in ``dropped``."""
    postgresql = op.get_bind().dialect.name == 'postgresql'
    options = {'postgresql_concurrently': True} if postgresql else {}

    def run():
        for name, columns, where in created:
            op.drop_index(name, table_name='case', if_exists=True, **options)
            condition = sa.text(where) if where else None
            op.create_index(name, 'case', columns, unique=False, postgresql_where=condition,
                            sqlite_where=condition, **options)
        for name, _columns, _where in dropped:
            op.drop_index(name, table_name='case', if_exists=True, **options)

    if postgresql:
        with op.get_context().autocommit_block():
            run()
        return
    run()
    # SQLite plans by the statistics ANALYZE stored, which a new index lacks: where a database has them
    # (bench.generate analyzes, an operator may have), the team queue's counts otherwise read a township's
    # open cases through (village, closing time) instead of its deadlines. A database never analyzed keeps
    # the planner's defaults.
    if op.get_bind().exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'").first():
        op.execute('ANALYZE "case"')


def upgrade():
    _build(NEW, REPLACED)


def downgrade():
    _build(REPLACED, NEW)

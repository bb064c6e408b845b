"""The team queue's walks carry the village; indexes for its state filter and its sort by receipt number.

Measured with ``python -m bench.queues`` and EXPLAIN on both databases (docs/benchmarks.md):

- ``case (due_at, id)``, ``(opened_at, id)`` and ``(state_entered_at, id)`` of open cases, and ``(due_at,
  id)`` of open cases nobody holds, are rebuilt with ``jurisdiction_id`` after their keys (renamed
  ``ix_case_open_by_*`` and ``ix_case_unassigned_by_due``). A team page walks one of them in its order
  and keeps the rows of the user's villages; with the village in the index it checks that without
  reading the row. PostgreSQL misjudges how many open cases a township has with a deadline (open and
  "has a deadline" go together; it multiplies them as if unrelated, 7,000 for 34,700), and from one
  ANALYZE to the next it chose between walking the deadline index, reading each row (0.2 ms), and
  gathering the township's 34,700 open cases from (village, deadline) and sorting them (4.1 ms, the
  plan three ANALYZE runs in four gave on the 1M bench database). Walked from the index alone, the walk
  is the cheaper plan by any estimate. The deadline index also carries the opening time, for the team
  queue's range of opening dates: PostgreSQL misjudged that one too (395 cases for 6,275) and gathered
  them from two indexes, reading every row (9.3 ms for the page's query; 0.04 ms walked).
- ``case (workflow, state, due_at, id, jurisdiction_id) WHERE closed_at IS NULL``: the team queue filtered
  by one state walks that state's open cases by deadline and stops after a page. PostgreSQL gathered a
  township's 8,963 cases of one large state (birth registrations accepted) from two indexes, read each
  row and sorted them for every page: 7.1 ms for the page's query, 0.05 ms with it; the capped count of
  those cases 8.0 ms, 4.3 ms from this index alone.
- ``case (number, id) WHERE closed_at IS NULL``: the open cases sorted by receipt number. The unique index
  on the number holds every case, and the oldest numbers belong to closed cases: a first page passed
  10,360 of them (5.4 ms, 0.16 ms with it).

``case`` has 21 indexes after this, its primary key and unique number included (19 before). A
transition writes the state index (its state and deadline change); the number index is written when a
case is opened and, on PostgreSQL, whose updates here are never HOT, by every transition of an open case
(docs/benchmarks.md gives the transitions' rate with them). The rebuilt ones cost what they did.

Built as c9d4e6f8a2b7 builds its indexes: CONCURRENTLY on PostgreSQL, outside the migration's transaction
(each dropped first if a failed build left it), new ones before the ones they replace are dropped, and
with ANALYZE on a SQLite database that has statistics. The indexes change no behaviour.

Revision ID: f9a3c5e7b1d2
Revises: d2f6a8c4e1b3
Create Date: 2026-11-24 21:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f9a3c5e7b1d2'
down_revision = 'd2f6a8c4e1b3'
branch_labels = None
depends_on = None

OPEN = 'closed_at IS NULL'
UNASSIGNED = 'closed_at IS NULL AND assignee_id IS NULL'
NEW = (
    ('ix_case_open_by_due', ['due_at', 'id', 'jurisdiction_id', 'opened_at'], OPEN),
    ('ix_case_open_by_opened_at', ['opened_at', 'id', 'jurisdiction_id'], OPEN),
    ('ix_case_open_by_state_entered_at', ['state_entered_at', 'id', 'jurisdiction_id'], OPEN),
    ('ix_case_unassigned_by_due', ['due_at', 'id', 'jurisdiction_id'], UNASSIGNED),
    ('ix_case_open_workflow_state', ['workflow', 'state', 'due_at', 'id', 'jurisdiction_id'], OPEN),
    ('ix_case_open_number', ['number', 'id'], OPEN),
)
REPLACED = (
    ('ix_case_open_due', ['due_at', 'id'], OPEN),
    ('ix_case_open_opened_at', ['opened_at', 'id'], OPEN),
    ('ix_case_open_state_entered_at', ['state_entered_at', 'id'], OPEN),
    ('ix_case_unassigned_due', ['due_at', 'id'], UNASSIGNED),
)


def _build(created, dropped):
    """Create ``created`` (name, columns, where), then drop the indexes named in ``dropped``."""
    postgresql = op.get_bind().dialect.name == 'postgresql'
    options = {'postgresql_concurrently': True} if postgresql else {}

    def run():
        for name, columns, where in created:
            op.drop_index(name, table_name='case', if_exists=True, **options)
            op.create_index(name, 'case', columns, unique=False, postgresql_where=sa.text(where),
                            sqlite_where=sa.text(where), **options)
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

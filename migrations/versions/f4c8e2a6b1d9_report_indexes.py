"""Indexes for the monthly meeting report and the dashboard at a million cases.

- ``case_event (trigger, at)``: the month's acceptances, requests, refusals, appeals, approvals, enrolments
  and decisions, and the year's reconfirmation rounds, are read by step and time (one range per step)
  instead of scanning every event (services/report_figures.py).
- ``case (jurisdiction_id, opened_at)``, ``case (jurisdiction_id, closed_at)``: the cases of a township's
  villages opened, or closed, in a month or period; ``closed_at IS NULL`` in the second gives its open cases.
- ``case (jurisdiction_id, state_entered_at, opened_at, id)``: the cases that have moved on since a month's
  end but were opened before it, whose state at the end is rebuilt from the audit trail; for a month long
  past most cases entered their state since, and the index alone tells which were opened before it (and
  their ids) without reading the cases.

On PostgreSQL the indexes are built CONCURRENTLY, outside the migration's transaction: a plain CREATE INDEX
holds a lock that stops every transition (each one writes its case and an event) while it reads the whole
table, about ten seconds for three million events and more as the audit trail grows, and the office keeps
working during an upgrade. The indexes change no behaviour, so the running version works with them. A
concurrent build that fails leaves an invalid index behind: each one is dropped first if it exists, so the
upgrade can simply be run again. SQLite builds them in place (it has no concurrent build and no other
writers to stop for long).

Revision ID: f4c8e2a6b1d9
Revises: e1a7c3b9d5f2
Create Date: 2026-11-25 12:00:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'f4c8e2a6b1d9'
down_revision = 'e1a7c3b9d5f2'
branch_labels = None
depends_on = None

INDEXES = (
    ('ix_case_event_trigger_at', 'case_event', ['trigger', 'at']),
    ('ix_case_jurisdiction_opened_at', 'case', ['jurisdiction_id', 'opened_at']),
    ('ix_case_jurisdiction_closed_at', 'case', ['jurisdiction_id', 'closed_at']),
    ('ix_case_jurisdiction_state_entered_at', 'case', ['jurisdiction_id', 'state_entered_at', 'opened_at', 'id']),
)


def _postgresql():
    return op.get_bind().dialect.name == 'postgresql'


def upgrade():
    if not _postgresql():
        for name, table, columns in INDEXES:
            op.create_index(name, table, columns, unique=False)
        return
    with op.get_context().autocommit_block():
        for name, table, columns in INDEXES:
            op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)
            op.create_index(name, table, columns, unique=False, postgresql_concurrently=True)


def downgrade():
    if not _postgresql():
        for name, table, _columns in reversed(INDEXES):
            op.drop_index(name, table_name=table)
        return
    with op.get_context().autocommit_block():
        for name, table, _columns in reversed(INDEXES):
            op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)

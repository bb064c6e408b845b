"""The deadline scan's marks move from ``case.reminded_light`` to a narrow table kept by triggers.

Marking the light on ``case`` was never a HOT update on PostgreSQL (the column was indexed), so each case
marked got a new entry in every one of the table's twenty indexes: 4.2 of the 6.6 s a scan took when
50,000 cases changed light at a million (docs/benchmarks.md). ``case_deadline`` holds one row per open case
that has a deadline — its deadline, the light last reminded about, whether the deadline was counted red in
its village's reminders (until now the table ``red_deadline``, dropped: recording there cost the scan
another 0.8 s of foreign-key checks), and the case's village, workflow and assignee, which decide whom the
scan tells — with two indexes.

Triggers on ``case`` keep it in step, in the transaction that changes the case, whoever writes it (the
engine, a Core update, a bulk load): a case inserted, or one whose deadline, assignee, closing, village or
workflow changed, has its row remember no light (and not counted red, unless the deadline is the same);
one closed or without a running deadline has none.
Before, each writer had to remember to clear the mark (``deadlines.forget_reminded_light``). The existing
marks and counted deadlines are carried over.

SQLite drops a table's triggers when a batch migration recreates the table: a later migration that
recreates ``case`` must create these again (``create_triggers``).

Revision ID: d2f6a8c4e1b3
Revises: c9d4e6f8a2b7
Create Date: 2026-11-24 12:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd2f6a8c4e1b3'
down_revision = 'c9d4e6f8a2b7'
branch_labels = None
depends_on = None

COLUMNS = 'case_id, due_at, reminded_light, red_counted, jurisdiction_id, workflow, assignee_id'
FROM_CASE = 'NEW.id, NEW.due_at, NULL, false, NEW.jurisdiction_id, NEW.workflow, NEW.assignee_id'
WATCHED = 'due_at, assignee_id, closed_at, jurisdiction_id, workflow'
HAS_DEADLINE = 'NEW.closed_at IS NULL AND NEW.due_at IS NOT NULL'
# A new deadline or holder: no light remembered. Counted red only if it was this very deadline.
FOLLOW = f"""INSERT INTO case_deadline ({COLUMNS}) {{rows}}
    ON CONFLICT (case_id) DO UPDATE SET
        reminded_light = NULL,
        red_counted = case_deadline.red_counted AND case_deadline.due_at = excluded.due_at,
        due_at = excluded.due_at, jurisdiction_id = excluded.jurisdiction_id,
        workflow = excluded.workflow, assignee_id = excluded.assignee_id"""

POSTGRESQL = [
    f"""CREATE FUNCTION case_deadline_follow() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF {HAS_DEADLINE} THEN
            {FOLLOW.format(rows=f'VALUES ({FROM_CASE})')};
        ELSIF TG_OP = 'UPDATE' THEN
            DELETE FROM case_deadline WHERE case_id = OLD.id;
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER case_deadline_on_insert AFTER INSERT ON "case"
    FOR EACH ROW EXECUTE FUNCTION case_deadline_follow()""",
    f"""CREATE TRIGGER case_deadline_on_update AFTER UPDATE OF {WATCHED} ON "case" FOR EACH ROW
    WHEN ({' OR '.join(f'OLD.{c} IS DISTINCT FROM NEW.{c}' for c in WATCHED.split(', '))})
    EXECUTE FUNCTION case_deadline_follow()""",
]

SQLITE = [
    f"""CREATE TRIGGER case_deadline_on_insert AFTER INSERT ON "case" WHEN {HAS_DEADLINE}
    BEGIN
        INSERT INTO case_deadline ({COLUMNS}) VALUES ({FROM_CASE});
    END""",
    f"""CREATE TRIGGER case_deadline_on_update AFTER UPDATE OF {WATCHED} ON "case"
    WHEN {' OR '.join(f'OLD.{c} IS NOT NEW.{c}' for c in WATCHED.split(', '))}
    BEGIN
        DELETE FROM case_deadline WHERE case_id = OLD.id AND NOT ({HAS_DEADLINE});
        {FOLLOW.format(rows=f'SELECT {FROM_CASE} WHERE {HAS_DEADLINE}')};
    END""",
]


def create_triggers():
    for statement in POSTGRESQL if op.get_bind().dialect.name == 'postgresql' else SQLITE:
        op.execute(statement)


def drop_triggers():
    on_case = ' ON "case"' if op.get_bind().dialect.name == 'postgresql' else ''
    op.execute(f'DROP TRIGGER case_deadline_on_update{on_case}')
    op.execute(f'DROP TRIGGER case_deadline_on_insert{on_case}')
    if on_case:
        op.execute('DROP FUNCTION case_deadline_follow()')


def upgrade():
    op.create_table(
        'case_deadline',
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('due_at', sa.DateTime(), nullable=False),
        sa.Column('reminded_light', sa.String(length=8), nullable=True),
        sa.Column('red_counted', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('jurisdiction_id', sa.Integer(), nullable=False),
        sa.Column('workflow', sa.String(length=40), nullable=False),
        sa.Column('assignee_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['case_id'], ['case.id'], name=op.f('fk_case_deadline_case_id_case'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('case_id', name=op.f('pk_case_deadline')),
    )
    op.execute(f'INSERT INTO case_deadline ({COLUMNS}) '
               'SELECT id, due_at, reminded_light, EXISTS (SELECT 1 FROM red_deadline '
               'WHERE red_deadline.case_id = "case".id AND red_deadline.due_at = "case".due_at), '
               'jurisdiction_id, workflow, assignee_id FROM "case" WHERE closed_at IS NULL AND due_at IS NOT NULL')
    op.create_index('ix_case_deadline_scan', 'case_deadline', ['reminded_light', 'due_at'], unique=False)
    op.drop_table('red_deadline')
    # Never a copy of the table on SQLite (its native DROP COLUMN, 3.35+, suffices): see e1a7c3b9d5f2.
    with op.batch_alter_table('case', schema=None, recreate='never') as batch_op:
        batch_op.drop_index('ix_case_reminder_scan', sqlite_where=sa.text('closed_at IS NULL'),
                            postgresql_where=sa.text('closed_at IS NULL'))
        batch_op.drop_column('reminded_light')
    create_triggers()


def downgrade():
    drop_triggers()
    with op.batch_alter_table('case', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('reminded_light', sa.String(length=8), nullable=True))
        batch_op.create_index(
            'ix_case_reminder_scan', ['reminded_light', 'due_at'], unique=False,
            sqlite_where=sa.text('closed_at IS NULL'), postgresql_where=sa.text('closed_at IS NULL'))
    op.execute('UPDATE "case" SET reminded_light = (SELECT reminded_light FROM case_deadline '
               'WHERE case_deadline.case_id = "case".id) '
               'WHERE id IN (SELECT case_id FROM case_deadline WHERE reminded_light IS NOT NULL)')
    op.create_table(
        'red_deadline',
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('due_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['case.id'], name=op.f('fk_red_deadline_case_id_case'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('case_id', 'due_at', name=op.f('pk_red_deadline')),
    )
    op.execute('INSERT INTO red_deadline (case_id, due_at) SELECT case_id, due_at FROM case_deadline '
               'WHERE red_counted')
    op.drop_index('ix_case_deadline_scan', table_name='case_deadline')
    op.drop_table('case_deadline')

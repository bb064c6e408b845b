"""The deadline policy is kept per process and keyed by the rows it was built from: a change made by any
process, by any means, is seen by the next transaction."""
from __future__ import annotations

from datetime import date, datetime, timezone

import sqlalchemy as sa

from caseflow.calendar import end_of_local_day
from caseflow.extensions import db, transactional
from caseflow.models import CalendarOverride, DeadlineSetting
from caseflow.services.deadlines import load_calendar, load_policy
from caseflow.workflows import latest

MONDAY = datetime(2026, 11, 23, 2, tzinfo=timezone.utc)


def next_transaction():
    """The policy as a new transaction of this process sees it."""
    db.session.rollback()
    return load_policy()


def test_an_unchanged_policy_is_reused_and_a_change_by_another_process_is_seen(db):
    first = next_transaction()
    assert next_transaction() is first and load_calendar() is first.calendar
    assert first.calendar.add_working_days(MONDAY, 2).at == end_of_local_day(date(2026, 11, 25))

    # Another process (here: plain SQL, no service) closes the office on Tuesday and commits.
    with db.engine.begin() as other:
        other.execute(sa.insert(CalendarOverride.__table__).values(
            day=date(2026, 11, 24), is_working_day=False, note="停电", created_at=MONDAY))
    closed = next_transaction()
    assert closed is not first
    assert closed.calendar.add_working_days(MONDAY, 2).at == end_of_local_day(date(2026, 11, 26))

    # ... changes an admin deadline in place, then removes it.
    workflow = latest("birth_registration")
    with db.engine.begin() as other:
        other.execute(sa.insert(DeadlineSetting.__table__).values(
            workflow=workflow.name, workflow_version=workflow.version, state="accepted", limit_amount=7,
            target_amount=0, updated_at=MONDAY))
    assert next_transaction().rule(workflow, "accepted").limit.amount == 7
    with db.engine.begin() as other:
        other.execute(sa.update(DeadlineSetting.__table__).values(limit_amount=9))
    assert next_transaction().rule(workflow, "accepted").limit.amount == 9
    with db.engine.begin() as other:
        other.execute(sa.delete(DeadlineSetting.__table__))
        other.execute(sa.delete(CalendarOverride.__table__))
    assert next_transaction().rule(workflow, "accepted").limit.amount == 3
    assert load_calendar().add_working_days(MONDAY, 2).at == end_of_local_day(date(2026, 11, 25))


def test_a_change_earlier_in_the_same_transaction_is_seen(db):
    load_policy()
    with transactional():
        db.session.add(CalendarOverride(day=date(2026, 11, 24), is_working_day=False, note="x", created_at=MONDAY))
        db.session.flush()
        assert load_calendar().add_working_days(MONDAY, 2).at == end_of_local_day(date(2026, 11, 26))
        db.session.rollback()
    assert load_calendar().add_working_days(MONDAY, 2).at == end_of_local_day(date(2026, 11, 25))


def test_a_transaction_reads_the_policy_once_and_sees_its_own_bulk_changes(db):
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731 (before_cursor_execute's statement)
    sa.event.listen(db.engine, "before_cursor_execute", listener)
    try:
        db.session.rollback()
        first = load_policy()
        assert load_policy() is first and load_calendar() is first.calendar
        assert sum("calendar_override" in s for s in statements) == 1  # one read for the three
        workflow = latest("birth_registration")
        with transactional():
            db.session.add(DeadlineSetting(workflow=workflow.name, workflow_version=workflow.version,
                                           state="accepted", limit_amount=7, target_amount=0, updated_at=MONDAY))
            db.session.flush()
            assert load_policy().rule(workflow, "accepted").limit.amount == 7
            db.session.execute(sa.update(DeadlineSetting).values(limit_amount=9))  # a bulk statement
            assert load_policy().rule(workflow, "accepted").limit.amount == 9
            db.session.execute(sa.delete(DeadlineSetting))
            assert load_policy().rule(workflow, "accepted").limit.amount == 3
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", listener)

"""Deadline reminders: the scheduler's deadline scan raises them, users read them in their notification list.

A reminder is about one deadline of one case for one recipient: the assignee when the case turns yellow or
red, and the supervisors of the case's jurisdiction when it turns red. The unique key (user, case, kind,
deadline) makes the scan idempotent: a second scan, or two schedulers racing, add nothing; a new deadline
(the case moved to another state) is a new reminder.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from caseflow.calendar import utcnow
from caseflow.extensions import db
from caseflow.models import Case, Reminder, User, UserRole
from caseflow.services import access
from caseflow.services.deadlines import LightBounds, load_calendar
from caseflow.services.errors import NotFound
from caseflow.workflows.definition import Text

REMINDER_NOT_FOUND = Text("找不到该提醒。", "Reminder not found.")


def _recipients(case: Case, light: str, supervisors: list[tuple[User, set[int]]]) -> list[User]:
    """Who hears about ``case`` turning ``light``: the assignee; when red, also the supervisors over it.
    Only people who may read the case (need-to-know cases stay with those entitled to them)."""
    people: dict[int, User] = {}
    if case.assignee is not None and case.assignee.is_active:
        people[case.assignee.id] = case.assignee
    if light == "red":
        for supervisor, places in supervisors:
            if case.jurisdiction_id in places:
                people[supervisor.id] = supervisor
    return [user for user in people.values() if access.can_read(user, case)]


def scan_deadlines(now: datetime) -> int:
    """Raise reminders for open cases whose deadline light is yellow or red at ``now``.

    Returns how many reminders were created; reminders already raised for the same deadline are kept
    as they are (read or not), so running the scan again creates nothing.
    """
    bounds = LightBounds.at(now, load_calendar())
    supervisors = [
        (user, access.jurisdiction_ids(user))
        for user in db.session.scalars(
            sa.select(User).join(UserRole, UserRole.user_id == User.id)
            .where(UserRole.role == "supervisor", User.active.is_(True)).order_by(User.id))
    ]
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    created = 0
    for light in ("yellow", "red"):
        cases = db.session.scalars(
            sa.select(Case).where(Case.closed_at.is_(None), bounds.where(light)).order_by(Case.id))
        for case in cases.all():
            for user in _recipients(case, light, supervisors):
                result = db.session.execute(
                    insert(Reminder)
                    .values(user_id=user.id, case_id=case.id, kind=light, due_at=case.due_at, created_at=now)
                    .on_conflict_do_nothing(index_elements=["user_id", "case_id", "kind", "due_at"])
                    .returning(Reminder.id))
                created += len(result.all())  # RETURNING, not rowcount: drivers differ on skipped rows
    db.session.flush()
    return created


def _own(user: User) -> sa.Select:
    """The user's reminders about cases they may still read (a reassigned need-to-know case drops out)."""
    readable = access.visible_cases(user).with_only_columns(Case.id)
    return sa.select(Reminder).where(Reminder.user_id == user.id, Reminder.case_id.in_(readable))


def reminders_for(user: User, unread_only: bool = False) -> list[Reminder]:
    """``user``'s reminders: unread first, then newest first."""
    query = _own(user)
    if unread_only:
        query = query.where(Reminder.read_at.is_(None))
    query = query.order_by(Reminder.read_at.is_not(None), Reminder.created_at.desc(), Reminder.id.desc())
    return list(db.session.scalars(query))


def unread_count(user: User) -> int:
    """How many of ``user``'s reminders are unread (the header's badge)."""
    query = _own(user).where(Reminder.read_at.is_(None))
    return db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0


def mark_read(user: User, reminder_id: int, now: datetime | None = None) -> Reminder:
    """Mark one of ``user``'s own reminders read; anyone else's (or none) is NotFound."""
    reminder = db.session.scalar(_own(user).where(Reminder.id == reminder_id))
    if reminder is None:
        raise NotFound(REMINDER_NOT_FOUND)
    if reminder.read_at is None:
        reminder.read_at = now or utcnow()
        db.session.flush()
    return reminder


def mark_all_read(user: User, now: datetime | None = None) -> int:
    """Mark all of ``user``'s unread reminders read; returns how many."""
    result = db.session.execute(
        sa.update(Reminder).where(Reminder.user_id == user.id, Reminder.read_at.is_(None))
        .values(read_at=now or utcnow()).execution_options(synchronize_session=False))
    db.session.flush()
    return result.rowcount

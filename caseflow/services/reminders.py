"""Deadline reminders: the scheduler's deadline scan raises them, users read them in their notification list.

A reminder is about one deadline of one case for one recipient: the assignee when the case turns yellow or
red, and the supervisors of the case's jurisdiction when it turns red. The unique key (user, case, kind,
deadline) makes the scan idempotent: a second scan, or two schedulers racing, add nothing; a new deadline
(the case moved to another state) is a new reminder.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
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


@dataclass(frozen=True)
class DeadlineScan:
    """What one deadline scan did: cases whose light got worse (now marked with it), reminders created."""

    cases: int
    reminders: int


def worse_than_reminded(bounds: LightBounds) -> tuple[tuple[sa.ColumnElement[bool], sa.ColumnElement[bool],
                                                       sa.ColumnElement[str]], ...]:
    """Open cases whose light at ``bounds`` is worse than the one last reminded about, as (light remembered,
    deadline now worse, light now) conditions: reminded yellow and now red; never reminded and now yellow or
    red. Together, the first two are one range of ``ix_case_reminder_scan``."""
    case = Case.__table__.c
    return (
        (sa.and_(case.closed_at.is_(None), case.reminded_light == "yellow"), case.due_at < bounds.now,
         sa.literal("red")),
        (sa.and_(case.closed_at.is_(None), case.reminded_light.is_(None)), case.due_at <= bounds.yellow_until,
         sa.case((case.due_at < bounds.now, "red"), else_="yellow")),
    )


def _mark_worsened(bounds: LightBounds) -> list[sa.Row]:
    """Mark every case whose light got worse with its light now, returning what the recipients depend on.

    One UPDATE … RETURNING per remembered light, so the rows marked are exactly the rows read, and they
    stay locked until the scan commits: on PostgreSQL a transition or hand-over that changed a row meanwhile
    makes READ COMMITTED check the condition again on the new row version (a later deadline or a new
    assignee has cleared the mark: the case is judged afresh); SQLite runs one writer at a time. A Core
    UPDATE, so ``Case.version`` stays (a clerk's open form is still current).
    """
    cases = Case.__table__
    returned = (cases.c.id, cases.c.jurisdiction_id, cases.c.workflow, cases.c.assignee_id, cases.c.reminded_light)
    rows: list[sa.Row] = []
    for remembered, worse, light in worse_than_reminded(bounds):
        # The earliest deadline remembered at this light, straight from the index's order. Bounding the
        # range by it tells the planner how few rows qualify: PostgreSQL cannot know that cases never
        # reminded are mostly far from due, and estimated a sizeable share, then scanned the table.
        earliest = db.session.scalar(
            sa.select(cases.c.due_at).where(remembered, cases.c.due_at.is_not(None))
            .order_by(cases.c.reminded_light, cases.c.due_at).limit(1))
        if earliest is None:
            continue
        condition = sa.and_(remembered, cases.c.due_at >= earliest, worse)
        # Look before writing: with nothing changed the scan stays read-only (no write lock on SQLite).
        if db.session.scalar(sa.select(sa.exists().where(condition))):
            rows += db.session.execute(
                sa.update(cases).where(condition).values(reminded_light=light).returning(*returned)).all()
    return rows


def _supervisor_scopes() -> dict[int, list[access.ReadScope]]:
    """Active supervisors' read scopes by each jurisdiction they may read in."""
    by_place: dict[int, list[access.ReadScope]] = {}
    supervisors = db.session.scalars(
        sa.select(User).join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == "supervisor", User.active.is_(True)).order_by(User.id))
    for scope in access.read_scopes(supervisors).values():
        for place in scope.jurisdictions:
            by_place.setdefault(place, []).append(scope)
    return by_place


def _assignee_scopes(rows: list[sa.Row]) -> dict[int, access.ReadScope]:
    """The read scope of every assignee among ``rows`` (inactive users may read nothing)."""
    ids = sorted({row.assignee_id for row in rows if row.assignee_id is not None})
    scopes: dict[int, access.ReadScope] = {}
    for start in range(0, len(ids), 1000):
        scopes |= access.read_scopes(db.session.scalars(sa.select(User).where(User.id.in_(ids[start:start + 1000]))))
    return scopes


def _recipients(rows: list[sa.Row]) -> list[tuple[int, int]]:
    """(user, case) for each person to tell about each marked case: the assignee; when red, also the
    supervisors over the case's village; only people who may read the case."""
    assignees = _assignee_scopes(rows)
    supervisors = _supervisor_scopes() if any(row.reminded_light == "red" for row in rows) else {}
    pairs: list[tuple[int, int]] = []
    for row in rows:
        where = (row.jurisdiction_id, row.workflow, row.assignee_id)
        scope = assignees.get(row.assignee_id)
        if scope is not None and scope.allows(*where):
            pairs.append((scope.user_id, row.id))
        if row.reminded_light == "red":
            pairs += [(s.user_id, row.id) for s in supervisors.get(row.jurisdiction_id, ())
                      if s.user_id != row.assignee_id and s.allows(*where)]
    return pairs


def _insert_reminders(pairs: list[tuple[int, int]], now: datetime) -> int:
    """Raise a reminder for each (user, case) of marked cases; returns how many were new.

    One INSERT … SELECT: the kind and deadline come from the case row this transaction just marked (and
    holds), the pairs travel as one parameter — two integer arrays on PostgreSQL, a JSON array on SQLite —
    instead of a parameter set per row, which cost several times more than the insert itself. Existing
    reminders (the unique key: user, case, kind, deadline) are left as they are.
    """
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        people = sa.func.unnest(
            sa.bindparam("users", [user for user, _ in pairs], type_=postgresql.ARRAY(sa.Integer)),
            sa.bindparam("cases", [case for _, case in pairs], type_=postgresql.ARRAY(sa.Integer)),
        ).table_valued("user_id", "case_id").render_derived()
        user_id, case_id = people.c.user_id, people.c.case_id
        insert = postgresql.insert
    else:
        people = sa.func.json_each(sa.bindparam("pairs", json.dumps(pairs))).table_valued("value")
        user_id = sa.func.json_extract(people.c.value, "$[0]")
        case_id = sa.func.json_extract(people.c.value, "$[1]")
        insert = sqlite.insert
    cases, reminders = Case.__table__, Reminder.__table__
    # A WHERE, not a JOIN … ON: SQLite would read ON CONFLICT as the join's condition.
    source = (sa.select(user_id, cases.c.id, cases.c.reminded_light, cases.c.due_at,
                        sa.literal(now, reminders.c.created_at.type))
              .select_from(people, cases).where(cases.c.id == case_id))
    result = db.session.execute(
        insert(reminders).from_select(["user_id", "case_id", "kind", "due_at", "created_at"], source)
        .on_conflict_do_nothing(index_elements=["user_id", "case_id", "kind", "due_at"])
        .execution_options(preserve_rowcount=True))
    return result.rowcount  # one statement: the rows inserted, skipped conflicts not counted


def run_deadline_scan(now: datetime) -> DeadlineScan:
    """Raise reminders for open cases whose deadline light got worse since the last scan, and remember the
    light on each case (``Case.reminded_light``, cleared by ``deadlines.forget_reminded_light`` when the
    deadline or the assignee changes).

    Yellow and red remind the assignee; red also the supervisors over the case's village; only people who
    may read the case (``access.read_scope``). Reminders keep their unique key (user, case, kind, deadline)
    with ON CONFLICT DO NOTHING, so nothing is raised twice, even for a case marked afresh.
    """
    bounds = LightBounds.at(now, load_calendar())
    rows = _mark_worsened(bounds)
    if not rows:
        return DeadlineScan(0, 0)
    pairs = _recipients(rows)
    return DeadlineScan(len(rows), _insert_reminders(pairs, now) if pairs else 0)


def scan_deadlines(now: datetime) -> int:
    """Raise reminders for open cases whose deadline light turned yellow or red by ``now``.

    Returns how many reminders were created; reminders already raised for the same deadline are kept
    as they are (read or not), so running the scan again creates nothing.
    """
    return run_deadline_scan(now).reminders


def _own(user: User) -> sa.Select:
    """The user's reminders about cases they may still read (a reassigned need-to-know case drops out)."""
    return sa.select(Reminder).where(Reminder.user_id == user.id, access.visible_case(user, Reminder.case_id))


def reminders_for(user: User, unread_only: bool = False) -> list[Reminder]:
    """``user``'s reminders: unread first, then newest first."""
    query = _own(user)
    if unread_only:
        query = query.where(Reminder.read_at.is_(None))
    query = query.order_by(Reminder.read_at.is_not(None), Reminder.created_at.desc(), Reminder.id.desc())
    return list(db.session.scalars(query))


# The header's badge counts unread reminders on every page. A supervisor collects one per red case of the
# township, thousands where they go unread, and each is checked against what the reader may still see; past
# this many the badge says "99+" and the counting stops.
BADGE_CAP = 99


def unread_count(user: User, cap: int | None = BADGE_CAP) -> int:
    """How many of ``user``'s reminders are unread (the header's badge), counting no further than
    ``cap + 1`` (None: all of them)."""
    query = _own(user).where(Reminder.read_at.is_(None)).with_only_columns(Reminder.id)
    if cap is not None:
        query = query.limit(cap + 1)
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

"""Deadline reminders: the scheduler's deadline scan raises them, users read them in their notification list.

Two kinds, both idempotent (a second scan, or two schedulers racing, add nothing):

- A case reminder (``Reminder``) is about one deadline of one case for its assignee, when the case turns
  yellow and again when it turns red. Its unique key (user, case, kind, deadline) keeps it single; a new
  deadline (the case moved to another state) is a new reminder.
- A village reminder (``VillageReminder``) tells each supervisor of a village how many of its cases turned
  red on one office day, and how many of those nobody holds; it links to the team queue's overdue cases of
  that village. One per (supervisor, village, day): each scan that day adds the cases it saw turn red and
  makes it unread again. A case counts once per deadline (``CaseDeadline.red_counted``): handed to someone
  else and marked red again, it is not counted twice. It counts, for each supervisor, only the cases they
  may read, and names none.

Supervisors used to get a case reminder for every case of their township turning red. With about 40
supervisors to a township that was 26 rows per changed case, most never read: the scan at 50,000 changes
wrote 1.4 million rows (issue 6). An unassigned red case is not told to each supervisor one by one either
(it would be 40 rows again): the village reminder says how many are unassigned and links to them, and the
daily digest lists the team's red cases (services/digests.py). Case reminders raised for supervisors
before this change stay in their lists.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from caseflow.calendar import local_date, utcnow
from caseflow.extensions import db, dialect_insert
from caseflow.models import CaseDeadline, Reminder, User, UserRole, VillageReminder
from caseflow.services import access
from caseflow.services.deadlines import LightBounds, load_calendar
from caseflow.services.errors import NotFound
from caseflow.workflows.definition import Text

REMINDER_NOT_FOUND = Text("找不到该提醒。", "Reminder not found.")
SUPERVISOR = "supervisor"


@dataclass(frozen=True)
class DeadlineScan:
    """What one deadline scan did: cases whose light got worse (now marked with it), case reminders
    created, village reminders raised (new, or counting more cases)."""

    cases: int
    reminders: int
    village_reminders: int = 0


def worse_than_reminded(bounds: LightBounds) -> tuple[tuple[sa.ColumnElement[bool], sa.ColumnElement[bool],
                                                       sa.ColumnElement[str]], ...]:
    """Open cases whose light at ``bounds`` is worse than the one last reminded about, as (light remembered,
    deadline now worse, light now) conditions on ``case_deadline``: reminded yellow and now red; never
    reminded and now yellow or red. Each is one range of ``ix_case_deadline_scan``."""
    marks = CaseDeadline.__table__.c
    return (
        (marks.reminded_light == "yellow", marks.due_at < bounds.now, sa.literal("red")),
        (marks.reminded_light.is_(None), marks.due_at <= bounds.yellow_until,
         sa.case((marks.due_at < bounds.now, "red"), else_="yellow")),
    )


def _mark_worsened(bounds: LightBounds) -> list[sa.Row]:
    """Mark every case whose light got worse with its light now, returning what the recipients depend on:
    (case, village, workflow, assignee, light now, whether its deadline is counted red for the first time).

    UPDATE … RETURNING of ``case_deadline`` per remembered light, so the rows marked are exactly the rows
    read, and they stay locked until the scan commits: first the rows turning red whose deadline was never
    counted (marked counted), then the rest of the range. A transition or hand-over that changes the
    case's deadline or holder rewrites its row (the triggers of migration d2f6a8c4e1b3): meanwhile it waits
    for the scan, and the new deadline or holder is judged afresh; one that committed first has rewritten
    (or deleted) the row the scan would mark, and PostgreSQL's READ COMMITTED checks the condition again
    on what it left. SQLite runs one writer at a time. The case row itself is not written, so
    ``Case.version`` stays (a clerk's open form is still current).
    """
    marks = CaseDeadline.__table__
    # In this order: the functions below unpack the rows.
    returned = (marks.c.case_id, marks.c.jurisdiction_id, marks.c.workflow, marks.c.assignee_id,
                marks.c.reminded_light)
    first_red = sa.and_(marks.c.due_at < bounds.now, marks.c.red_counted.is_(False))
    rows: list[sa.Row] = []
    for remembered, worse, light in worse_than_reminded(bounds):
        # The earliest deadline remembered at this light, straight from the index's order. Bounding the
        # range by it tells the planner how few rows qualify: PostgreSQL cannot know that cases never
        # reminded are mostly far from due, and may estimate a sizeable share, then scan the table.
        earliest = db.session.scalar(
            sa.select(marks.c.due_at).where(remembered).order_by(marks.c.reminded_light, marks.c.due_at).limit(1))
        if earliest is None:
            continue
        condition = sa.and_(remembered, marks.c.due_at >= earliest, worse)
        # Look before writing: with nothing changed the scan stays read-only (no write lock on SQLite).
        if db.session.scalar(sa.select(sa.exists().where(condition))):
            # The first update's rows leave the range (their light is remembered now): the second has the rest.
            for where, values, counted in ((first_red, {"red_counted": True}, True), (sa.true(), {}, False)):
                rows += db.session.execute(
                    sa.update(marks).where(condition, where).values(reminded_light=light, **values)
                    .returning(*returned, sa.literal(counted))).all()
    return rows


def _supervisor_scopes() -> dict[int, list[access.ReadScope]]:
    """Active supervisors' read scopes by each jurisdiction they may read in."""
    by_place: dict[int, list[access.ReadScope]] = {}
    supervisors = db.session.scalars(
        sa.select(User).join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == SUPERVISOR, User.active.is_(True)).order_by(User.id))
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


def _assignee_may_read(rows: list[sa.Row]) -> list[int]:
    """The marked cases whose assignee may (still) read them: those to raise a case reminder for."""
    assignees = _assignee_scopes(rows)
    ids: list[int] = []
    for case_id, place, workflow, assignee, _light, _first_red in rows:
        scope = assignees.get(assignee)
        if scope is not None and scope.allows(place, workflow, assignee):
            ids.append(case_id)
    return ids


def _among(ids: list[int]) -> sa.ColumnElement[bool]:
    """Whether a ``case_deadline`` row is of a case among ``ids``, the list travelling as one parameter (an
    integer array on PostgreSQL, a JSON array on SQLite) instead of a parameter set per row, which cost
    several times more than the statements themselves."""
    case_id = CaseDeadline.__table__.c.case_id
    if db.session.get_bind().dialect.name == "postgresql":
        return case_id == sa.func.any(sa.bindparam("ids", ids, type_=postgresql.ARRAY(sa.Integer)))
    return case_id.in_(sa.select(sa.func.json_each(sa.bindparam("ids", json.dumps(ids)))
                                 .table_valued("value").c.value))


def _village_counts(rows: list[sa.Row]) -> dict[tuple[int, int], tuple[int, int]]:
    """(cases, unassigned) among ``rows`` whose deadline is counted red for the first time, by (supervisor,
    village), counting for each supervisor only the cases they may read.

    The cases are first grouped by village and workflow, so each supervisor is checked once per group, not
    per case: one who may read a group's cases without holding them (``ReadScope.allows`` with no assignee)
    counts them all; one who may not (a need-to-know workflow) counts only those they hold."""
    groups: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
    held: dict[tuple[int, str, int], int] = defaultdict(int)  # cases, by holder
    for _case_id, place, workflow, assignee, _light, first_red in rows:
        if first_red:
            group = groups[place, workflow]
            group[0] += 1
            if assignee is None:
                group[1] += 1
            else:
                held[place, workflow, assignee] += 1
    if not groups:
        return {}
    supervisors = _supervisor_scopes()
    counts: dict[tuple[int, int], tuple[int, int]] = {}
    for (village, workflow), (cases, unassigned) in groups.items():
        for scope in supervisors.get(village, ()):
            if scope.allows(village, workflow, None):
                seen = (cases, unassigned)
            elif scope.allows(village, workflow, scope.user_id):
                seen = (held.get((village, workflow, scope.user_id), 0), 0)
            else:
                continue
            before = counts.get((scope.user_id, village), (0, 0))
            counts[scope.user_id, village] = (before[0] + seen[0], before[1] + seen[1])
    return {key: value for key, value in counts.items() if value[0]}


def _raise_village_reminders(counts: dict[tuple[int, int], tuple[int, int]], now: datetime) -> int:
    """Add ``counts`` to each (supervisor, village)'s reminder of the office day of ``now``, creating it
    or making it unread again; returns how many were raised.

    Each case's deadline is counted by the one scan that marked it counted (``_mark_worsened``), so adding
    is exact even when two schedulers race. Rows go in key order: two scans adding to the same reminders take
    their locks in the same order and cannot deadlock."""
    table = VillageReminder.__table__
    day = local_date(now)
    values = [{"user_id": user, "village_id": village, "day": day, "cases": cases, "unassigned": unassigned,
               "raised_at": now, "read_at": None}
              for (user, village), (cases, unassigned) in sorted(counts.items())]
    statement = dialect_insert(table)
    db.session.execute(statement.on_conflict_do_update(
        index_elements=["user_id", "village_id", "day"],
        set_={"cases": table.c.cases + statement.excluded.cases,
              "unassigned": table.c.unassigned + statement.excluded.unassigned,
              "raised_at": statement.excluded.raised_at, "read_at": None}), values)
    return len(values)


def _insert_reminders(ids: list[int], now: datetime) -> int:
    """Raise a reminder to the assignee of each of the marked cases ``ids``; returns how many were new.

    One INSERT … SELECT: the assignee, kind and deadline come from the row this transaction just marked
    (and holds). Existing reminders (the unique key: user, case, kind, deadline) are left as they are.
    """
    marks, reminders = CaseDeadline.__table__, Reminder.__table__
    # A WHERE, never a JOIN … ON: SQLite would read ON CONFLICT as the join's condition.
    source = (sa.select(marks.c.assignee_id, marks.c.case_id, marks.c.reminded_light, marks.c.due_at,
                        sa.literal(now, reminders.c.created_at.type)).where(_among(ids)))
    result = db.session.execute(
        dialect_insert(reminders).from_select(["user_id", "case_id", "kind", "due_at", "created_at"], source)
        .on_conflict_do_nothing(index_elements=["user_id", "case_id", "kind", "due_at"])
        .execution_options(preserve_rowcount=True))
    return result.rowcount  # one statement: the rows inserted, skipped conflicts not counted


def run_deadline_scan(now: datetime) -> DeadlineScan:
    """Raise reminders for open cases whose deadline light got worse since the last scan, and remember the
    light on each case's ``case_deadline`` row (a new deadline or a new assignee makes it remember none).

    Yellow and red remind the assignee, if they may read the case (``access.read_scope``), with a case
    reminder; its unique key (user, case, kind, deadline) with ON CONFLICT DO NOTHING raises nothing twice,
    even for a case marked afresh. Red also adds the case to the village reminder of the day of each
    supervisor over its village who may read it, once per deadline (``CaseDeadline.red_counted``).
    """
    bounds = LightBounds.at(now, load_calendar())
    rows = _mark_worsened(bounds)
    if not rows:
        return DeadlineScan(0, 0)
    to_remind = _assignee_may_read(rows)
    counts = _village_counts(rows)
    return DeadlineScan(len(rows), _insert_reminders(to_remind, now) if to_remind else 0,
                        _raise_village_reminders(counts, now) if counts else 0)


def scan_deadlines(now: datetime) -> int:
    """Raise reminders for open cases whose deadline light turned yellow or red by ``now``.

    Returns how many reminders were raised: case reminders created and village reminders created or
    counting more cases. Reminders already raised for the same deadline are kept as they are (read or
    not), so running the scan again raises nothing.
    """
    scan = run_deadline_scan(now)
    return scan.reminders + scan.village_reminders


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


def _own_village_reminders(user: User) -> sa.Select:
    """The user's village reminders about villages they still supervise (none once they no longer may)."""
    if not (access.can_read_cases(user) and user.has_role(SUPERVISOR)):
        return sa.select(VillageReminder).where(sa.false())
    return sa.select(VillageReminder).where(VillageReminder.user_id == user.id,
                                            VillageReminder.village_id.in_(access.jurisdiction_ids(user)))


def village_reminders_for(user: User) -> list[VillageReminder]:
    """``user``'s village reminders: unread first, then the latest raised first."""
    return list(db.session.scalars(_own_village_reminders(user).order_by(
        VillageReminder.read_at.is_not(None), VillageReminder.raised_at.desc(), VillageReminder.id.desc())))


# The header's badge counts unread reminders on every page. Someone may collect thousands unread (a
# supervisor did, one per red case of the township, before village reminders), and each is checked against
# what the reader may still see; past this many the badge says "99+" and the counting stops.
BADGE_CAP = 99


def unread_count(user: User, cap: int | None = BADGE_CAP) -> int:
    """How many of ``user``'s reminders (case and village) are unread (the header's badge), counting no
    further than ``cap + 1`` (None: all of them)."""
    village, case = db.session.execute(sa.select(*unread_counts(user, cap))).one()
    return capped_unread(village, case, cap)


def unread_counts(user: User, cap: int | None = BADGE_CAP) -> tuple[sa.ScalarSelect, sa.ScalarSelect]:
    """The counts behind ``unread_count`` as scalar subqueries, unread village reminders and unread case
    reminders, each counting no further than ``cap + 1``: the page layout reads them in the one statement
    it makes on every page (views/template_helpers.py); ``capped_unread`` adds them up."""
    counts = []
    for query, table in ((_own_village_reminders(user), VillageReminder), (_own(user), Reminder)):
        query = query.where(table.read_at.is_(None)).with_only_columns(table.id)
        if cap is not None:
            query = query.limit(cap + 1)
        counts.append(sa.select(sa.func.count()).select_from(query.subquery()).scalar_subquery())
    return counts[0], counts[1]


def capped_unread(village: int | None, case: int | None, cap: int | None = BADGE_CAP) -> int:
    total = (village or 0) + (case or 0)
    return total if cap is None else min(total, cap + 1)


def mark_read(user: User, reminder_id: int, now: datetime | None = None) -> Reminder:
    """Mark one of ``user``'s own reminders read; anyone else's (or none) is NotFound."""
    return _mark_read(_own(user).where(Reminder.id == reminder_id), now)


def mark_village_read(user: User, reminder_id: int, now: datetime | None = None) -> VillageReminder:
    """Mark one of ``user``'s own village reminders read; anyone else's (or none) is NotFound."""
    return _mark_read(_own_village_reminders(user).where(VillageReminder.id == reminder_id), now)


def _mark_read(own: sa.Select, now: datetime | None) -> Reminder | VillageReminder:
    reminder = db.session.scalar(own)
    if reminder is None:
        raise NotFound(REMINDER_NOT_FOUND)
    if reminder.read_at is None:
        reminder.read_at = now or utcnow()
        db.session.flush()
    return reminder


def mark_all_read(user: User, now: datetime | None = None) -> int:
    """Mark all of ``user``'s unread reminders (case and village) read; returns how many."""
    marked = 0
    for table in (Reminder, VillageReminder):
        marked += db.session.execute(
            sa.update(table).where(table.user_id == user.id, table.read_at.is_(None))
            .values(read_at=now or utcnow()).execution_options(synchronize_session=False)).rowcount
    db.session.flush()
    return marked

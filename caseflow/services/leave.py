"""Leave and workload: who is away when, how many open cases each handler holds (by deadline light), and
handing an absent handler's cases on.

A user on leave today gets no new work: ``assign_case`` refuses to give them a case and
``access.case_handlers`` (the assignee lists) leaves them out. What they do themselves is theirs to decide
(taking a case, or the case they accept becoming theirs): leave protects them from others handing them work,
it does not lock them out.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Iterable

import sqlalchemy as sa
from sqlalchemy.orm.exc import StaleDataError

from caseflow.calendar import local_date, utcnow
from caseflow.extensions import db
from caseflow.models import Case, Leave, User, UserRole, user_jurisdiction
from caseflow.services import access
from caseflow.services.deadlines import LIGHTS, LightBounds
from caseflow.services.errors import (
    CASE_NOT_FOUND, INVALID_DATA, STALE, Conflict, NotFound, PermissionDenied, ServiceError, ValidationFailed,
)
from caseflow.workflows.definition import NOT_A_DATE, REQUIRED, TOO_LONG, Text

MAY_NOT_MANAGE = Text("只有该用户所在辖区的主管或管理员可以登记其休假。",
                      "Only a supervisor of a jurisdiction this user works in, or an administrator, may record "
                      "their leave.")
SUPERVISORS_ONLY = Text("只有主管可以查看工作量。", "Only supervisors may see the workload.")
NOT_A_HANDLER = Text("只能为办事员或主管登记休假。", "Leave is recorded for clerks and supervisors only.")
END_BEFORE_START = Text("结束日期不能早于开始日期。", "The last day cannot be before the first day.")
ALREADY_OVER = Text("结束日期已过。", "That last day has already passed.")
OVERLAPS = Text("与已登记的休假（{starts} 至 {ends}）重叠。",
                "It overlaps leave already recorded ({starts} to {ends}).")
DELEGATE_IS_USER = Text("代理人不能是休假人本人。", "The delegate cannot be the person on leave.")
BAD_DELEGATE = Text("代理人须是在职的办事员或主管，并在休假人的全部辖区工作。",
                    "The delegate must be an active clerk or supervisor working in all of the jurisdictions of "
                    "the person on leave.")
DELEGATE_AWAY = Text("代理人在此期间也休假（{starts} 至 {ends}）。",
                     "The delegate is on leave too during that period ({starts} to {ends}).")
LEAVE_OVER = Text("该休假已结束，作为记录保留。", "That leave is over; it is kept for the record.")
NOT_SHORTER = Text("新的结束日期须在开始日期与原结束日期之间。",
                   "The new last day must lie between the first day and the current last day.")
NO_REWRITING = Text("不能把休假改为在昨天之前结束。", "Leave cannot be changed to have ended before yesterday.")
NOT_THEIRS_NOW = Text("该案件已不由 {name} 经办，未作更改。", "{name} no longer holds this case; left as it is.")
NO_SUCH_USER = Text("没有这个用户。", "No such user.")
REASON_LENGTH = 200


def _parse_day(value: date | str | None, name: str, errors: dict[str, Text]) -> date | None:
    if isinstance(value, date):
        return value
    text = (value or "").strip()
    if not text:
        errors[name] = REQUIRED
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors[name] = NOT_A_DATE
        return None


def may_manage_leave(actor: User, user: User) -> bool:
    """Administrators, and supervisors of a jurisdiction ``user`` works in."""
    if not actor.is_active:
        return False
    if actor.has_role("admin"):
        return True
    return actor.has_role("supervisor") and bool(access.jurisdiction_ids(actor) & access.jurisdiction_ids(user))


def _overlapping(user_id: int, starts_on: date, ends_on: date, *, besides: int | None = None) -> Leave | None:
    query = sa.select(Leave).where(Leave.user_id == user_id, Leave.starts_on <= ends_on,
                                   Leave.ends_on >= starts_on).order_by(Leave.starts_on)
    if besides is not None:
        query = query.where(Leave.id != besides)
    return db.session.scalars(query.limit(1)).first()


def _period(leave: Leave) -> dict[str, str]:
    return {"starts": leave.starts_on.isoformat(), "ends": leave.ends_on.isoformat()}


def record_leave(user: User, starts_on: date | str | None, ends_on: date | str | None, reason: str | None,
                 delegate: User | None, actor: User, now: datetime | None = None) -> Leave:
    """Record that ``user`` is away from ``starts_on`` to ``ends_on`` (both days included).

    From its first day nobody can assign them new work. ``delegate`` (optional) is whom their open cases
    are offered to first; it must be an active clerk or supervisor working in all of ``user``'s
    jurisdictions and not away itself meanwhile. Every problem is reported at once, by form field.
    """
    now = now or utcnow()
    if not may_manage_leave(actor, user):
        raise PermissionDenied(MAY_NOT_MANAGE)
    errors: dict[str, Text] = {}
    if not user.has_role(*access.HANDLER_ROLES):
        errors["user"] = NOT_A_HANDLER
    first = _parse_day(starts_on, "starts_on", errors)
    last = _parse_day(ends_on, "ends_on", errors)
    if first and last and last < first:
        errors["ends_on"] = END_BEFORE_START
    elif last and last < local_date(now):
        errors["ends_on"] = ALREADY_OVER
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = REQUIRED
    elif len(reason) > REASON_LENGTH:
        errors["reason"] = TOO_LONG.format(n=REASON_LENGTH)
    if first and last and "ends_on" not in errors and "user" not in errors:
        clash = _overlapping(user.id, first, last)
        if clash is not None:
            errors["starts_on"] = OVERLAPS.format(**_period(clash))
    if delegate is not None:
        if delegate.id == user.id:
            errors["delegate"] = DELEGATE_IS_USER
        elif not (delegate.is_active and delegate.has_role(*access.HANDLER_ROLES)
                  and access.jurisdiction_ids(user) <= access.jurisdiction_ids(delegate)):
            errors["delegate"] = BAD_DELEGATE
        elif first and last and last >= first:
            away = _overlapping(delegate.id, first, last)
            if away is not None:
                errors["delegate"] = DELEGATE_AWAY.format(**_period(away))
    if errors:
        raise ValidationFailed(INVALID_DATA, errors)
    leave = Leave(user_id=user.id, starts_on=first, ends_on=last, reason=reason,
                  delegate_id=delegate.id if delegate else None, created_by_id=actor.id, created_at=now)
    db.session.add(leave)
    db.session.flush()
    return leave


def cancel_leave(leave: Leave, actor: User, now: datetime | None = None) -> Leave | None:
    """Call off ``leave``: leave not begun yet is removed; leave under way ends yesterday (the person is back
    today), or is removed if it began today. Leave that is over stays as a record. Returns the leave kept,
    or None when it was removed."""
    today = local_date(now or utcnow())
    if not may_manage_leave(actor, leave.user):
        raise PermissionDenied(MAY_NOT_MANAGE)
    if leave.ends_on < today:
        raise ValidationFailed(LEAVE_OVER)
    if leave.starts_on >= today:
        db.session.delete(leave)
        db.session.flush()
        return None
    leave.ends_on = today - timedelta(days=1)
    db.session.flush()
    return leave


def shorten_leave(leave: Leave, ends_on: date | str | None, actor: User, now: datetime | None = None) -> Leave:
    """Bring the last day of ``leave`` forward (the person comes back earlier than planned)."""
    today = local_date(now or utcnow())
    if not may_manage_leave(actor, leave.user):
        raise PermissionDenied(MAY_NOT_MANAGE)
    if leave.ends_on < today:
        raise ValidationFailed(LEAVE_OVER)
    errors: dict[str, Text] = {}
    last = _parse_day(ends_on, "ends_on", errors)
    if last is not None and not leave.starts_on <= last < leave.ends_on:
        errors["ends_on"] = NOT_SHORTER
    elif last is not None and last < today - timedelta(days=1):
        errors["ends_on"] = NO_REWRITING
    if errors:
        raise ValidationFailed(INVALID_DATA, errors)
    leave.ends_on = last
    db.session.flush()
    return leave


def on_leave(user: User, day: date) -> Leave | None:
    """The leave ``user`` is on during ``day``, if any."""
    return db.session.scalars(
        sa.select(Leave).where(Leave.user_id == user.id, Leave.covering(day)).limit(1)
    ).first()


def users_on_leave(day: date) -> dict[int, Leave]:
    """Everyone away on ``day``: user id → their leave."""
    rows = db.session.scalars(sa.select(Leave).where(Leave.covering(day)))
    return {leave.user_id: leave for leave in rows}


def leave_of(leave_id: int, actor: User) -> Leave:
    """A leave record ``actor`` may manage, or NotFound."""
    leave = db.session.get(Leave, leave_id)
    if leave is None or not may_manage_leave(actor, leave.user):
        raise NotFound(Text("找不到该休假记录。", "No such leave record."))
    return leave


# ------------------------------------------------------------------------------------------------ workload

@dataclass
class HandlerLoad:
    """One handler's open cases (of those the supervisor may see) by light, and their leave from today on."""

    user: User
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LIGHTS, 0))
    leaves: list[Leave] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def away_on(self, day: date) -> Leave | None:
        return next((leave for leave in self.leaves if leave.starts_on <= day <= leave.ends_on), None)


@dataclass
class Workload:
    handlers: list[HandlerLoad]
    unassigned: dict[str, int]
    bounds: LightBounds
    today: date


def open_counts(user: User, bounds: LightBounds) -> dict[int | None, dict[str, int]]:
    """Open cases ``user`` may see, counted by assignee (None: the unassigned pool) and light."""
    columns = [sa.func.sum(sa.case((bounds.where(light), 1), else_=0)) for light in LIGHTS]
    rows = db.session.execute(
        access.visible_cases(user).where(Case.closed_at.is_(None))
        .with_only_columns(Case.assignee_id, *columns).group_by(Case.assignee_id)
    )
    return {row[0]: {light: int(count or 0) for light, count in zip(LIGHTS, row[1:])} for row in rows}


def workload(supervisor: User, now: datetime | None = None) -> Workload:
    """Every clerk and supervisor of ``supervisor``'s jurisdictions (and anyone else holding open cases
    there), with their open cases by deadline light and their leave from today on.

    Counts cover only cases the supervisor may see, so they reveal nothing the case lists would not.
    """
    if not (supervisor.is_active and supervisor.has_role("supervisor")):
        raise PermissionDenied(SUPERVISORS_ONLY)
    now = now or utcnow()
    today = local_date(now)
    bounds = LightBounds.current(now)
    counts = open_counts(supervisor, bounds)
    places = access.jurisdiction_ids(supervisor)
    works_here = sa.select(user_jurisdiction.c.user_id).where(user_jurisdiction.c.jurisdiction_id.in_(places))
    handles = sa.select(UserRole.user_id).where(UserRole.role.in_(access.HANDLER_ROLES))
    holders = [user_id for user_id in counts if user_id is not None]
    users = db.session.scalars(
        sa.select(User).where(sa.or_(sa.and_(User.active.is_(True), User.id.in_(works_here), User.id.in_(handles)),
                                     User.id.in_(holders)))
        .order_by(User.display_name, User.username)
    ).all()
    leaves: dict[int, list[Leave]] = {}
    for leave in db.session.scalars(sa.select(Leave).where(Leave.user_id.in_([u.id for u in users]),
                                                           Leave.ends_on >= today).order_by(Leave.starts_on)):
        leaves.setdefault(leave.user_id, []).append(leave)
    loads = [HandlerLoad(user, counts.get(user.id, dict.fromkeys(LIGHTS, 0)), leaves.get(user.id, []))
             for user in users]
    return Workload(loads, counts.get(None, dict.fromkeys(LIGHTS, 0)), bounds, today)


# ------------------------------------------------------------------------------------------ handing on

def open_cases_of(user: User, actor: User) -> list[Case]:
    """``user``'s open cases that ``actor`` may see, most urgent first."""
    return list(db.session.scalars(
        access.visible_cases(actor).where(Case.assignee_id == user.id, Case.closed_at.is_(None))
        .order_by(Case.due_at.asc().nulls_last(), Case.opened_at, Case.id)
    ))


def leave_note(leave: Leave) -> str:
    """What each reassigned case's audit event says (the office's language: Chinese)."""
    return f"休假 {leave.starts_on.isoformat()} 至 {leave.ends_on.isoformat()}：{leave.reason}"


@dataclass(frozen=True)
class Move:
    """One case to hand on: to ``assignee_id`` (None: the unassigned pool), as of the version shown."""

    case_id: int
    assignee_id: int | None
    version: int


@dataclass
class MoveResult:
    case_id: int
    case: Case | None
    assignee: User | None
    ok: bool
    message: Text | None = None


def reassign_for_leave(leave: Leave, moves: Iterable[Move], actor: User, now: datetime | None = None
                       ) -> list[MoveResult]:
    """Hand the open cases of the person on ``leave`` on, each through ``assign_case`` with the leave noted
    as the reason, and each in its own savepoint: a case someone changed since the page was shown
    (its version moved on) is reported and left alone, the others still move. The caller commits."""
    from caseflow.services.cases import assign_case  # imported here: cases imports on_leave from us

    now = now or utcnow()
    if not may_manage_leave(actor, leave.user):
        raise PermissionDenied(MAY_NOT_MANAGE)
    note = leave_note(leave)
    results = []
    for move in moves:
        case = db.session.get(Case, move.case_id)
        assignee = db.session.get(User, move.assignee_id) if move.assignee_id is not None else None
        result = MoveResult(move.case_id, case, assignee, ok=False)
        try:
            with db.session.begin_nested():
                if case is None or not access.can_read(actor, case):
                    raise NotFound(CASE_NOT_FOUND)
                if move.assignee_id is not None and assignee is None:
                    raise ValidationFailed(NO_SUCH_USER)
                if case.version != move.version:
                    raise Conflict(STALE)
                if case.assignee_id != leave.user_id:
                    raise ValidationFailed(NOT_THEIRS_NOW.format(name=leave.user.display_name))
                assign_case(case, assignee, actor, move.version, reason=note, now=now)
        except (ServiceError, StaleDataError) as exc:
            result.message = exc.by_field().popitem()[1] if isinstance(exc, ServiceError) else STALE
            if isinstance(exc, NotFound):
                result.case = None
        else:
            result.ok = True
        results.append(result)
    return results

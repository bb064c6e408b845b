"""Deadlines and deadline lights, computed from a case's workflow and the office calendar."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Callable, Literal, Mapping

import sqlalchemy as sa
from sqlalchemy.orm import ORMExecuteState, Session

from caseflow.calendar import Deadline, OfficeCalendar, utcnow
from caseflow.extensions import bulk_writes_to, db, holds_changes_to
from caseflow.models import CalendarOverride, Case, DeadlineSetting, User
from caseflow.services.errors import INVALID_DATA, PermissionDenied, ValidationFailed
from caseflow.workflows import get as get_workflow
from caseflow.workflows import latest
from caseflow.workflows.definition import DeadlineRule, Text, Workflow

Light = Literal["green", "yellow", "red"]
LIGHTS: tuple[str, ...] = ("green", "yellow", "red", "none")


def load_calendar() -> OfficeCalendar:
    """The national calendar with this office's overrides applied."""
    return load_policy().calendar


@dataclass(frozen=True)
class DeadlinePolicy:
    """The office calendar and the deadline rules in force: each workflow's shipped rules with the
    admin's changes (keyed by workflow, version and state) applied."""

    calendar: OfficeCalendar
    changes: Mapping[tuple[str, int, str], tuple[int, int | None]]

    def is_changed(self, workflow: Workflow, state: str) -> bool:
        return (workflow.name, workflow.version, state) in self.changes

    def rule(self, workflow: Workflow, state: str) -> DeadlineRule | None:
        shipped = workflow.deadlines.get(state)
        change = self.changes.get((workflow.name, workflow.version, state))
        if shipped is None or change is None:
            return shipped
        limit, target = change
        return replace(shipped, limit=replace(shipped.limit, amount=limit),
                       target=replace(shipped.target, amount=target) if shipped.target and target is not None
                       else shipped.target)


_override, _setting = CalendarOverride.__table__.c, DeadlineSetting.__table__.c
# Everything a policy is made of, in one round trip: the calendar overrides ('c' rows) and the admin's
# deadline changes ('d' rows). Both tables hold a few dozen rows at most.
_POLICY_ROWS = sa.union_all(
    sa.select(sa.literal_column("'c'"), _override.day, _override.is_working_day, sa.null(), sa.null(), sa.null(),
              sa.null(), sa.null()),
    sa.select(sa.literal_column("'d'"), sa.null(), sa.null(), _setting.workflow, _setting.workflow_version,
              _setting.state, _setting.limit_amount, _setting.target_amount),
)
# The last policy built in this process and the rows it was built from.
_last_policy: tuple[frozenset[tuple], DeadlinePolicy] | None = None


def load_policy() -> DeadlinePolicy:
    """The deadline rules and office calendar in force, as this transaction sees them.

    The first call in a transaction reads the rows (one small query), so an admin's change is seen by the
    next transaction, whichever process made it. Later calls in the same transaction reuse what it read (a
    step and the page answering it asked up to three times), until the transaction itself writes a
    calendar override or a deadline setting: a change earlier in this same transaction is seen too. The
    policy built from the rows is kept and reused while the rows read the same: keyed by the content, not
    a "changed at" stamp, it cannot miss a change, and its calendar keeps the deadlines it has worked out
    from one transition to the next.
    """
    global _last_policy
    session = db.session()
    policy = session.info.get(_POLICY_KEY)
    if policy is not None:
        return policy
    rows = frozenset(tuple(row) for row in session.execute(_POLICY_ROWS))
    last = _last_policy
    if last is not None and last[0] == rows:
        policy = last[1]
    else:
        overrides = {day: working for kind, day, working, *_ in rows if kind == "c"}
        changes = {(w, v, s): (limit, target)
                   for kind, _day, _working, w, v, s, limit, target in rows if kind == "d"}
        policy = DeadlinePolicy(OfficeCalendar(overrides), changes)
        _last_policy = (rows, policy)
    session.info[_POLICY_KEY] = policy
    return policy


# This transaction's policy, kept on its session (load_policy) and forgotten when the transaction ends or
# writes a row the policy is made of: through the unit of work, or a bulk statement.
_POLICY_KEY = "caseflow.deadlines.policy"
_POLICY_TABLES = frozenset({CalendarOverride.__table__, DeadlineSetting.__table__})


def _forget_policy(session: Session, *_args: object) -> None:
    session.info.pop(_POLICY_KEY, None)


def _forget_policy_if_written(session: Session, *_args: object) -> None:
    if _POLICY_KEY in session.info and holds_changes_to(session, (CalendarOverride, DeadlineSetting)):
        _forget_policy(session)


def _forget_policy_on_bulk_write(execution: ORMExecuteState) -> None:
    if _POLICY_KEY in execution.session.info and bulk_writes_to(execution, _POLICY_TABLES):
        _forget_policy(execution.session)


sa.event.listen(Session, "after_transaction_end", _forget_policy)
sa.event.listen(Session, "before_flush", _forget_policy_if_written)
sa.event.listen(Session, "do_orm_execute", _forget_policy_on_bulk_write)


# A legal limit a workflow's service sets on top of the per-state rules, from what it keeps about a case
# (育儿补贴: review and confirmation take 30 working days in all, services/subsidies.py): the latest
# deadline the case's state may have, or None. Applied wherever the rules are, so recomputing keeps it.
DeadlineCap = Callable[[Case, OfficeCalendar], Deadline | None]
_CAPS: dict[str, DeadlineCap] = {}


def register_deadline_cap(workflow_name: str, cap: DeadlineCap) -> None:
    """Called once by a workflow's service module (imported by ``caseflow.services``)."""
    _CAPS[workflow_name] = cap


def refresh_deadlines(case: Case, workflow: Workflow, policy: DeadlinePolicy | None = None) -> None:
    """Set the case's target and legal deadline for the state it is in.

    A closed case, or one whose clock is stopped (waiting for the applicant), has no deadline. Without a
    ``policy`` the one in force is loaded, only when the state has a deadline (a closing step needs none).
    The workflow's cap, if it has one, may bring the legal deadline forward. A new deadline is reminded
    about afresh: the database gives it a ``case_deadline`` row remembering no light (models.CaseDeadline).
    """
    without = (case.closed_at is not None or case.state in workflow.clock_stopped
               or case.state not in workflow.deadlines)  # no shipped rule: no admin change can add one
    if not without:
        policy = policy or load_policy()
    rule = None if without else policy.rule(workflow, case.state)
    if rule is None:
        case.target_at = case.due_at = None
        case.deadline_provisional = False
    else:
        calendar = policy.calendar
        limit = rule.limit.after(case.state_entered_at, calendar)
        cap = _CAPS[workflow.name](case, calendar) if workflow.name in _CAPS else None
        if cap is not None and cap.at < limit.at:
            limit = cap
        target = rule.target.after(case.state_entered_at, calendar) if rule.target else None
        case.due_at = limit.at
        case.target_at = target.at if target else None
        case.deadline_provisional = limit.provisional or bool(target and target.provisional)


def recompute_open_deadlines(*, only_provisional: bool = False) -> int:
    """Recompute the deadlines of open cases from the current calendar; returns how many changed.

    Run after an override changes, and by the scheduler so that provisional deadlines (years the
    installed chinese-calendar had no data for) become firm once a package upgrade brings the data.
    """
    policy = load_policy()
    query = sa.select(Case).where(Case.closed_at.is_(None), Case.due_at.is_not(None))
    if only_provisional:
        query = query.where(Case.deadline_provisional.is_(True))
    changed = 0
    for case in db.session.scalars(query).all():
        before = (case.target_at, case.due_at, case.deadline_provisional)
        refresh_deadlines(case, get_workflow(case.workflow, case.workflow_version), policy)
        changed += before != (case.target_at, case.due_at, case.deadline_provisional)
    db.session.flush()
    return changed


@dataclass(frozen=True)
class LightBounds:
    """The instants that separate the lights at one moment: red before ``now``, yellow up to the end of
    the next working day, green after."""

    now: datetime
    yellow_until: datetime

    @classmethod
    def at(cls, now: datetime, calendar: OfficeCalendar) -> "LightBounds":
        return cls(now, calendar.add_working_days(now, 1).at)

    @classmethod
    def current(cls, now: datetime | None = None) -> "LightBounds":
        """The bounds at ``now`` (default: this instant) in the office calendar as stored."""
        return cls.at(now or utcnow(), load_calendar())

    def light(self, due_at: datetime | None) -> Light | None:
        if due_at is None:
            return None
        if due_at < self.now:
            return "red"
        return "yellow" if due_at <= self.yellow_until else "green"

    def where(self, light: str) -> sa.ColumnElement[bool]:
        """The SQL condition for cases showing ``light`` ("none": no running deadline)."""
        if light == "red":
            return Case.due_at < self.now
        if light == "yellow":
            return Case.due_at.between(self.now, self.yellow_until)
        if light == "green":
            return Case.due_at > self.yellow_until
        return Case.due_at.is_(None)


ADMIN_ONLY = Text("只有管理员可以修改办理时限。", "Only an administrator may change deadlines.")
NO_DEADLINE_HERE = Text("该状态没有办理时限。", "That state has no deadline.")
NOT_A_COUNT = Text("请输入 0 到 365 之间的整数。", "Enter a whole number from 0 to 365.")
SAME_DAY_FIXED = Text("“当日办结”的时限不能调整。", "A same-day deadline cannot be changed.")
TARGET_AFTER_LIMIT = Text("内部目标不能长于法定时限。", "The office target cannot be longer than the legal limit.")


def save_deadline_setting(workflow_name: str, state: str, limit_amount: int, target_amount: int | None,
                          actor: User, now: datetime | None = None) -> int:
    """Change the current version's deadline for ``state``, then recompute open deadlines.

    Returns how many open cases got a new deadline. Cases of older workflow versions keep theirs.
    """
    if not actor.has_role("admin"):
        raise PermissionDenied(ADMIN_ONLY)
    workflow = latest(workflow_name)
    shipped = workflow.deadlines.get(state)
    errors: dict[str, Text] = {}
    if shipped is None:
        raise ValidationFailed(NO_DEADLINE_HERE, {"state": NO_DEADLINE_HERE})
    if shipped.limit.unit == "same_calendar_day":  # the law says "the same day"; there is no number to set
        raise ValidationFailed(SAME_DAY_FIXED, {"limit_amount": SAME_DAY_FIXED})
    if not 0 <= limit_amount <= 365:
        errors["limit_amount"] = NOT_A_COUNT
    if shipped.target is not None and (target_amount is None or not 0 <= target_amount <= 365):
        errors["target_amount"] = NOT_A_COUNT
    elif (shipped.target is not None and shipped.target.unit == shipped.limit.unit
          and target_amount is not None and target_amount > limit_amount):
        errors["target_amount"] = TARGET_AFTER_LIMIT
    if errors:
        raise ValidationFailed(INVALID_DATA, errors)
    setting = db.session.scalar(sa.select(DeadlineSetting).where(
        DeadlineSetting.workflow == workflow.name, DeadlineSetting.workflow_version == workflow.version,
        DeadlineSetting.state == state))
    if setting is None:
        setting = DeadlineSetting(workflow=workflow.name, workflow_version=workflow.version, state=state)
        db.session.add(setting)
    setting.limit_amount = limit_amount
    setting.target_amount = target_amount if shipped.target is not None else None
    setting.updated_by_id, setting.updated_at = actor.id, now or utcnow()
    db.session.flush()
    return recompute_open_deadlines()


def reset_deadline_setting(workflow_name: str, state: str, actor: User) -> int:
    """Back to the workflow's shipped deadline for ``state``; returns open cases recomputed."""
    if not actor.has_role("admin"):
        raise PermissionDenied(ADMIN_ONLY)
    workflow = latest(workflow_name)
    db.session.execute(sa.delete(DeadlineSetting).where(
        DeadlineSetting.workflow == workflow.name, DeadlineSetting.workflow_version == workflow.version,
        DeadlineSetting.state == state))
    return recompute_open_deadlines()

"""Opening cases, moving them through their workflow, and assigning them."""
from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable

import sqlalchemy as sa
from sqlalchemy.orm import MANYTOONE
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from caseflow.calendar import local_date, utcnow
from caseflow.extensions import db, insert_or_nothing
from caseflow.models import Case, CaseDeadline, Jurisdiction, NumberSequence, Person, User
from caseflow.services import access
from caseflow.services.audit import append_event
from caseflow.services.choices import configured_choices
from caseflow.services.deadlines import load_policy, refresh_deadlines
from caseflow.services.errors import (
    CASE_NOT_FOUND, INVALID_DATA, STALE, Conflict, InvalidTransition, NotFound, PermissionDenied, Refused,
    ServiceError, ValidationFailed,
)
from caseflow.services.leave import on_leave
from caseflow.workflows import get as get_workflow
from caseflow.workflows import latest
from caseflow.workflows.definition import REQUIRED, Field, GuardRefused, Step, Text, Workflow, clean_fields

APPLICANT_FIELDS = (
    Field("name", Text("申请人姓名", "Applicant's name"), max_length=50),
    Field("resident_id", Text("居民身份证号", "Resident ID"), "resident_id"),
    Field("phone", Text("联系电话", "Phone"), "phone"),
)

log = logging.getLogger(__name__)

MAY_NOT_OPEN = Text("您的角色不能提交此类申请。", "Your role may not submit this kind of application.")
NO_SUCH_JURISDICTION = Text("没有这个村（社区）。", "No such village.")
UNKNOWN_TRIGGER = Text("此操作在案件当前状态下不可用。", "That action is not available in the case's current state.")
ROLE_MAY_NOT = Text("您的角色不能执行此操作。", "Your role may not take this action.")
REASON_REQUIRED = Text("此操作需要书面理由。", "This action needs a written reason.")
GUARD_FAILED = Text("不满足此操作的条件。", "The conditions for this action are not met.")
NOT_A_HANDLER = Text("只能指派给本辖区的办事员或主管。", "Cases can only go to a clerk or supervisor of this jurisdiction.")
ON_LEAVE = Text("{name} 休假中（{starts} 至 {ends}），不能指派新的案件。",
                "{name} is on leave ({starts} to {ends}); no new cases can be assigned to them.")
MAY_NOT_ASSIGN = Text("您不能指派此案件。", "You may not assign this case.")
CASE_CLOSED = Text("案件已办结。", "The case is closed.")
HANDLER_MUST_OPEN = Text("此类申请须由受理的办事员或主管录入，并由其经办。",
                         "This kind of application is entered by the clerk or supervisor who will handle it.")
# Stands in the audit trail for a sensitive value, which lives only on the case (where it can be purged).
WITHHELD = "[withheld]"


@dataclass(frozen=True)
class WorkflowHooks:
    """Database bookkeeping a workflow needs beyond its state (money, enrolments, notices).

    ``on_open(case, actor, now)`` runs when a case is opened. ``read_only(case)`` hides every step (the
    ``on_step`` hook still refuses them, whoever asks). ``on_step(case, step, data, actor, now)`` runs
    after every step has moved the case, before its audit event is written; it may raise a ServiceError
    to refuse (the caller rolls everything back) and may return extra data for the event.
    """

    on_open: Callable[[Case, User, datetime], None] | None = None
    on_step: Callable[[Case, Step, dict[str, Any], User, datetime], dict[str, Any] | None] | None = None
    # A case kept only for the record (a legacy fee case of an abolished type): no step is offered.
    read_only: Callable[[Case], bool] | None = None


_HOOKS: dict[str, WorkflowHooks] = {}


def register_hooks(workflow_name: str, hooks: WorkflowHooks) -> None:
    """Called once by a workflow's service module (imported by ``caseflow.services``)."""
    _HOOKS[workflow_name] = hooks


def _audit_data(workflow: Workflow, data: dict[str, Any]) -> dict[str, Any]:
    sensitive = workflow.sensitive_fields
    return {name: (WITHHELD if name in sensitive else value) for name, value in data.items()}


def workflow_of(case: Case) -> Workflow:
    """The workflow version the case was opened with (kept for the case's whole life)."""
    return get_workflow(case.workflow, case.workflow_version)


def open_case(workflow_name: str, jurisdiction_id: int, applicant: dict[str, Any], data: dict[str, Any],
              actor: User, now: datetime | None = None) -> Case:
    """Record a new application in its workflow's initial state, with its first audit event."""
    now = now or utcnow()
    workflow = latest(workflow_name)
    if not actor.has_role(*workflow.opened_by):
        raise PermissionDenied(MAY_NOT_OPEN)
    jurisdiction = db.session.get(Jurisdiction, jurisdiction_id) if jurisdiction_id else None
    if jurisdiction is not None:
        access.require_village(actor, jurisdiction)

    # Validate everything before answering, so the person filling in the form sees every problem at once.
    today = local_date(now)
    person_data, person_errors = clean_fields(APPLICANT_FIELDS, applicant or {}, today)
    case_data, data_errors = clean_fields(workflow.application_fields, data or {}, today, configured_choices())
    if workflow.check_application and not data_errors:
        data_errors = workflow.check_application(case_data, today)
    errors = {f"applicant.{name}": msg for name, msg in person_errors.items()} | data_errors
    if workflow.need_to_know and not actor.has_role(*access.HANDLER_ROLES):
        raise PermissionDenied(HANDLER_MUST_OPEN)
    if jurisdiction is None:
        errors["jurisdiction"] = NO_SUCH_JURISDICTION if jurisdiction_id else REQUIRED
    if errors:
        raise ValidationFailed(INVALID_DATA, errors)

    person = db.session.scalar(sa.select(Person).where(Person.resident_id == person_data["resident_id"]))
    if person is None:
        person = Person(resident_id=person_data["resident_id"])
        db.session.add(person)
    person.name, person.phone = person_data["name"], person_data["phone"]

    policy = load_policy()  # before the case joins the session, so it is inserted once, complete
    case = Case(workflow=workflow.name, workflow_version=workflow.version, state=workflow.initial,
                jurisdiction=jurisdiction, applicant=person, created_by=actor, opened_at=now,
                state_entered_at=now, data=case_data)
    if workflow.need_to_know:
        case.assignee = actor  # otherwise no clerk could see it: the one who took the application handles it
    refresh_deadlines(case, workflow, policy)
    db.session.add(case)
    hooks = _HOOKS.get(workflow.name)
    if hooks and hooks.on_open:
        hooks.on_open(case, actor, now)
    append_event(case, actor, "submit", None, workflow.initial, now, data=_audit_data(workflow, case_data))
    db.session.flush()
    return case


def available_steps(case: Case, actor: User) -> list[Step]:
    """The steps ``actor`` may take on ``case`` now (what the UI shows as buttons)."""
    if not access.can_read(actor, case):
        return []
    hooks = _HOOKS.get(case.workflow)
    if hooks and hooks.read_only and hooks.read_only(case):
        return []
    return [s for s in workflow_of(case).steps_from(case.state) if actor.has_role(*s.roles)]


def apply_transition(case: Case, trigger: str, actor: User, expected_version: int,
                     reason: str | None = None, data: dict[str, Any] | None = None,
                     now: datetime | None = None) -> Case:
    """Move ``case`` by ``trigger``: the only code that changes a case's state.

    Checks, in order: the actor may read the case (else NotFound), the version the actor saw
    (Conflict: whoever acted on an outdated view must reload first), the trigger exists here
    (InvalidTransition), the actor's role (PermissionDenied), the reason and step data
    (ValidationFailed), the workflow's guards (Refused). Then it fires the
    state machine, records the audit event, recomputes deadlines and flushes. The caller commits;
    any error leaves the session to be rolled back, so a refused call changes nothing.
    """
    now = now or utcnow()
    workflow = workflow_of(case)
    if not access.can_read(actor, case):
        raise NotFound(CASE_NOT_FOUND)
    if expected_version != case.version:
        raise Conflict(STALE)
    step = workflow.step_for(trigger, case.state)
    if step is None:
        raise InvalidTransition(UNKNOWN_TRIGGER)
    if not actor.has_role(*step.roles):
        raise PermissionDenied(ROLE_MAY_NOT)

    reason = (reason or "").strip() or None
    choices = configured_choices() if any(f.choices_from for f in step.fields) else None
    clean, errors = clean_fields(step.fields, data or {}, local_date(now), choices)
    if step.reason_required and not reason:
        errors = {"reason": REASON_REQUIRED} | errors
    if errors:
        raise ValidationFailed(INVALID_DATA, errors)

    from_state = case.state
    # One flush at the end, so the optimistic-lock version moves by exactly one per transition.
    with db.session.no_autoflush:
        try:
            moved = workflow.machine.events[trigger].trigger(case, actor=actor, data=clean, reason=reason, now=now)
        except GuardRefused as refusal:
            raise Refused(refusal.message) from None
        if not moved:
            raise Refused(GUARD_FAILED)

        _enter_state(case, workflow, now)
        if clean:  # the case keeps the latest value of everything its steps recorded
            case.data = case.data | clean
        numbered_now = (step.issues_receipt or step.issues_number) and case.number is None
        if numbered_now:
            issue_receipt(case, workflow, now)
        if step.issues_receipt and case.assignee_id is None and actor.has_role(*access.HANDLER_ROLES):
            case.assignee = actor
        event_data = _audit_data(workflow, clean) | (
            {"number": case.number} if step.issues_receipt or numbered_now else {})
        hooks = _HOOKS.get(workflow.name)
        if hooks and hooks.on_step:
            event_data |= hooks.on_step(case, step, clean, actor, now) or {}
        append_event(case, actor, trigger, from_state, case.state, now, reason=reason, data=event_data)
    write_case(case)
    return case


def _enter_state(case: Case, workflow: Workflow, now: datetime) -> None:
    """Bookkeeping on entering a state: clock pauses, closing, and the new deadlines."""
    if case.due_at is not None and now > case.due_at:  # leaving a state after its legal deadline
        case.late_steps += 1
    if case.paused_since is not None:
        case.paused_seconds += int((now - case.paused_since).total_seconds())
        case.paused_since = None
    if case.state in workflow.clock_stopped:
        case.paused_since = now
    if case.state in workflow.closed:
        case.closed_at, case.outcome = now, case.state
    else:
        case.closed_at = case.outcome = None
    case.state_entered_at = now
    refresh_deadlines(case, workflow)


def issue_receipt(case: Case, workflow: Workflow, now: datetime) -> None:
    """Give the case its human receipt number (办件编号) and the PIN for the applicant's progress look-up."""
    key = f"{workflow.receipt_prefix}{local_date(now).year}"
    # Setting the number (a unique column) makes PostgreSQL's UPDATE of the case take FOR UPDATE, which
    # would wait for a deadline scan inserting reminders of the case while the UPDATE's trigger waits for
    # the scan's hold on the case's deadline row: a deadlock. Waiting for that row first, before the
    # UPDATE, lets the scan finish. (A case not yet inserted has no such row.)
    if case.id is not None:
        db.session.execute(_HOLD_DEADLINE_ROW, {"case_id": case.id})
    # One atomic UPDATE ... RETURNING: concurrent acceptances never get the same number.
    last = db.session.execute(_BUMP_NUMBER, {"sequence_key": key}).scalar()
    if last is None:  # the year's first number: create its counter (whoever races us, one row), then count
        db.session.execute(insert_or_nothing(NumberSequence, "key").values(key=key, last=0))
        last = db.session.execute(_BUMP_NUMBER, {"sequence_key": key}).scalar_one()
    case.number = f"{key}{last:06d}"
    case.pin = f"{secrets.randbelow(10**6):06d}"


_HOLD_DEADLINE_ROW = (sa.select(CaseDeadline.__table__.c.case_id)
                      .where(CaseDeadline.__table__.c.case_id == sa.bindparam("case_id"))
                      .with_for_update(key_share=True))
_BUMP_NUMBER = (sa.update(NumberSequence).where(NumberSequence.key == sa.bindparam("sequence_key"))
                .values(last=NumberSequence.last + 1).returning(NumberSequence.last))


def assign_case(case: Case, assignee: User | None, actor: User, expected_version: int,
                reason: str | None = None, now: datetime | None = None) -> Case:
    """Give ``case`` to ``assignee`` (None: back to the unassigned pool), recorded in the audit trail.

    A clerk may take an unassigned case or hand back their own; a supervisor may assign any case of
    their jurisdiction to any clerk or supervisor who works there, except someone on leave today
    (services/leave.py). Taking a case oneself is allowed on leave too: it is one's own decision.
    """
    now = now or utcnow()
    if not access.can_read(actor, case):
        raise NotFound(CASE_NOT_FOUND)
    if case.is_closed:
        raise InvalidTransition(CASE_CLOSED)
    taking = assignee is not None and assignee.id == actor.id and case.assignee_id is None
    returning = assignee is None and case.assignee_id == actor.id
    if not (actor.has_role("supervisor") or (actor.has_role("clerk") and (taking or returning))):
        raise PermissionDenied(MAY_NOT_ASSIGN)
    if assignee is not None and not (assignee.has_role(*access.HANDLER_ROLES) and assignee.is_active
                                     and case.jurisdiction_id in access.jurisdiction_ids(assignee)):
        raise ValidationFailed(INVALID_DATA, {"assignee": NOT_A_HANDLER})
    away = on_leave(assignee, local_date(now)) if assignee is not None and assignee.id != actor.id else None
    if away is not None:
        raise ValidationFailed(INVALID_DATA, {"assignee": ON_LEAVE.format(
            name=assignee.display_name, starts=away.starts_on.isoformat(), ends=away.ends_on.isoformat())})
    if expected_version != case.version:
        raise Conflict(STALE)
    previous = case.assignee.username if case.assignee else None
    with db.session.no_autoflush:
        case.assignee = assignee
        append_event(case, actor, "assign", case.state, case.state, now, reason=(reason or "").strip() or None,
                     data={"from": previous, "to": assignee.username if assignee else None})
    write_case(case)
    return case


def write_case(case: Case) -> None:
    """Write what a step changed on ``case`` with one UPDATE that checks and moves its version, then flush
    whatever else the step changed (a fee account, an enrolment) the usual way.

    Not through the unit of work: its bookkeeping around the one changed case cost 0.35 ms of a 1.9 ms step,
    more than twice the UPDATE itself (docs/benchmarks.md). The statement is the one a flush would send:
    the changed columns and ``version`` + 1, where the row still has the version the step loaded; no row
    means someone else moved the case first, the same Conflict a stale form gets. A case not yet inserted,
    or a change the statement cannot carry (a collection), goes through the usual flush.
    """
    state = sa.inspect(case)
    values = _changed_columns(state) if state.persistent and state.modified else None
    if values:
        values["version"] = case.version + 1
        result = db.session.connection().execute(
            _UPDATE_CASE, values | {"where_id": case.id, "where_version": case.version})
        if result.rowcount != 1:
            raise Conflict(STALE)
        for key, value in values.items():
            set_committed_value(case, key, value)
        # What a flush does with the rows it wrote (the session's own method, private): nothing of the case
        # is pending any more, and a rollback of this transaction or savepoint expires it, so that it is
        # loaded again as the database has it. tests/functional/test_engine.py checks both.
        db.session()._register_persistent({state})
    flush_or_conflict()


def _changed_columns(state: sa.orm.InstanceState) -> dict[str, Any] | None:
    """The case's columns whose values changed, by name (a changed many-to-one as its key), or None where a
    change is not a column of the case row. A column set to the value it already had is left out, as a
    flush leaves it out."""
    values = {}
    for key in set(state.mapper.attrs.keys()).difference(state.unmodified):
        if not state.attrs[key].history.has_changes():
            continue
        prop = state.mapper.attrs[key]
        if isinstance(prop, sa.orm.ColumnProperty):
            values[prop.columns[0].key] = state.dict[key]
        elif prop.direction is MANYTOONE and len(prop.local_remote_pairs) == 1:
            (local, remote), = prop.local_remote_pairs
            target = state.dict[key]
            if target is None:
                values[local.key] = None
            elif (target_id := sa.inspect(target).identity) is not None and remote.primary_key:
                values[local.key] = target_id[0]
            else:
                return None  # a row not inserted yet: the flush orders the INSERT first
        else:
            return None
    return values


_cases = Case.__table__
_UPDATE_CASE = sa.update(_cases).where(_cases.c.id == sa.bindparam("where_id"),
                                       _cases.c.version == sa.bindparam("where_version"))


def flush_or_conflict() -> None:
    """Flush, turning a lost optimistic-lock race into the same Conflict a stale form gets."""
    try:
        db.session.flush()
    except (StaleDataError, sa.exc.IntegrityError) as exc:
        if isinstance(exc, sa.exc.IntegrityError) and "case_event" not in str(exc.orig).lower():
            raise
        raise Conflict(STALE) from None


def each_on_its_own(cases: Iterable[Case], act: Callable[[Case], Any]) -> int:
    """Run ``act`` on each case in its own savepoint, for the scheduler's sweeps: a case that cannot be
    moved now (someone changed it a moment ago, a guard refuses) is logged and left for the next run
    instead of undoing the work done on every other case. Returns how many cases ``act`` went through on."""
    done = 0
    for case in cases:
        case_id = case.id
        try:
            with db.session.begin_nested():
                act(case)
        except (ServiceError, StaleDataError, sa.exc.IntegrityError) as exc:
            log.warning("case %s skipped this run: %s", case_id, exc)
        else:
            done += 1
    return done

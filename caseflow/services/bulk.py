"""Bulk actions of the team queue: assign many cases to one handler, or take one step on many cases.

Each case is acted on in its own savepoint with the version the supervisor saw, through the same services
as a single case (``assign_case``, ``apply_transition``): a case someone changed meanwhile is reported as a
conflict, one a guard refuses as refused, and the others go through. Every selected case gets an outcome;
nothing is skipped silently. The reason the supervisor gives is recorded on every case's audit event.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.orm.exc import StaleDataError

from caseflow.calendar import utcnow
from caseflow.extensions import db
from caseflow.models import Case, CaseEvent, User
from caseflow.services import access
from caseflow.services.cases import apply_transition, assign_case, available_steps, workflow_of
from caseflow.services.errors import (
    CASE_NOT_FOUND, INVALID_DATA, STALE, Conflict, InvalidTransition, NotFound, PermissionDenied, Refused,
    ServiceError, ValidationFailed,
)
from caseflow.services.queues import may_act_in_bulk
from caseflow.workflows import all_workflows
from caseflow.workflows.definition import Step, Text

log = logging.getLogger(__name__)

# One request acts on at most this many cases (a page of the queue holds 50); more is refused up front.
MAX_BULK = 500

SUPERVISORS_ONLY = Text("只有主管可以批量处理案件。", "Only supervisors act on cases in bulk.")
NOTHING_SELECTED = Text("请至少选择一件案件。", "Select at least one case.")
TOO_MANY_SELECTED = Text("一次最多处理 {n} 件案件。", "At most {n} cases at a time.")
BULK_REASON_REQUIRED = Text("批量操作须填写理由，理由将记入每件案件。",
                            "A bulk action needs a reason; it is recorded on every case.")
REASON_TOO_LONG = Text("理由不能超过 2000 个字符。", "The reason may have at most 2000 characters.")
CHOOSE_STEP = Text("请选择要执行的操作。", "Choose the action to take.")
NOT_A_BULK_STEP = Text("该操作需逐案填写内容或逐案决定，不能批量执行。",
                       "That action needs details or a decision for each case: it cannot be taken in bulk.")
NOT_FOR_ALL = Text("该操作不适用于所选的以下案件：{cases}。请取消选择这些案件，或选择其他操作。",
                   "That action is not available for these selected cases: {cases}. Deselect them or choose "
                   "another action.")

# Cases of one village put on public notice together share one notice (one posting lists them all), as on
# the start-notice page: the notice the first case's step creates is named in the next ones' step data.
SHARED_PER_VILLAGE: dict[tuple[str, str], str] = {("subsidy", "start_notice"): "notice_id"}


@dataclass(frozen=True)
class BulkOutcome:
    """What happened to one selected case. ``kind``: done, conflict (changed meanwhile), permission (not
    theirs to act on, or not found), guard (the workflow's conditions refuse it), invalid_state (not
    available in the case's state) or invalid (e.g. the assignee does not work in the case's village).
    ``number`` and ``applicant`` are None for a case the actor may not see."""

    case_id: int
    number: str | None
    applicant: str | None
    kind: str
    message: Text | None = None

    @property
    def done(self) -> bool:
        return self.kind == "done"


def bulk_ready(step: Step) -> bool:
    """Whether ``step`` can be taken on many cases at once: it asks for nothing but a reason (optional
    fields are left empty), and it is not one of the steps marked dangerous, which decide against one
    applicant (a withdrawal, a refusal, an exit) and are taken case by case, on their own facts."""
    return not step.danger and not any(spec.required for spec in step.fields)


def bulk_steps(case: Case, actor: User) -> list[Step]:
    """The steps ``actor`` may take on ``case`` now that could be taken in bulk."""
    return [step for step in available_steps(case, actor) if bulk_ready(step)]


def case_label(case: Case) -> str:
    """How a case is named in messages: its receipt number, or its id and applicant before acceptance."""
    return case.number or f"#{case.id} {case.applicant.name}"


def _check_request(selection: list[tuple[int, int]], actor: User, reason: str | None) -> str:
    if not may_act_in_bulk(actor):
        raise PermissionDenied(SUPERVISORS_ONLY)
    errors: dict[str, Text] = {}
    if not selection:
        errors["case_id"] = NOTHING_SELECTED
    elif len(selection) > MAX_BULK:
        errors["case_id"] = TOO_MANY_SELECTED.format(n=MAX_BULK)
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = BULK_REASON_REQUIRED
    elif len(reason) > 2000:
        errors["reason"] = REASON_TOO_LONG
    if errors:
        raise ValidationFailed(INVALID_DATA, errors)
    return reason


def _load(selection: list[tuple[int, int]], actor: User) -> dict[int, Case]:
    """The selected cases ``actor`` may read, locked (in id order, so two bulk actions cannot deadlock; FOR
    NO KEY UPDATE, as ``access.readable_case`` says why)."""
    ids = sorted({case_id for case_id, _seen in selection if 0 < case_id < 2**31})  # no other id exists
    cases = db.session.scalars(sa.select(Case).where(Case.id.in_(ids)).order_by(Case.id)
                               .with_for_update(key_share=True))
    return {case.id: case for case in cases if access.can_read(actor, case)}


def _each(selection: list[tuple[int, int]], cases: dict[int, Case], act: Callable[[Case, int], None],
          after: Callable[[Case], None] | None = None) -> list[BulkOutcome]:
    """Run ``act(case, version seen)`` on each selected case in its own savepoint; ``after(case)`` once a
    case's savepoint is released."""
    outcomes: list[BulkOutcome] = []
    seen_ids: set[int] = set()
    for case_id, seen in selection:
        if case_id in seen_ids:
            continue
        seen_ids.add(case_id)
        case = cases.get(case_id)
        if case is None:
            outcomes.append(BulkOutcome(case_id, None, None, "permission", CASE_NOT_FOUND))
            continue
        number, applicant = case.number, case.applicant.name
        try:
            with db.session.begin_nested():
                act(case, seen)
        except (StaleDataError, sa.exc.IntegrityError):
            outcomes.append(BulkOutcome(case_id, number, applicant, "conflict", STALE))
        except ServiceError as error:
            outcomes.append(BulkOutcome(case_id, number, applicant, _kind(error), _message(error)))
        else:
            outcomes.append(BulkOutcome(case_id, case.number, applicant, "done"))
            if after is not None:
                after(case)
    return outcomes


def _kind(error: ServiceError) -> str:
    if isinstance(error, Conflict):
        return "conflict"
    if isinstance(error, (NotFound, PermissionDenied)):
        return "permission"
    if isinstance(error, Refused):
        return "guard"
    if isinstance(error, InvalidTransition):
        return "invalid_state"
    return "invalid"


def _message(error: ServiceError) -> Text:
    """The most telling message: a field's (e.g. "not a handler of this village") over the general one."""
    if isinstance(error, ValidationFailed) and error.fields:
        return next(iter(error.fields.values()))
    return error.message


def bulk_assign(selection: list[tuple[int, int]], assignee: User | None, actor: User, reason: str | None,
                now: datetime | None = None) -> list[BulkOutcome]:
    """Give every selected case to ``assignee`` (None: back to the unassigned pool), recording ``reason``
    on each assignment. ``selection`` lists (case id, version the actor saw). Raises ValidationFailed
    (nothing done) when nothing is selected or the reason is missing; otherwise returns one outcome per
    case, in the order selected. The caller commits what went through."""
    now = now or utcnow()
    reason = _check_request(selection, actor, reason)
    cases = _load(selection, actor)
    outcomes = _each(selection, cases, lambda case, seen: assign_case(case, assignee, actor, seen, reason=reason,
                                                                       now=now))
    log.info("bulk assign by user %s to %s: %d of %d done", actor.id, assignee.id if assignee else None,
             sum(o.done for o in outcomes), len(outcomes))
    return outcomes


def bulk_transition(selection: list[tuple[int, int]], trigger: str, actor: User, reason: str | None,
                    now: datetime | None = None) -> list[BulkOutcome]:
    """Take the step ``trigger`` on every selected case, with ``reason`` as each transition's reason.

    Refused as a whole (ValidationFailed, nothing done) when nothing is selected, the reason is missing, the
    step needs more than a reason (see ``bulk_ready``), or it is not available on every selected case that
    is still as the actor saw it. Cases changed meanwhile are reported as conflicts, the others are moved
    one by one: one outcome per case, in the order selected. The caller commits what went through.
    """
    now = now or utcnow()
    reason = _check_request(selection, actor, reason)
    if not trigger:
        raise ValidationFailed(INVALID_DATA, {"trigger": CHOOSE_STEP})
    cases = _load(selection, actor)
    known = any(workflow.has_trigger(trigger) for workflow in all_workflows())
    if not known or (cases and not any(workflow_of(case).has_trigger(trigger) for case in cases.values())):
        raise ValidationFailed(INVALID_DATA, {"trigger": CHOOSE_STEP})
    current = [cases[case_id] for case_id, seen in dict(selection).items()
               if case_id in cases and cases[case_id].version == seen]
    unavailable, needs_more = [], False
    for case in current:
        step = workflow_of(case).step_for(trigger, case.state)
        if step is not None and step in available_steps(case, actor):
            needs_more = needs_more or not bulk_ready(step)
        else:
            unavailable.append(case_label(case))
    if needs_more:
        raise ValidationFailed(INVALID_DATA, {"trigger": NOT_A_BULK_STEP})
    if unavailable:
        raise ValidationFailed(INVALID_DATA, {"trigger": Text(
            NOT_FOR_ALL.zh.format(cases="、".join(unavailable)), NOT_FOR_ALL.en.format(cases=", ".join(unavailable)))})

    shared: dict[tuple[int, str], object] = {}

    def act(case: Case, seen: int) -> None:
        key = SHARED_PER_VILLAGE.get((case.workflow, trigger))
        data = {key: shared[case.jurisdiction_id, key]} if key and (case.jurisdiction_id, key) in shared else {}
        apply_transition(case, trigger, actor, seen, reason=reason, data=data, now=now)

    def share(case: Case) -> None:
        key = SHARED_PER_VILLAGE.get((case.workflow, trigger))
        if key and (case.jurisdiction_id, key) not in shared:
            recorded = db.session.scalar(sa.select(CaseEvent.data).where(CaseEvent.case_id == case.id)
                                         .order_by(CaseEvent.seq.desc()).limit(1)) or {}
            if recorded.get(key) is not None:
                shared[case.jurisdiction_id, key] = recorded[key]

    outcomes = _each(selection, cases, act, share)
    log.info("bulk %s by user %s: %d of %d done", trigger, actor.id, sum(o.done for o in outcomes), len(outcomes))
    return outcomes

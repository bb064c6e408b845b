"""Every (state, trigger, role) of the subsidy workflow: allowed combinations move the case and write
exactly one audit event; refused ones change nothing. Opening the annual reconfirmation belongs to the
system account alone; the end of a notice to the system account and, by hand, a supervisor."""
from datetime import timedelta

import pytest
import sqlalchemy as sa

from caseflow.calendar import utcnow
from caseflow.extensions import transactional
from caseflow.models import CaseEvent
from caseflow.services.cases import apply_transition
from caseflow.services.errors import InvalidTransition, NotFound, PermissionDenied
from caseflow.workflows import latest
from caseflow.workflows.definition import ROLES, SYSTEM
from tests.factories import advance_subsidy, make_subsidy_case, reload, subsidy_step_input

WORKFLOW = latest("subsidy")
ENROLLED = ("village_review", "start_notice", "end_notice", "township_review", "county_approve", "enrol")
PATHS = {
    "applied": (),
    "returned": ("return_for_documents",),
    "village_reviewed": ("village_review",),
    "public_notice": ("village_review", "start_notice"),
    "objection_check": ("village_review", "start_notice", "object"),
    "notice_ended": ("village_review", "start_notice", "end_notice"),
    "township_reviewed": ("village_review", "start_notice", "end_notice", "township_review"),
    "county_approved": ENROLLED[:-1],
    "active": ENROLLED,
    "reconfirming": ENROLLED + ("open_reconfirmation",),
    "suspended": ENROLLED + ("open_reconfirmation", "suspend"),
    "exit_scheduled": ENROLLED + ("schedule_exit",),
    "ended": ENROLLED + ("schedule_exit", "end_enrolment"),
    "rejected": ENROLLED[:4] + ("reject",),
    "withdrawn": ("withdraw",),
}
TRIGGERS = sorted({step.trigger for step in WORKFLOW.steps})
ACTOR = {"village_officer": "village1", "clerk": "clerk", "supervisor": "supervisor",
         "admin": "admin", "auditor": "auditor"}


def test_paths_reach_every_state():
    assert set(PATHS) == {s.name for s in WORKFLOW.states}


def test_clock_driven_steps_belong_to_the_system_account_and_for_notices_a_supervisor():
    roles = {step.trigger: step.roles for step in WORKFLOW.steps}
    assert roles["open_reconfirmation"] == frozenset({SYSTEM})
    assert roles["end_notice"] == frozenset({SYSTEM, "supervisor"})


def event_count(db, case):
    return db.session.scalar(sa.select(sa.func.count()).where(CaseEvent.case_id == case.id))


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("trigger", TRIGGERS)
@pytest.mark.parametrize("state", list(PATHS))
def test_state_trigger_role(db, office, state, trigger, role):
    start = utcnow() - timedelta(days=300)
    case = advance_subsidy(make_subsidy_case(office, now=start), PATHS[state], office, start=start)
    assert case.state == state
    before = (case.state, case.version, event_count(db, case))
    step = WORKFLOW.step_for(trigger, state)
    actor = office[ACTOR[role]]
    allowed = step is not None and role in step.roles

    call = lambda: apply_transition(case, trigger, actor, case.version,
                                    reason="书面理由" if step and step.reason_required else None,
                                    data=subsidy_step_input(step) if step else {})
    if allowed:
        with transactional():
            call()
        case = reload(case)
        assert case.state == step.dest
        assert case.version == before[1] + 1
        assert event_count(db, case) == before[2] + 1
        assert case.events[-1].trigger == trigger and case.events[-1].actor_id == actor.id
    else:
        expected = NotFound if role == "admin" else (InvalidTransition if step is None else PermissionDenied)
        with pytest.raises(expected):
            with transactional():
                call()
        case = reload(case)
        assert (case.state, case.version, event_count(db, case)) == before
